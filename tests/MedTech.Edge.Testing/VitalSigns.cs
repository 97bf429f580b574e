using System.Globalization;
using System.Text;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist.Server;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Protocol;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Testing;

/// <summary>
/// Bedside-monitor messages for the bundled vital-signs mappings, one per device per second (upstream identifies a
/// periodInterval-0 Observation to the second), and the check that each reading is in exactly one Observation. The
/// mappings are the product's own (src/MedTech.Edge.Cli/Mappings), copied next to each test project that uses them.
/// </summary>
public static class VitalSigns
{
    public static readonly string DeviceMapping = Path.Combine(AppContext.BaseDirectory, "Mappings", "vital-signs.device-mapping.json");
    public static readonly string FhirMapping = Path.Combine(AppContext.BaseDirectory, "Mappings", "vital-signs.fhir-mapping.json");
    private static readonly DateTime Start = new(2026, 11, 24, 8, 0, 0, DateTimeKind.Utc);

    public sealed record Message(string DeviceId, string PatientId, DateTime Time, int HeartRate, int Spo2, int RespiratoryRate, decimal Temperature, int Systolic, int Diastolic)
    {
        public byte[] Json() => Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"deviceId":"{{DeviceId}}","patientId":"{{PatientId}}","timestamp":"{{Time:yyyy-MM-ddTHH:mm:ssZ}}","heartRate":{{HeartRate}},"spo2":{{Spo2}},"respiratoryRate":{{RespiratoryRate}},"temperature":{{Temperature}},"systolic":{{Systolic}},"diastolic":{{Diastolic}}}"""));
    }

    public static List<Message> Messages(int devices, int perDevice) =>
        Enumerable.Range(1, devices).SelectMany(d => Enumerable.Range(0, perDevice).Select(i => new Message(
            $"monitor-{d}", $"patient-{d}", Start.AddSeconds(i), 60 + i, 90 + (i % 10), 12 + (i % 8), 36.5m + (i % 10 / 10m), 110 + i, 70 + (i % 20)))).ToList();

    /// <summary>Five Observations per message: heart rate, SpO2, respiratory rate, temperature, blood-pressure panel.</summary>
    public const int ObservationsPerMessage = 5;

    public static FhirServerClient Client(Uri url)
    {
        var options = new FhirServerOptions { Url = url };
        return new FhirServerClient(FhirServerClient.CreateHttpClient(options), options, NullLogger<FhirServerClient>.Instance);
    }

    public static Task<IReadOnlyList<Observation>> ObservationsAsync(FhirServerClient client) =>
        client.SearchAsync<Observation>("Observation?_count=1000", CancellationToken.None);

    /// <summary>Every reading of every message in exactly one Observation, with the right subject, device, code, time and value.</summary>
    public static void AssertEachReadingOnce(IReadOnlyList<Message> messages, IReadOnlyList<Observation> observations)
    {
        Assert.Equal(messages.Count * ObservationsPerMessage, observations.Count);
        var bySecond = observations.GroupBy(o => (o.Subject!.Reference!, o.Device!.Reference!, o.Code!.Coding[0].Code!, ((Period)o.Effective!).Start![..19]))
            .ToDictionary(g => g.Key, g => g.ToList());
        foreach (var m in messages)
        {
            var ids = IdentityResolver.DeterministicIds(m.DeviceId, m.PatientId, null);
            var time = m.Time.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture);
            List<Observation> Find(string code)
            {
                Assert.True(bySecond.TryGetValue(($"Patient/{ids.PatientId}", $"Device/{ids.DeviceId}", code, time), out var found), $"no {code} Observation for {m.DeviceId} at {time}");
                Assert.Single(found);
                return found;
            }

            static decimal? Value(DataType? value) => Assert.IsType<Quantity>(value).Value;

            Assert.Equal(m.HeartRate, Value(Find("8867-4")[0].Value));
            Assert.Equal(m.Spo2, Value(Find("2708-6")[0].Value));
            Assert.Equal(m.RespiratoryRate, Value(Find("9279-1")[0].Value));
            Assert.Equal(m.Temperature, Value(Find("8310-5")[0].Value));
            var bp = Find("85354-9")[0];
            Assert.Equal(m.Systolic, Value(bp.Component.Single(c => c.Code.Coding[0].Code == "8480-6").Value));
            Assert.Equal(m.Diastolic, Value(bp.Component.Single(c => c.Code.Coding[0].Code == "8462-4").Value));
        }
    }

    /// <summary>Publishes each device's messages in order over its own MQTT connection, QoS 1, asserting every PUBACK.</summary>
    public static async Task PublishAsync(int port, IEnumerable<Message> messages)
    {
        foreach (var device in messages.GroupBy(m => m.DeviceId))
        {
            using var client = new MqttClientFactory().CreateMqttClient();
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(device.Key).Build());
            foreach (var message in device)
            {
                var ack = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{device.Key}/vitals").WithPayload(message.Json())
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                Assert.True(ack.IsSuccess);
            }

            await client.DisconnectAsync();
        }
    }
}

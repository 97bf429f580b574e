using System.Globalization;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Standalone.Pipeline;

/// <summary>
/// Simulated bedside monitors for <c>medtech demo</c>: each is an MQTT client (<c>monitor-NN</c>, patient
/// <c>patient-NN</c>) publishing heart rate, SpO2, blood pressure, respiratory rate and temperature with QoS 1, values
/// drifting around plausible adult vitals. Counts what it published and what the broker acknowledged.
/// </summary>
public sealed class BedsideMonitors(int port, int devices, double messagesPerSecond)
{
    private long published;
    private long acknowledged;

    public long Published => Interlocked.Read(ref published);

    public long Acknowledged => Interlocked.Read(ref acknowledged);

    /// <summary>Each monitor publishes at its share of the rate until <paramref name="cancellationToken"/> ends the run.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(1, devices).Select(i => MonitorAsync(i, cancellationToken)));

    private async Task MonitorAsync(int number, CancellationToken cancellationToken)
    {
        var deviceId = $"monitor-{number:D2}";
        var random = new Random(number);
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(deviceId).Build(), cancellationToken).ConfigureAwait(false);
        var interval = TimeSpan.FromSeconds(devices / messagesPerSecond);
        using var timer = new PeriodicTimer(interval);
        var vitals = new Vitals(random);
        try
        {
            do
            {
                var payload = JsonSerializer.SerializeToUtf8Bytes(vitals.Next(deviceId, $"patient-{number:D2}", DateTime.UtcNow));
                Interlocked.Increment(ref published);
                // Not cancelled midway: the end of the run stops the next message, not one in flight.
                var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{deviceId}/vitals").WithPayload(payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), CancellationToken.None).ConfigureAwait(false);
                if (result.IsSuccess)
                {
                    Interlocked.Increment(ref acknowledged);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        await client.DisconnectAsync(cancellationToken: CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>A random walk kept within plausible bounds for each vital sign.</summary>
    private sealed class Vitals(Random random)
    {
        private double heartRate = 60 + random.Next(30);
        private double spo2 = 95 + random.Next(5);
        private double respiratoryRate = 12 + random.Next(8);
        private double temperature = 36.5 + (random.NextDouble() * 1.0);
        private double systolic = 110 + random.Next(30);
        private double diastolic = 70 + random.Next(15);

        public Dictionary<string, object> Next(string deviceId, string patientId, DateTime time)
        {
            heartRate = Drift(heartRate, 2, 40, 180);
            spo2 = Drift(spo2, 0.5, 85, 100);
            respiratoryRate = Drift(respiratoryRate, 1, 8, 35);
            temperature = Drift(temperature, 0.05, 35, 41);
            systolic = Drift(systolic, 2, 80, 200);
            diastolic = Drift(diastolic, 1.5, 40, 120);
            return new Dictionary<string, object>
            {
                ["deviceId"] = deviceId,
                ["patientId"] = patientId,
                ["timestamp"] = time.ToString("o", CultureInfo.InvariantCulture),
                ["heartRate"] = Math.Round(heartRate),
                ["spo2"] = Math.Round(spo2),
                ["respiratoryRate"] = Math.Round(respiratoryRate),
                ["temperature"] = Math.Round(temperature, 1),
                ["systolic"] = Math.Round(systolic),
                ["diastolic"] = Math.Round(diastolic),
            };
        }

        private double Drift(double value, double step, double min, double max) =>
            Math.Clamp(value + ((random.NextDouble() * 2) - 1) * step, min, max);
    }
}

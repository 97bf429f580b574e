using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MedTech.Edge.Testing;

namespace MedTech.Edge.Cli.Tests;

/// <summary>
/// <c>medtech run --fhir-url URL</c> against the real FHIR test server: readings published over MQTT become
/// Observations on that server, each on the Patient and Device its message names, each of those made once (Create
/// mode's conditional creates), and SIGTERM still stops it cleanly.
/// </summary>
public sealed class RunFhirUrlTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-run-fhir-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenRunWithAFhirUrl_WhenMonitorsPublish_ThenEachReadingIsOnThatServerOnItsPatientAndDeviceMadeOnce()
    {
        await using var server = await FhirTestServer.StartAsync();
        var port = Ports.Free();
        var start = new ProcessStartInfo("dotnet",
            $"\"{Path.Combine(AppContext.BaseDirectory, "medtech.dll")}\" run --data \"{Path.Combine(folder, "data")}\" --mqtt-port {port} --metrics-port 0 --fhir-url {server.BaseUrl.AbsoluteUri}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var printed = new StringBuilder();
        using var run = new Process { StartInfo = start };
        // Both pipes read as they fill: a pipe nobody reads stalls the process once it is full.
        run.OutputDataReceived += (_, e) => { lock (printed) { printed.AppendLine(e.Data); } };
        run.ErrorDataReceived += (_, e) => { lock (printed) { printed.AppendLine(e.Data); } };
        run.Start();
        run.BeginOutputReadLine();
        run.BeginErrorReadLine();
        try
        {
            for (var deadline = DateTime.UtcNow.AddSeconds(60); !Ports.Listening(port); await Task.Delay(100))
            {
                Assert.False(DateTime.UtcNow > deadline || run.HasExited, "medtech run did not listen: " + Printed(printed));
            }

            // Two monitors, three readings each, one second apart.
            var readings = (from monitor in new[] { 1, 2 } from second in Enumerable.Range(0, 3) select (Monitor: monitor, Second: second, HeartRate: 60 + (10 * monitor) + second)).ToList();
            foreach (var r in readings)
            {
                await PublishAsync(port, $$"""{"deviceId":"run-monitor-{{r.Monitor}}","patientId":"run-patient-{{r.Monitor}}","timestamp":"2026-11-24T09:00:0{{r.Second}}Z","heartRate":{{r.HeartRate}},"spo2":97,"respiratoryRate":15,"temperature":36.8,"systolic":118,"diastolic":76}""");
            }

            using var http = new HttpClient { BaseAddress = server.BaseUrl };
            var expected = readings.Count * 5;
            for (var deadline = DateTime.UtcNow.AddSeconds(60); Count(await GetAsync(http, "Observation?_summary=count")) < expected; await Task.Delay(200))
            {
                Assert.False(DateTime.UtcNow > deadline || run.HasExited, $"{Count(await GetAsync(http, "Observation?_summary=count"))} of {expected} Observations: " + Printed(printed));
            }

            foreach (var monitor in new[] { 1, 2 })
            {
                var patient = Assert.Single(Resources(await GetAsync(http, $"Patient?identifier=run-patient-{monitor}")));
                var device = Assert.Single(Resources(await GetAsync(http, $"Device?identifier=run-monitor-{monitor}")));
                Assert.Equal($"Patient/{patient.GetProperty("id").GetString()}", device.GetProperty("patient").GetProperty("reference").GetString());
                var heartRates = Resources(await GetAsync(http, $"Observation?code=8867-4&device=Device/{device.GetProperty("id").GetString()}"));
                Assert.All(heartRates, o => Assert.Equal($"Patient/{patient.GetProperty("id").GetString()}", o.GetProperty("subject").GetProperty("reference").GetString()));
                Assert.Equal(readings.Where(r => r.Monitor == monitor).Select(r => ($"2026-11-24T09:00:0{r.Second}", (decimal)r.HeartRate)).Order(),
                    heartRates.Select(o => (o.GetProperty("effectivePeriod").GetProperty("start").GetString()![..19], o.GetProperty("valueQuantity").GetProperty("value").GetDecimal())).Order());
            }
        }
        finally
        {
            using (var kill = Process.Start("kill", $"-TERM {run.Id}"))
            {
                await kill.WaitForExitAsync();
            }

            await run.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        }

        Assert.True(run.ExitCode == 0, Printed(printed));
    }

    private static async Task PublishAsync(int port, string message)
    {
        using var pub = Process.Start(new ProcessStartInfo("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-q", "1", "-t", "devices/monitor/vitals", "-m", message])
        {
            RedirectStandardError = true,
        })!;
        var error = await pub.StandardError.ReadToEndAsync();
        await pub.WaitForExitAsync();
        Assert.True(pub.ExitCode == 0, error);
    }

    private static async Task<JsonElement> GetAsync(HttpClient http, string query) => JsonDocument.Parse(await http.GetStringAsync(new Uri(query, UriKind.Relative))).RootElement;

    private static int Count(JsonElement bundle) => bundle.GetProperty("total").GetInt32();

    private static List<JsonElement> Resources(JsonElement bundle) =>
        bundle.TryGetProperty("entry", out var entries) ? entries.EnumerateArray().Select(e => e.GetProperty("resource")).ToList() : [];

    private static string Printed(StringBuilder printed)
    {
        lock (printed)
        {
            return printed.ToString();
        }
    }
}

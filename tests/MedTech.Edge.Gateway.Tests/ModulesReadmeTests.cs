using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// modules/README.md's commands, run as printed from a scratch folder (where <c>medtech-data</c> lands): the gateway
/// module takes a reading from the device whose password the README's line made, forwards it to a Kafka endpoint, and
/// the writer module puts it on a FHIR server. Changed, and only so: repository paths become absolute; the README's
/// Kafka endpoint (127.0.0.1:9092), FHIR server (127.0.0.1:8103) and metrics port (9601) become this test's mock cluster,
/// FHIR test server and a free port; <c>dotnet run</c> runs the build this project's references made
/// (<c>--no-build -c</c> this configuration): a second, Debug build of the same projects while the Cli's README test
/// builds them would race it for obj/. Ports the README leaves at their defaults (MQTT 1883, metrics 9600) are set by
/// the environment the commands start in, so a test machine's own broker cannot take the reading.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class ModulesReadmeTests : IDisposable
{
    private static readonly string Readme = Repository.PathOf("modules", "README.md");

    private const string PasswordLine = "mkdir -p medtech-data && mosquitto_passwd -c -b medtech-data/mqtt-passwords monitor-12 secret # Debian package mosquitto";
    private const string RunGateway = "Gateway__DeviceMappingPath=src/MedTech.Edge.Cli/Examples/bedside-monitor.device-mapping.json " +
        "Buffer__Path=medtech-data/gateway.db Mqtt__PasswordFile=medtech-data/mqtt-passwords Hub__BootstrapServers=127.0.0.1:9092 Hub__Topic=measurements " +
        "dotnet run --project modules/EdgeGateway";
    private const string RunWriter = "Writer__FhirMappingPath=src/MedTech.Edge.Cli/Mappings/vital-signs.fhir-mapping.json " +
        "FhirServer__Url=http://127.0.0.1:8103/fhir/ FhirServer__Authentication=None ResourceIdentity__ResourceIdentityServiceType=Create Monitoring__Port=9601 " +
        "Hub__BootstrapServers=127.0.0.1:9092 Hub__Topic=measurements dotnet run --project modules/FhirWriter";

    private readonly string folder = Directory.CreateTempSubdirectory("medtech-modules-readme-").FullName;
    private readonly System.Text.StringBuilder printed = new();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenTheModulesReadme_WhenItsCommandsAreListed_ThenTheyAreTheOnesThisTestRuns()
    {
        Assert.Equal(new[] { PasswordLine, RunGateway, RunWriter }, Commands(File.ReadAllText(Readme)));
    }

    [Fact]
    public async Task GivenTheModulesReadme_WhenItsCommandsRunAsPrinted_ThenADevicesReadingGoesThroughBothModulesIntoTheFhirServer()
    {
        using var cluster = new MockCluster();
        cluster.CreateTopic("measurements", 1);
        await using var server = await FhirTestServer.StartAsync();
        var mqttPort = Ports.Free();
        var ambient = new Dictionary<string, string>
        {
            ["Mqtt__Port"] = mqttPort.ToString(CultureInfo.InvariantCulture),
            ["Monitoring__Port"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
            ["Logging__LogLevel__Default"] = "Warning",
        };

        var password = await RunAsync(Local(PasswordLine, cluster, server));
        Assert.True(password.Exit == 0, password.Output);
        using var gateway = Start(Local(RunGateway, cluster, server), ambient);
        using var writer = Start(Local(RunWriter, cluster, server), ambient);
        try
        {
            await Eventually.HoldsAsync(() => Ports.Listening(mqttPort) || gateway.HasExited, TimeSpan.FromMinutes(2), Printed);
            Assert.False(gateway.HasExited, Printed());

            // The device the README's line made, with its password; a wrong one is refused.
            Assert.True(await PublishAsync(mqttPort, "secret"), Printed());
            Assert.False(await PublishAsync(mqttPort, "not-the-password"));

            var client = VitalSigns.Client(server.BaseUrl);
            IReadOnlyList<Hl7.Fhir.Model.Observation> written = [];
            await Eventually.HoldsAsync(() =>
            {
                written = VitalSigns.ObservationsAsync(client).GetAwaiter().GetResult();
                return written.Any(o => o.Code.Coding.Any(c => c.Code == "8867-4")) || writer.HasExited;
            }, TimeSpan.FromMinutes(2), Printed);
            var heartRate = Assert.Single(written, o => o.Code.Coding.Any(c => c.Code == "8867-4"));
            Assert.Equal(72m, Assert.IsType<Hl7.Fhir.Model.Quantity>(heartRate.Value).Value);
        }
        finally
        {
            // dotnet run starts the module as its child: stop both.
            gateway.Kill(entireProcessTree: true);
            writer.Kill(entireProcessTree: true);
            await gateway.WaitForExitAsync();
            await writer.WaitForExitAsync();
        }
    }

    /// <summary>The README's bash blocks, continuation lines joined, comments' spacing normalized.</summary>
    private static List<string> Commands(string markdown) =>
        BashBlock().Matches(markdown).SelectMany(block => block.Groups[1].Value.Replace("\\\n", " ", StringComparison.Ordinal).Split('\n'))
            .Select(line => Whitespace().Replace(line, " ").Trim()).Where(line => line.Length > 0).ToList();

    /// <summary>The command with this test's paths, endpoints and build, as the class summary says.</summary>
    private static string Local(string command, MockCluster cluster, FhirTestServer server) => command
        .Replace("=src/", $"={Repository.Root}/src/", StringComparison.Ordinal)
        .Replace(" modules/", $" {Repository.Root}/modules/", StringComparison.Ordinal)
        .Replace("127.0.0.1:9092", cluster.BootstrapServers, StringComparison.Ordinal)
        .Replace("http://127.0.0.1:8103/fhir/", server.BaseUrl.AbsoluteUri, StringComparison.Ordinal)
        .Replace("Monitoring__Port=9601", $"Monitoring__Port={Ports.Free()}", StringComparison.Ordinal)
        .Replace("dotnet run --project", $"dotnet run --no-build -c {Configuration} --project", StringComparison.Ordinal);

    /// <summary>Debug or Release, as this test was built.</summary>
    private static string Configuration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    private static async Task<bool> PublishAsync(int port, string password)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("monitor-12").WithCredentials("monitor-12", password)
            .WithTimeout(TimeSpan.FromSeconds(10)).Build();
        if ((await client.ConnectAsync(options)).ResultCode != MqttClientConnectResultCode.Success)
        {
            return false;
        }

        var time = DateTime.UtcNow.AddMinutes(-1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        var message = new MqttApplicationMessageBuilder().WithTopic("devices/monitor-12/vitals").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithPayload($$"""{ "deviceId": "monitor-12", "patientId": "bed-4", "heartRate": 72, "spo2": 98, "systolic": 120, "diastolic": 80, "timestamp": "{{time}}" }""").Build();
        var ack = await client.PublishAsync(message);
        await client.DisconnectAsync();
        return ack.IsSuccess;
    }

    private Process Start(string command, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("bash", ["-c", command]) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Print(e.Data);
        process.ErrorDataReceived += (_, e) => Print(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void Print(string? line)
    {
        lock (printed)
        {
            printed.AppendLine(line);
        }
    }

    private string Printed()
    {
        lock (printed)
        {
            return printed.ToString();
        }
    }

    private async Task<(int Exit, string Output)> RunAsync(string command)
    {
        using var process = Process.Start(new ProcessStartInfo("bash", ["-c", command]) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true })!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    [GeneratedRegex(@"```bash\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex BashBlock();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}

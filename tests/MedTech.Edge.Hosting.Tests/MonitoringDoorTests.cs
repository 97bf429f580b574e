using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using MedTech.Edge.Hosting;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>
/// The monitoring endpoint's two doors, through real Kestrel in a real host: the network port with its caps (in all and
/// per client address) and the probe's Unix socket, with a stale socket of a killed run, a live one, a foreign file, and
/// exceptions in the handlers.
/// </summary>
[Collection(MonitoringCaps.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class MonitoringDoorTests : IDisposable
{
    private readonly int port = Ports.Free();
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-door-").FullName;

    private string Socket => Path.Combine(folder, "run", "health.sock");

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenOneAddressHoldingItsPlaces_WhenItAndAnotherAddressAsk_ThenItIsClosedUnansweredTheOtherAnsweredAndAFreedPlaceServesAgain()
    {
        using var module = await StartAsync(new() { ["Monitoring:RequestHeadersTimeout"] = "00:05:00" });
        using var metrics = ProbeSocketClient.Create(Socket);
        var before = await RefusedAsync(metrics, "address");
        var held = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                held.Add(await MonitoringCaps.HoldAsync(MonitoringCaps.Loopback(1), port));
            }

            var same = await MonitoringCaps.AskAsync(MonitoringCaps.Loopback(1), port);
            var other = await MonitoringCaps.AskAsync(MonitoringCaps.Loopback(2), port, "/metrics");

            Assert.Null(same);
            Assert.Equal("HTTP/1.1 200 OK", other);
            Assert.True(await RefusedAsync(metrics, "address") > before);

            // A place given back is a place again (the count is released when the server has ended the connection).
            held[0].Dispose();
            string? again = null;
            await Eventually.HoldsAsync(() => (again = MonitoringCaps.AskAsync(MonitoringCaps.Loopback(1), port).GetAwaiter().GetResult()) is not null,
                TimeSpan.FromSeconds(30), () => "a freed place");
            Assert.Equal("HTTP/1.1 200 OK", again);
        }
        finally
        {
            held.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task GivenTheSocketOfAKilledRun_WhenTheModuleStarts_ThenItReplacesItServesTheProbeAndTheSocketIs0600()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Socket)!);
        // What a SIGKILL leaves: the socket file of a listener that is gone. .NET unlinks a socket it bound when it
        // closes it, so the file is moved away from the path .NET knows first (a killed process unlinks nothing).
        var bound = Socket + ".bound";
        using (var killed = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            killed.Bind(new UnixDomainSocketEndPoint(bound));
            killed.Listen();
            File.Move(bound, Socket);
        }

        Assert.True(File.Exists(Socket));

        using var module = await StartAsync();
        var (exit, output) = await ProbeAsync(Socket);

        Assert.True(exit == 0, output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Socket));
    }

    [Fact]
    public async Task GivenANewRunFolder_WhenTheModuleStarts_ThenTheFolderIs0700()
    {
        using var module = await StartAsync();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(Socket)!));
    }

    [Fact]
    public async Task GivenAModuleServingTheSocket_WhenASecondStartsOnTheSamePath_ThenItExits2AndTheFirstStillAnswersTheProbe()
    {
        using var first = await StartAsync();
        using var second = Build(new() { ["Monitoring:Port"] = Ports.Free().ToString(CultureInfo.InvariantCulture) });
        using var error = new StringWriter();

        var exit = await second.RunModuleAsync(error);
        var (probe, output) = await ProbeAsync(Socket);

        Assert.Equal(2, exit);
        Assert.StartsWith("Cannot listen:", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("another running process", error.ToString(), StringComparison.Ordinal);
        Assert.True(probe == 0, output);
    }

    [Theory]
    [InlineData("file")]
    [InlineData("folder")]
    [InlineData("link")]
    public async Task GivenSomethingNotASocketAtTheSocketPath_WhenTheModuleStarts_ThenItExits2AndLeavesItUntouched(string kind)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Socket)!);
        var precious = Path.Combine(folder, "gateway.db");
        File.WriteAllText(precious, "a mistyped path must not cost this file");
        switch (kind)
        {
            case "file":
                File.Copy(precious, Socket);
                break;
            case "folder":
                Directory.CreateDirectory(Socket);
                break;
            default:
                File.CreateSymbolicLink(Socket, precious);
                break;
        }

        using var module = Build([]);
        using var error = new StringWriter();

        var exit = await module.RunModuleAsync(error);

        Assert.Equal(2, exit);
        Assert.Contains("is not a socket", error.ToString(), StringComparison.Ordinal);
        Assert.True(kind == "folder" ? Directory.Exists(Socket) : File.Exists(Socket));
        Assert.Equal("a mistyped path must not cost this file", File.ReadAllText(precious));
    }

    [Fact]
    public async Task GivenAnEmptyFileAtTheSocketPath_WhenTheModuleStarts_ThenItIsReplacedByTheSocket()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Socket)!);
        await File.WriteAllBytesAsync(Socket, []);

        using var module = await StartAsync();
        var (exit, output) = await ProbeAsync(Socket);

        Assert.True(exit == 0, output);
    }

    [Fact]
    public async Task GivenASocketConfiguredButNotServed_WhenProbed_Then1AndNoFallBackToTheHealthyPort()
    {
        using var module = await StartAsync(new() { ["Monitoring:ProbeSocket"] = "" });
        var (tcpExit, _) = await ProbeAsync(probeSocket: null);

        var (exit, output) = await ProbeAsync(Socket);

        Assert.Equal(0, tcpExit);
        Assert.Equal(1, exit);
        Assert.StartsWith($"unhealthy: no answer from unix socket {Socket}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GivenPort0AndASocket_WhenProbed_ThenTheSocketServesAndNoTcpPortListens()
    {
        using var module = await StartAsync(new() { ["Monitoring:Port"] = "0" });

        var (exit, output) = await ProbeAsync(Socket);

        Assert.True(exit == 0, output);
        Assert.False(Ports.Listening(port));
    }

    [Fact]
    public async Task GivenTheHealthServiceThrowingEveryOtherCall_WhenAskedRepeatedly_ThenEachFailureIs503ByTypeAndServingGoesOn()
    {
        using var module = await StartAsync(services: s => s.AddSingleton<HealthCheckService, AlternatelyThrowingHealthChecks>());
        using var http = new HttpClient();

        var codes = new List<HttpStatusCode>();
        var bodies = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health"));
            codes.Add(response.StatusCode);
            bodies.Add(await response.Content.ReadAsStringAsync());
        }

        // And through the socket: the 5th call throws, the 6th does not.
        var (failed, failedOutput) = await ProbeAsync(Socket);
        var (served, _) = await ProbeAsync(Socket);

        Assert.Equal([HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK], codes);
        Assert.DoesNotContain(bodies, b => b.Contains("patient-9", StringComparison.Ordinal));
        Assert.Equal(1, failed);
        Assert.DoesNotContain("patient-9", failedOutput, StringComparison.Ordinal);
        Assert.Equal(0, served);
    }

    [Fact]
    public async Task GivenAnInstrumentWhoseCallbackThrows_WhenMetricsAreScrapedTwice_ThenBothAreAnsweredAndHealthToo()
    {
        using var module = await StartAsync();
        using var meter = new Meter($"MedTech.Edge.Test{Guid.NewGuid():N}");
        meter.CreateObservableGauge<long>("broken", (Func<long>)(() => throw new InvalidOperationException("patient-9")));
        using var http = new HttpClient();

        using var first = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        using var second = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        using var health = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health"));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.DoesNotContain("patient-9", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Theory]
    [InlineData("/run/medtech/health.sock", 32, 4, true)]
    [InlineData("", 32, 4, true)]
    [InlineData("health.sock", 32, 4, false)]
    [InlineData("/run/medtech/", 32, 4, false)]
    [InlineData("/run/medtech/health\0.sock", 32, 4, false)]
    [InlineData("/run/medtech/health.sock", 32, 32, true)]
    [InlineData("/run/medtech/health.sock", 2, 4, true)]
    [InlineData("/run/medtech/health.sock", 32, 0, false)]
    [InlineData("/run/medtech/health.sock", 32, 10_001, false)]
    public void GivenProbeSocketAndPerAddressCap_WhenValidated_ThenOnlyAbsoluteBoundedPathsAndPositiveCapsPass(string socket, int total, int perAddress, bool valid) =>
        Assert.Equal(valid, new MonitoringOptions { ProbeSocket = socket, MaxConnections = total, MaxConnectionsPerAddress = perAddress }.Validate().Count == 0);

    [Fact]
    public void GivenASocketPathLongerThanSunPath_WhenValidated_ThenRefusedAndAtTheLimitAccepted()
    {
        var atLimit = "/" + new string('a', MonitoringOptions.MaxProbeSocketPathBytes - 1);
        // Two bytes per character in UTF-8: the limit is in bytes, as the kernel counts it.
        var wide = "/" + new string('é', 60);

        Assert.Empty(new MonitoringOptions { ProbeSocket = atLimit }.Validate());
        Assert.NotEmpty(new MonitoringOptions { ProbeSocket = atLimit + "a" }.Validate());
        Assert.NotEmpty(new MonitoringOptions { ProbeSocket = wide }.Validate());
    }

    private static async Task<double> RefusedAsync(HttpClient metrics, string limit)
    {
        var families = PrometheusText.Parse(await metrics.GetStringAsync(new Uri("metrics", UriKind.Relative)));
        return families.Values.SelectMany(f => f.Samples)
            .Where(s => s.Name == "medtech_edge_monitoring_connections_refused_total" && s.Labels["endpoint"] == "network" && s.Labels["limit"] == limit)
            .Sum(s => s.Value);
    }

    private async Task<(int Exit, string Output)> ProbeAsync(string? probeSocket)
    {
        using var output = new StringWriter();
        var exit = await HealthProbe.RunAsync(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Monitoring:BindAddress"] = "127.0.0.1",
            ["Monitoring:ProbeSocket"] = probeSocket,
        }).Build(), output);
        return (exit, output.ToString());
    }

    private async Task<IHost> StartAsync(Dictionary<string, string?>? config = null, Action<IServiceCollection>? services = null)
    {
        var host = Build(config ?? [], services);
        await host.StartAsync();
        return host;
    }

    private IHost Build(Dictionary<string, string?> config, Action<IServiceCollection>? services = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Monitoring:BindAddress"] = "127.0.0.1",
            ["Monitoring:ProbeSocket"] = Socket,
        }).AddInMemoryCollection(config);
        builder.Services.AddMonitoring();
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    private sealed class AlternatelyThrowingHealthChecks : HealthCheckService
    {
        private int calls;

        public override Task<HealthReport> CheckHealthAsync(Func<HealthCheckRegistration, bool>? predicate, CancellationToken cancellationToken = default) =>
            Interlocked.Increment(ref calls) % 2 == 1
                ? throw new InvalidOperationException("patient-9 in the message")
                : Task.FromResult(new HealthReport(new Dictionary<string, HealthReportEntry>(), TimeSpan.Zero));
    }
}

using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MedTech.Edge.Hosting;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>The real endpoint (Kestrel) in a real host, asked over real sockets.</summary>
public sealed class MonitoringServerTests
{
    private readonly int port = Ports.Free();

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    public async Task GivenALoopbackBindAddress_WhenHealthIsAskedForByEitherLoopbackName_ThenItAnswers(string host)
    {
        using var module = await StartAsync();
        module.Services.GetRequiredService<ModuleHealth>().Degraded("hub", "unreachable");

        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri($"http://{host}:{port}/health"));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Degraded", body.GetProperty("status").GetString());
        Assert.Equal("Degraded", body.GetProperty("components").GetProperty("hub").GetProperty("status").GetString());
        Assert.Equal("unreachable", body.GetProperty("components").GetProperty("hub").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task GivenAnUnhealthyComponent_WhenHealthIsAskedFor_Then503AndTheComponentIsNamed()
    {
        using var module = await StartAsync();
        var health = module.Services.GetRequiredService<ModuleHealth>();
        health.Healthy("hub");
        health.Unhealthy("buffer", "disk full");

        var (code, body) = await GetAsync("/health");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        var json = JsonDocument.Parse(body).RootElement;
        Assert.Equal("Unhealthy", json.GetProperty("status").GetString());
        Assert.Equal("ok", json.GetProperty("components").GetProperty("hub").GetProperty("reason").GetString());
        Assert.Equal("disk full", json.GetProperty("components").GetProperty("buffer").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task GivenSeveralClientsThatSendHalfARequestAndStall_WhenAnotherClientAsks_ThenHealthAndMetricsAnswerAndTheStalledAreClosed()
    {
        using var module = await StartAsync(new() { ["Monitoring:RequestHeadersTimeout"] = "00:00:01" });
        var stalled = new List<TcpClient>();
        try
        {
            // From addresses of their own (127.0.0.2 and up): one address has 4 places, and the asking client is 127.0.0.1.
            for (var i = 0; i < 8; i++)
            {
                var client = new TcpClient(new IPEndPoint(new IPAddress([127, 0, 0, (byte)(2 + i)]), 0));
                stalled.Add(client);
                await client.ConnectAsync(IPAddress.Loopback, port);
                await client.GetStream().WriteAsync("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "u8.ToArray());
            }

            var (healthCode, healthBody) = await GetAsync("/health");
            var (metricsCode, _) = await GetAsync("/metrics");

            Assert.Equal(HttpStatusCode.OK, healthCode);
            Assert.Equal("Healthy", JsonDocument.Parse(healthBody).RootElement.GetProperty("status").GetString());
            Assert.Equal(HttpStatusCode.OK, metricsCode);
            // Each stalled connection is ended by the server (a 408 at most, never a /health answer); the token only
            // bounds a broken server, it is not what the test measures.
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            foreach (var client in stalled)
            {
                var answer = await ReadToEndAsync(client.GetStream(), bound.Token);
                Assert.DoesNotContain("200 OK", answer, StringComparison.Ordinal);
            }
        }
        finally
        {
            stalled.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task GivenAHealthCheckThatThrowsOnce_WhenHealthIsAskedForTwice_ThenThe1stIs503ByExceptionTypeOnlyAndThe2ndIs200()
    {
        var calls = 0;
        using var module = await StartAsync(checks: h => h.AddCheck("probe", () => Interlocked.Increment(ref calls) == 1
            ? throw new InvalidOperationException("patient-42 in the message")
            : HealthCheckResult.Healthy()));

        var (firstCode, firstBody) = await GetAsync("/health");
        var (secondCode, secondBody) = await GetAsync("/health");
        var (metricsCode, _) = await GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, firstCode);
        var first = JsonDocument.Parse(firstBody).RootElement;
        Assert.Equal("Unhealthy", first.GetProperty("status").GetString());
        Assert.Equal("check failed: InvalidOperationException", first.GetProperty("components").GetProperty("probe").GetProperty("reason").GetString());
        Assert.DoesNotContain("patient-42", firstBody, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, secondCode);
        Assert.Equal("ok", JsonDocument.Parse(secondBody).RootElement.GetProperty("components").GetProperty("probe").GetProperty("reason").GetString());
        Assert.Equal(HttpStatusCode.OK, metricsCode);
    }

    [Fact]
    public async Task GivenAWorkerThatFaulted_WhenHealthIsAskedFor_Then503NamesTheWorkerAndTheExceptionType()
    {
        using var module = await StartAsync(services: s => s.AddHostedService<FaultingWorker>()
            .Configure<HostOptions>(o => o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.Ignore));
        var worker = module.Services.GetServices<IHostedService>().OfType<FaultingWorker>().Single();
        await Assert.ThrowsAsync<FormatException>(() => worker.ExecuteTask!);

        var (code, body) = await GetAsync("/health");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        Assert.Equal("stopped: FormatException", JsonDocument.Parse(body).RootElement.GetProperty("components").GetProperty(nameof(FaultingWorker)).GetProperty("reason").GetString());
    }

    [Fact]
    public async Task GivenADependencyComponentUnhealthy_WhenLivenessAndReadinessAreAsked_ThenReadinessIs503NamingItAndLivenessStays200()
    {
        using var module = await StartAsync(services: s => s.AddComponentHealthCheck("fhir").AddComponentHealthCheck("hub"));
        var health = module.Services.GetRequiredService<ModuleHealth>();
        health.Unhealthy("fhir", "the FHIR server refused the writer with HTTP 401");
        health.Degraded("hub", "consume failed (Local_Transport)");

        var (healthCode, healthBody) = await GetAsync("/health");
        var (readyCode, readyBody) = await GetAsync("/health/ready");
        var (liveCode, liveBody) = await GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, healthCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyCode);
        foreach (var body in new[] { healthBody, readyBody })
        {
            var components = JsonDocument.Parse(body).RootElement.GetProperty("components");
            Assert.Equal("Unhealthy", components.GetProperty("fhir").GetProperty("status").GetString());
            Assert.Equal("the FHIR server refused the writer with HTTP 401", components.GetProperty("fhir").GetProperty("reason").GetString());
            Assert.Equal("Degraded", components.GetProperty("hub").GetProperty("status").GetString());
        }

        // A restart cures neither, so liveness does not see them: no restart loop while the FHIR server refuses.
        Assert.Equal(HttpStatusCode.OK, liveCode);
        var live = JsonDocument.Parse(liveBody).RootElement;
        Assert.Equal("Healthy", live.GetProperty("status").GetString());
        Assert.False(live.GetProperty("components").TryGetProperty("fhir", out _));
    }

    [Fact]
    public async Task GivenAComponentCheckThatHasNotReported_WhenHealthIsAsked_ThenItIsListedHealthyWithNoReportYet()
    {
        using var module = await StartAsync(services: s => s.AddComponentHealthCheck("fhir").AddComponentHealthCheck("fhir"));

        var (code, body) = await GetAsync("/health");

        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("no report yet", JsonDocument.Parse(body).RootElement.GetProperty("components").GetProperty("fhir").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task GivenAWorkerThatFaulted_WhenLivenessIsAsked_Then503NamesTheWorker()
    {
        using var module = await StartAsync(services: s => s.AddComponentHealthCheck("fhir").AddHostedService<FaultingWorker>()
            .Configure<HostOptions>(o => o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.Ignore));
        var worker = module.Services.GetServices<IHostedService>().OfType<FaultingWorker>().Single();
        await Assert.ThrowsAsync<FormatException>(() => worker.ExecuteTask!);

        var (code, body) = await GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        Assert.Equal("stopped: FormatException", JsonDocument.Parse(body).RootElement.GetProperty("components").GetProperty(nameof(FaultingWorker)).GetProperty("reason").GetString());
    }

    [Fact]
    public async Task GivenALoopbackBindAddress_WhenListening_ThenTheSocketIsOnLoopbackOnlyAndAnotherInterfaceIsRefused()
    {
        using var module = await StartAsync();

        Assert.Equal(["127.0.0.1"], ListeningAddresses(port));
        if (OtherInterfaceAddress() is { } other)
        {
            using var client = new TcpClient();
            var refused = await Assert.ThrowsAsync<SocketException>(async () => await client.ConnectAsync(other, port));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }
    }

    [Fact]
    public async Task GivenEveryInterface_WhenListening_ThenTheSocketIsOnTheAnyAddressAndAnotherInterfaceAnswers()
    {
        using var module = await StartAsync(new() { ["Monitoring:BindAddress"] = "+" });

        Assert.Contains(ListeningAddresses(port), a => a is "0.0.0.0" or "::");
        if (OtherInterfaceAddress() is { } other)
        {
            using var http = new HttpClient();
            using var response = await http.GetAsync(new Uri($"http://{other}:{port}/health"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task GivenAnUnknownPathOrAPost_WhenAsked_ThenNotFoundOrNotAllowedAndTheServerGoesOn()
    {
        using var module = await StartAsync();
        using var http = new HttpClient();

        using var unknown = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/{new string('a', 1000)}"));
        HttpStatusCode? refused = null;
        try
        {
            using var post = await http.PostAsync(new Uri($"http://127.0.0.1:{port}/health"), new ByteArrayContent(new byte[1 << 20]));
            refused = post.StatusCode;
        }
        catch (HttpRequestException ex) when (ex.InnerException is IOException)
        {
            // The server answered and closed before reading the megabyte body (it never reads a body): the client
            // sees its write fail (broken pipe) rather than the answer. Either way the POST is refused.
        }

        var (code, _) = await GetAsync("/health");

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.True(refused is null or HttpStatusCode.MethodNotAllowed or HttpStatusCode.RequestEntityTooLarge, refused.ToString());
        Assert.Equal(HttpStatusCode.OK, code);
    }

    [Fact]
    public async Task GivenThePortIsTaken_WhenTheModuleRuns_ThenExitCode2SaysCannotListen()
    {
        using var holder = new TcpListener(IPAddress.Loopback, port);
        holder.Start();
        using var module = Build([]);
        using var error = new StringWriter();

        var exit = await module.RunModuleAsync(error);

        Assert.Equal(2, exit);
        Assert.StartsWith("Cannot listen:", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("+", true)]
    [InlineData("*", true)]
    [InlineData("localhost", false)]
    [InlineData("", false)]
    [InlineData("127.0.0.1\0", false)]
    public void GivenABindAddress_WhenValidated_ThenOnlyIpAddressesAndEveryInterfacePass(string address, bool valid) =>
        Assert.Equal(valid, new MonitoringOptions { BindAddress = address }.Validate().Count == 0);

    private async Task<IHost> StartAsync(Dictionary<string, string?>? config = null, Action<IHealthChecksBuilder>? checks = null, Action<IServiceCollection>? services = null)
    {
        var host = Build(config ?? [], checks, services);
        await host.StartAsync();
        return host;
    }

    private IHost Build(Dictionary<string, string?> config, Action<IHealthChecksBuilder>? checks = null, Action<IServiceCollection>? services = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Monitoring:BindAddress"] = "127.0.0.1",
        }).AddInMemoryCollection(config);
        builder.Services.AddMonitoring();
        checks?.Invoke(builder.Services.AddHealthChecks());
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    private async Task<(HttpStatusCode Code, string Body)> GetAsync(string path)
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task<string> ReadToEndAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var buffer = new byte[1024];
        int read;
        try
        {
            while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (IOException)
        {
            // A reset is an end too.
        }

        return text.ToString();
    }

    /// <summary>The local addresses of the sockets listening on the port, from the kernel's own table.</summary>
    private static List<string> ListeningAddresses(int port) => IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners()
        .Where(e => e.Port == port).Select(e => e.Address.ToString()).ToList();

    /// <summary>An IPv4 address of this machine that is not loopback, if it has one.</summary>
    private static IPAddress? OtherInterfaceAddress() => NetworkInterface.GetAllNetworkInterfaces()
        .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
        .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(a => a.Address)
        .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));

    private sealed class FaultingWorker : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield();
            throw new FormatException("x");
        }
    }
}

using System.Globalization;
using System.Net;
using System.Text;
using MedTech.Edge.Persist.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The FHIR writer module as a process of its own with a managed identity (Authentication ManagedIdentity) whose token
/// endpoint the test runs (App Service's IDENTITY_ENDPOINT and IDENTITY_HEADER, plain http on loopback as App Service
/// has it): while the endpoint refuses, /health names the missing token under fhir, idle too (no reading yet), and
/// neither the identity header (the endpoint's secret) nor anything of the endpoint's error text is in the answer;
/// liveness stays healthy; once tokens are given, the writer writes and fhir is healthy again.
/// </summary>
public sealed class FhirTokenHealthModuleTests : WriterPipelineTest
{
    private const string IdentityHeader = "identity-header-secret-4KQ9";
    private const string ErrorMarker = "AADSTS-MARKER-7Z1 tenant 0f0e-secret-detail";
    private readonly int monitoringPort = Ports.Free();
    private readonly TokenEndpoint tokens = new();

    public FhirTokenHealthModuleTests()
        : base("medtech-writer-token-", ("measurements", 2)) => Own(tokens);

    [Fact]
    public async Task GivenAManagedIdentityEndpointThatRefuses_WhenHealthIsAskedWhileIdle_ThenFhirIsUnhealthyNamingTheTokenWithoutSecretsAndRecoversOnceTokensAreGiven()
    {
        using var writer = StartWriter();
        try
        {
            var refused = await EventuallyAsync(h => h.Component("fhir") is { Status: "Unhealthy" }, writer);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Code);
            var reason = refused.Component("fhir")!.Value.Reason;
            Assert.StartsWith("no Entra ID token for the FHIR server (", reason, StringComparison.Ordinal);
            Assert.Matches(@"\((AuthenticationFailedException|CredentialUnavailableException)\)", reason);
            Assert.DoesNotContain(IdentityHeader, refused.Body, StringComparison.Ordinal);
            Assert.DoesNotContain("AADSTS", refused.Body, StringComparison.Ordinal);
            Assert.DoesNotContain("secret-detail", refused.Body, StringComparison.Ordinal);
            // The writer asked our endpoint, with the identity header: the refusal is what the health names.
            Assert.Contains(tokens.Requests, r => r.Header == IdentityHeader);
            await AssertLiveAsync();

            // The probe asks again at most once per FhirTokenProbe.KeptFor, however often /health is asked.
            var asked = tokens.Requests.Count;
            for (var i = 0; i < 20; i++)
            {
                await HealthAsync("/health");
            }

            Assert.InRange(tokens.Requests.Count - asked, 0, 1);

            // Tokens are given now, and the server wants one: the first reading is written and fhir is healthy again.
            await server.RequireBearerAsync(TokenEndpoint.Token);
            tokens.Grant = true;
            using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
            await gateway.StartAsync();
            var messages = VitalSigns.Messages(devices: 1, perDevice: 1);
            await VitalSigns.PublishAsync(mqttPort, messages);
            var options = new FhirServerOptions { Url = server.BaseUrl, Authentication = FhirAuthentication.BearerToken, BearerToken = TokenEndpoint.Token };
            var fhir = new FhirServerClient(FhirServerClient.CreateHttpClient(options), options, NullLogger<FhirServerClient>.Instance);
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(90),
                () => string.Join('\n', writer.Output.TakeLast(20)));
            var back = await EventuallyAsync(h => h.Component("fhir") is { Status: "Healthy" }, writer);
            Assert.Equal(HttpStatusCode.OK, back.Code);
            await gateway.StopAsync();
        }
        finally
        {
            await server.RequireBearerAsync(null);
            await writer.KillAsync();
        }
    }

    private async Task AssertLiveAsync()
    {
        var live = await HealthAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.Code);
        Assert.Null(live.Component("fhir"));
    }

    private ModuleProcess StartWriter()
    {
        var environment = TestHosts.WriterSettings(server.BaseUrl);
        environment["FhirServer__Authentication"] = "ManagedIdentity";
        environment["FhirServer__MaxAttempts"] = "2";
        environment["FhirServer__InitialBackoff"] = "00:00:00.050";
        environment["FhirServer__MaxBackoff"] = "00:00:00.200";
        environment["IDENTITY_ENDPOINT"] = tokens.Url;
        environment["IDENTITY_HEADER"] = IdentityHeader;
        environment["Hub__BootstrapServers"] = cluster.BootstrapServers;
        environment["Hub__Topic"] = "measurements";
        environment["Writer__InHandPath"] = Path.Combine(folder, "writer-inhand.json");
        environment["Monitoring__Port"] = monitoringPort.ToString(CultureInfo.InvariantCulture);
        environment["Monitoring__BindAddress"] = "127.0.0.1";
        environment["Logging__LogLevel__Default"] = "Warning";
        return new ModuleProcess("FhirWriter", "MedTech.Edge.Modules.FhirWriter.dll", folder, environment);
    }

    private async Task<HealthAnswer> EventuallyAsync(Func<HealthAnswer, bool> condition, ModuleProcess writer)
    {
        HealthAnswer? last = null;
        await Eventually.HoldsAsync(() =>
        {
            Assert.False(writer.Process.HasExited, "the writer exited: " + string.Join("\n", writer.Output));
            last = HealthAsync("/health").GetAwaiter().GetResult();
            return condition(last);
        }, TimeSpan.FromSeconds(90), () => last?.Body ?? "no answer");
        return last!;
    }

    private Task<HealthAnswer> HealthAsync(string path) => HealthAnswer.GetAsync(monitoringPort, path);

    /// <summary>
    /// App Service's managed identity endpoint (API version 2019-08-01): refuses with 400 and an Entra-like error text
    /// until <see cref="Grant"/>, then hands out <see cref="Token"/>. Every request's identity header is kept.
    /// </summary>
    private sealed class TokenEndpoint : IDisposable
    {
        public const string Token = "token-from-the-managed-identity";
        private readonly HttpListener listener = new();
        private readonly List<(string Query, string? Header)> requests = [];
        private readonly int port = Ports.Free();

        public TokenEndpoint()
        {
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            listener.Start();
            _ = Task.Run(ServeAsync);
        }

        public string Url => $"http://127.0.0.1:{port}/msi/token";

        public volatile bool Grant;

        public List<(string Query, string? Header)> Requests
        {
            get
            {
                lock (requests)
                {
                    return requests.ToList();
                }
            }
        }

        public void Dispose() => listener.Close();

        private async Task ServeAsync()
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                lock (requests)
                {
                    requests.Add((context.Request.Url!.Query, context.Request.Headers["X-IDENTITY-HEADER"]));
                }

                var expires = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
                var (status, body) = Grant
                    ? (200, $$"""{"access_token":"{{Token}}","expires_on":"{{expires}}","resource":"http://127.0.0.1","token_type":"Bearer"}""")
                    : (400, $$"""{"statusCode":400,"message":"{{ErrorMarker}}","error":"invalid_request","error_description":"{{ErrorMarker}}"}""");
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                var bytes = Encoding.UTF8.GetBytes(body);
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }
    }
}

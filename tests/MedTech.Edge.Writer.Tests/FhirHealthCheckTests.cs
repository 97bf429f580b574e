using Azure.Core;
using Azure.Identity;
using MedTech.Edge.Hosting;
using MedTech.Edge.Persist.Server;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using HealthStatus = Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The writer's fhir check: the last batch's report, and with Entra ID a token probe (the client's own credential)
/// whose answer is kept for <see cref="FhirTokenProbe.KeptFor"/>; the worse of the two, the token's reason when both
/// are unhealthy; the reason names the exception's type, never its message.
/// </summary>
public sealed class FhirHealthCheckTests
{
    private static readonly FhirServerOptions Options = new() { Url = new Uri("https://ws-fhir.fhir.azurehealthcareapis.com"), Authentication = FhirAuthentication.ManagedIdentity };

    [Fact]
    public async Task GivenNoEntraId_WhenChecked_ThenTheLastBatchReportAloneIsShown()
    {
        var health = new ModuleHealth();
        var check = new FhirHealthCheck(health, new FhirTokenProbe(new FhirServerOptions { Url = Options.Url }, credential: null));
        Assert.Equal((HealthStatus.Healthy, "no batch yet"), await CheckAsync(check));

        health.Degraded(FhirHealthCheck.Name, "unavailable; the batch is kept and retried");
        Assert.Equal((HealthStatus.Degraded, "unavailable; the batch is kept and retried"), await CheckAsync(check));
    }

    [Fact]
    public async Task GivenATokenThatCannotBeHad_WhenCheckedWhileIdle_ThenUnhealthyByTypeWithoutTheMessage()
    {
        var credential = new Credential(() => throw new AuthenticationFailedException("AADSTS7000222: The provided client secret keys for app 'c0ffee' are expired. Trace ID: 1234"));
        var check = new FhirHealthCheck(new ModuleHealth(), new FhirTokenProbe(Options, credential));

        var (status, reason) = await CheckAsync(check);

        Assert.Equal(HealthStatus.Unhealthy, status);
        Assert.Equal("no Entra ID token for the FHIR server (AuthenticationFailedException); nothing is written until one is had", reason);
        Assert.Equal(["https://ws-fhir.fhir.azurehealthcareapis.com/.default"], credential.Scopes);
    }

    [Fact]
    public async Task GivenABatchReportAndATokenFailure_WhenChecked_ThenTheWorseIsShownAndTheTokenWhenBothAreUnhealthy()
    {
        var health = new ModuleHealth();
        var check = new FhirHealthCheck(health, new FhirTokenProbe(Options, new Credential(() => throw new CredentialUnavailableException("no managed identity endpoint"))));

        health.Degraded(FhirHealthCheck.Name, "unavailable; the batch is kept and retried");
        Assert.Equal((HealthStatus.Unhealthy, FhirHealthCheck.TokenReason(nameof(CredentialUnavailableException))), await CheckAsync(check));

        health.Unhealthy(FhirHealthCheck.Name, "the FHIR server refused the writer with HTTP 403");
        Assert.Equal((HealthStatus.Unhealthy, FhirHealthCheck.TokenReason(nameof(CredentialUnavailableException))), await CheckAsync(check));
    }

    [Fact]
    public async Task GivenATokenThatCanBeHad_WhenChecked_ThenTheBatchReportDecides()
    {
        var health = new ModuleHealth();
        var check = new FhirHealthCheck(health, new FhirTokenProbe(Options, new Credential(() => new AccessToken("t", DateTimeOffset.UtcNow.AddHours(1)))));
        health.Degraded(FhirHealthCheck.Name, "unavailable; the batch is kept and retried");

        Assert.Equal((HealthStatus.Degraded, "unavailable; the batch is kept and retried"), await CheckAsync(check));
    }

    [Fact]
    public async Task GivenAProbeAskedOftenAndAnAnswerThatChanges_WhenTimePasses_ThenTheCredentialIsAskedOncePerKeptForAndTheNewAnswerShows()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 22, 0, 0, TimeSpan.Zero));
        var failing = true;
        var credential = new Credential(() => failing ? throw new AuthenticationFailedException("refused") : new AccessToken("t", DateTimeOffset.UtcNow.AddHours(1)));
        var probe = new FhirTokenProbe(Options, credential, time);

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(nameof(AuthenticationFailedException), await probe.FailureAsync(default));
        }

        Assert.Equal(1, credential.Calls);
        failing = false;
        time.Advance(FhirTokenProbe.KeptFor - TimeSpan.FromTicks(1));
        Assert.Equal(nameof(AuthenticationFailedException), await probe.FailureAsync(default));
        time.Advance(TimeSpan.FromTicks(1));
        Assert.Null(await probe.FailureAsync(default));
        Assert.Equal(2, credential.Calls);
    }

    [Fact]
    public async Task GivenACredentialThatThrowsSomethingElse_WhenChecked_ThenTheCheckThrowsForTheHealthLibraryToReportByType()
    {
        var check = new FhirHealthCheck(new ModuleHealth(), new FhirTokenProbe(Options, new Credential(() => throw new InvalidOperationException("a bug"))));

        await Assert.ThrowsAsync<InvalidOperationException>(() => check.CheckHealthAsync(new HealthCheckContext()));
    }

    private static async Task<(HealthStatus, string?)> CheckAsync(FhirHealthCheck check)
    {
        var result = await check.CheckHealthAsync(new HealthCheckContext());
        return (result.Status, result.Description);
    }

    private sealed class Credential(Func<AccessToken> token) : TokenCredential
    {
        private int calls;

        public int Calls => Volatile.Read(ref calls);

        public IReadOnlyList<string> Scopes { get; private set; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref calls);
            Scopes = requestContext.Scopes;
            return token();
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}

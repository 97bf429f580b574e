using Azure.Core;
using MedTech.Edge.Persist.Server;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// Second review of issue 23 (FHIR token probe), failing on purpose. FhirTokenProbe asks the credential with
/// CancellationToken.None and asks again only once that question has COMPLETED (`asked.IsCompleted && ...`). A token
/// request that never answers (a managed-identity endpoint that accepts the connection and says nothing, a proxy that
/// swallows it, a credential with no time-out of its own) therefore pins the probe: every later /health waits on that
/// one question until the check's 5 s time-out, for ever, even after the credential answers every new request at
/// once. The fhir check (and the health.status gauge, readiness) stays unhealthy "timed out" while the writer writes.
/// No pile-up of requests was found (one question at a time). Fix: give the question its own time-out (a
/// CancellationTokenSource of, say, KeptFor + 5 s linked into GetTokenAsync, or treat a question older than that as
/// answered with a time-out) so the next check asks again.
/// </summary>
public sealed class Review23bTokenProbeTests
{
    private static readonly FhirServerOptions Options = new() { Url = new Uri("https://ws-fhir.fhir.azurehealthcareapis.com"), Authentication = FhirAuthentication.ManagedIdentity };

    [Fact]
    public async Task Review23b_ATokenRequestThatNeverAnswers_DoesNotPinTheProbeOnceTheCredentialAnswersAgain()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 22, 0, 0, TimeSpan.Zero));
        var credential = new FirstHangs();
        var probe = new FhirTokenProbe(Options, credential, time);

        // The health check's own time-out ends the first probe's wait (the question stays open).
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => probe.FailureAsync(timeout.Token));
        }

        // An hour later the credential answers any new request at once.
        time.Advance(TimeSpan.FromHours(1));
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        string? failure;
        try
        {
            failure = await probe.FailureAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            failure = "still waiting on the first token request";
        }

        Assert.True(failure is null && credential.Calls == 2,
            $"an hour after a token request that never answered, the probe says '{failure}' and asked the credential {credential.Calls} time(s)");
    }

    /// <summary>The first token request never completes (nor honours cancellation: the probe passes none); later ones answer at once.</summary>
    private sealed class FirstHangs : TokenCredential
    {
        private int calls;

        public int Calls => Volatile.Read(ref calls);

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            Interlocked.Increment(ref calls) == 1
                ? new ValueTask<AccessToken>(Task.Delay(Timeout.Infinite, cancellationToken).ContinueWith(_ => default(AccessToken), TaskScheduler.Default))
                : ValueTask.FromResult(new AccessToken("t", DateTimeOffset.UtcNow.AddHours(1)));
    }
}

using Azure.Core;

namespace MedTech.Edge.Persist.Server;

/// <summary>
/// Asks the FHIR client's own Entra ID credential for a token on behalf of the <c>fhir</c> health check, so that
/// <c>/health</c> says a token cannot be had while the writer is idle too (an expired client secret, a managed identity
/// endpoint that refuses), not only after a batch failed on it. The answer is kept for <see cref="KeptFor"/>: a health
/// endpoint polled every second asks Entra ID at most once in that time, and a working credential answers from
/// Azure.Identity's token cache anyway. The failure is named by the exception's type only: Entra ID's messages quote
/// tenant and client ids and request ids, which do not belong in an unauthenticated health answer.
/// </summary>
public sealed class FhirTokenProbe(FhirServerOptions options, TokenCredential? credential, TimeProvider? timeProvider = null)
{
    /// <summary>How long one answer (a token or a failure) stands before the credential is asked again.</summary>
    public static readonly TimeSpan KeptFor = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long one question may stay open: past it the question is cancelled and, should the credential not honour
    /// that, left behind and asked anew, so a token request that never answers cannot pin the check for good.
    /// </summary>
    public static readonly TimeSpan QuestionTimeout = TimeSpan.FromSeconds(30);

    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;
    private readonly Lock gate = new();
    private Task<string?>? asked;
    private DateTimeOffset askedAt;

    /// <summary>The credential the FHIR client uses (the probe must share its token cache, not make a second one); null without Entra ID.</summary>
    public TokenCredential? Credential => credential;

    /// <summary>Null when a token was had (or no Entra ID is configured), else the failure's exception type (e.g. <c>AuthenticationFailedException</c>).</summary>
    public Task<string?> FailureAsync(CancellationToken cancellationToken)
    {
        if (credential is null)
        {
            return Task.FromResult<string?>(null);
        }

        Task<string?> answer;
        lock (gate)
        {
            // One question at a time, whoever asks: a health check that times out leaves it running for the next one.
            var age = time.GetUtcNow() - askedAt;
            if (asked is null || (asked.IsCompleted ? age >= KeptFor : age >= QuestionTimeout))
            {
                askedAt = time.GetUtcNow();
                asked = AskAsync();
            }

            answer = asked;
        }

        return answer.WaitAsync(cancellationToken);
    }

    private async Task<string?> AskAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(QuestionTimeout, time);
            await credential!.GetTokenAsync(new TokenRequestContext([FhirCredentials.Scope(options)]), timeout.Token).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException)
        {
            return nameof(TimeoutException);
        }
        catch (Exception ex) when (FhirServerClient.IsTokenFailure(ex))
        {
            return ex.GetType().Name;
        }
    }
}

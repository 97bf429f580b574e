using System.Net;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Persist.Tests;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Persist.Tests.Server;

/// <summary>
/// The FHIR client's retries (Polly, through Microsoft.Extensions.Http.Resilience) against the real FHIR test server
/// answering 503: Retry-After honoured, jitter without it, and giving up after the configured attempts.
/// </summary>
[Collection(FhirServerGroup.Name)]
public sealed class FhirRetryTests(FhirServerFixture fixture) : IAsyncLifetime
{
    public System.Threading.Tasks.Task InitializeAsync() => System.Threading.Tasks.Task.CompletedTask;

    // The shared server answers normally again for the collection's next test, whatever this one left.
    public async System.Threading.Tasks.Task DisposeAsync() => await fixture.Server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);

    [Fact]
    public async System.Threading.Tasks.Task GivenA503WithRetryAfter_WhenAPutIsSent_ThenItWaitsWhatTheServerAskedAndSucceeds()
    {
        var (client, delays) = Client(maxAttempts: 4, initial: TimeSpan.FromMilliseconds(10), max: TimeSpan.FromSeconds(5));
        await fixture.Server.FailNextAsync(2, HttpStatusCode.ServiceUnavailable, retryAfter: "1");

        var written = await client.PutAsync(new Patient { Id = "retry-after-" + Guid.NewGuid().ToString("N")[..8] }, null, default);

        Assert.NotNull(written.Meta?.VersionId);
        Assert.Equal(3, client.RequestCount);
        // The server's one second, not the client's own 10 ms and 20 ms (jittered) backoff.
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)], delays);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenA503WithoutRetryAfter_WhenRetried_ThenTheBackoffIsJitteredAndCapped()
    {
        var initial = TimeSpan.FromMilliseconds(20);
        var cap = TimeSpan.FromMilliseconds(300);
        var (client, delays) = Client(maxAttempts: 7, initial, cap);
        await fixture.Server.FailNextAsync(6, HttpStatusCode.ServiceUnavailable, retryAfter: null);

        await client.PutAsync(new Patient { Id = "jitter-" + Guid.NewGuid().ToString("N")[..8] }, null, default);

        Assert.Equal(6, delays.Count);
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.Zero, cap));
        // Plain doubling would be 20, 40, 80, 160, 300, 300 ms exactly; jitter moves them (so writers that lost the
        // server together do not come back in step).
        var doubling = Enumerable.Range(0, 6).Select(n => TimeSpan.FromTicks(Math.Min(initial.Ticks << n, cap.Ticks))).ToList();
        Assert.NotEqual(doubling, delays);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenA429AskingForLessThanTheBackoff_WhenRetried_ThenEachWaitIsAtLeastTheJitteredBackoffOfItsAttempt()
    {
        var initial = TimeSpan.FromMilliseconds(40);
        var cap = TimeSpan.FromMilliseconds(100);
        var (client, delays) = Client(maxAttempts: 5, initial, cap);
        await fixture.Server.FailNextAsync(4, HttpStatusCode.TooManyRequests, retryAfter: "0");

        await client.PutAsync(new Patient { Id = "short-ask-" + Guid.NewGuid().ToString("N")[..8] }, null, default);

        // The jittered backoff takes between half and all of the doubled delay (40, 80, 100, 100 ms capped): the
        // server's 0 shortens none of them.
        Assert.Equal(4, delays.Count);
        var floors = new[] { 20, 40, 50, 50 }.Select(ms => TimeSpan.FromMilliseconds(ms)).ToList();
        Assert.All(delays.Zip(floors), p => Assert.InRange(p.First, p.Second, cap));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenA503AskingForAnHour_WhenRetried_ThenTheWaitIsCappedAtMaxBackoff()
    {
        var cap = TimeSpan.FromMilliseconds(150);
        var (client, delays) = Client(maxAttempts: 3, initial: TimeSpan.FromMilliseconds(10), max: cap);
        await fixture.Server.FailNextAsync(2, HttpStatusCode.ServiceUnavailable, retryAfter: "3600");

        await client.PutAsync(new Patient { Id = "long-ask-" + Guid.NewGuid().ToString("N")[..8] }, null, default);

        Assert.Equal([cap, cap], delays);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenAServerThatKeepsAnswering503_WhenTheAttemptsAreUsedUp_ThenTheClientGivesUpAsUnavailableAfterExactlyThatMany()
    {
        var (client, delays) = Client(maxAttempts: 3, initial: TimeSpan.FromMilliseconds(5), max: TimeSpan.FromMilliseconds(50));
        await fixture.Server.FailNextAsync(1_000, HttpStatusCode.ServiceUnavailable);

        var error = await Assert.ThrowsAsync<FhirServerUnavailableException>(() => client.PutAsync(new Patient { Id = "give-up" }, null, default));

        Assert.Equal(3, client.RequestCount);
        Assert.Equal(2, delays.Count);
        Assert.Contains("after 3 attempts", error.Message, StringComparison.Ordinal);
        Assert.Contains("ServiceUnavailable", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenARefusalThatRetryingCannotChange_WhenSent_ThenItIsNotRetried()
    {
        var (client, delays) = Client(maxAttempts: 5, initial: TimeSpan.FromMilliseconds(5), max: TimeSpan.FromMilliseconds(50));
        await fixture.Server.FailNextAsync(1, HttpStatusCode.BadRequest);

        var error = await Assert.ThrowsAsync<FhirRequestException>(() => client.PutAsync(new Patient { Id = "no-retry" }, null, default));

        Assert.Equal(HttpStatusCode.BadRequest, error.Status);
        Assert.Equal(1, client.RequestCount);
        Assert.Empty(delays);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenOneAttemptConfigured_WhenTheServerAnswers503_ThenThereIsNoRetry()
    {
        var (client, delays) = Client(maxAttempts: 1, initial: TimeSpan.FromMilliseconds(5), max: TimeSpan.FromMilliseconds(50));
        await fixture.Server.FailNextAsync(1, HttpStatusCode.ServiceUnavailable);

        await Assert.ThrowsAsync<FhirServerUnavailableException>(() => client.PutAsync(new Patient { Id = "one-attempt" }, null, default));

        Assert.Equal(1, client.RequestCount);
        Assert.Empty(delays);
    }

    // A server clock a little behind ours puts an HTTP date in the past; either asks for no wait at all.
    [Theory]
    [InlineData("0")]
    [InlineData("Tue, 01 Dec 2026 00:00:00 GMT")]
    public async System.Threading.Tasks.Task GivenA429AskingForNoWait_WhenRetried_ThenTheClientStillBacksOff(string retryAfter)
    {
        var (client, delays) = Client(maxAttempts: 4, initial: TimeSpan.FromMilliseconds(50), max: TimeSpan.FromSeconds(2));
        await fixture.Server.FailNextAsync(3, HttpStatusCode.TooManyRequests, retryAfter);

        await client.PutAsync(new Patient { Id = "retry-nowait-" + Guid.NewGuid().ToString("N")[..8] }, null, default);

        Assert.Equal(3, delays.Count);
        Assert.All(delays, d => Assert.True(d > TimeSpan.Zero, $"retried after {d} (Retry-After: {retryAfter})"));
    }

    private (FhirServerClient Client, List<TimeSpan> Delays) Client(int maxAttempts, TimeSpan initial, TimeSpan max)
    {
        var options = new FhirServerOptions { Url = fixture.Server.BaseUrl, MaxAttempts = maxAttempts, InitialBackoff = initial, MaxBackoff = max };
        var logger = new RetryLog();
        return (new FhirServerClient(FhirServerClient.CreateHttpClient(options), options, logger), logger.Delays);
    }

    /// <summary>The delays the client logs before each retry (event 3001's Delay), in order.</summary>
    private sealed class RetryLog : ILogger<FhirServerClient>
    {
        public List<TimeSpan> Delays { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == 3001 && state is IReadOnlyList<KeyValuePair<string, object?>> values && values.FirstOrDefault(v => v.Key == "Delay").Value is TimeSpan delay)
            {
                lock (Delays)
                {
                    Delays.Add(delay);
                }
            }
        }
    }
}

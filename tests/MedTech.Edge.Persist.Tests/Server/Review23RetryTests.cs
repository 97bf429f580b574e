using System.Globalization;
using System.Net;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Persist.Tests;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Persist.Tests.Server;

/// <summary>
/// Review of issue 23 (FHIR retries through Polly), failing on purpose: the DelayGenerator makes a server's Retry-After
/// REPLACE the client's backoff, so <c>Retry-After: 0</c>, or an HTTP date already past (a server clock a little behind
/// ours), makes every retry immediate: a throttled or overloaded server (429/503) is hit MaxAttempts times back to back
/// by every writer at once, with no backoff and no jitter. The hand-written loop this replaced took the longer of the
/// two ("a server's Retry-After wins when it is longer"). Fix: delay = max(backoff, Retry-After), capped.
/// </summary>
[Collection(FhirServerGroup.Name)]
public sealed class Review23RetryTests(FhirServerFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(50);

    public System.Threading.Tasks.Task InitializeAsync() => System.Threading.Tasks.Task.CompletedTask;

    public async System.Threading.Tasks.Task DisposeAsync() => await fixture.Server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);

    [Theory]
    [InlineData("0")]
    [InlineData("Tue, 01 Dec 2026 00:00:00 GMT")]
    public async System.Threading.Tasks.Task Review23_RetryAfterZeroOrPastDate_StillBacksOff(string retryAfter)
    {
        var options = new FhirServerOptions { Url = fixture.Server.BaseUrl, MaxAttempts = 4, InitialBackoff = Initial, MaxBackoff = TimeSpan.FromSeconds(2) };
        var log = new RetryLog();
        var client = new FhirServerClient(FhirServerClient.CreateHttpClient(options), options, log);
        await fixture.Server.FailNextAsync(3, HttpStatusCode.TooManyRequests, retryAfter);

        await client.PutAsync(new Patient { Id = "r23-retry-" + Guid.NewGuid().ToString("N")[..8] }, null, default);

        Assert.Equal(3, log.Delays.Count);
        // Each retry waits at least something: the jittered backoff is never zero for a 50 ms initial delay.
        Assert.All(log.Delays, d => Assert.True(d > TimeSpan.Zero, string.Create(CultureInfo.InvariantCulture, $"retried after {d.TotalMilliseconds} ms (Retry-After: {retryAfter})")));
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

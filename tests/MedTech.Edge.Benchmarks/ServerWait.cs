using System.Diagnostics;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// Wall time during which at least one request to the FHIR server is outstanding, response body included: the time the
/// writer waits on the server. Overlapping requests count once, so with parallel requests (upstream's way) the rest of
/// the wall time is what the writer itself adds.
/// </summary>
internal sealed class ServerWait : DelegatingHandler
{
    private readonly Lock gate = new();
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private int outstanding;
    private TimeSpan since;
    private TimeSpan waited;

    public ServerWait(HttpMessageHandler inner)
        : base(inner)
    {
    }

    public TimeSpan Waited
    {
        get
        {
            lock (gate)
            {
                return outstanding > 0 ? waited + (clock.Elapsed - since) : waited;
            }
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (outstanding++ == 0)
            {
                since = clock.Elapsed;
            }
        }

        try
        {
            var response = await base.SendAsync(request, cancellationToken);
            // The body is the server's answer too: read here, not after the clock stops.
            await response.Content.LoadIntoBufferAsync(cancellationToken);
            return response;
        }
        finally
        {
            lock (gate)
            {
                if (--outstanding == 0)
                {
                    waited += clock.Elapsed - since;
                }
            }
        }
    }
}

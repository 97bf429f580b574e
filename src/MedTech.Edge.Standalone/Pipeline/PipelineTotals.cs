using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MedTech.Edge.Writer;

namespace MedTech.Edge.Standalone.Pipeline;

/// <summary>Sums the pipeline's counters in this process (the same instruments <c>/metrics</c> serves), for the demo's progress and summary.</summary>
public sealed class PipelineTotals : IDisposable
{
    private readonly MeterListener listener = new();
    private readonly ConcurrentDictionary<string, long> totals = new(StringComparer.Ordinal);

    public PipelineTotals()
    {
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name is Mqtt.IngestMetrics.MeterName or WriterMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = instrument.Name;
            foreach (var tag in tags)
            {
                if (tag.Key == "outcome")
                {
                    key += "." + tag.Value;
                }
            }

            totals.AddOrUpdate(key, value, (_, sum) => sum + value);
        });
        listener.Start();
    }

    public long Normalized => Get("messages.normalized");

    public long DeadLettered => Get("messages.deadlettered") + Get("errors");

    /// <summary>Measurement groups the writer took from the outbox (what the hub carries in the distributed set-up).</summary>
    public long Forwarded => Get("groups.consumed");

    public long ObservationsWritten => Get("observations.created") + Get("observations.updated");

    private long Get(string name) => totals.GetValueOrDefault(name);

    public void Dispose() => listener.Dispose();
}

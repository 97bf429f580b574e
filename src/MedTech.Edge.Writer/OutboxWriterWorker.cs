using MedTech.Edge.Buffer;
using MedTech.Edge.Fhir.Persistence;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Writer;

/// <summary>
/// The in-process writer of the one-process run (no hub): the gateway's LiteDB outbox is the hub. A batch leaves the
/// outbox in the transaction that stores its dead letters, after the FHIR store has the rest of it.
/// </summary>
public sealed class OutboxWriterWorker(GatewayStore store, MeasurementWriter writer, IOptions<PersistenceOptions> persistence) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var entries = store.ReadOutbox(persistence.Value.MaxBatchMeasurements);
            if (entries.Count == 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), stoppingToken).ConfigureAwait(false);
                continue;
            }

            var deadLetters = await writer.WriteAsync(entries.Select(e => (e.Key, e.Payload.ToArray())).ToList(), stoppingToken).ConfigureAwait(false);
            var now = DateTime.UtcNow;
            store.MarkDelivered(entries.Select(e => e.Id).ToList(), deadLetters.Select(d => new DeadLetter(
                new InboxMessage(d.Key, GatewayStore.DeliveryTopic, d.Payload, now, new Dictionary<string, string>()), d.Code, d.Reason, now)).ToList());
        }
    }
}

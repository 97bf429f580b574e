using System.Text.Json;
using MedTech.Edge.Fhir.Persistence;
using MedTech.Edge.Fhir.Server;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Writer;

/// <summary>
/// Transform and Persist for one batch of hub messages (a measurement group each, or a <see cref="PackedMessage"/> of
/// several), whatever they came from: the batch is on the FHIR server when this returns, except the groups returned
/// as dead letters (not a measurement group, a transform error, a FHIR 4xx), each with its reason code. While the FHIR server is unavailable or refuses the
/// writer itself (401/403), it retries with capped backoff and never returns, so the caller never acknowledges
/// what is not stored.
/// </summary>
public sealed partial class MeasurementWriter(ObservationPersister persister, WriterMetrics metrics, ModuleHealth health,
    IOptions<WriterOptions> options, ILogger<MeasurementWriter> logger, TimeProvider? timeProvider = null)
{
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    /// <param name="waitingOnServer">Called with true before each wait for the FHIR server and false after it: a caller that
    /// guards against messages that kill the process knows they are not being worked on meanwhile.</param>
    public async Task<IReadOnlyList<WriterDeadLetter>> WriteAsync(IReadOnlyList<(string Key, byte[] Payload)> messages, CancellationToken cancellationToken,
        Action<bool>? waitingOnServer = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var deadLetters = new List<WriterDeadLetter>();
        var measurements = new List<Measurement>();
        var groups = 0;
        foreach (var (key, payload) in messages)
        {
            foreach (var group in SplitOrDeadLetter(key, payload, deadLetters))
            {
                groups++;
                try
                {
                    measurements.AddRange(MeasurementGroupJson.Deserialize(group.Span).Measurements);
                }
                catch (JsonException ex)
                {
                    deadLetters.Add(new WriterDeadLetter(key, group.ToArray(), WriterErrorCodes.InvalidHubMessage, ex.Message));
                }
            }
        }

        metrics.Groups.Add(groups);
        metrics.Consumed.Add(measurements.Count);
        if (measurements.Count > 0)
        {
            var result = await PersistAsync(measurements, waitingOnServer, cancellationToken).ConfigureAwait(false);
            metrics.Observations.Add(result.Created, new KeyValuePair<string, object?>("outcome", "created"));
            metrics.Observations.Add(result.Updated, new KeyValuePair<string, object?>("outcome", "updated"));
            metrics.Observations.Add(result.Unchanged, new KeyValuePair<string, object?>("outcome", "unchanged"));
            deadLetters.AddRange(result.Errors.Select(e => new WriterDeadLetter(e.Group.Key.DeviceId, MeasurementGroupJson.Serialize(e.Group), e.Code, e.Message)));
        }

        foreach (var deadLetter in deadLetters)
        {
            metrics.Errors.Add(1, new KeyValuePair<string, object?>("reason", deadLetter.Code));
        }

        return deadLetters;
    }

    /// <summary>The groups a hub message packs; none, and the whole message as a dead letter, when it is not even valid JSON.</summary>
    private static IReadOnlyList<ReadOnlyMemory<byte>> SplitOrDeadLetter(string key, byte[] payload, List<WriterDeadLetter> deadLetters)
    {
        try
        {
            return PackedMessage.Split(payload);
        }
        catch (JsonException ex)
        {
            deadLetters.Add(new WriterDeadLetter(key, payload, WriterErrorCodes.InvalidHubMessage, ex.Message));
            return [];
        }
    }

    private async Task<PersistResult> PersistAsync(List<Measurement> measurements, Action<bool>? waitingOnServer, CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                var result = await persister.PersistAsync(measurements, cancellationToken).ConfigureAwait(false);
                health.Healthy("fhir");
                return result;
            }
            catch (FhirServerUnavailableException ex)
            {
                health.Degraded("fhir", "unavailable; the batch is kept and retried");
                Log.Unavailable(logger, ex.Message, backoff);
            }
            catch (FhirRequestException ex)
            {
                // The server refused a whole request (401, 403, 404 on the base URL): configuration, not data.
                health.Unhealthy("fhir", $"the FHIR server refused the writer with HTTP {(int)ex.Status}");
                Log.Refused(logger, (int)ex.Status, backoff);
            }

            waitingOnServer?.Invoke(true);
            await Task.Delay(backoff, time, cancellationToken).ConfigureAwait(false);
            waitingOnServer?.Invoke(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.Value.MaxBackoff.Ticks));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "The FHIR server is unavailable ({Error}); nothing is acknowledged, next try in {Backoff}.")]
        public static partial void Unavailable(ILogger logger, string error, TimeSpan backoff);

        [LoggerMessage(EventId = 5002, Level = LogLevel.Error, Message = "The FHIR server refused the writer's request with HTTP {Status} (check the URL and credentials); nothing is acknowledged, next try in {Backoff}.")]
        public static partial void Refused(ILogger logger, int status, TimeSpan backoff);
    }
}

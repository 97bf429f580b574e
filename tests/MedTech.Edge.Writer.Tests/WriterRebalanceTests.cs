using System.Diagnostics.Metrics;
using System.Net;
using Confluent.Kafka;
using Hl7.Fhir.Model;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// Writers cannot race each other: two writer hosts in one consumer group on the mock Kafka cluster, the real FHIR
/// server, Create mode. A writer stuck mid-batch (the FHIR server is down) gives its partitions up when a second
/// writer joins instead of holding the group until it is done, and when it leaves; nothing it held is lost, nothing is
/// written twice, and no Patient or Device is made twice.
/// </summary>
public sealed class WriterRebalanceTests : WriterPipelineTest
{
    public WriterRebalanceTests()
        : base("medtech-rebalance-", ("measurements", 4))
    {
    }

    [Fact]
    public async Task GivenAWriterStuckMidBatch_WhenASecondJoinsAndTheFirstLeaves_ThenThePartitionsMoveAtOnceAndEveryReadingIsWrittenOnceToOnePatientAndDevice()
    {
        var messages = VitalSigns.Messages(devices: 8, perDevice: 6);
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        await gateway.StartAsync();
        using var first = Writer("first");
        using var second = Writer("second");
        var events = Events(first);
        try
        {
            // The FHIR server goes down; the first writer takes a batch and waits on the server with it in hand.
            await server.FailNextAsync(1_000_000, HttpStatusCode.ServiceUnavailable);
            await first.StartAsync();
            await VitalSigns.PublishAsync(mqttPort, messages.Where(m => m.Time.Second < 3));
            await Eventually.HoldsAsync(() => FhirState(first) == HealthStatus.Degraded, TimeSpan.FromSeconds(60), () => "the first writer to wait on the FHIR server mid-batch");

            // A second writer joins: the first gives partitions up mid-write, without waiting for the server (before,
            // the group waited for it until max.poll.interval.ms, 5 minutes).
            await second.StartAsync();
            await Eventually.HoldsAsync(() => Assigned(second) > 0 && Assigned(first) + Assigned(second) == 4, TimeSpan.FromSeconds(60),
                () => $"a rebalance while the first writer is stuck (first {Assigned(first)}, second {Assigned(second)} partitions)");
            // It stopped the write (the grace is 1 s and the server is down) before handing the partitions over.
            Assert.Contains(events.Messages(), m => m.Id == 5109 && m.Message.Contains("were revoked", StringComparison.Ordinal));
            await VitalSigns.PublishAsync(mqttPort, messages.Where(m => m.Time.Second >= 3));

            // The first leaves while still stuck; the second takes everything, and the server comes back.
            await first.StopAsync();
            await Eventually.HoldsAsync(() => Assigned(second) == 4, TimeSpan.FromSeconds(60), () => $"the second writer to own all partitions ({Assigned(second)})");
            await server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);

            var fhir = VitalSigns.Client(server.BaseUrl);
            var expected = messages.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count >= expected, TimeSpan.FromSeconds(120),
                () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} of {expected} Observations");
            VitalSigns.AssertEachReadingOnce(messages, await VitalSigns.ObservationsAsync(fhir));
            foreach (var device in messages.Select(m => (m.DeviceId, m.PatientId)).Distinct())
            {
                Assert.Single(await fhir.SearchAsync<Device>($"Device?identifier={device.DeviceId}", default));
                Assert.Single(await fhir.SearchAsync<Patient>($"Patient?identifier={device.PatientId}", default));
            }
        }
        finally
        {
            await server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);
            await second.StopAsync();
            await gateway.StopAsync();
        }
    }

    [Fact]
    public async Task GivenAWriterSlowMidBatch_WhenASecondJoins_ThenItFinishesAndCommitsTheBatchBeforeHandingOverAndNothingIsWrittenTwice()
    {
        var messages = VitalSigns.Messages(devices: 6, perDevice: 4);
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        await gateway.StartAsync();
        // A grace long enough for the batch to end once the server is back. librdkafka's mock cluster waits for a member
        // to rejoin for its session timeout less a second (Kafka: max.poll.interval.ms), so the session is long here.
        using var first = Writer("first", grace: "00:01:00", session: "00:00:30");
        using var second = Writer("second", session: "00:00:30");
        var events = Events(first);
        try
        {
            await server.FailNextAsync(1_000_000, HttpStatusCode.ServiceUnavailable);
            await first.StartAsync();
            await VitalSigns.PublishAsync(mqttPort, messages);
            await Eventually.HoldsAsync(() => FhirState(first) == HealthStatus.Degraded, TimeSpan.FromSeconds(60), () => "the first writer to wait on the FHIR server mid-batch");

            // The second joins; the first, inside its revocation handler, goes on with its batch. The server comes back.
            using var rewritten = Unchanged(second);
            await second.StartAsync();
            await Eventually.HoldsAsync(() => events.Snapshot().Contains(5111), TimeSpan.FromSeconds(60), () => "the first writer to be finishing its batch in its revocation handler");
            await server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);
            // A bound for a loaded machine, not a speed: the batch's retry, its commit and the mock cluster's rejoin wait
            // (up to the 30 s session) all come first; 60 s ran out once in CI with the other writer tests in parallel.
            await Eventually.HoldsAsync(() => Assigned(second) > 0, TimeSpan.FromSeconds(150), () => "the rebalance to end once the first writer's batch is written");

            var fhir = VitalSigns.Client(server.BaseUrl);
            var expected = messages.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count >= expected, TimeSpan.FromSeconds(120),
                () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} of {expected} Observations");
            VitalSigns.AssertEachReadingOnce(messages, await VitalSigns.ObservationsAsync(fhir));
            // The first writer finished its batch inside the revocation instead of stopping it.
            Assert.DoesNotContain(5109, events.Snapshot());
            if (events.Snapshot().Contains(5108))
            {
                // Committed before the hand-over: the second never found one of its Observations already written
                // (each Observation here holds one reading of one message).
                Assert.Equal(0, rewritten.Count);
            }
            else
            {
                // The broker refused the commit (the mock cluster does once the rebalance has moved on): said so, and
                // the second wrote the batch again without changing anything (each reading once, above).
                Assert.Contains(5110, events.Snapshot());
            }
        }
        finally
        {
            await server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);
            await first.StopAsync();
            await second.StopAsync();
            await gateway.StopAsync();
        }
    }

    [Fact]
    public async Task GivenAWriterStuckMidBatch_WhenItLosesTheGroup_ThenItStopsTheWriteAtOnceDespiteTheGraceAndTheBatchIsWrittenOnceLater()
    {
        var messages = VitalSigns.Messages(devices: 4, perDevice: 3);
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        await gateway.StartAsync();
        // A grace that would let a revoked batch finish: lost partitions must not get it.
        using var writer = Writer("only", grace: "00:01:00");
        var events = Events(writer);
        try
        {
            await server.FailNextAsync(1_000_000, HttpStatusCode.ServiceUnavailable);
            await writer.StartAsync();
            await VitalSigns.PublishAsync(mqttPort, messages);
            await Eventually.HoldsAsync(() => FhirState(writer) == HealthStatus.Degraded, TimeSpan.FromSeconds(60), () => "the writer to wait on the FHIR server mid-batch");

            // The hub goes away for longer than the session: the group goes on without this member.
            cluster.SetDown(true);
            await Eventually.HoldsAsync(() => events.Snapshot().Contains(5109), TimeSpan.FromSeconds(60), () => "the writer to stop its write on losing its partitions");
            Assert.Contains(events.Messages(), m => m.Id == 5109 && m.Message.Contains("were lost", StringComparison.Ordinal));
            Assert.DoesNotContain(5108, events.Snapshot());
            cluster.SetDown(false);
            await server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);

            var fhir = VitalSigns.Client(server.BaseUrl);
            var expected = messages.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count >= expected, TimeSpan.FromSeconds(120),
                () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} of {expected} Observations");
            VitalSigns.AssertEachReadingOnce(messages, await VitalSigns.ObservationsAsync(fhir));
        }
        finally
        {
            cluster.SetDown(false);
            await server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);
            await writer.StopAsync();
            await gateway.StopAsync();
        }
    }

    private IHost Writer(string name, string grace = "00:00:01", string session = "00:00:06") => TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
    {
        ["Writer:InHandPath"] = Path.Combine(folder, $"inhand-{name}.json"),
        ["Writer:RevocationGrace"] = grace,
        ["Writer:MaxBackoff"] = "00:00:00.500",
        ["FhirServer:MaxAttempts"] = "2",
        ["FhirServer:InitialBackoff"] = "00:00:00.050",
        ["Hub:ConsumerSessionTimeout"] = session,
    });

    private static HealthStatus? FhirState(IHost writer) =>
        writer.Services.GetRequiredService<ModuleHealth>().Snapshot().TryGetValue("fhir", out var state) ? state.Status : null;

    /// <summary>The ids of the events <paramref name="writer"/>'s worker logs from now on.</summary>
    private static EventLog Events(IHost writer)
    {
        var ids = new EventLog();
        writer.Services.GetRequiredService<ILoggerFactory>().AddProvider(ids);
        return ids;
    }

    private sealed class EventLog : ILoggerProvider, ILogger
    {
        private readonly List<(int Id, string Message)> logged = [];

        public List<int> Snapshot() => Messages().Select(m => m.Id).ToList();

        public List<(int Id, string Message)> Messages()
        {
            lock (logged)
            {
                return [.. logged];
            }
        }

        public ILogger CreateLogger(string categoryName) => categoryName == typeof(HubWriterWorker).FullName ? this : NullLogger.Instance;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (logged)
            {
                logged.Add((eventId.Id, formatter(state, exception)));
            }
        }

        public void Dispose()
        {
        }
    }

    /// <summary>Counts the Observations <paramref name="writer"/> found already written (outcome "unchanged").</summary>
    private static UnchangedCounter Unchanged(IHost writer) => new(writer.Services.GetRequiredService<WriterMetrics>().Observations);

    private sealed class UnchangedCounter : IDisposable
    {
        private readonly MeterListener listener = new();
        private long count;

        public UnchangedCounter(Instrument observations)
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument, observations))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "outcome" && (string?)tag.Value == "unchanged")
                    {
                        Interlocked.Add(ref count, value);
                    }
                }
            });
            listener.Start();
        }

        public long Count => Interlocked.Read(ref count);

        public void Dispose() => listener.Dispose();
    }

    private static int Assigned(IHost writer) => writer.Services.GetRequiredService<IConsumer<string, byte[]>>().Assignment.Count;
}

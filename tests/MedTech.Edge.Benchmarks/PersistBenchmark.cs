using System.Diagnostics;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// Persist against the local FHIR test server (Medplum, fresh per row): (a) upstream's way, one search by identifier
/// and one PUT per Observation, up to 10 devices at once, and (b) our bundled path, for 20 devices × 5 types over 2
/// hours, in batches of 300, with hourly SampledData (two periods) and with Quantity (one Observation per reading); (b)
/// three times with a Provenance per write bundle (the default), and once without.
/// </summary>
/// <remarks>
/// It measures what the writer controls, not a throughput ratio: both paths write the same Observation versions, so the
/// test server's CPU bounds any (a)/(b) ratio whatever the client does. Per row: the writer process's CPU per
/// measurement (this process is the writer side; the server is a process of its own), the share of wall time spent
/// waiting on the server (<see cref="ServerWait"/>), and requests per measurement. Goals, for the (b) rows: the writer adds
/// at most 10% over the server's own time (wall time not waiting ≤ 10% of the time waiting), and at most 0.05 requests
/// per measurement.
/// </remarks>
internal static class PersistBenchmark
{
    private const int Devices = 20;
    private static readonly string[] Types = ["heartrate", "spo2", "resprate", "systolic", "diastolic"];
    private static readonly DateTime Start = new(2026, 11, 24, 8, 0, 0, DateTimeKind.Utc);

    /// <param name="count">Measurements per row.</param>
    /// <param name="only">"SampledData" or "Quantity" to run only those rows (the Quantity (a) row alone takes minutes).</param>
    public static async System.Threading.Tasks.Task RunAsync(int count, string? only)
    {
        var measurements = Data(count);
        Console.WriteLine($"Persist benchmark: {measurements.Count:N0} measurements, {Devices} devices × {Types.Length} types over 2 h, batches of 300, " +
                          $"local Medplum FHIR server (fresh per row), .NET {Environment.Version}, {Environment.ProcessorCount} cores");
        WriteHeader();
        foreach (var (name, value) in new (string, string)[]
        {
            // The period sets the Observation's size: 30 s is upstream's sandbox sample template (120 slots an hour), 1 s
            // the densest (3,600 slots, about 7 KB, nearly all "E" at one reading every 72 s).
            ("hourly SampledData, 30 s period", """{"valueName": "v", "valueType": "SampledData", "defaultPeriod": 30000, "unit": "1"}"""),
            ("hourly SampledData, 1 s period", """{"valueName": "v", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "1"}"""),
            ("Quantity", """{"valueName": "v", "valueType": "Quantity", "unit": "1"}"""),
        }.Where(row => only is null || row.Item2.Contains($"\"{only}\"", StringComparison.Ordinal)))
        {
            var interval = name == "Quantity" ? 0 : 60;
            var templates = Types.Select(t => "{\"templateType\": \"CodeValueFhir\", \"template\": {\"typeName\": \"" + t + "\", \"periodInterval\": " + interval +
                ", \"codes\": [{\"code\": \"" + t + "\", \"system\": \"urn:bench\"}], \"value\": " + value + "}}");
            var mapping = FhirMapping.Parse("{\"templateType\": \"CollectionFhir\", \"template\": [" + string.Join(",", templates) + "]}").EnsureValid("bench");
            // Warm-up on throwaway servers until the tiered JIT is done with each path. (b) lasts about a second, so
            // after a short warm-up it ran partly unoptimised code (a profile showed the JIT's thread at a fifth of the
            // samples, and repeated rows went 2.0, 1.4, 1.4, then 0.9-1.1 s); (a) runs for many seconds and warms itself.
            await RowAsync("(warm-up, not a result)", Data(Math.Min(count, 3000)), mapping, UpstreamWay);
            for (var i = 0; i < 3; i++)
            {
                await RowAsync("(warm-up, not a result)", measurements, mapping, Bundled());
            }

            await RowAsync($"(a) search + PUT, {name}", measurements, mapping, UpstreamWay, goals: false);
            // (b) is short enough for this machine's noise to show: three times, each on a fresh server.
            for (var i = 1; i <= 3; i++)
            {
                await RowAsync($"(b) #{i} bundled, {name}", measurements, mapping, Bundled());
            }

            await RowAsync($"(b) bundled, Provenance off, {name}", measurements, mapping, Bundled(provenance: false));
        }
    }

    /// <summary>The rows' columns; the goals apply to our path, (b), and are checked per row in the last column.</summary>
    private static void WriteHeader()
    {
        Console.WriteLine($"Goals for (b): writer adds ≤ {MaxWriterShare:P0} over the server's own time (wall not waiting / wall waiting); ≤ {MaxRequestsPerMeasurement} requests per measurement.");
        Console.WriteLine($"{"row",-50} {"seconds",8} {"meas./s",9} {"client CPU µs/meas.",20} {"server CPU µs/meas.",20} {"waiting on server",18} {"writer adds",12} {"requests",9} {"req./meas.",11}  goals");
    }

    /// <summary>
    /// Requests per measurement of the bundled path with the Patient from the Device now (MedTech) and by measurement
    /// time (<paramref name="association"/>), on the hourly 30 s SampledData row. The readings are timed after the
    /// Devices were registered (their history starts then), each Device has one open DeviceUseStatement, and
    /// <paramref name="maxStaleness"/> sets how often cached associations are revalidated.
    /// </summary>
    public static async System.Threading.Tasks.Task RunAssociationAsync(int count, PatientAssociation association, TimeSpan maxStaleness)
    {
        var now = DateTime.UtcNow;
        var start = new DateTime(now.Year, now.Month, now.Day, now.Hour, 0, 0, DateTimeKind.Utc).AddHours(1);
        var measurements = Data(count, start);
        var templates = Types.Select(t => "{\"templateType\": \"CodeValueFhir\", \"template\": {\"typeName\": \"" + t + "\", \"periodInterval\": 60, \"codes\": [{\"code\": \"" + t +
            "\", \"system\": \"urn:bench\"}], \"value\": {\"valueName\": \"v\", \"valueType\": \"SampledData\", \"defaultPeriod\": 30000, \"unit\": \"1\"}}}");
        var mapping = FhirMapping.Parse("{\"templateType\": \"CollectionFhir\", \"template\": [" + string.Join(",", templates) + "]}").EnsureValid("bench");
        Console.WriteLine($"Persist benchmark, association: {measurements.Count:N0} measurements, {Devices} devices × {Types.Length} types over 2 h, batches of 300, " +
                          $"hourly SampledData (30 s period), MaxStaleness {maxStaleness.TotalSeconds:0.###} s, local Medplum FHIR server (fresh per row)");
        WriteHeader();
        await RowAsync("(warm-up, not a result)", measurements, mapping, Bundled(), new ResourceIdentityOptions { Association = association.ToString(), MaxStaleness = maxStaleness });
        foreach (var row in new[] { PatientAssociation.CurrentDevice, association })
        {
            foreach (var provenance in new[] { true, false })
            {
                await RowAsync($"(b) bundled, Association={row}, Provenance {(provenance ? "on" : "off")}", measurements, mapping, Bundled(provenance),
                    new ResourceIdentityOptions { Association = row.ToString(), MaxStaleness = maxStaleness });
            }
        }
    }

    /// <summary>Makes the row's persist function (one per row, so caches live as long as a writer's would); it returns Observation writes.</summary>
    private delegate Func<Measurement[], Task<int>> Writer(FhirServerClient client, IdentityResolver identity, FhirMapping mapping);

    private const double MaxWriterShare = 0.10;
    private const double MaxRequestsPerMeasurement = 0.05;

    private static async System.Threading.Tasks.Task RowAsync(string name, List<Measurement> measurements, FhirMapping mapping, Writer writer,
        ResourceIdentityOptions? identityOptions = null, bool goals = true)
    {
        await using var server = await FhirTestServer.StartAsync();
        var options = new FhirServerOptions { Url = server.BaseUrl };
        var wait = new ServerWait(new SocketsHttpHandler());
        using var http = new HttpClient(wait) { BaseAddress = server.BaseUrl, Timeout = Timeout.InfiniteTimeSpan };
        var client = new FhirServerClient(http, options, NullLogger<FhirServerClient>.Instance);
        for (var d = 0; d < Devices; d++)
        {
            await client.PutAsync(new Patient { Id = $"patient-{d}" }, null, default);
            await client.PutAsync(new Device { Id = $"device-{d}", Identifier = [new Identifier(null, $"bed-{d}")], Patient = new ResourceReference($"Patient/patient-{d}") }, null, default);
            await client.PutAsync(new DeviceUseStatement
            {
                Id = $"use-{d}",
                Status = DeviceUseStatement.DeviceUseStatementStatus.Active,
                Subject = new ResourceReference($"Patient/patient-{d}"),
                Device = new ResourceReference($"Device/device-{d}"),
                Timing = new Period { Start = "2000-01-01T00:00:00Z" },
            }, null, default);
        }

        using var identity = new IdentityResolver(client, identityOptions ?? new ResourceIdentityOptions());
        var persist = writer(client, identity, mapping);
        var before = client.RequestCount;
        var serverCpu = server.CpuTime;
        var waitedBefore = wait.Waited;
        using var self = Process.GetCurrentProcess();
        var clientCpu = self.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        foreach (var batch in measurements.Chunk(300))
        {
            await persist(batch);
        }

        var wall = clock.Elapsed;
        self.Refresh();
        var clientMicros = (self.TotalProcessorTime - clientCpu).TotalMicroseconds / measurements.Count;
        var serverMicros = (server.CpuTime - serverCpu).TotalMicroseconds / measurements.Count;
        var waited = wait.Waited - waitedBefore;
        var added = (wall - waited) / waited;
        var perMeasurement = (double)(client.RequestCount - before) / measurements.Count;
        var verdict = !goals ? "" : added <= MaxWriterShare && perMeasurement <= MaxRequestsPerMeasurement ? "met"
            : $"MISSED{(added > MaxWriterShare ? " (writer adds)" : "")}{(perMeasurement > MaxRequestsPerMeasurement ? " (requests)" : "")}";
        Console.WriteLine($"{name,-50} {wall.TotalSeconds,8:F2} {measurements.Count / wall.TotalSeconds,9:N0} {clientMicros,20:N1} {serverMicros,20:N1} " +
                          $"{waited / wall,18:P1} {added,12:P1} {client.RequestCount - before,9:N0} {perMeasurement,11:F4}  {verdict}");
    }

    /// <summary>
    /// Our path; with Provenance each measurement is named as its own hub message (<c>topic/partition/offset</c>), so
    /// the Provenance is as large as the writer's can be (a hub message holds one group of one or more measurements).
    /// </summary>
    private static Writer Bundled(bool provenance = true) => (client, identity, mapping) =>
    {
        var persister = new ObservationPersister(client, identity, mapping, new PersistenceOptions { Provenance = provenance }, NullLogger<ObservationPersister>.Instance);
        var offset = 0L;
        return async batch =>
        {
            var sources = new Dictionary<Measurement, MeasurementSource>(ReferenceEqualityComparer.Instance);
            foreach (var measurement in batch)
            {
                sources[measurement] = new MeasurementSource($"measurements/{offset % 4}/{offset++ / 4}", "ward-gateway");
            }

            var result = await persister.PersistAsync(batch, m => sources.GetValueOrDefault(m), default);
            return result.Errors.Count == 0 && result.ProvenanceFailed == 0 ? result.Created + result.Updated
                : throw new InvalidOperationException(result.Errors.Count > 0 ? result.Errors[0].Message : "A Provenance was not written.");
        };
    };

    /// <summary>
    /// Upstream's <c>SaveObservationAsync</c> without its cache: search by identifier, then create or merge and PUT;
    /// with upstream's concurrency, up to 10 devices at once and each device's groups one after another.
    /// </summary>
    private static Func<Measurement[], Task<int>> UpstreamWay(FhirServerClient client, IdentityResolver identity, FhirMapping mapping) => async batch =>
    {
        var writes = 0;
        var devices = MeasurementGrouper.Group(batch).GroupBy(group => group.Key.DeviceId);
        await Parallel.ForEachAsync(devices, new ParallelOptions { MaxDegreeOfParallelism = 10 }, async (device, cancellationToken) =>
        {
            foreach (var group in device)
            {
                var template = mapping.Find(group.Key.Type)!;
                var ids = await identity.ResolveAsync(group.Key, cancellationToken);
                foreach (var observationGroup in ObservationGrouping.Split(group, template.PeriodInterval))
                {
                    var identifier = ObservationIdentity.IdentifierValue(ids, observationGroup);
                    var found = await client.SearchAsync<Observation>($"Observation?identifier={Uri.EscapeDataString(ObservationIdentity.System + "|" + identifier)}", cancellationToken);
                    var existing = found.SingleOrDefault();
                    var observation = existing is null ? ObservationFactory.Create(template, observationGroup, ids, DateTimeOffset.UtcNow) : ObservationFactory.Merge(existing, template, observationGroup);
                    if (observation is not null)
                    {
                        await client.PutAsync(observation, existing?.Meta?.VersionId is { } v ? $"W/\"{v}\"" : null, cancellationToken);
                        Interlocked.Increment(ref writes);
                    }
                }
            }
        });

        return writes;
    };

    /// <summary>Every series gets readings evenly spread over two hours, ordered by time as devices send them.</summary>
    private static List<Measurement> Data(int count) => Data(count, Start);

    internal static List<Measurement> Data(int count, DateTime start)
    {
        var series = Devices * Types.Length;
        var perSeries = Math.Max(1, count / series);
        var step = TimeSpan.FromHours(2) / perSeries;
        var random = new Random(42);
        return Enumerable.Range(0, perSeries)
            .SelectMany(i => Enumerable.Range(0, series).Select(s => new Measurement
            {
                Type = Types[s % Types.Length],
                DeviceId = $"bed-{s / Types.Length}",
                OccurrenceTimeUtc = start + (step * i) + TimeSpan.FromSeconds(s % 7),
                IngestionTimeUtc = start + (step * i),
                Properties = [new MeasurementProperty("v", random.Next(40, 140).ToString(System.Globalization.CultureInfo.InvariantCulture))],
            }))
            .ToList();
    }
}

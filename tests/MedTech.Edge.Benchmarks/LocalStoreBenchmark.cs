using System.Diagnostics;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Standalone.LocalStore;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// The one-process run's local FHIR store, written the way <c>medtech run</c> writes it: the writer's persister in
/// Create mode, one Quantity Observation per reading (as the bundled vital-signs mapping), 20 devices × 5 types.
/// (a) one reading per request, so every Observation is its own LiteDB transaction (what every write was before the
/// store took a batch in one transaction); (b) the writer's batches of 300 readings, three times, median.
/// </summary>
internal static class LocalStoreBenchmark
{
    public static async Task RunAsync(int count)
    {
        var types = new[] { "heartrate", "spo2", "resprate", "systolic", "diastolic" };
        var templates = types.Select(t => "{\"templateType\": \"CodeValueFhir\", \"template\": {\"typeName\": \"" + t +
            "\", \"periodInterval\": 0, \"codes\": [{\"code\": \"" + t + "\", \"system\": \"urn:bench\"}], \"value\": {\"valueName\": \"v\", \"valueType\": \"Quantity\", \"unit\": \"1\"}}}");
        var mapping = FhirMapping.Parse("{\"templateType\": \"CollectionFhir\", \"template\": [" + string.Join(",", templates) + "]}").EnsureValid("bench");
        Console.WriteLine($"Local store benchmark: {count:N0} readings, 20 devices × 5 types, one Quantity Observation each, Create mode, .NET {Environment.Version}, {Environment.ProcessorCount} cores");
        Console.WriteLine($"{"row",-46} {"seconds",8} {"Observations/s",15} {"file MB",8}");
        await RowAsync("(warm-up, not a result)", Math.Min(count, 3000), 300, mapping);
        var single = await RowAsync("(a) one reading per request", Math.Min(count, 5000), 1, mapping);
        var batched = new List<double>();
        for (var i = 1; i <= 3; i++)
        {
            batched.Add(await RowAsync($"(b) batches of 300, run {i}", count, 300, mapping));
        }

        var median = batched.Order().ElementAt(1);
        Console.WriteLine($"(b) median {median:N0} Observations/s = {median / single:F1} × (a)");
    }

    private static async Task<double> RowAsync(string name, int count, int batchSize, FhirMapping mapping)
    {
        var folder = Directory.CreateTempSubdirectory("medtech-bench-localstore-").FullName;
        try
        {
            var path = Path.Combine(folder, "fhir.db");
            using var store = new LocalFhirStore(path);
            var options = new FhirServerOptions { Url = LocalFhirStore.BaseAddress };
            var client = new FhirServerClient(new HttpClient(store, disposeHandler: false) { BaseAddress = LocalFhirStore.BaseAddress }, options, NullLogger<FhirServerClient>.Instance);
            using var identity = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });
            var persister = new ObservationPersister(client, identity, mapping, new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);
            // Create mode takes the patient from the message, as medtech run's monitors send it.
            var measurements = PersistBenchmark.Data(count, DateTime.UtcNow.AddHours(-2)).Select(m => m with { PatientId = "patient-" + m.DeviceId }).ToList();

            var written = 0;
            var clock = Stopwatch.StartNew();
            foreach (var batch in measurements.Chunk(batchSize))
            {
                var result = await persister.PersistAsync(batch, default);
                written += result.Errors.Count == 0 ? result.Created + result.Updated : throw new InvalidOperationException(result.Errors[0].Message);
            }

            var seconds = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"{name,-46} {seconds,8:F2} {written / seconds,15:N0} {new FileInfo(path).Length / 1048576.0,8:F1}");
            return written / seconds;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

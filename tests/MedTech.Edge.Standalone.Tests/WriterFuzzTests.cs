using System.Globalization;
using System.Text;
using System.Text.Json;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Standalone.LocalStore;
using MedTech.Edge.Writer;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Standalone.Tests;

/// <summary>
/// Seeded fuzzing of hub messages into the writer over the in-process FHIR store (a real LiteDB file): random bytes,
/// valid groups with hostile values, mutated groups, random JSON shapes, packed messages of them. Whatever comes, no
/// exception escapes, every group ends written or dead-lettered with a known reason code (the counts balance), and
/// every group not dead-lettered has its Observations in the store. The seed is printed; set MEDTECH_FUZZ_SEED to
/// replay one. Inputs it found are kept as regression cases in <see cref="Regressions"/>.
/// </summary>
public sealed class WriterFuzzTests(ITestOutputHelper output) : IDisposable
{
    private const string Mapping = """
        {"templateType": "CollectionFhir", "template": [
          {"templateType": "CodeValueFhir", "template": {"typeName": "heartrate", "periodInterval": 60, "codes": [{"code": "8867-4", "system": "http://loinc.org"}],
            "value": {"valueName": "hr", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "count/min"}}},
          {"templateType": "CodeValueFhir", "template": {"typeName": "ecg", "periodInterval": -1, "codes": [{"code": "131328", "system": "urn:oid:2.16.840.1.113883.6.24"}],
            "value": {"valueName": "mv", "valueType": "SampledData", "defaultPeriod": 1, "unit": "mV"}}},
          {"templateType": "CodeValueFhir", "template": {"typeName": "weight", "periodInterval": 1440, "codes": [{"code": "29463-7", "system": "http://loinc.org"}],
            "value": {"valueName": "kg", "valueType": "Quantity", "unit": "kg"}}},
          {"templateType": "CodeValueFhir", "template": {"typeName": "note", "codes": [{"code": "x", "system": "urn:test"}],
            "value": {"valueName": "text", "valueType": "String"}}}
        ]}
        """;

    private static readonly string[] Types = ["heartrate", "ecg", "weight", "note", "unmapped", ""];
    private static readonly string[] ValueNames = ["hr", "mv", "kg", "text", "other", ""];
    private static readonly string[] Devices = ["fz-1", "fz-2", "fz-3", "", "\u0000", "dev\u0000ice", "设备-🙂", "a|b\\c", new('d', 1025), new('e', 1024)];
    private static readonly string[] Values = ["72", "-0.5", "1e5", "1E-400", "abc", "", "\u0000", "98.6", "1" + new string('0', 5000), "\t", "0x1F"];
    private static readonly string[] Times =
    [
        "2026-11-24T08:00:00Z", "2026-11-24T08:59:59.9999999Z", "2026-11-25T00:00:00Z", "2026-11-24T08:00:01+14:00", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.9999999Z", "9999-12-31T23:00:00Z", "1970-01-01T00:00:00Z", "2026-02-29T00:00:00Z", "2000-01-01T00:00:00",
    ];

    private static readonly string[] Snippets = ["null", "[]", "{}", "\"\\u0000\"", "\"\\ud800\"", "1e400", "-1", "true", "\"", ",", "[null]", "{\"Name\":null}"];

    /// <summary>Inputs the fuzzer has found (or that an attacker would try first), run on every run.</summary>
    private static readonly string[] Regressions =
    [
        """{"id":"g","measurements":[{"Type":"note","OccurrenceTimeUtc":"2026-11-24T08:00:00Z","DeviceId":"fz-1","PatientId":"pat-0","Properties":[{"Name":"text","Value":"\ud800"}]}]}""",
        """{"id":"g","measurements":[{"Type":"heartrate","OccurrenceTimeUtc":"9999-12-31T23:59:59.9999999Z","DeviceId":"fz-1","PatientId":"pat-0","Properties":[{"Name":"hr","Value":"1"}]}]}""",
        """{"id":"g","measurements":[{"Type":"ecg","OccurrenceTimeUtc":"0001-01-01T00:00:00Z","DeviceId":"fz-1","PatientId":"pat-0","CorrelationId":"c","Properties":[{"Name":"mv","Value":"1"}]},{"Type":"ecg","OccurrenceTimeUtc":"9999-12-31T23:59:59.9999999Z","DeviceId":"fz-1","PatientId":"pat-0","CorrelationId":"c","Properties":[{"Name":"mv","Value":"1"}]}]}""",
        """[{"id":"g","measurements":[{"Type":"weight","OccurrenceTimeUtc":"9999-12-31T23:59:59Z","DeviceId":"fz-2","PatientId":"pat-1","Properties":[{"Name":"kg","Value":"1e400"}]}]},null,7]""",
    ];

    private static readonly HashSet<string> Codes =
    [
        WriterErrorCodes.InvalidHubMessage, FhirErrorCodes.ProcessingError, FhirErrorCodes.ObservationTooLarge, FhirErrorCodes.IncompatibleData,
        FhirErrorCodes.FhirResourceRejected, FhirErrorCodes.TemplateNotFound, FhirErrorCodes.CorrelationIdNotDefined, FhirErrorCodes.InvalidQuantityFhirValue,
        FhirErrorCodes.InvalidSampledDataFhirValue, FhirErrorCodes.NotSupported, FhirErrorCodes.PatientIdentityNotDefined, FhirErrorCodes.PatientDeviceMismatch,
        FhirErrorCodes.MultipleDeviceFound, FhirErrorCodes.MultiplePatientFound,
    ];

    private readonly string folder = Directory.CreateTempSubdirectory("medtech-writer-fuzz-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenThousandsOfHostileHubMessages_WhenWritten_ThenNothingEscapesAndEveryGroupIsWrittenOrDeadLetteredWithAKnownReason()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("MEDTECH_FUZZ_SEED"), CultureInfo.InvariantCulture, out var fixedSeed) ? fixedSeed : Random.Shared.Next();
        output.WriteLine($"fuzz seed {seed} (replay with MEDTECH_FUZZ_SEED={seed})");
        var random = new Random(seed);
        using var store = new LocalFhirStore(Path.Combine(folder, "fhir.db"));
        var options = new FhirServerOptions { Url = LocalFhirStore.BaseAddress, MaxAttempts = 1 };
        var client = new FhirServerClient(new HttpClient(store, disposeHandler: false) { BaseAddress = LocalFhirStore.BaseAddress }, options, NullLogger<FhirServerClient>.Instance);
        var mapping = FhirMapping.Parse(Mapping).EnsureValid("fuzz mapping");
        using var identity = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });
        using var persister = new ObservationPersister(client, identity, mapping, new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);
        using var metrics = new WriterMetrics(client);
        var writer = new MeasurementWriter(persister, metrics, new ModuleHealth(), Options.Create(new WriterOptions()), NullLogger<MeasurementWriter>.Instance);

        var totals = new Dictionary<string, int>();
        var (groups, written) = (0, 0);
        var messages = Regressions.Select(Encoding.UTF8.GetBytes).Concat(Enumerable.Range(0, 3000).Select(_ => Message(random))).ToList();
        foreach (var batch in messages.Chunk(10))
        {
            var deadLetters = await writer.WriteAsync(batch.Select(m => ("key", m)).ToList(), default);

            // Each unit (a group of a message, or a message that cannot be split) is a dead letter once, or written.
            var dead = deadLetters.GroupBy(d => Convert.ToBase64String(d.Payload)).ToDictionary(g => g.Key, g => g.Count());
            foreach (var unit in batch.SelectMany(Units))
            {
                groups++;
                var key = Convert.ToBase64String(unit);
                if (dead.TryGetValue(key, out var count) && count > 0)
                {
                    dead[key] = count - 1;
                    continue;
                }

                written++;
                await AssertWrittenAsync(client, mapping, unit);
            }

            Assert.All(dead, d => Assert.Equal(0, d.Value));
            foreach (var deadLetter in deadLetters)
            {
                Assert.Contains(deadLetter.Code, Codes);
                Assert.InRange(deadLetter.Reason.Length, 1, 5000);
                totals[deadLetter.Code] = totals.GetValueOrDefault(deadLetter.Code) + 1;
            }
        }

        output.WriteLine($"{groups} groups: {written} written, {string.Join(", ", totals.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Value} {t.Key}"))}");
        Assert.Equal(groups, written + totals.Values.Sum());
        Assert.InRange(written, 1, groups - 1);
    }

    /// <summary>
    /// A group the writer did not dead-letter has every Observation it makes in the store: for each of its keys a
    /// template, the Device the writer made (deterministic id) with its Patient, and each window's Observation id.
    /// </summary>
    private static async Task AssertWrittenAsync(FhirServerClient client, FhirMapping mapping, byte[] unit)
    {
        var text = Encoding.UTF8.GetString(unit);
        foreach (var group in MeasurementGrouper.Group(MeasurementGroupJson.Deserialize(unit).Measurements))
        {
            var template = mapping.Find(group.Key.Type);
            Assert.True(template is not null, $"written without a template: {text}");
            var deviceId = ObservationIdentity.Hash(null, group.Key.DeviceId);
            var device = (await client.GetBatchAsync([$"Device/{deviceId}"], default))[0]?.Resource as Hl7.Fhir.Model.Device;
            Assert.True(device?.Patient?.Reference is not null, $"written without a Device: {text}");
            var ids = new ResourceIds(device!.Patient!.Reference!["Patient/".Length..], deviceId);
            var observations = ObservationGrouping.Split(group, template!.PeriodInterval).Select(o => $"Observation/{ObservationIdentity.ObservationId(ObservationIdentity.IdentifierValue(ids, o))}").ToList();
            var found = await client.GetBatchAsync(observations, default);
            Assert.True(found.All(e => e?.Response?.Status?.StartsWith("200", StringComparison.Ordinal) == true), $"neither written nor dead-lettered: {text}");
        }
    }

    /// <summary>The groups the writer sees in a message: its elements if it splits, else the message as one.</summary>
    private static IEnumerable<byte[]> Units(byte[] message)
    {
        try
        {
            return PackedMessage.Split(message).Select(g => g.ToArray()).ToList();
        }
        catch (JsonException)
        {
            return [message];
        }
    }

    private static byte[] Message(Random random) => random.Next(10) switch
    {
        0 => RandomBytes(random),
        1 or 2 => Encoding.UTF8.GetBytes(Mutate(random, Group(random))),
        3 => Encoding.UTF8.GetBytes(Shape(random, 0)),
        4 or 5 => Encoding.UTF8.GetBytes("[" + string.Join(",", Enumerable.Range(0, random.Next(1, 4)).Select(_ => random.Next(4) == 0 ? Shape(random, 0) : Group(random))) + "]"),
        _ => Encoding.UTF8.GetBytes(Group(random)),
    };

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 64)];
        random.NextBytes(bytes);
        if (bytes.Length > 0 && random.Next(2) == 0)
        {
            bytes[0] = (byte)(random.Next(2) == 0 ? '[' : '{');
        }

        return bytes;
    }

    private static string Group(Random random)
    {
        var device = Pick(random, Devices);
        // One patient per device: Create mode keeps a Device with the Patient it was first linked to, which the offline check cannot know.
        var patient = random.Next(5) == 0 ? null : "pat-" + Array.IndexOf(Devices, device).ToString(CultureInfo.InvariantCulture);
        var type = Pick(random, Types);
        var correlation = random.Next(3) == 0 ? null : "c" + random.Next(3).ToString(CultureInfo.InvariantCulture);
        var measurements = Enumerable.Range(0, random.Next(1, 5)).Select(_ =>
            $$"""{"Type":{{Str(type)}},"OccurrenceTimeUtc":{{Str(random.Next(3) == 0 ? Pick(random, Times) : new DateTime(2026, 11, 24, 8, 0, 0, DateTimeKind.Utc).AddSeconds(random.Next(-7200, 7200)).ToString("o", CultureInfo.InvariantCulture))}},"IngestionTimeUtc":null,"DeviceId":{{Str(device)}},"PatientId":{{(patient is null ? "null" : Str(patient))}},"EncounterId":null,"CorrelationId":{{(correlation is null ? "null" : Str(correlation))}},"Properties":[{"Name":{{Str(random.Next(4) == 0 ? Pick(random, ValueNames) : ValueNames[Array.IndexOf(Types, type)])}},"Value":{{Str(random.Next(3) == 0 ? Pick(random, Values) : random.Next(40, 140).ToString(CultureInfo.InvariantCulture))}}}]}""");
        return $$"""{"id":"g","measurements":[{{string.Join(",", measurements)}}]}""";
    }

    private static string Mutate(Random random, string json)
    {
        for (var i = random.Next(1, 4); i > 0 && json.Length > 0; i--)
        {
            var at = random.Next(json.Length);
            json = random.Next(4) switch
            {
                0 => json[..at] + json[Math.Min(json.Length, at + random.Next(1, 8))..],
                1 => json[..at],
                2 => json[..at] + (char)random.Next(32, 127) + json[(at + 1)..],
                _ => json[..at] + Pick(random, Snippets) + json[at..],
            };
        }

        return json;
    }

    private static string Shape(Random random, int depth) => (depth > 3 ? random.Next(4) : random.Next(7)) switch
    {
        0 => "null",
        1 => Str(Pick(random, Values)),
        2 => random.Next(-5, 5).ToString(CultureInfo.InvariantCulture),
        3 => Str(Pick(random, Times)),
        4 or 5 => "{" + string.Join(",", Enumerable.Range(0, random.Next(0, 4)).Select(_ =>
            Str(Pick(random, ["id", "measurements", "Type", "DeviceId", "OccurrenceTimeUtc", "Properties", "Name", "Value", "PatientId"])) + ":" + Shape(random, depth + 1))) + "}",
        _ => "[" + string.Join(",", Enumerable.Range(0, random.Next(0, 3)).Select(_ => Shape(random, depth + 1))) + "]",
    };

    private static string Str(string value) => JsonSerializer.Serialize(value);

    private static string Pick(Random random, string[] items) => items[random.Next(items.Length)];
}

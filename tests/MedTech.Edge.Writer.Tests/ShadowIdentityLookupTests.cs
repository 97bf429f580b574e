using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// Issue 21, shadow mode in Create mode, through the real FHIR test server: the hospital registered
/// its monitors as Device resources (server ids) linked to MedTech's Patients; the writer charts to those Devices.
/// </summary>
public sealed class ShadowIdentityLookupTests(WriterFhirServer fhir) : IClassFixture<WriterFhirServer>, IDisposable
{
    private readonly string monitor = "monitor-" + Guid.NewGuid().ToString("N")[..10];
    private readonly List<IDisposable> disposables = [];

    public void Dispose() => disposables.ForEach(d => d.Dispose());

    // Was a review finding: Create mode's shadow takes hashed Device ids without looking the Device up, unlike the writer (and MedTech), which
    // use the registered Device's id; Observations already written under the real ids are reported "missing", not "matching".
    [Fact]
    public async System.Threading.Tasks.Task GivenARegisteredDevice_WhenCreateModeShadowCompares_ThenItLooksTheDeviceUpAndReportsMatching()
    {
        var options = new FhirServerOptions { Url = fhir.Server.BaseUrl, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        var client = new FhirServerClient(FhirServerClient.CreateHttpClient(options), options, NullLogger<FhirServerClient>.Instance);
        var identityOptions = new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" };
        var patient = "patient-" + monitor;
        var hashed = IdentityResolver.DeterministicIds(monitor, patient, null);
        await client.PutAsync(new Patient { Id = hashed.PatientId, Identifier = [new Identifier(null, patient)] }, null, default);
        await client.PutAsync(new Device { Id = "registered-" + monitor, Identifier = [new Identifier(null, monitor)], Patient = new ResourceReference($"Patient/{hashed.PatientId}") }, null, default);
        var mapping = FhirMapping.Parse(Mapping).EnsureValid("test mapping");
        var identity = new IdentityResolver(client, identityOptions);
        var persister = new ObservationPersister(client, identity, mapping, new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);
        disposables.AddRange([identity, persister]);
        List<Measurement> measurements =
        [
            new() { Type = "weight", OccurrenceTimeUtc = new DateTime(2026, 11, 24, 8, 0, 0, DateTimeKind.Utc), DeviceId = monitor, PatientId = patient, Properties = [new MeasurementProperty("kg", "71.5")] },
        ];
        var written = await persister.PersistAsync(measurements, default);
        Assert.Equal(1, written.Created);

        var shadow = new ShadowRun(mapping, identity, client, Options.Create(new PersistenceOptions()), Options.Create(identityOptions),
            Options.Create(new WriterOptions { Shadow = true, ShadowReportPath = Path.Combine(Path.GetTempPath(), $"review21-shadow-{monitor}.json") }), NullLogger<ShadowRun>.Instance);
        await shadow.CompareAsync(measurements, default);

        var report = System.Text.Json.JsonSerializer.Deserialize<ShadowRun.Report>(File.ReadAllBytes(Path.Combine(Path.GetTempPath(), $"review21-shadow-{monitor}.json")),
            ReportJson)!;
        File.Delete(Path.Combine(Path.GetTempPath(), $"review21-shadow-{monitor}.json"));
        Assert.Equal((1L, 0L, 0L), (report.Matching, report.Differing, report.Missing));
    }

    private static readonly System.Text.Json.JsonSerializerOptions ReportJson = new() { PropertyNameCaseInsensitive = true };

    private const string Mapping = """
        {"templateType": "CollectionFhir", "template": [
          {"templateType": "CodeValueFhir", "template": {"typeName": "weight",
            "codes": [{"code": "29463-7", "system": "http://loinc.org", "display": "Body weight"}],
            "value": {"valueName": "kg", "valueType": "Quantity", "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}}
        ]}
        """;
}

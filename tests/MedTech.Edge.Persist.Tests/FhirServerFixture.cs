using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Persist.Tests;

/// <summary>One real FHIR server for the tests of this collection; each test uses its own device and patient ids.</summary>
public sealed class FhirServerFixture : IAsyncLifetime
{
    public const string Mapping = """
        {"templateType": "CollectionFhir", "template": [
          {"templateType": "CodeValueFhir", "template": {"typeName": "heartrate", "periodInterval": 60,
            "codes": [{"code": "8867-4", "system": "http://loinc.org", "display": "Heart rate"}],
            "value": {"valueName": "hr", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "count/min"}}},
          {"templateType": "CodeValueFhir", "template": {"typeName": "ecg", "periodInterval": -1,
            "codes": [{"code": "131328", "system": "urn:oid:2.16.840.1.113883.6.24", "display": "ECG"}],
            "value": {"valueName": "mv", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "mV"}}},
          {"templateType": "CodeValueFhir", "template": {"typeName": "weight",
            "codes": [{"code": "29463-7", "system": "http://loinc.org", "display": "Body weight"}],
            "value": {"valueName": "kg", "valueType": "Quantity", "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}}
        ]}
        """;

    internal FhirTestServer Server { get; private set; } = null!;

    public async System.Threading.Tasks.Task InitializeAsync() => Server = await FhirTestServer.StartAsync();

    public async System.Threading.Tasks.Task DisposeAsync() => await Server.DisposeAsync();

    public FhirServerClient Client() => Client(Server.BaseUrl);

    public static FhirServerClient Client(Uri url)
    {
        var options = new FhirServerOptions { Url = url, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        return new FhirServerClient(FhirServerClient.CreateHttpClient(options), options, NullLogger<FhirServerClient>.Instance);
    }

    /// <summary>A client whose requests pass <paramref name="faults"/> on their way to the real server.</summary>
    public FhirServerClient Client(FaultInjectingHandler faults)
    {
        ArgumentNullException.ThrowIfNull(faults);
        var options = new FhirServerOptions { Url = Server.BaseUrl, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        faults.InnerHandler ??= new SocketsHttpHandler();
        return new FhirServerClient(new HttpClient(faults) { BaseAddress = Server.BaseUrl }, options, NullLogger<FhirServerClient>.Instance);
    }

    public static ObservationPersister Persister(FhirServerClient client, ResourceIdentityMode mode = ResourceIdentityMode.Lookup, PersistenceOptions? options = null) => new(
        client,
        new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = mode.ToString() }),
        FhirMapping.Parse(Mapping).EnsureValid("test mapping"),
        options ?? new PersistenceOptions(),
        NullLogger<ObservationPersister>.Instance);

    /// <summary>A Patient and a Device linked to it, as a hospital's registration would have made them.</summary>
    public static async Task<MedTech.Edge.Transform.Observations.ResourceIds> RegisterAsync(FhirServerClient client, string deviceIdentifier)
    {
        var patient = await client.PutAsync(new Patient { Id = "p-" + deviceIdentifier }, null, default);
        var device = await client.PutAsync(new Device
        {
            Id = "d-" + deviceIdentifier,
            Identifier = [new Identifier(null, deviceIdentifier)],
            Patient = new ResourceReference($"Patient/{patient.Id}"),
        }, null, default);
        return new(patient.Id!, device.Id!);
    }
}

[CollectionDefinition(Name)]
public sealed class FhirServerGroup : ICollectionFixture<FhirServerFixture>
{
    public const string Name = "FHIR server";
}

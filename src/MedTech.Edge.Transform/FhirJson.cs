using System.Text.Json;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;

namespace MedTech.Edge.Transform;

/// <summary>
/// FHIR JSON through System.Text.Json with Firely's converters. Reading is lenient (a server may add elements
/// this SDK version does not know, e.g. Medplum's <c>meta.author</c>); writing is what the model holds.
/// </summary>
public static class FhirJson
{
    public static readonly JsonSerializerOptions Options = new JsonSerializerOptions()
        .ForFhir(ModelInfo.ModelInspector)
        .UsingMode(DeserializationMode.Ostrich);

    public static readonly JsonSerializerOptions Indented = new JsonSerializerOptions()
        .ForFhir(ModelInfo.ModelInspector)
        .Pretty();

    public static string Serialize(Resource resource, bool indented = false) =>
        JsonSerializer.Serialize(resource, indented ? Indented : Options);

    /// <summary>UTF-8 as sent over HTTP: a write bundle is ~700 KB, which as a string would be twice that, then transcoded.</summary>
    public static byte[] SerializeToUtf8Bytes(Resource resource) => JsonSerializer.SerializeToUtf8Bytes(resource, Options);

    public static T Deserialize<T>(string json)
        where T : Resource => JsonSerializer.Deserialize<T>(json, Options)
            ?? throw new JsonException($"The FHIR server sent an empty {typeof(T).Name}.");
}

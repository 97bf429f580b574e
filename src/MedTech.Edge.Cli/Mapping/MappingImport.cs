using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MedTech.Edge.Cli.Mapping;

/// <summary>
/// <c>medtech mapping import</c>: takes a MedTech service's device and FHIR destination mappings out of an exported
/// ARM template (the portal's "Export template", or Bicep built to JSON): the <c>deviceMapping.content</c> of a
/// <c>Microsoft.HealthcareApis/workspaces/iotconnectors</c> resource and the <c>fhirMapping.content</c> of its
/// <c>fhirdestinations</c> child, wherever in the template they sit. Writes them under the file names MedTech's samples
/// use and validates them as <c>mapping validate</c> does.
/// </summary>
internal sealed partial class MappingImport(TextWriter output, TextWriter error)
{
    public const string DeviceFile = "devicecontent.json";
    public const string FhirFile = "fhirmapping.json";

    private const int MaxReferences = 16;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <param name="from">The exported template.</param>
    /// <param name="outDir">Where the two files go (created if missing).</param>
    /// <param name="name">Only resources whose name contains this (a template with several MedTech services).</param>
    /// <param name="force">Replace files already in <paramref name="outDir"/>.</param>
    public int Run(string from, string outDir, string? name, bool force)
    {
        JsonNode? template;
        try
        {
            template = JsonNode.Parse(File.ReadAllText(from), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            error.WriteLine($"{from}: cannot read the template: {ex.Message}");
            return MedTechCommand.UsageError;
        }

        var found = new List<Found>();
        Collect(template, resource: null, found);
        var device = Pick(found, "deviceMapping", name, from);
        var fhir = Pick(found, "fhirMapping", name, from);
        if (device is null || fhir is null)
        {
            return MedTechCommand.UsageError;
        }

        var deviceContent = Content(device, template, from);
        var fhirContent = Content(fhir, template, from);
        if (deviceContent is null || fhirContent is null)
        {
            return MedTechCommand.UsageError;
        }

        var devicePath = Path.Combine(outDir, DeviceFile);
        var fhirPath = Path.Combine(outDir, FhirFile);
        if (!force && (File.Exists(devicePath) || File.Exists(fhirPath)))
        {
            error.WriteLine($"{outDir}: already holds {DeviceFile} or {FhirFile}; add --force to replace them.");
            return MedTechCommand.UsageError;
        }

        try
        {
            Directory.CreateDirectory(outDir);
            File.WriteAllText(devicePath, deviceContent.ToJsonString(Indented) + "\n");
            File.WriteAllText(fhirPath, fhirContent.ToJsonString(Indented) + "\n");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"{outDir}: cannot write the mappings there: {ex.Message}");
            return MedTechCommand.UsageError;
        }

        output.WriteLine($"{devicePath}: device mapping of '{device.Resource}'.");
        output.WriteLine($"{fhirPath}: FHIR destination mapping of '{fhir.Resource}'.");
        return new MappingValidation(output, error).Validate(devicePath, fhirPath);
    }

    /// <summary>A <c>deviceMapping</c> or <c>fhirMapping</c> object with <c>content</c>, and the resource holding it.</summary>
    private sealed record Found(string Kind, string Resource, JsonNode? Content);

    /// <summary>Every mapping under any resource, nested <c>resources</c> arrays included; parameters are looked up later.</summary>
    private static void Collect(JsonNode? node, string? resource, List<Found> found)
    {
        switch (node)
        {
            case JsonObject obj:
                if (obj["type"] is JsonValue type && type.TryGetValue<string>(out _) && obj["name"] is JsonValue nameValue && nameValue.TryGetValue<string>(out var name))
                {
                    resource = name;
                }

                foreach (var (key, value) in obj)
                {
                    if (key is "deviceMapping" or "fhirMapping" && value is JsonObject mapping && mapping.ContainsKey("content") && resource is not null)
                    {
                        found.Add(new Found(key, resource, mapping["content"]));
                    }
                    else if (key != "parameters" || resource is not null)
                    {
                        // A template's own "parameters" hold values, not resources: read only when a reference asks.
                        Collect(value, resource, found);
                    }
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Collect(item, resource, found);
                }

                break;
        }
    }

    private Found? Pick(List<Found> found, string kind, string? name, string from)
    {
        var matches = found.Where(f => f.Kind == kind && (name is null || f.Resource.Contains(name, StringComparison.Ordinal))).ToList();
        if (matches.Count == 1)
        {
            return matches[0];
        }

        error.WriteLine(matches.Count == 0
            ? $"{from}: no {kind}.content{(name is null ? "" : $" in a resource named like '{name}'")}: is this an export of a MedTech service (iotconnectors) and its FHIR destination?"
            : $"{from}: {matches.Count} resources have a {kind}: {string.Join(", ", matches.Select(m => $"'{m.Resource}'"))}; choose one with --name.");
        return null;
    }

    /// <summary>
    /// The mapping itself: an object as exported; a string holding the JSON (some tools write it so); or an ARM
    /// expression <c>[parameters('x')]</c> resolved to that parameter's default value.
    /// </summary>
    private JsonNode? Content(Found found, JsonNode? template, string from, int references = 0)
    {
        var content = found.Content;
        if (content is JsonValue value && value.TryGetValue<string>(out var text))
        {
            if (ParameterReference().Match(text) is { Success: true } reference)
            {
                // A default may name another parameter; one that names itself (or a ring of them) must end, not overflow the stack.
                if (references >= MaxReferences)
                {
                    error.WriteLine($"{from}: the {found.Kind} of '{found.Resource}' goes through more than {MaxReferences} parameter references; is one of them its own default?");
                    return null;
                }

                content = (template?["parameters"] as JsonObject)?[reference.Groups[1].Value]?["defaultValue"];
                if (content is null)
                {
                    error.WriteLine($"{from}: the {found.Kind} of '{found.Resource}' is the parameter '{reference.Groups[1].Value}', which has no defaultValue in the template; put the mapping there or in the resource.");
                    return null;
                }

                return Content(found with { Content = content }, template, from, references + 1);
            }

            try
            {
                content = JsonNode.Parse(text);
            }
            catch (JsonException ex)
            {
                error.WriteLine($"{from}: the {found.Kind} of '{found.Resource}' is a string that is not JSON ({ex.Message}); an ARM expression other than [parameters('...')] cannot be resolved offline.");
                return null;
            }
        }

        if (content is not JsonObject)
        {
            error.WriteLine($"{from}: the {found.Kind} of '{found.Resource}' is not a JSON object.");
            return null;
        }

        return content.DeepClone();
    }

    [GeneratedRegex(@"^\[\s*parameters\(\s*'([^']+)'\s*\)\s*\]$")]
    private static partial Regex ParameterReference();
}

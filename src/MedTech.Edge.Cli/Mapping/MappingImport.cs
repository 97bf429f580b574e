using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MedTech.Edge.Cli.Mapping;

/// <summary>
/// <c>medtech mapping import</c>: takes a MedTech service's device and FHIR destination mappings out of an exported
/// ARM template (the portal's "Export template", or Bicep built to JSON): the <c>deviceMapping.content</c> of a
/// <c>Microsoft.HealthcareApis/workspaces/iotconnectors</c> resource and the <c>fhirMapping.content</c> of its
/// <c>fhirdestinations</c> child, wherever in the template they sit. Writes them under the file names MedTech's samples
/// use and validates them as <c>mapping validate</c> does. The FHIR destination must belong to the chosen service
/// (nested in it, named under it, or depending on it). ARM evaluates a string that starts with <c>[</c> and ends with
/// <c>]</c> as an expression and reads <c>[[</c> as a literal <c>[</c>: the escape is undone in the mappings, and any
/// other expression in them is refused (it cannot be evaluated offline).
/// </summary>
internal sealed partial class MappingImport(TextWriter output, TextWriter error)
{
    public const string DeviceFile = "devicecontent.json";
    public const string FhirFile = "fhirmapping.json";

    private const int MaxReferences = 16;

    /// <summary>
    /// Largest export read: ARM refuses templates over 4 MB, so an export is never larger, and a bigger file (or a
    /// device such as /dev/zero) is refused before it is held in memory.
    /// </summary>
    public const int MaxTemplateBytes = 4 * 1024 * 1024;

    /// <summary>A repeated property name is refused where it is read, not met later as an exception.</summary>
    private static readonly JsonDocumentOptions Strict = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, AllowDuplicateProperties = false };

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
            template = JsonNode.Parse(ReadBounded(from), documentOptions: Strict);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or InvalidDataException)
        {
            error.WriteLine($"{from}: cannot read the template: {ex.Message}");
            return MedTechCommand.UsageError;
        }

        var found = new List<Found>();
        Collect(template, resource: null, symbol: null, [], found);
        var device = Pick(found.Where(f => f.Kind == "deviceMapping").ToList(), "deviceMapping", name, from);
        if (device is null)
        {
            return MedTechCommand.UsageError;
        }

        var destinations = found.Where(f => f.Kind == "fhirMapping").ToList();
        var fhir = destinations.Count == 0 ? Pick(destinations, "fhirMapping", name, from) : Pick(destinations.Where(f => BelongsTo(f, device)).ToList(), "fhirMapping", name, from);
        if (fhir is null)
        {
            if (destinations.Count > 0)
            {
                error.WriteLine($"{from}: no FHIR destination of '{device.Resource}' (nested in it, named under it or depending on it); an export of the service with its own destination is needed.");
            }

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

    /// <summary>
    /// A <c>deviceMapping</c> or <c>fhirMapping</c> object with <c>content</c>, the resource holding it (its name, its
    /// object, its symbolic name in a Bicep-built template) and the resources it is nested in.
    /// </summary>
    private sealed record Found(string Kind, string Resource, JsonNode? Content, JsonObject Node, string? Symbol, IReadOnlyList<JsonObject> Ancestors);

    /// <summary>Every mapping under any resource, nested <c>resources</c> arrays included; parameters are looked up later.</summary>
    private static void Collect(JsonNode? node, (string Name, JsonObject Node, string? Symbol)? resource, string? symbol, List<JsonObject> ancestors, List<Found> found)
    {
        switch (node)
        {
            case JsonObject obj:
                var nested = ancestors;
                if (obj["type"] is JsonValue type && type.TryGetValue<string>(out _) && obj["name"] is JsonValue nameValue && nameValue.TryGetValue<string>(out var name))
                {
                    if (resource is { } outer)
                    {
                        nested = [.. ancestors, outer.Node];
                    }

                    resource = (name, obj, symbol);
                }

                foreach (var (key, value) in obj)
                {
                    if (key is "deviceMapping" or "fhirMapping" && value is JsonObject mapping && mapping.ContainsKey("content") && resource is { } holder)
                    {
                        found.Add(new Found(key, holder.Name, mapping["content"], holder.Node, holder.Symbol, nested));
                    }
                    else if (key != "parameters" || resource is not null)
                    {
                        // A template's own "parameters" hold values, not resources: read only when a reference asks.
                        Collect(value, resource, key, nested, found);
                    }
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Collect(item, resource, null, ancestors, found);
                }

                break;
        }
    }

    /// <summary>
    /// Whether the FHIR destination <paramref name="fhir"/> is the service <paramref name="device"/>'s: nested in it,
    /// named under it (<c>workspace/service/destination</c>, in a plain name or an ARM expression), or depending on it
    /// (its resource id, or its symbolic name in a Bicep-built template).
    /// </summary>
    private static bool BelongsTo(Found fhir, Found device)
    {
        if (fhir.Ancestors.Contains(device.Node))
        {
            return true;
        }

        var service = NameTokens(device.Resource) is [.., var last] ? last : null;
        if (service is null)
        {
            return false;
        }

        if (NameTokens(fhir.Resource) is [.., var parent, _] && parent == service)
        {
            return true;
        }

        return fhir.Node["dependsOn"] is JsonArray dependsOn && dependsOn.Any(d => d is JsonValue v && v.TryGetValue<string>(out var text)
            && (text == device.Symbol || (NameTokens(text) is [.., var target] && target == service && text.Contains("iotconnectors", StringComparison.OrdinalIgnoreCase))));
    }

    /// <summary>The words of a resource name or id, literal or ARM expression: <c>[concat(parameters('w'), '/svc')]</c> gives concat, parameters, w, svc.</summary>
    private static string[] NameTokens(string name) => NameSeparators().Split(name).Where(t => t.Length > 0).ToArray();

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
                // JSON held in a string is the mapping's own text: ARM does not evaluate strings inside it.
                content = JsonNode.Parse(text, documentOptions: Strict);
                return content is JsonObject ? content.DeepClone() : NotAnObject(found, from);
            }
            catch (JsonException ex)
            {
                error.WriteLine($"{from}: the {found.Kind} of '{found.Resource}' is a string that is not JSON ({ex.Message}); an ARM expression other than [parameters('...')] cannot be resolved offline.");
                return null;
            }
        }

        if (content is not JsonObject)
        {
            return NotAnObject(found, from);
        }

        var copy = content.DeepClone();
        return Unescape(copy, found, from) ? copy : null;
    }

    private JsonNode? NotAnObject(Found found, string from)
    {
        error.WriteLine($"{from}: the {found.Kind} of '{found.Resource}' is not a JSON object.");
        return null;
    }

    /// <summary>
    /// Undoes ARM's escape in every string of the mapping (<c>[[x]</c> is the literal <c>[x]</c>); false, with the
    /// reason written, for a string ARM would evaluate (starts with <c>[</c>, ends with <c>]</c>), which the deployed
    /// service holds evaluated and we cannot evaluate offline.
    /// </summary>
    private bool Unescape(JsonNode? node, Found found, string from)
    {
        var stack = new Stack<JsonNode?>([node]);
        while (stack.TryPop(out var current))
        {
            switch (current)
            {
                case JsonObject obj:
                    foreach (var (key, value) in obj.ToList())
                    {
                        if (value is JsonValue v && v.TryGetValue<string>(out var text) && text.StartsWith('['))
                        {
                            if (text.StartsWith("[[", StringComparison.Ordinal))
                            {
                                obj[key] = text[1..];
                            }
                            else if (text.EndsWith(']'))
                            {
                                error.WriteLine($"{from}: the {found.Kind} of '{found.Resource}' holds an ARM expression at {value.GetPath()}; only [parameters('...')] as the whole content can be resolved offline.");
                                return false;
                            }
                        }
                        else
                        {
                            stack.Push(value);
                        }
                    }

                    break;
                case JsonArray array:
                    for (var i = 0; i < array.Count; i++)
                    {
                        if (array[i] is JsonValue v && v.TryGetValue<string>(out var text) && text.StartsWith('['))
                        {
                            if (text.StartsWith("[[", StringComparison.Ordinal))
                            {
                                array[i] = text[1..];
                            }
                            else if (text.EndsWith(']'))
                            {
                                error.WriteLine($"{from}: the {found.Kind} of '{found.Resource}' holds an ARM expression at {array[i]!.GetPath()}; only [parameters('...')] as the whole content can be resolved offline.");
                                return false;
                            }
                        }
                        else
                        {
                            stack.Push(array[i]);
                        }
                    }

                    break;
            }
        }

        return true;
    }

    /// <summary>The file's text, refused past <see cref="MaxTemplateBytes"/> (read bounded, so a device file cannot fill memory).</summary>
    private static string ReadBounded(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        using var bounded = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            if (bounded.Length + read > MaxTemplateBytes)
            {
                throw new InvalidDataException($"the file is over {MaxTemplateBytes / (1024 * 1024)} MiB, ARM's own limit for a template.");
            }

            bounded.Write(buffer, 0, read);
        }

        var bytes = bounded.GetBuffer().AsSpan(0, (int)bounded.Length);
        return System.Text.Encoding.UTF8.GetString(bytes.StartsWith("\uFEFF"u8) ? bytes[3..] : bytes);
    }

    [GeneratedRegex(@"[^A-Za-z0-9_.{}\-]+")]
    private static partial Regex NameSeparators();

    [GeneratedRegex(@"^\[\s*parameters\(\s*'([^']+)'\s*\)\s*\]$")]
    private static partial Regex ParameterReference();
}

using System.Text.RegularExpressions;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// The shapes nearly every mapping uses, evaluated without the general engines: a plain property chain
/// (JSONPath <c>$.a.b</c>, JMESPath <c>a.b</c>) and a recursive existence filter (<c>$..[?(@a &amp;&amp; @b)]</c>).
/// Each gives exactly what Newtonsoft / JmesPath.Net give for that shape (a differential test checks it);
/// anything else goes to the general engine.
/// </summary>
internal sealed partial class PropertyPath
{
    private readonly string[] names;

    // JMESPath "to_array(a.b)[?x && y]" / "a.b[?x && y]": the chain to the array, the names that must be truthy.
    private readonly PropertyPath? filteredArray;
    private readonly bool wrapInArray;

    private PropertyPath(string[] names, bool existenceScan, PropertyPath? filteredArray = null, bool wrapInArray = false)
    {
        this.names = names;
        IsExistenceScan = existenceScan;
        this.filteredArray = filteredArray;
        this.wrapInArray = wrapInArray;
    }

    /// <summary>True for a JMESPath filter projection: the elements whose named fields are all truthy.</summary>
    public bool IsFilter => filteredArray is not null;

    /// <summary>True for <c>$..[?(@a &amp;&amp; @b)]</c>: every object, the root included, that has all the names.</summary>
    public bool IsExistenceScan { get; }

    /// <summary>For a chain starting at <c>matchedToken</c>: the rest of the chain, to evaluate on the match itself.</summary>
    public PropertyPath? AfterMatchedToken =>
        !IsExistenceScan && filteredArray is null && names.Length > 0 && names[0] == "matchedToken" ? new PropertyPath(names[1..], existenceScan: false) : null;

    public static PropertyPath? TryCreate(string text, ExpressionLanguage language)
    {
        if (language == ExpressionLanguage.JmesPath)
        {
            if (JmesPathChain().IsMatch(text))
            {
                return new PropertyPath(text.Split('.'), existenceScan: false);
            }

            var filter = JmesPathFilter().Match(text);
            if (!filter.Success)
            {
                return null;
            }

            var source = filter.Groups["wrapped"].Success ? filter.Groups["wrapped"].Value : filter.Groups["plain"].Value;
            var array = new PropertyPath(source == "@" ? [] : source.Split('.'), existenceScan: false);
            return new PropertyPath(filter.Groups["name"].Captures.Select(c => c.Value).ToArray(), false, array, filter.Groups["wrapped"].Success);
        }

        if (JsonPathChain().IsMatch(text))
        {
            return new PropertyPath(text.Split('.')[1..], existenceScan: false);
        }

        var scan = ExistenceScan().Match(text);
        return scan.Success
            ? new PropertyPath(scan.Groups["name"].Captures.Select(c => c.Value).ToArray(), existenceScan: true)
            : null;
    }

    /// <summary>
    /// The elements of the (optionally <c>to_array</c>-wrapped) array whose named fields are all truthy in JMESPath's
    /// sense (not null, false, "", [] or {}); no array means no matches.
    /// </summary>
    public List<JToken> Filter(JToken root)
    {
        var found = new List<JToken>();
        switch (filteredArray!.Select(root))
        {
            case JArray array:
                foreach (var item in array)
                {
                    AddIfAllTruthy(item, found);
                }

                break;
            case { } single when wrapInArray:
                AddIfAllTruthy(single, found);
                break;
        }

        return found;
    }

    private void AddIfAllTruthy(JToken item, List<JToken> found)
    {
        if (item is JObject o && names.All(n => IsTruthy(o[n])))
        {
            found.Add(item);
        }
    }

    private static bool IsTruthy(JToken? token) => token?.Type switch
    {
        null or JTokenType.Null or JTokenType.Undefined => false,
        JTokenType.Boolean => (bool)token,
        JTokenType.String => ((string?)token)!.Length > 0,
        JTokenType.Array or JTokenType.Object => token.HasValues,
        _ => true,
    };

    /// <summary>The token at the end of the chain, or null where a step is not an object or lacks the name.</summary>
    public JToken? Select(JToken token)
    {
        JToken? current = token;
        foreach (var name in names)
        {
            current = current is JObject o ? o[name] : null;
            if (current is null)
            {
                return null;
            }
        }

        return current;
    }

    /// <summary>The objects that have every name, in document order (pre-order), as Newtonsoft's scan finds them.</summary>
    public List<JToken> Scan(JToken root)
    {
        var found = new List<JToken>();
        Visit(root, found);
        return found;
    }

    private void Visit(JToken token, List<JToken> found)
    {
        if (token is JObject o)
        {
            if (names.All(n => o.ContainsKey(n)))
            {
                found.Add(o);
            }

            foreach (var property in o.Properties())
            {
                Visit(property.Value, found);
            }
        }
        else if (token is JArray array)
        {
            foreach (var item in array)
            {
                Visit(item, found);
            }
        }
    }

    // Names limited to characters that mean the same in both engines' parsers.
    [GeneratedRegex(@"^\$(\.[A-Za-z0-9_\-]+)*$")]
    private static partial Regex JsonPathChain();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]
    private static partial Regex JmesPathChain();

    [GeneratedRegex(@"^(to_array\((?<wrapped>@|[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)\)|(?<plain>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*))\[\?(?<name>[A-Za-z_][A-Za-z0-9_]*)( && (?<name>[A-Za-z_][A-Za-z0-9_]*))*\]$")]
    private static partial Regex JmesPathFilter();

    [GeneratedRegex(@"^\$\.\.\[\?\(@\.?(?<name>[A-Za-z_][A-Za-z0-9_]*)( && @\.?(?<name>[A-Za-z_][A-Za-z0-9_]*))*\)\]$")]
    private static partial Regex ExistenceScan();
}

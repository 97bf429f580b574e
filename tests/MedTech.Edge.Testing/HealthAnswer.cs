using System.Net;
using System.Text.Json;

namespace MedTech.Edge.Testing;

/// <summary>A module's <c>/health</c> answer as tests read it: the HTTP status, the overall status, and each component's status and reason.</summary>
public sealed record HealthAnswer(HttpStatusCode Code, string Status, Dictionary<string, (string Status, string Reason)> Components, string Body)
{
    /// <summary>The component's status and reason, or null when the answer does not name it.</summary>
    public (string Status, string Reason)? Component(string name) => Components.TryGetValue(name, out var c) ? c : null;

    /// <summary>GET <c>http://127.0.0.1:{port}{path}</c>; a refused connection (the module not listening yet) is an empty answer.</summary>
    public static async Task<HealthAnswer> GetAsync(int port, string path)
    {
        using var http = new HttpClient();
        try
        {
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
            var body = await response.Content.ReadAsStringAsync();
            var json = JsonDocument.Parse(body).RootElement;
            var components = json.GetProperty("components").EnumerateObject().ToDictionary(c => c.Name,
                c => (c.Value.GetProperty("status").GetString()!, c.Value.TryGetProperty("reason", out var r) ? r.GetString() ?? "" : ""), StringComparer.Ordinal);
            return new HealthAnswer(response.StatusCode, json.GetProperty("status").GetString()!, components, body);
        }
        catch (HttpRequestException)
        {
            return new HealthAnswer(0, "", [], "no answer");
        }
    }
}

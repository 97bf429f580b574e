using System.Text;
using System.Text.Json;

namespace MedTech.Edge.Cli.Buffer;

/// <summary>
/// A dead letter's payload for <c>medtech deadletter show</c>: the JSON itself when it is JSON (so it reads as it was
/// sent), else its text when it is UTF-8, else base64. Printed to stdout only: payloads can hold patient data.
/// </summary>
internal static class DeadLetterPayload
{
    public static object Describe(ReadOnlyMemory<byte> payload)
    {
        try
        {
            using var json = JsonDocument.Parse(payload);
            return new { format = "json", json = json.RootElement.Clone() };
        }
        catch (JsonException)
        {
        }

        try
        {
            return new { format = "text", text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(payload.Span) };
        }
        catch (DecoderFallbackException)
        {
            return new { format = "base64", base64 = Convert.ToBase64String(payload.Span) };
        }
    }
}

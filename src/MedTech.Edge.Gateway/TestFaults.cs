using System.Security.Cryptography;
using MedTech.Edge.Buffer;

namespace MedTech.Edge.Gateway;

/// <summary>
/// TEST-ONLY fault injection, so tests can prove containment and crash recovery on a real process: normalizing a
/// payload with a given SHA-256 throws, or ends the process at once (<see cref="Environment.FailFast(string)"/>, as a
/// native fault would). It is read from the environment only when <c>MEDTECH_TEST_HOOKS=1</c>, which no deployment
/// sets; without it there is no hook at all, so device data alone can never trigger it (it would need the
/// gateway's environment, not a payload). Never set these variables in production.
/// </summary>
public sealed class TestFaults
{
    public const string EnableVariable = "MEDTECH_TEST_HOOKS";
    public const string CrashVariable = "MEDTECH_TEST_CRASH_ON_PAYLOAD_SHA256";
    public const string ThrowVariable = "MEDTECH_TEST_THROW_ON_PAYLOAD_SHA256";

    /// <summary>Lower-case hex SHA-256 of a payload whose normalization ends the process.</summary>
    public string? CrashOnPayloadSha256 { get; init; }

    /// <summary>Lower-case hex SHA-256 of a payload whose normalization throws <see cref="InvalidOperationException"/>.</summary>
    public string? ThrowOnPayloadSha256 { get; init; }

    /// <summary>The hooks the environment asks for, or null (always, unless <c>MEDTECH_TEST_HOOKS=1</c>).</summary>
    public static TestFaults? FromEnvironment() => Environment.GetEnvironmentVariable(EnableVariable) != "1" ? null : new TestFaults
    {
        CrashOnPayloadSha256 = Environment.GetEnvironmentVariable(CrashVariable)?.ToLowerInvariant(),
        ThrowOnPayloadSha256 = Environment.GetEnvironmentVariable(ThrowVariable)?.ToLowerInvariant(),
    };

    public static string Sha256(ReadOnlySpan<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload));

    /// <summary>Called before a message is normalized.</summary>
    internal void OnNormalizing(InboxMessage message)
    {
        var hash = Sha256(message.Payload.Span);
        if (hash == CrashOnPayloadSha256)
        {
            Environment.FailFast("Test fault hook (MEDTECH_TEST_HOOKS): crash on this payload.");
        }

        if (hash == ThrowOnPayloadSha256)
        {
            throw new InvalidOperationException("Test fault hook (MEDTECH_TEST_HOOKS): throw on this payload.");
        }
    }
}

using MedTech.Edge.Buffer;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Gateway;

/// <summary>
/// Identity binding at Normalize, where the device id of each measurement is known: a message whose client logged in
/// (<see cref="InboxMessage.Authenticated"/>) may carry only measurements of that device, or of the devices
/// <see cref="DeviceIdentityOptions.ReportsFor"/> lets it report for. One measurement of another device makes the
/// whole message a <see cref="ErrorCodes.DeviceIdentityMismatch"/> dead letter: a device that lies once in a message is
/// not trusted for the rest of it, and a replay after a configuration fix gives the complete message. Messages of
/// anonymous clients are not bound. Patient ids are not looked at here.
/// </summary>
public sealed class DeviceIdentityBinding
{
    // Ids quoted in a dead letter's reason are cut to this (the reason is stored with the payload, never logged).
    private const int QuotedIdChars = 128;

    private readonly Dictionary<string, HashSet<string>> reportsFor;

    public DeviceIdentityBinding(DeviceIdentityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        reportsFor = options.ReportsFor.ToDictionary(r => r.Key, r => (r.Value ?? []).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
    }

    /// <summary>Whether a device logged in as <paramref name="authenticatedId"/> may report readings of <paramref name="deviceId"/>.</summary>
    public bool MayReport(string authenticatedId, string deviceId) =>
        string.Equals(authenticatedId, deviceId, StringComparison.Ordinal)
        || (reportsFor.TryGetValue(authenticatedId, out var devices) && devices.Contains(deviceId));

    /// <summary>Null when the message may carry all of <paramref name="measurements"/>; else the dead letter's reason.</summary>
    public string? Mismatch(InboxMessage message, IReadOnlyList<Measurement> measurements)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(measurements);
        if (!message.Authenticated)
        {
            return null;
        }

        var foreign = measurements.Where(m => !MayReport(message.ClientId, m.DeviceId)).ToList();
        if (foreign.Count == 0)
        {
            return null;
        }

        var devices = foreign.Select(m => m.DeviceId).Distinct(StringComparer.Ordinal).Count();
        return NormalizationStage.Bounded(
            $"{foreign.Count} of {measurements.Count} measurements name a device the sender may not report for ({devices} such device ids, " +
            $"the first '{DeadLetter.Bound(foreign[0].DeviceId, QuotedIdChars)}'); the sender is authenticated as '{DeadLetter.Bound(message.ClientId, QuotedIdChars)}'. " +
            "The whole message is dead-lettered; list the device under Gateway:Identity:ReportsFor if it relays for it, then replay.");
    }
}

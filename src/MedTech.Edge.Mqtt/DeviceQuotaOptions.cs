using System.Globalization;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// What one device may take of the embedded broker (section <c>Mqtt:DeviceQuota</c>), so one device cannot take the
/// gateway from the others: a publish rate (token bucket) and a share of the buffer. Beyond either, that
/// device's publishes are refused without a PUBACK and counted; other devices are not affected.
/// </summary>
public sealed class DeviceQuotaOptions
{
    /// <summary>
    /// Publishes per second a device may sustain. 20: a bedside monitor sends about one message a second, so this is
    /// twenty times a normal device and still only a tenth of what 200 monitors send together. 0 turns the limit off.
    /// </summary>
    public double RatePerSecond { get; set; } = 20;

    /// <summary>Publishes a device may send at once above the rate (a device catching up after a reconnect): 100.</summary>
    public int Burst { get; set; } = 100;

    /// <summary>
    /// The most of the buffer's capacity (<c>Buffer:MaxMessages</c> and <c>Buffer:MaxBytes</c>) one client id may hold:
    /// its messages waiting for Normalize and those behind outbox groups not yet delivered (an uplink outage fills the
    /// outbox, not the inbox); dead letters count against nobody. 0.05 (5 %, 100,000 messages of the default
    /// 2,000,000). A relay that reports for several devices logs in under one client id and shares one share. 1 turns
    /// the share off.
    /// </summary>
    public double BufferShare { get; set; } = 0.05;

    /// <summary>Every problem, each naming its configuration key (<paramref name="section"/>); empty when usable.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        var errors = new List<string>();
        if (!double.IsFinite(RatePerSecond) || RatePerSecond < 0)
        {
            errors.Add($"{section}:RatePerSecond must be 0 (no limit) or a positive number of publishes per second.");
        }

        if (Burst < 1 && RatePerSecond > 0)
        {
            errors.Add($"{section}:Burst must be at least 1.");
        }

        if (!double.IsFinite(BufferShare) || BufferShare is <= 0 or > 1)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:BufferShare must be above 0 and at most 1 (a fraction of Buffer:MaxMessages and Buffer:MaxBytes), not {BufferShare}."));
        }

        return errors;
    }
}

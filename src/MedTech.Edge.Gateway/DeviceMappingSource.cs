using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The device mapping in use. Loaded from its file at start (an invalid file stops the module, naming every error);
/// after that, a changed file is validated first and replaces the mapping in use only when it is valid. An invalid
/// update is logged with every error and counted, and the gateway keeps normalizing with the last good mapping.
/// </summary>
public sealed partial class DeviceMappingSource
{
    private readonly string? path;
    private readonly ILogger? logger;
    private readonly GatewayMetrics? metrics;
    private readonly NormalizationLimits? limits;
    private volatile Normalizer current;
    private (DateTime Written, long Length) stamp;

    /// <summary>A fixed mapping, never reloaded (tests, tools).</summary>
    public DeviceMappingSource(Normalizer normalizer) => current = normalizer;

    private DeviceMappingSource(string path, ILogger logger, GatewayMetrics? metrics, NormalizationLimits? limits)
    {
        this.path = path;
        this.logger = logger;
        this.metrics = metrics;
        this.limits = limits;
        stamp = Stamp(path);
        current = new Normalizer(DeviceMapping.Load(path).EnsureValid(path), limits);
    }

    public Normalizer Current => current;

    /// <summary>Why the file's latest content is not in use (its error count, never its text); null when it is.</summary>
    public string? Rejected { get; private set; }

    /// <exception cref="InvalidMappingException">The file's mapping has errors.</exception>
    /// <param name="limits">What one message may cost and produce; the defaults when not given.</param>
    public static DeviceMappingSource Load(string path, ILogger<DeviceMappingSource> logger, GatewayMetrics? metrics = null, NormalizationLimits? limits = null) =>
        new(path, logger, metrics, limits);

    /// <summary>Loads the file again if it changed; returns true when a new, valid mapping is now in use.</summary>
    public bool ReloadIfChanged()
    {
        if (path is null || Stamp(path) is var now && now == stamp)
        {
            return false;
        }

        stamp = now;
        DeviceMapping mapping;
        try
        {
            mapping = DeviceMapping.Load(path);
        }
        catch (IOException ex)
        {
            // Caught mid-write or moved away: the next check sees the finished file.
            stamp = default;
            var error = ex.GetType().Name;
            Log.Unreadable(logger!, path, error);
            return false;
        }

        if (!mapping.IsValid)
        {
            Rejected = $"{mapping.Errors.Count} error(s)";
            metrics?.MappingReloads.Add(1, new KeyValuePair<string, object?>("result", "rejected"));
            Log.Rejected(logger!, new InvalidMappingException(path, mapping.Errors).Message);
            return false;
        }

        current = new Normalizer(mapping, limits);
        Rejected = null;
        metrics?.MappingReloads.Add(1, new KeyValuePair<string, object?>("result", "applied"));
        Log.Applied(logger!, path, mapping.Templates.Count);
        return true;
    }

    private static (DateTime, long) Stamp(string path)
    {
        var file = new FileInfo(path);
        return file.Exists ? (file.LastWriteTimeUtc, file.Length) : default;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Device mapping {Path} changed and is valid: now in use ({Templates} templates).")]
        public static partial void Applied(ILogger logger, string path, int templates);

        [LoggerMessage(EventId = 2102, Level = LogLevel.Error, Message = "Device mapping update rejected; the previous mapping stays in use. {Errors}")]
        public static partial void Rejected(ILogger logger, string errors);

        [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Device mapping {Path} could not be read ({Error}); trying again.")]
        public static partial void Unreadable(ILogger logger, string path, string error);
    }
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting;

/// <summary>
/// Secrets from files, one per key (<c>Hub__ConnectionString</c>, <c>FhirServer__ClientSecret</c>, ...), in a folder
/// mounted read-only from the host. Environment variables in an IoT Edge deployment end up in the edgeAgent twin, so
/// secrets never go there; a file wins over an environment variable of the same key.
/// </summary>
public static class SecretFiles
{
    public const string DefaultDirectory = "/app/secrets";

    public static IHostApplicationBuilder AddSecretFiles(this IHostApplicationBuilder builder, string directory = DefaultDirectory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Configuration.AddKeyPerFile(directory, optional: true, reloadOnChange: false);
        return builder;
    }
}

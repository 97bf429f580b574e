using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mqtt;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>The IoT Edge deployment manifest and module folders are what the runtime and the module expect.</summary>
public sealed partial class DeploymentManifestTests
{
    private static readonly string Root = Repository.Root;

    // The options classes the gateway module binds, by configuration section.
    private static readonly Dictionary<string, Type> Sections = new()
    {
        [GatewayOptions.SectionName] = typeof(GatewayOptions),
        [BufferOptions.SectionName] = typeof(BufferOptions),
        [MqttIngestOptions.SectionName] = typeof(MqttIngestOptions),
        [HubOptions.SectionName] = typeof(HubOptions),
        [MonitoringOptions.SectionName] = typeof(MonitoringOptions),
    };

    [Fact]
    public void GivenTheTemplate_ThenEveryModuleImageNamesAModuleFolderAndCreateOptionsParse()
    {
        var manifest = Manifest();
        var modules = manifest.GetProperty("modulesContent").GetProperty("$edgeAgent").GetProperty("properties.desired").GetProperty("modules");
        Assert.NotEmpty(modules.EnumerateObject());
        foreach (var module in modules.EnumerateObject())
        {
            var image = module.Value.GetProperty("settings").GetProperty("image").GetString()!;
            var folder = ModuleImage().Match(image);
            Assert.True(folder.Success, $"{module.Name}: image {image} is not ${{MODULES.<folder>}}");
            Assert.True(File.Exists(Path.Combine(Root, "modules", folder.Groups[1].Value, "module.json")), $"{module.Name}: modules/{folder.Groups[1].Value}/module.json is missing");
            var createOptions = module.Value.GetProperty("settings").GetProperty("createOptions");
            Assert.Equal(JsonValueKind.Object, (createOptions.ValueKind == JsonValueKind.String ? JsonDocument.Parse(createOptions.GetString()!).RootElement : createOptions).ValueKind);
        }

        Assert.True(manifest.GetProperty("modulesContent").GetProperty("$edgeHub").GetProperty("properties.desired").TryGetProperty("routes", out _));
    }

    [Fact]
    public void GivenTheGatewayModule_ThenEveryEnvironmentVariableNamesAnOptionItBindsAndNoneCarriesASecret()
    {
        var env = Manifest().GetProperty("modulesContent").GetProperty("$edgeAgent").GetProperty("properties.desired")
            .GetProperty("modules").GetProperty("medtechGateway").GetProperty("env");
        foreach (var variable in env.EnumerateObject())
        {
            var parts = variable.Name.Split("__");
            Assert.True(Sections.TryGetValue(parts[0], out var options), $"{variable.Name}: no options section {parts[0]}");
            Assert.True(options.GetProperty(parts[1], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is not null, $"{variable.Name}: {options.Name} has no {parts[1]}");
            Assert.DoesNotMatch(SecretName(), variable.Name);
        }
    }

    [Fact]
    public void GivenEachModuleFolder_ThenItsDockerfilesRunAsNonRootWithAnExecFormEntryPoint()
    {
        foreach (var moduleJson in Directory.GetFiles(Path.Combine(Root, "modules"), "module.json", SearchOption.AllDirectories))
        {
            var folder = Path.GetDirectoryName(moduleJson)!;
            var platforms = JsonDocument.Parse(File.ReadAllText(moduleJson)).RootElement.GetProperty("image").GetProperty("tag").GetProperty("platforms");
            Assert.Equal(["amd64", "arm64v8"], platforms.EnumerateObject().Select(p => p.Name).Order());
            foreach (var platform in platforms.EnumerateObject())
            {
                var dockerfile = File.ReadAllLines(Path.Combine(folder, platform.Value.GetString()!));
                Assert.Contains(dockerfile, line => line.StartsWith("USER $APP_UID", StringComparison.Ordinal));
                Assert.StartsWith("ENTRYPOINT [\"dotnet\"", dockerfile.Last(line => line.StartsWith("ENTRYPOINT", StringComparison.Ordinal)));
            }
        }
    }

    [Fact]
    public void GivenASecretFile_WhenTheModuleConfigurationLoads_ThenTheFileSetsItsKey()
    {
        var secrets = Directory.CreateTempSubdirectory("medtech-secrets-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(secrets, "Hub__ConnectionString"), "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=x;EntityPath=hub");
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.AddSecretFiles(secrets);
            Assert.StartsWith("Endpoint=sb://ns.servicebus.windows.net/", builder.Configuration["Hub:ConnectionString"]);
        }
        finally
        {
            Directory.Delete(secrets, recursive: true);
        }
    }

    private static JsonElement Manifest() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "deployment.template.json"))).RootElement;

    [GeneratedRegex(@"^\$\{MODULES\.([A-Za-z0-9]+)\}$")]
    private static partial Regex ModuleImage();

    // The last word decides: Mqtt__CertificatePassword holds a secret, Mqtt__PasswordFile names a file of hashes.
    [GeneratedRegex("(?i)(password|secret|connectionstring|key)$")]
    private static partial Regex SecretName();
}

using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using MedTech.Edge.Mqtt;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// The install guide's commands, run as printed: <c>/etc/medtech</c> becomes a scratch folder, the guide's
/// placeholders (GATEWAY, 8884, ca.crt, PASSWORD, message.json, FILE) become this test's, and <c>sudo</c> is dropped
/// when the test already runs as root without it. Commands this machine cannot run (no container engine, no Azure, no
/// IoT Edge runtime, no disk to encrypt) are listed with the reason, and a command added to the guide fails
/// <see cref="GivenTheInstallGuide_WhenItsCommandsAreListed_ThenEachIsRunHereOrByAnotherTestOrSaysWhyNot"/> until it
/// is placed in one of the lists.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class InstallGuideTests : IDisposable
{
    private static readonly string Guide = Path.Combine(Repository.Root, "edge-deployment", "README.md");

    private const string CreatePasswordFile = "mosquitto_passwd -c /etc/medtech/config/mqtt-passwords monitor-01     # first device (-c creates the file)";
    private const string AddDevice = "mosquitto_passwd /etc/medtech/config/mqtt-passwords monitor-02        # each further device";
    private const string ProtectPasswordFile = "sudo chown 1654 /etc/medtech/config/mqtt-passwords && sudo chmod 400 /etc/medtech/config/mqtt-passwords";
    private const string ProtectSecrets = "sudo chown -R 1654 /etc/medtech/secrets && sudo chmod 700 /etc/medtech/secrets && sudo chmod 400 /etc/medtech/secrets/*";
    private const string RandomPassword = "openssl rand -base64 24";
    private const string HashInPlace = "mosquitto_passwd -U FILE";
    private const string Publish = "mosquitto_pub -h GATEWAY -p 8884 --cafile ca.crt -i monitor-01 -u monitor-01 -P PASSWORD -q 1 -t devices/monitor-01/vitals -f message.json";
    private const string HealthProbe = "dotnet MedTech.Edge.Modules.EdgeGateway.dll --health-probe";

    private static readonly string[] RunHere = [CreatePasswordFile, AddDevice, ProtectPasswordFile, ProtectSecrets, RandomPassword, HashInPlace, Publish, HealthProbe];

    private static readonly Dictionary<string, string> RunByOtherTests = new()
    {
        ["medtech mapping validate --device-mapping devicecontent.json"] = "Cli.Tests MappingCommandTests",
        ["medtech run"] = "Cli.Tests ReadmeTests (the README's run command)",
        ["medtech buffer stats --buffer <file>"] = "Cli.Tests BufferCommandTests",
        ["medtech deadletter list --buffer <file> [--reason CODE]"] = "Cli.Tests BufferCommandTests",
        ["medtech deadletter replay [--reason CODE]"] = "Cli.Tests BufferCommandTests",
        ["medtech deadletter replay"] = "Cli.Tests BufferCommandTests",
        ["medtech buffer salvage --from <damaged file> --to <new file>"] = "Cli.Tests DamagedBufferCommandTests",
        ["medtech buffer devices --buffer <file>"] = "Cli.Tests OperatorViewCommandTests",
        ["medtech deadletter show ID --buffer <file>"] = "Cli.Tests OperatorViewCommandTests",
        ["medtech writer-deadletter list|show|replay"] = "Cli.Tests OperatorViewCommandTests",
        ["mosquitto_passwd"] = "a name, not a command",
    };

    private static readonly Dictionary<string, string> NotRunHere = new()
    {
        ["sudo apt-get install aziot-edge"] = "needs Microsoft's package repository and an IoT Edge device",
        ["sudo iotedge config apply"] = "needs the IoT Edge runtime and an IoT Hub",
        ["sudo iotedge check"] = "needs the IoT Edge runtime and an IoT Hub",
        ["sudo iotedge list"] = "needs the IoT Edge runtime and an IoT Hub",
        ["sudo iotedge logs medtechGateway"] = "needs the IoT Edge runtime and an IoT Hub",
        ["sudo cryptsetup luksFormat --type luks2 /dev/DEVICE"] = "formats a disk",
        ["sudo cryptsetup luksDump /dev/DEVICE"] = "needs a LUKS disk",
        ["sudo systemd-cryptenroll --tpm2-device=auto --tpm2-pcrs=7 /dev/DEVICE"] = "needs a TPM and a LUKS disk",
        ["sudo systemd-cryptenroll --recovery-key /dev/DEVICE"] = "needs a LUKS disk",
        ["docker buildx build -f modules/EdgeGateway/Dockerfile.arm64v8 --platform linux/arm64 -t $REGISTRY/medtech-gateway:$VERSION --push ."] = "no container engine here; the image's health check command is run below from the module's build output",
        ["az iot edge set-modules --hub-name HUB --device-id GATEWAY --content config/deployment.amd64.json"] = "needs an Azure subscription",
        ["sudo docker inspect --format '{{.State.Health.Status}}' medtechGateway"] = "no container engine here",
        ["sudo docker exec medtechGateway dotnet MedTech.Edge.Modules.EdgeGateway.dll --health-probe"] = "no container engine here; the same command without docker exec is run below",
        ["openssl ca -gencrl"] = "needs an OpenSSL CA set-up; the certificate tests make CRLs with .NET's CertificateRevocationListBuilder",
    };

    private readonly string folder = Directory.CreateTempSubdirectory("medtech-install-guide-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenTheInstallGuide_WhenItsCommandsAreListed_ThenEachIsRunHereOrByAnotherTestOrSaysWhyNot()
    {
        var commands = Commands(File.ReadAllText(Guide)).ToList();

        Assert.Contains(Publish, commands);
        var unplaced = commands.Where(c => !RunHere.Contains(c) && !RunByOtherTests.ContainsKey(c) && !NotRunHere.ContainsKey(c)).ToList();
        Assert.True(unplaced.Count == 0, "Commands in the install guide no test runs or explains:\n" + string.Join('\n', unplaced));
        var stale = RunHere.Concat(RunByOtherTests.Keys).Concat(NotRunHere.Keys).Except(commands).ToList();
        Assert.True(stale.Count == 0, "Listed here but no longer in the guide:\n" + string.Join('\n', stale));
    }

    [Fact]
    public async Task GivenTheGuidesDeviceLoginCommands_WhenRunAsPrinted_ThenTheGatewayModuleTakesAReadingOverTlsFromTheDeviceTheyCreated()
    {
        var config = Directory.CreateDirectory(Path.Combine(folder, "etc", "medtech", "config")).FullName;
        Assert.Equal(0, (await ShellAsync(CreatePasswordFile, "monitor-01-password\nmonitor-01-password\n")).Exit);
        Assert.Equal(0, (await ShellAsync(AddDevice, "monitor-02-password\nmonitor-02-password\n")).Exit);
        Assert.Equal(0, (await ShellAsync(ProtectPasswordFile)).Exit);
        var passwords = Path.Combine(config, "mqtt-passwords");
        Assert.Equal(UnixFileMode.UserRead, File.GetUnixFileMode(passwords));
        var file = MosquittoPasswordFile.Load(passwords);
        Assert.True(file.Verify("monitor-02", "monitor-02-password"u8));
        Assert.False(file.Verify("monitor-02", "monitor-01-password"u8));

        var (pfx, pem) = BrokerCertificate();
        var tlsPort = Ports.Free();
        var metricsPort = Ports.Free();
        using var cluster = new MockCluster();
        cluster.CreateTopic("measurements", 1);
        File.Copy(Repository.PathOf("src", "MedTech.Edge.Cli", "Mappings", "vital-signs.device-mapping.json"), Path.Combine(folder, "devicecontent.json"));
        var environment = new Dictionary<string, string>
        {
            ["Gateway__DeviceMappingPath"] = Path.Combine(folder, "devicecontent.json"),
            ["Buffer__Path"] = Path.Combine(folder, "data", "gateway.db"),
            ["Mqtt__Port"] = "0",
            ["Mqtt__TlsPort"] = tlsPort.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__CertificatePath"] = pfx,
            ["Mqtt__CertificatePassword"] = "broker-password",
            ["Mqtt__PasswordFile"] = passwords,
            ["Hub__BootstrapServers"] = cluster.BootstrapServers,
            ["Hub__Topic"] = "measurements",
            ["Monitoring__Port"] = metricsPort.ToString(CultureInfo.InvariantCulture),
            ["Logging__LogLevel__Default"] = "Warning",
        };
        using var gateway = new ModuleProcess("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, environment);
        await Eventually.HoldsAsync(() => Ports.Listening(tlsPort) && Ports.Listening(metricsPort), TimeSpan.FromSeconds(60), () => string.Join('\n', gateway.Output));
        Assert.False(gateway.Process.HasExited, string.Join('\n', gateway.Output));

        await File.WriteAllTextAsync(Path.Combine(folder, "message.json"),
            """{"deviceId":"monitor-01","patientId":"patient-01","timestamp":"2026-11-24T08:00:00Z","heartRate":72,"spo2":98,"respiratoryRate":16,"temperature":36.9,"systolic":120,"diastolic":80}""");
        string PublishAs(string password) => Publish.Replace("GATEWAY", "localhost", StringComparison.Ordinal).Replace("8884", tlsPort.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("ca.crt", pem, StringComparison.Ordinal).Replace("PASSWORD", password, StringComparison.Ordinal);
        var published = await ShellAsync(PublishAs("monitor-01-password"));
        Assert.True(published.Exit == 0, published.Output + string.Join('\n', gateway.Output));
        Assert.NotEqual(0, (await ShellAsync(PublishAs("monitor-02-password"))).Exit);

        // The image's HEALTHCHECK, from the module's own folder with the module's settings.
        var moduleFolder = Path.GetDirectoryName(gateway.Process.StartInfo.Arguments.Trim('"'))!;
        var probe = await ShellAsync(HealthProbe, workingDirectory: moduleFolder, environment: environment);
        Assert.True(probe.Exit == 0, probe.Output);
        Assert.NotEmpty(HubReader.Read(cluster.BootstrapServers, "measurements", received => received.Count >= 1, TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task GivenTheGuidesPasswordHelpers_WhenRunAsPrinted_ThenTheyMakeALongRandomPasswordAndHashAPlainFileInPlace()
    {
        var random = await ShellAsync(RandomPassword);
        Assert.Equal(0, random.Exit);
        Assert.Equal(24, Convert.FromBase64String(random.Output.Trim()).Length);

        var plain = Path.Combine(folder, "migrated-passwords");
        await File.WriteAllTextAsync(plain, "monitor-07:from-an-old-secret-file\n");
        Assert.Equal(0, (await ShellAsync(HashInPlace.Replace("FILE", plain, StringComparison.Ordinal))).Exit);

        Assert.DoesNotContain("from-an-old-secret-file", await File.ReadAllTextAsync(plain), StringComparison.Ordinal);
        Assert.True(MosquittoPasswordFile.Load(plain).Verify("monitor-07", "from-an-old-secret-file"u8));
    }

    [Fact]
    public async Task GivenTheGuidesSecretsCommand_WhenRunAsPrinted_ThenTheFolderIs0700AndEachSecret0400()
    {
        var secrets = Directory.CreateDirectory(Path.Combine(folder, "etc", "medtech", "secrets")).FullName;
        await File.WriteAllTextAsync(Path.Combine(secrets, "Hub__ConnectionString"), "Endpoint=sb://example/;SharedAccessKeyName=send;SharedAccessKey=x");

        Assert.Equal(0, (await ShellAsync(ProtectSecrets)).Exit);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(secrets));
        Assert.Equal(UnixFileMode.UserRead, File.GetUnixFileMode(Path.Combine(secrets, "Hub__ConnectionString")));
    }

    /// <summary>Inline code and lines of fenced blocks that start with a command; the file-layout block is not one.</summary>
    private static IEnumerable<string> Commands(string markdown)
    {
        string[] tools = ["sudo", "docker", "az", "medtech", "mosquitto_passwd", "mosquitto_pub", "mosquitto_sub", "openssl", "dotnet", "bash", "curl", "cat", "cp", "mkdir", "chmod", "chown"];
        bool IsCommand(string text) => text.Split(' ', 2)[0] is var first && tools.Contains(first);
        foreach (Match block in FencedBlock().Matches(markdown))
        {
            foreach (var line in block.Groups[1].Value.Split('\n').Where(IsCommand))
            {
                yield return line;
            }
        }

        foreach (Match span in InlineCode().Matches(FencedBlock().Replace(markdown, "")))
        {
            if (IsCommand(span.Groups[1].Value))
            {
                yield return span.Groups[1].Value;
            }
        }
    }

    /// <summary>Runs one command with bash in the scratch folder, <c>/etc/medtech</c> moved into it.</summary>
    private async Task<(int Exit, string Output)> ShellAsync(string command, string input = "", string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        command = command.Replace("/etc/medtech", Path.Combine(folder, "etc", "medtech"), StringComparison.Ordinal);
        if (Environment.UserName == "root" && !File.Exists("/usr/bin/sudo"))
        {
            // Root needs no sudo, and a machine with only root often has none.
            command = command.Replace("sudo ", "", StringComparison.Ordinal);
        }

        var start = new ProcessStartInfo("bash", ["-c", command])
        {
            WorkingDirectory = workingDirectory ?? folder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    /// <summary>The gateway's TLS certificate for "localhost" (.pfx, as the guide asks for) and the PEM a device trusts.</summary>
    private (string Pfx, string Pem) BrokerCertificate()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = Path.Combine(folder, "broker.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pfx, "broker-password"));
        var pem = Path.Combine(folder, "ca.pem");
        File.WriteAllText(pem, certificate.ExportCertificatePem());
        return (pfx, pem);
    }

    [GeneratedRegex(@"```[a-z]*\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex FencedBlock();

    [GeneratedRegex(@"`([^`\n]+)`")]
    private static partial Regex InlineCode();
}

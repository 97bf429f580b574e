using System.Diagnostics;
using System.Text;
using MedTech.Edge.Testing;
using MQTTnet.Formatter;
using static MedTech.Edge.Mqtt.Tests.BrokerHarness;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>Device passwords from a file made by the real <c>mosquitto_passwd</c>, through the real embedded broker.</summary>
[Collection(EmbeddedBrokerTestGroup.Name)]
public sealed class DevicePasswordTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-passwords-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData(false, MqttProtocolVersion.V311)]
    [InlineData(false, MqttProtocolVersion.V500)]
    [InlineData(true, MqttProtocolVersion.V500)]
    public async Task GivenAMosquittoPasswdFile_WhenADeviceLogsInWithItsPassword_ThenItsPublishIsAcknowledgedAndStored(bool sha512, MqttProtocolVersion version)
    {
        var file = PasswordFile(sha512, ("monitor-1", "correct horse"), ("monitor-2", "pw 2:with$odd\u00e9chars"));
        await using var broker = await StartAsync(new MqttIngestOptions { Port = Ports.Free(), PasswordFile = file }, folder);

        using var first = await broker.ConnectAsync("monitor-1", "monitor-1", "correct horse", version: version);
        using var second = await broker.ConnectAsync("monitor-2", "monitor-2", "pw 2:with$odd\u00e9chars", version: version);
        Assert.True((await first.PublishAsync(Message("devices/monitor-1/v", "one"))).IsSuccess);
        Assert.True((await second.PublishAsync(Message("devices/monitor-2/v", "two"))).IsSuccess);

        Assert.Equal([("monitor-1", "one"), ("monitor-2", "two")], broker.Stored().Select(m => (m.ClientId, Encoding.UTF8.GetString(m.Payload.Span))).Order());
        Assert.Empty(broker.Refusals);
    }

    [Theory]
    [InlineData("monitor-1", "monitor-1", "wrong")]
    [InlineData("monitor-1", "monitor-1", "")]
    // Not a trailing NUL: PBKDF2's HMAC pads the password with zeros, so Mosquitto too takes "pw" and "pw\0" as one.
    [InlineData("monitor-1", "monitor-1", "correct\0horse")]
    [InlineData("monitor-1", "monitor-1", "Correct horse")]
    [InlineData("nobody", "nobody", "correct horse")]
    [InlineData("monitor-1", "", "correct horse")]
    public async Task GivenAnonymousAccessIsOn_WhenCredentialsDoNotVerify_ThenTheLoginIsRefusedNotTakenAsAnonymous(string clientId, string user, string password)
    {
        var file = PasswordFile(false, ("monitor-1", "correct horse"));
        await using var broker = await StartAsync(new MqttIngestOptions { Port = Ports.Free(), PasswordFile = file, AllowAnonymous = true }, folder);

        await Assert.ThrowsAnyAsync<Exception>(() => broker.ConnectAsync(clientId, user, password));

        // Anonymous access itself still works, and the refusal is counted without the user name the peer sent.
        using var anonymous = await broker.ConnectAsync("bench-tool");
        Assert.Equal(["bad_credentials"], broker.Refusals);
        Assert.DoesNotContain(broker.Log.Lines, line => line.Contains("correct horse", StringComparison.Ordinal) || (user.Length > 0 && line.Contains(user, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task GivenAPasswordForAnotherDevice_WhenADeviceLogsInUnderItsOwnClientId_ThenItIsRefused()
    {
        var file = PasswordFile(false, ("monitor-1", "pw-1"), ("monitor-2", "pw-2"));
        await using var broker = await StartAsync(new MqttIngestOptions { Port = Ports.Free(), PasswordFile = file }, folder);

        await Assert.ThrowsAnyAsync<Exception>(() => broker.ConnectAsync("monitor-2", "monitor-1", "pw-1"));

        Assert.Equal(["id_mismatch"], broker.Refusals);
    }

    [Fact]
    public async Task GivenARunningBroker_WhenTheOperatorAddsADeviceWithMosquittoPasswd_ThenItLogsInWithoutARestart()
    {
        var file = PasswordFile(false, ("monitor-1", "pw-1"));
        await using var broker = await StartAsync(new MqttIngestOptions { Port = Ports.Free(), PasswordFile = file }, folder);
        await Assert.ThrowsAnyAsync<Exception>(() => broker.ConnectAsync("monitor-3", "monitor-3", "pw-3"));

        MosquittoPasswd.Add(file, "monitor-3", "pw-3");
        // The file's time has a coarse resolution on some file systems; the size changed anyway.
        using var client = await broker.ConnectAsync("monitor-3", "monitor-3", "pw-3");

        Assert.True((await client.PublishAsync(Message("devices/monitor-3/v", "x"))).IsSuccess);
        using var first = await broker.ConnectAsync("monitor-1", "monitor-1", "pw-1");
    }

    [Fact]
    public async Task GivenARunningBroker_WhenThePasswordFileIsReplacedByAPlainTextOne_ThenThePreviousFileStaysInForce()
    {
        var file = PasswordFile(false, ("monitor-1", "pw-1"));
        await using var broker = await StartAsync(new MqttIngestOptions { Port = Ports.Free(), PasswordFile = file }, folder);

        await File.WriteAllTextAsync(file, "monitor-1:plain-text-password\nmonitor-2:another\n");

        using var client = await broker.ConnectAsync("monitor-1", "monitor-1", "pw-1");
        await Assert.ThrowsAnyAsync<Exception>(() => broker.ConnectAsync("monitor-1", "monitor-1", "plain-text-password"));
        Assert.Contains(broker.Log.Lines, line => line.Contains("password file cannot be read", StringComparison.Ordinal));
        Assert.DoesNotContain(broker.Log.Lines, line => line.Contains("plain-text-password", StringComparison.Ordinal));
    }

    [Fact]
    public void GivenAPlainTextPasswordFile_WhenValidated_ThenTheStartIsRefusedWithTheWayToHashItAndAfterMosquittoPasswdUItWorks()
    {
        var file = Path.Combine(folder, "plain");
        File.WriteAllText(file, "monitor-1:pw-1\n");
        var options = new MqttIngestOptions { Port = Ports.Free(), PasswordFile = file };

        var error = Assert.Single(options.Validate());
        Assert.Contains("mosquitto_passwd -U", error);
        Assert.Contains("line 1", error);
        Assert.DoesNotContain("pw-1", error);

        MosquittoPasswd.HashInPlace(file);
        Assert.Empty(options.Validate());
        Assert.True(MosquittoPasswordFile.Load(file).Verify("monitor-1", "pw-1"u8));
    }

    [Fact]
    public void GivenPlainTextPasswordsInConfiguration_WhenValidated_ThenTheStartIsRefusedWithTheWayToAPasswordFile()
    {
        var options = new MqttIngestOptions { Port = Ports.Free(), Devices = { ["monitor-1"] = "pw-1" } };

        var errors = options.Validate();

        Assert.Contains(errors, e => e.Contains("Mqtt:Devices holds plain-text", StringComparison.Ordinal) && e.Contains("mosquitto_passwd", StringComparison.Ordinal)
            && e.Contains("Mqtt:PasswordFile", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.Contains("pw-1", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0.0.0.0", false, false)]
    [InlineData("192.0.2.2", false, false)]
    [InlineData("0.0.0.0", true, true)]
    [InlineData("127.0.0.1", false, true)]
    [InlineData("::1", false, true)]
    public void GivenDevicePasswordsOnThePlainTextPort_WhenItIsBoundBeyondLoopback_ThenOnlyAnExplicitAllowanceLetsItStart(string address, bool allow, bool valid)
    {
        var options = new MqttIngestOptions { Port = 1883, BindAddress = address, PasswordFile = PasswordFile(false, ("monitor-1", "pw-1")), AllowPlainTextOnNetwork = allow };

        var errors = options.Validate();

        Assert.Equal(valid, errors.Count == 0);
        Assert.All(errors, e => Assert.Contains("Mqtt:AllowPlainTextOnNetwork", e));
    }

    [Fact]
    public async Task GivenMosquittoPub_WhenItLogsInWithAPasswordFromTheFile_ThenItsQos1PublishIsStored()
    {
        var file = PasswordFile(false, ("monitor-1", "pw-1"));
        await using var broker = await StartAsync(new MqttIngestOptions { Port = Ports.Free(), PasswordFile = file }, folder);

        Assert.Equal(0, await MosquittoPubAsync(broker.Options.Port, "pw-1"));
        Assert.NotEqual(0, await MosquittoPubAsync(broker.Options.Port, "pw-2"));

        Assert.Equal("{\"hr\":72}", Encoding.UTF8.GetString(Assert.Single(broker.Stored()).Payload.Span));
    }

    private static async Task<int> MosquittoPubAsync(int port, string password)
    {
        var start = new ProcessStartInfo("/usr/bin/mosquitto_pub") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-h", "127.0.0.1", "-p", $"{port}", "-V", "mqttv311", "-q", "1", "-i", "monitor-1", "-u", "monitor-1", "-P", password,
            "-t", "devices/monitor-1/v", "-m", "{\"hr\":72}" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync(timeout.Token);
        return process.ExitCode;
    }

    private string PasswordFile(bool sha512, params (string User, string Password)[] users)
    {
        var file = Path.Combine(folder, $"passwords-{Guid.NewGuid():N}");
        for (var i = 0; i < users.Length; i++)
        {
            MosquittoPasswd.Add(file, users[i].User, users[i].Password, create: i == 0, sha512: sha512);
        }

        return file;
    }
}

/// <summary>Broker tests share the meter name of the login counters, so they do not run in parallel with each other.</summary>
[CollectionDefinition(Name)]
public sealed class EmbeddedBrokerTestGroup
{
    public const string Name = "embedded broker";
}

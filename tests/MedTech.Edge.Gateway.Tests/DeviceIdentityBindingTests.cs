using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>Identity binding at Normalize, on a real LiteDB buffer, including a restart between receipt and Normalize.</summary>
public sealed class DeviceIdentityBindingTests : IDisposable
{
    private static readonly DateTime Received = new(2026, 11, 24, 8, 30, 0, DateTimeKind.Utc);
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-identity-").FullName;
    private GatewayStore store;

    public DeviceIdentityBindingTests() => store = Open();

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    private static readonly Normalizer HeartRate = new(DeviceMapping.Parse("""
        {"templateType": "CollectionContent", "template": [{"templateType": "CalculatedContent", "template": {
          "typeName": "heartRate", "typeMatchExpression": "$..[?(@heartRate)]", "deviceIdExpression": "$.matchedToken.deviceId",
          "patientIdExpression": "$.matchedToken.patientId", "timestampExpression": "$.matchedToken.timestamp",
          "values": [{"valueName": "heartRate", "valueExpression": "$.matchedToken.heartRate", "required": true}]}}]}
        """).EnsureValid("test"));

    [Fact]
    public void GivenAnAuthenticatedDevice_WhenItReportsAnotherDevice_ThenTheMessageIsADeviceIdentityMismatchAndNothingReachesTheOutbox()
    {
        store.Append([Message("monitor-01", authenticated: true, ("monitor-02", "patient-2"))]);

        Stage().RunOnce(10);

        var letter = Assert.Single(store.ListDeadLetters());
        Assert.Equal(ErrorCodes.DeviceIdentityMismatch, letter.Code);
        Assert.Contains("'monitor-02'", letter.Reason, StringComparison.Ordinal);
        Assert.Contains("'monitor-01'", letter.Reason, StringComparison.Ordinal);
        Assert.Empty(store.ReadOutbox(10));
        Assert.Equal((0, 1, 0L), (store.Stats().Inbox, store.Stats().DeadLettered, store.Stats().Unaccounted));
    }

    [Fact]
    public void GivenOneForeignMeasurementAmongOwnOnes_WhenNormalized_ThenTheWholeMessageIsDeadLettered()
    {
        store.Append([Message("monitor-01", authenticated: true, ("monitor-01", "patient-1"), ("monitor-02", "patient-2"), ("monitor-01", "patient-1"))]);

        Stage().RunOnce(10);

        Assert.Contains("1 of 3 measurements", Assert.Single(store.ListDeadLetters()).Reason, StringComparison.Ordinal);
        Assert.Empty(store.ReadOutbox(10));
    }

    [Fact]
    public void GivenARelayAllowedToReportForTwoMonitors_WhenItReportsThemAndItself_ThenAllReachTheOutboxAndAThirdMonitorDoesNot()
    {
        var identity = new DeviceIdentityOptions { ReportsFor = { ["central-01"] = ["monitor-01", "monitor-02"] } };
        store.Append([
            Message("central-01", authenticated: true, ("monitor-01", "patient-1"), ("monitor-02", "patient-2"), ("central-01", "patient-3")),
            Message("central-01", authenticated: true, ("monitor-03", "patient-4")),
            Message("monitor-01", authenticated: true, ("monitor-02", "patient-2"))]);

        Stage(identity).RunOnce(10);

        var devices = store.ReadOutbox(10).Select(e => e.Key).Order().ToList();
        Assert.Equal(["central-01", "monitor-01", "monitor-02"], devices);
        Assert.Equal(["central-01", "monitor-01"], store.ListDeadLetters().Select(d => d.Message.ClientId).Order());
        Assert.All(store.ListDeadLetters(), d => Assert.Equal(ErrorCodes.DeviceIdentityMismatch, d.Code));
    }

    [Fact]
    public void GivenAnAnonymousClient_WhenItReportsAnyDevice_ThenItIsNotBound()
    {
        store.Append([Message("anything", authenticated: false, ("monitor-02", "patient-2"))]);

        Stage().RunOnce(10);

        Assert.Empty(store.ListDeadLetters());
        Assert.Equal("monitor-02", Assert.Single(store.ReadOutbox(10)).Key);
    }

    [Fact]
    public void GivenAnAuthenticatedMessageStoredBeforeARestart_WhenNormalizedAfterIt_ThenItIsStillBound()
    {
        store.Append([Message("monitor-01", authenticated: true, ("monitor-02", "patient-2")), Message("monitor-09", authenticated: false, ("monitor-02", "patient-2"))]);
        store.Dispose();
        store = Open();

        Stage().RunOnce(10);

        Assert.Equal("monitor-01", Assert.Single(store.ListDeadLetters()).Message.ClientId);
        Assert.Equal("monitor-02", Assert.Single(store.ReadOutbox(10)).Key);
    }

    [Fact]
    public void GivenAMismatchDeadLetter_WhenReplayedAfterTheRelayIsConfigured_ThenItReachesTheOutbox()
    {
        store.Append([Message("central-01", authenticated: true, ("monitor-01", "patient-1"))]);
        Stage().RunOnce(10);

        Assert.Equal(1, store.ReplayDeadLetters(ErrorCodes.DeviceIdentityMismatch));
        Stage(new DeviceIdentityOptions { ReportsFor = { ["central-01"] = ["monitor-01"] } }).RunOnce(10);

        Assert.Empty(store.ListDeadLetters());
        Assert.Equal("monitor-01", Assert.Single(store.ReadOutbox(10)).Key);
    }

    [Theory]
    [InlineData("", "monitor-01")]
    [InlineData("central-01", "")]
    [InlineData("central-01", "mon\0itor")]
    [InlineData("central\n01", "monitor-01")]
    public void GivenAReportsForEntryThatCannotBeADeviceId_WhenValidated_ThenItIsAnErrorThatNamesNoId(string relay, string device)
    {
        var errors = new DeviceIdentityOptions { ReportsFor = { [relay] = [device] } }.Validate("Gateway:Identity");

        var error = Assert.Single(errors);
        Assert.StartsWith("Gateway:Identity:ReportsFor", error, StringComparison.Ordinal);
        Assert.DoesNotContain("monitor-01", error, StringComparison.Ordinal);
        Assert.Empty(new DeviceIdentityOptions { ReportsFor = { ["central-01"] = ["monitor-01"] } }.Validate("Gateway:Identity"));
        Assert.Single(new DeviceIdentityOptions { ReportsFor = { ["central-01"] = [] } }.Validate("Gateway:Identity"));
    }

    private GatewayStore Open() => new(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });

    private NormalizationStage Stage(DeviceIdentityOptions? identity = null) => new(store, new DeviceMappingSource(HeartRate), NullLogger<NormalizationStage>.Instance,
        identity: new DeviceIdentityBinding(identity ?? new DeviceIdentityOptions()));

    private static InboxMessage Message(string clientId, bool authenticated, params (string Device, string Patient)[] readings)
    {
        var json = "[" + string.Join(",", readings.Select((r, i) =>
            $$"""{"deviceId":"{{r.Device}}","patientId":"{{r.Patient}}","timestamp":"2026-11-24T08:0{{i}}:00Z","heartRate":72}""")) + "]";
        return new InboxMessage(clientId, $"devices/{clientId}/vitals", Encoding.UTF8.GetBytes(json), Received, new Dictionary<string, string>()) { Authenticated = authenticated };
    }
}

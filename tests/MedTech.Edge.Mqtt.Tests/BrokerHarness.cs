using System.Diagnostics.Metrics;
using System.Security.Cryptography.X509Certificates;
using MedTech.Edge.Buffer;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>A real embedded broker over a real LiteDB buffer, with the device-login refusals it counted and logged.</summary>
internal sealed class BrokerHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource stop = new();
    private readonly IngestMetrics metrics = new();
    private readonly MeterListener listener = new();
    private readonly List<string> refusals = [];
    private readonly List<(string Label, double Days)> daysLeft = [];
    private readonly GatewayStore store;
    private readonly Task commits;

    private BrokerHarness(MqttIngestOptions options, string folder)
    {
        Options = options;
        var buffer = new BufferOptions { Path = Path.Combine(folder, $"gateway-{Guid.NewGuid():N}.db"), MaxMessages = 1000, CommitWindow = TimeSpan.Zero };
        store = new GatewayStore(buffer);
        var writer = new InboxWriter(store, buffer);
        commits = writer.RunAsync(stop.Token);
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == IngestMetrics.MeterName && instrument.Name is "devices.auth_refused" or "certificate.days_left")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) => Record(refusals, (string)tags[0].Value!));
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) => Record(daysLeft, ((string)tags[0].Value!, value)));
        listener.Start();
        Broker = new EmbeddedBroker(options, writer, metrics, Log);
    }

    public MqttIngestOptions Options { get; }

    public EmbeddedBroker Broker { get; }

    public ListLogger<EmbeddedBroker> Log { get; } = new();

    /// <summary>Reasons of the refused logins so far (the <c>devices.auth_refused</c> counter's label).</summary>
    public List<string> Refusals
    {
        get
        {
            lock (refusals)
            {
                return [.. refusals];
            }
        }
    }

    public static async Task<BrokerHarness> StartAsync(MqttIngestOptions options, string folder)
    {
        var harness = new BrokerHarness(options, folder);
        await harness.Broker.StartAsync();
        return harness;
    }

    public IReadOnlyList<InboxMessage> Stored() => store.ReadInbox(100);

    /// <summary>The <c>certificate.days_left</c> gauge, read now.</summary>
    public Dictionary<string, double> DaysLeft()
    {
        lock (daysLeft)
        {
            daysLeft.Clear();
        }

        listener.RecordObservableInstruments();
        lock (daysLeft)
        {
            return daysLeft.ToDictionary(d => d.Label, d => d.Days);
        }
    }

    /// <summary>Connects with a password on the plain port, or a client certificate on the TLS port; throws when refused.</summary>
    public async Task<IMqttClient> ConnectAsync(string clientId, string? user = null, string? password = null, X509Certificate2? certificate = null,
        MqttProtocolVersion version = MqttProtocolVersion.V500)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var builder = new MqttClientOptionsBuilder().WithClientId(clientId).WithProtocolVersion(version).WithTimeout(TimeSpan.FromSeconds(5));
        builder = certificate is null
            ? builder.WithTcpServer("127.0.0.1", Options.Port)
            : builder.WithTcpServer("127.0.0.1", Options.TlsPort).WithTlsOptions(tls => tls.UseTls()
                .WithCertificateSelectionHandler(_ => certificate)
                .WithClientCertificates([certificate])
                .WithCertificateValidationHandler(_ => true));
        if (user is not null || password is not null)
        {
            builder = builder.WithCredentials(user, password);
        }

        try
        {
            var result = await client.ConnectAsync(builder.Build());
            return result.ResultCode == MqttClientConnectResultCode.Success ? client : throw new InvalidOperationException($"Refused: {result.ResultCode}");
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public static MqttApplicationMessage Message(string topic, string payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();

    public async ValueTask DisposeAsync()
    {
        await Broker.DisposeAsync();
        await stop.CancelAsync();
        await commits;
        stop.Dispose();
        store.Dispose();
        listener.Dispose();
        metrics.Dispose();
    }

    private static void Record<T>(List<T> list, T item)
    {
        lock (list)
        {
            list.Add(item);
        }
    }
}

/// <summary>Keeps every formatted log line, to check what a refusal logs (and what it must not).</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    private readonly List<string> lines = [];

    public List<string> Lines
    {
        get
        {
            lock (lines)
            {
                return [.. lines];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (lines)
        {
            lines.Add(formatter(state, exception));
        }
    }
}

using System.Runtime.InteropServices;
using System.Text;

namespace MedTech.Edge.Testing;

/// <summary>
/// librdkafka's built-in mock cluster, a real Kafka-protocol broker on 127.0.0.1 (ephemeral ports), started through
/// P/Invoke in the librdkafka copy Confluent.Kafka loaded. Plain text only. Linked into the tests that need a hub.
/// The mock API is experimental in librdkafka: librdkafka.redist is pinned in Directory.Packages.props.
/// </summary>
public sealed class MockCluster : IDisposable
{
    private const string Lib = "librdkafka";
    private IntPtr rk;
    private IntPtr mc;

    // Bind "librdkafka" to the file Confluent.Kafka really loaded (centos8-librdkafka.so on Debian 12: the plain
    // librdkafka.so there needs a libsasl2 Debian does not ship).
    static MockCluster() => NativeLibrary.SetDllImportResolver(typeof(MockCluster).Assembly, (name, _, _) =>
    {
        if (name != Lib)
        {
            return IntPtr.Zero;
        }

        Confluent.Kafka.Library.Load();
        var loaded = File.ReadAllLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last())
            .FirstOrDefault(file => file.EndsWith("librdkafka.so", StringComparison.Ordinal) && File.Exists(file));
        return loaded is null ? IntPtr.Zero : NativeLibrary.Load(loaded);
    });

    public MockCluster(int brokers = 1)
    {
        var error = new byte[512];
        var conf = rd_kafka_conf_new();
        _ = rd_kafka_conf_set(conf, "log_level", "2", error, (UIntPtr)error.Length);
        rk = rd_kafka_new(0, conf, error, (UIntPtr)error.Length);
        if (rk == IntPtr.Zero)
        {
            rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException(Encoding.UTF8.GetString(error).TrimEnd('\0'));
        }

        mc = rd_kafka_mock_cluster_new(rk, brokers);
        if (mc == IntPtr.Zero)
        {
            rd_kafka_destroy(rk);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed");
        }

        rd_kafka_mock_group_initial_rebalance_delay_ms(mc, 0);
        BootstrapServers = Marshal.PtrToStringUTF8(rd_kafka_mock_cluster_bootstraps(mc))!;
    }

    public string BootstrapServers { get; }

    /// <summary>Creates a topic with an exact partition count (auto-created topics get 4); before any client uses it.</summary>
    public void CreateTopic(string topic, int partitions)
    {
        var result = rd_kafka_mock_topic_create(mc, topic, partitions, 1);
        if (result != 0)
        {
            throw new InvalidOperationException($"rd_kafka_mock_topic_create returned {result}");
        }
    }

    /// <summary>Takes every broker down (the hub is unreachable) or brings them back.</summary>
    public void SetDown(bool down)
    {
        var result = down ? rd_kafka_mock_broker_set_down(mc, -1) : rd_kafka_mock_broker_set_up(mc, -1);
        if (result != 0)
        {
            throw new InvalidOperationException($"rd_kafka_mock_broker_set_{(down ? "down" : "up")} returned {result}");
        }
    }

    /// <summary>Makes the cluster answer every request about <paramref name="topic"/> with <paramref name="code"/> (e.g. not authorised), or again normally with NoError.</summary>
    public void SetTopicError(string topic, Confluent.Kafka.ErrorCode code) => rd_kafka_mock_topic_set_error(mc, topic, (int)code);

    /// <summary>
    /// Puts a client into librdkafka's fatal-error state with its test API (rd_kafka_test_fatal_error), as a real
    /// idempotence failure would: the instance is unusable from then on. Confluent.Kafka keeps the native handle
    /// internal, so it is taken by reflection (the package is pinned; a rename fails this loudly).
    /// </summary>
    public static void TriggerFatalError(Confluent.Kafka.IClient client, Confluent.Kafka.ErrorCode code)
    {
        ArgumentNullException.ThrowIfNull(client);
        var property = typeof(Confluent.Kafka.Handle).GetProperty("LibrdkafkaHandle", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)
            ?? throw new InvalidOperationException("Confluent.Kafka.Handle has no LibrdkafkaHandle property any more.");
        var handle = (SafeHandle)property.GetValue(client.Handle)!;
        var result = rd_kafka_test_fatal_error(handle.DangerousGetHandle(), (int)code, "fatal error triggered by a test");
        if (result != 0)
        {
            throw new InvalidOperationException($"rd_kafka_test_fatal_error returned {result}");
        }
    }

    public void Dispose()
    {
        if (mc != IntPtr.Zero)
        {
            rd_kafka_mock_cluster_destroy(mc);
            mc = IntPtr.Zero;
        }

        if (rk != IntPtr.Zero)
        {
            rd_kafka_destroy(rk);
            rk = IntPtr.Zero;
        }
    }

    [DllImport(Lib)] private static extern IntPtr rd_kafka_conf_new();
    [DllImport(Lib)] private static extern void rd_kafka_conf_destroy(IntPtr conf);
    [DllImport(Lib)] private static extern int rd_kafka_conf_set(IntPtr conf, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, byte[] errstr, UIntPtr errstrSize);
    [DllImport(Lib)] private static extern IntPtr rd_kafka_new(int type, IntPtr conf, byte[] errstr, UIntPtr errstrSize);
    [DllImport(Lib)] private static extern void rd_kafka_destroy(IntPtr rk);
    [DllImport(Lib)] private static extern IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCnt);
    [DllImport(Lib)] private static extern void rd_kafka_mock_cluster_destroy(IntPtr mc);
    [DllImport(Lib)] private static extern IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr mc);
    [DllImport(Lib)] private static extern int rd_kafka_mock_topic_create(IntPtr mc, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic, int partitions, int replicationFactor);
    [DllImport(Lib)] private static extern void rd_kafka_mock_group_initial_rebalance_delay_ms(IntPtr mc, int delayMs);
    [DllImport(Lib)] private static extern int rd_kafka_mock_broker_set_down(IntPtr mc, int brokerId);
    [DllImport(Lib)] private static extern void rd_kafka_mock_topic_set_error(IntPtr mc, string topic, int error);
    [DllImport(Lib)] private static extern int rd_kafka_mock_broker_set_up(IntPtr mc, int brokerId);
    [DllImport(Lib)] private static extern int rd_kafka_test_fatal_error(IntPtr rk, int err, [MarshalAs(UnmanagedType.LPUTF8Str)] string reason);
}

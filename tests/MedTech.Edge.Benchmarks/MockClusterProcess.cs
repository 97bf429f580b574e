using System.Diagnostics;
using MedTech.Edge.Testing;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// librdkafka's mock cluster in a child process (this program, mode <c>mock-cluster</c>), so the benchmark's memory
/// figure is the gateway's own and not the hub's copy of every message it was sent.
/// </summary>
internal sealed class MockClusterProcess : IDisposable
{
    private readonly Process process;

    private MockClusterProcess(Process process, string bootstrapServers)
    {
        this.process = process;
        BootstrapServers = bootstrapServers;
    }

    public string BootstrapServers { get; }

    /// <summary>Starts the child with 16-partition topics and waits for its bootstrap address.</summary>
    /// <summary>Partitions of each topic the child creates.</summary>
    public const int Partitions = 16;

    public static MockClusterProcess Start(params string[] topics)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(MockClusterProcess).Assembly.Location);
        }

        start.ArgumentList.Add("mock-cluster");
        foreach (var topic in topics)
        {
            start.ArgumentList.Add(topic);
        }

        var process = Process.Start(start)!;
        return new MockClusterProcess(process, process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("The mock cluster did not start."));
    }

    /// <summary>The child's side: serves until its standard input closes.</summary>
    public static void Serve(IEnumerable<string> topics)
    {
        using var cluster = new MockCluster();
        foreach (var topic in topics)
        {
            cluster.CreateTopic(topic, Partitions);
        }

        Console.WriteLine(cluster.BootstrapServers);
        Console.In.ReadToEnd();
    }

    public void Dispose()
    {
        process.StandardInput.Close();
        if (!process.WaitForExit(10_000))
        {
            process.Kill();
        }

        process.Dispose();
    }
}

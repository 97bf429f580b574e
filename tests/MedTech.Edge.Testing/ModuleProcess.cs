using System.Diagnostics;

namespace MedTech.Edge.Testing;

/// <summary>A module (modules/NAME) started from its build output as a process of its own, its output kept for failure messages.</summary>
public sealed class ModuleProcess : IDisposable
{
    private readonly List<string> output = [];
    private readonly List<string> standardOutput = [];

    public ModuleProcess(string module, string assembly, string workingDirectory, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet", $"\"{Path.Combine(OutputFolder(module), assembly)}\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        Process = Process.Start(start)!;
        Process.OutputDataReceived += (_, e) => Remember(e.Data, stdout: true);
        Process.ErrorDataReceived += (_, e) => Remember(e.Data);
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    public Process Process { get; }

    /// <summary>The output so far (stdout and stderr, in arrival order).</summary>
    public IReadOnlyList<string> Output
    {
        get
        {
            lock (output)
            {
                return output.ToList();
            }
        }
    }

    /// <summary>The standard output so far, alone (what a container log collector reads as log lines).</summary>
    public IReadOnlyList<string> StandardOutput
    {
        get
        {
            lock (output)
            {
                return standardOutput.ToList();
            }
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a crash.</summary>
    public async Task KillAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill();
            await Process.WaitForExitAsync();
        }
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill();
        }

        Process.Dispose();
    }

    private void Remember(string? line, bool stdout = false)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.Add(line);
                if (stdout)
                {
                    standardOutput.Add(line);
                }
            }
        }
    }

    /// <summary>The module's build output for this test's configuration (Debug or Release).</summary>
    public static string OutputFolder(string module)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        return Path.Combine(Repository.Root, "modules", module, "bin", configuration, "net10.0");
    }
}

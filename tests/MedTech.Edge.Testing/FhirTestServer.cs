using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace MedTech.Edge.Testing;

/// <summary>
/// The real FHIR R4 server in <c>tests/fhir-test-server</c> (Medplum on Node 24, loopback only), started on a free
/// port. Its npm packages are installed on first use (<c>.ci/run</c> installs them up front). Linked into the test
/// and benchmark projects that need a FHIR server.
/// </summary>
public sealed class FhirTestServer : IAsyncDisposable
{
    private readonly Process process;

    private FhirTestServer(Process process, Uri baseUrl)
    {
        this.process = process;
        BaseUrl = baseUrl;
    }

    /// <summary>The FHIR base URL, ending in <c>/fhir/</c>.</summary>
    public Uri BaseUrl { get; }

    /// <summary>CPU time the server process has used so far (for benchmarks: how much of a run is the server's).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            process.Refresh();
            return process.TotalProcessorTime;
        }
    }

    public static async Task<FhirTestServer> StartAsync(string? journal = null)
    {
        var folder = Locate();
        var node = Path.Combine(folder, "node_modules", ".bin", "node");
        await InstallAsync(folder, node);

        var port = Ports.Free();
        var start = new ProcessStartInfo(node, "fhir-server.mjs")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["PORT"] = port.ToString(), ["FHIR_TRANSACTIONS"] = "false" },
        };
        if (journal is not null)
        {
            start.Environment["FHIR_JOURNAL"] = journal;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new FhirTestServer(process, new Uri($"http://127.0.0.1:{port}/fhir/"));
        using var http = new HttpClient();
        for (var deadline = DateTime.UtcNow.AddSeconds(60); DateTime.UtcNow < deadline; await Task.Delay(100))
        {
            if (process.HasExited)
            {
                break;
            }

            try
            {
                if ((await http.GetAsync(new Uri(server.BaseUrl, "metadata"))).IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
        }

        await server.DisposeAsync();
        throw new InvalidOperationException($"The FHIR test server did not start on port {port}.");
    }

    /// <summary>
    /// Makes the next <paramref name="count"/> FHIR requests answer <paramref name="status"/> with <c>Retry-After:
    /// <paramref name="retryAfter"/></c> (null: no such header) (test-only endpoint).
    /// </summary>
    public async Task FailNextAsync(int count, HttpStatusCode status, string? retryAfter = "0")
    {
        using var http = new HttpClient();
        var body = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?> { ["count"] = count, ["status"] = (int)status, ["retryAfter"] = retryAfter });
        var response = await http.PostAsync(new Uri(BaseUrl, "/admin/fail"), new StringContent(body));
        response.EnsureSuccessStatusCode();
    }

    /// <summary>From now on every FHIR request needs <c>Authorization: Bearer {token}</c> (401 otherwise); null lifts it (test-only endpoint).</summary>
    public async Task RequireBearerAsync(string? token)
    {
        using var http = new HttpClient();
        var body = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string?> { ["bearer"] = token });
        var response = await http.PostAsync(new Uri(BaseUrl, "/admin/auth"), new StringContent(body));
        response.EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }

    private static string Locate()
    {
        return Path.Combine(Repository.Root, "tests", "fhir-test-server");
    }

    /// <summary><c>npm ci</c> once; a lock file keeps test processes running in parallel from installing together.</summary>
    private static async Task InstallAsync(string folder, string node)
    {
        using var gate = await LockAsync(Path.Combine(folder, ".install.lock"));
        if (File.Exists(node))
        {
            return;
        }

        using var npm = Process.Start(new ProcessStartInfo("npm", "ci --no-audit --no-fund") { WorkingDirectory = folder })
            ?? throw new InvalidOperationException("npm did not start");
        await npm.WaitForExitAsync();
        if (npm.ExitCode != 0 || !File.Exists(node))
        {
            throw new InvalidOperationException($"npm ci in {folder} failed with exit code {npm.ExitCode}.");
        }
    }

    private static async Task<FileStream> LockAsync(string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 1200)
            {
                await Task.Delay(100);
            }
        }
    }
}

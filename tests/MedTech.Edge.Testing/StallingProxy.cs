using System.Net;
using System.Text;

namespace MedTech.Edge.Testing;

/// <summary>
/// An HTTP proxy in front of the real FHIR test server that never answers a request whose URL or body contains
/// <c>marker</c>: the writer then holds that request's messages "in hand" for as long as the test likes, as if
/// something in handling them had hung the process, and the test can kill it at exactly that moment.
/// </summary>
public sealed class StallingProxy : IDisposable
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase) { "Connection", "Keep-Alive", "Transfer-Encoding", "Host", "Content-Length" };
    private readonly HttpListener listener = new();
    private readonly HttpClient upstream = new();
    private readonly Uri target;
    private readonly string marker;
    private readonly CancellationTokenSource stop = new();
    private int stalled;

    public StallingProxy(Uri target, string marker)
    {
        this.target = target;
        this.marker = marker;
        var port = Ports.Free();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        BaseUrl = new Uri($"http://127.0.0.1:{port}{target.AbsolutePath}");
        _ = Task.Run(ServeAsync);
    }

    /// <summary>The proxy's FHIR base URL (same path as the target's).</summary>
    public Uri BaseUrl { get; }

    /// <summary>Requests held so far.</summary>
    public int Stalled => Volatile.Read(ref stalled);

    private async Task ServeAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ForwardAsync(context));
        }
    }

    private async Task ForwardAsync(HttpListenerContext context)
    {
        try
        {
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var path = context.Request.RawUrl ?? "/";
            if (path.Contains(marker, StringComparison.Ordinal) || Encoding.UTF8.GetString(body.ToArray()).Contains(marker, StringComparison.Ordinal))
            {
                Interlocked.Increment(ref stalled);
                await Task.Delay(Timeout.Infinite, stop.Token);
            }

            var relative = path.Length > target.AbsolutePath.Length ? path[target.AbsolutePath.Length..] : "";
            using var request = new HttpRequestMessage(new HttpMethod(context.Request.HttpMethod), new Uri(target, relative));
            if (body.Length > 0)
            {
                request.Content = new ByteArrayContent(body.ToArray());
            }

            foreach (var name in context.Request.Headers.AllKeys.OfType<string>().Where(n => !HopByHop.Contains(n)))
            {
                var value = context.Request.Headers[name]!;
                if (!request.Headers.TryAddWithoutValidation(name, value))
                {
                    request.Content?.Headers.TryAddWithoutValidation(name, value);
                }
            }

            using var response = await upstream.SendAsync(request, stop.Token);
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers).Where(h => !HopByHop.Contains(h.Key)))
            {
                context.Response.Headers[name] = string.Join(",", values);
            }

            var content = await response.Content.ReadAsByteArrayAsync(stop.Token);
            await context.Response.OutputStream.WriteAsync(content, stop.Token);
            context.Response.Close();
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpListenerException or IOException or ObjectDisposedException or HttpRequestException)
        {
            // The test is over, or the client went away (it was killed).
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Close();
        upstream.Dispose();
        stop.Dispose();
    }
}

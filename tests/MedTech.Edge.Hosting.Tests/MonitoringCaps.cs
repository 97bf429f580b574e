using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>
/// Raw HTTP clients from chosen loopback addresses (Linux routes all of 127.0.0.0/8 to this machine), to fill the
/// network endpoint's places as an attacker would. The tests that do are one collection: the refused-connections counter
/// is one series per process, so they must not count each other's refusals.
/// </summary>
internal static class MonitoringCaps
{
    public const string Collection = "monitoring connection caps";

    public static IPAddress Loopback(int last) => new([127, 0, 0, (byte)last]);

    /// <summary>
    /// A connection from <paramref name="from"/> that is answered once (200) and then holds its place with a second request
    /// whose headers never end (kept until the endpoint's request-headers time-out).
    /// </summary>
    public static async Task<TcpClient> HoldAsync(IPAddress from, int port)
    {
        var client = new TcpClient(new IPEndPoint(from, 0));
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            var stream = client.GetStream();
            await stream.WriteAsync("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray());
            var buffer = new byte[4096];
            var read = await stream.ReadAsync(buffer);
            Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
            await stream.WriteAsync("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"u8.ToArray());
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>The status line the endpoint answers a GET from <paramref name="from"/> with, or null when it closes the connection unanswered.</summary>
    public static async Task<string?> AskAsync(IPAddress from, int port, string path = "/health")
    {
        using var client = new TcpClient(new IPEndPoint(from, 0));
        await client.ConnectAsync(IPAddress.Loopback, port);
        try
        {
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
            var answer = new StringBuilder();
            var buffer = new byte[4096];
            int read;
            while (!answer.ToString().Contains("\r\n", StringComparison.Ordinal) && (read = await stream.ReadAsync(buffer)) > 0)
            {
                answer.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            var text = answer.ToString();
            var end = text.IndexOf("\r\n", StringComparison.Ordinal);
            return text.Length == 0 ? null : end < 0 ? text : text[..end];
        }
        catch (IOException)
        {
            // Reset by the endpoint: closed unanswered.
            return null;
        }
    }
}

/// <summary>An HTTP client that reaches the module through its probe socket, as the probe does.</summary>
internal static class ProbeSocketClient
{
    public static HttpClient Create(string path) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, token) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), token);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    {
        BaseAddress = new Uri("http://localhost/"),
    };
}

[CollectionDefinition(MonitoringCaps.Collection)]
public sealed class MonitoringCapsRunTogether;

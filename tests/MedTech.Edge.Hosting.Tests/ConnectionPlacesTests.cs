using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>The per-endpoint caps on their own: which address a client counts under, and places given back whatever happens.</summary>
public sealed class ConnectionPlacesTests : IDisposable
{
    private readonly Meter meter = new($"MedTech.Edge.Test{Guid.NewGuid():N}");

    public void Dispose() => meter.Dispose();

    [Theory]
    [InlineData("10.1.2.3", "10.1.2.3")]
    [InlineData("::ffff:10.1.2.3", "10.1.2.3")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2::")]
    [InlineData("2001:db8:1:3::1", "2001:db8:1:3::")]
    [InlineData("::1", "::")]
    public void GivenARemoteAddress_WhenKeyed_ThenIPv4AsItIsMappedIPv4AsIPv4AndIPv6ByIts64Prefix(string remote, string key) =>
        Assert.Equal(IPAddress.Parse(key), ConnectionPlaces.Key(new IPEndPoint(IPAddress.Parse(remote), 40000)));

    [Fact]
    public void GivenAPeerWithoutAnIPAddress_WhenKeyed_ThenAllShareOneKey() =>
        Assert.Equal(IPAddress.None, ConnectionPlaces.Key(new UnixDomainSocketEndPoint("/tmp/x.sock")));

    [Fact]
    public async Task GivenHandlersThatThrow_WhenConnectionsEnd_ThenTheirPlacesAreGivenBackAndTheCapsStillHold()
    {
        var places = new ConnectionPlaces("network", 3, 2, meter.CreateCounter<long>("refused"), TimeProvider.System, NullLogger.Instance);
        var served = 0;
        var release = new TaskCompletionSource();
        var throwing = places.Middleware(_ => throw new InvalidOperationException("a handler failed"));
        var holding = places.Middleware(async _ =>
        {
            Interlocked.Increment(ref served);
            await release.Task;
        });

        for (var i = 0; i < 10; i++)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => throwing(Connection("10.0.0.1")));
        }

        var a1 = holding(Connection("10.0.0.1"));
        var a2 = holding(Connection("10.0.0.1"));
        var a3 = holding(Connection("10.0.0.1"));
        var b1 = holding(Connection("10.0.0.2"));
        var c1 = holding(Connection("10.0.0.3"));

        // The third from 10.0.0.1 over its address's 2, the one from 10.0.0.3 over the endpoint's 3: closed at once.
        await a3;
        await c1;
        Assert.Equal(3, places.Open);
        Assert.Equal(3, served);
        release.SetResult();
        await Task.WhenAll(a1, a2, b1);
        Assert.Equal(0, places.Open);
    }

    private static DefaultConnectionContext Connection(string remote) =>
        new(Guid.NewGuid().ToString(), new NullDuplexPipe(), new NullDuplexPipe()) { RemoteEndPoint = new IPEndPoint(IPAddress.Parse(remote), 40000) };

    private sealed class NullDuplexPipe : System.IO.Pipelines.IDuplexPipe
    {
        private readonly System.IO.Pipelines.Pipe pipe = new();

        public System.IO.Pipelines.PipeReader Input => pipe.Reader;

        public System.IO.Pipelines.PipeWriter Output => pipe.Writer;
    }
}

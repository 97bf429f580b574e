using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Channel;
using MQTTnet.Exceptions;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// One device connection as MQTTnet sees it (the same contract as its own server-side TCP channel), with a
/// <see cref="PacketSizeGuard"/> between the socket and MQTTnet's packet reader: a refused packet header ends the
/// connection and MQTTnet reads an ordinary end of stream, so it never allocates the announced body.
/// </summary>
internal sealed class GuardedChannel(Stream stream, Socket socket, X509Certificate2? clientCertificate, PacketSizeGuard guard, Action<string> refused) : IMqttChannel
{
    private int closed;

    public X509Certificate2? ClientCertificate => clientCertificate;

    public EndPoint? RemoteEndPoint { get; } = socket.RemoteEndPoint;

    public EndPoint? LocalEndPoint { get; } = socket.LocalEndPoint;

    public bool IsSecureConnection => stream is SslStream;

    /// <summary>Raised once, when the server's CONNACK accepted the client.</summary>
    public event Action? Accepted;

    /// <summary>The server end of an already accepted socket: nothing to connect.</summary>
    public Task ConnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task DisconnectAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Volatile.Read(ref closed) != 0)
        {
            return 0;
        }

        int read;
        try
        {
            read = await stream.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ObjectDisposedException || (ex is IOException or SocketException && Volatile.Read(ref closed) != 0))
        {
            // Closed by a limit (or by the server): a graceful end of stream for MQTTnet.
            return 0;
        }
        catch (IOException ex) when (ex.InnerException is SocketException socketError)
        {
            // As MQTTnet's own channel does, so its adapter classifies the failure as it would without this guard.
            ExceptionDispatchInfo.Capture(socketError).Throw();
            throw;
        }

        if (read > 0 && guard.Inspect(buffer.AsSpan(offset, read)) is { } refusal)
        {
            Abort(refusal);
            return 0;
        }

        return read;
    }

    public async Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            foreach (var segment in buffer)
            {
                // Before the write: the device may answer the CONNACK at once, and its next packet gets the session limit.
                if (!guard.Accepted && guard.Observe(segment.Span))
                {
                    Accepted?.Invoke();
                }

                await stream.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (ObjectDisposedException)
        {
            throw new MqttCommunicationException("The TCP connection is closed.");
        }
        catch (IOException ex) when (ex.InnerException is SocketException socketError)
        {
            ExceptionDispatchInfo.Capture(socketError).Throw();
            throw;
        }
    }

    /// <summary>Ends the connection for a limit, once: the reason is counted and the socket reset, a pending read returns end of stream.</summary>
    public void Abort(string reason)
    {
        if (Interlocked.Exchange(ref closed, 1) == 0)
        {
            refused(reason);
            socket.Close(0);
        }
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref closed, 1);
        stream.Dispose();
    }
}

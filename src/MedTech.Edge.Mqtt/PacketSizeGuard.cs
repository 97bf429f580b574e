namespace MedTech.Edge.Mqtt;

/// <summary>
/// Follows the MQTT packet boundaries of one connection as its bytes pass, before MQTTnet sees them. MQTTnet allocates
/// the whole remaining length a fixed header announces (up to 256 MB) as soon as it has read the header, so the length is
/// checked here, byte by byte, and a packet over the limit is refused while only its header has been read. The limit is
/// small until the server's CONNACK accepts the CONNECT (seen on the way out) and larger afterwards. Not thread-safe:
/// MQTTnet reads a connection from one loop and writes under its own lock.
/// </summary>
internal sealed class PacketSizeGuard(int connectLimit, int sessionLimit)
{
    private const byte ConnectHeader = 0x10;
    private const byte ConnAckHeader = 0x20;

    // Inbound: where in the current packet the next byte falls.
    private InState inState = InState.Header;
    private bool firstPacket = true;
    private int length;
    private int lengthBytes;
    private int multiplier;
    private int bodyLeft;

    // Outbound: the first packet the server sends, until its CONNACK's reason code has been read.
    private OutState outState = OutState.Header;
    private int outLengthBytes;
    private volatile bool accepted;

    private enum InState
    {
        Header,
        Length,
        Body,
    }

    private enum OutState
    {
        Header,
        Length,
        Flags,
        ReasonCode,
        Done,
    }

    /// <summary>The server has accepted the CONNECT (a CONNACK with reason code 0 went out).</summary>
    public bool Accepted => accepted;

    /// <summary>The largest remaining length a packet may announce now.</summary>
    public int Limit => accepted ? sessionLimit : connectLimit;

    /// <summary>Checks bytes the client sent, in order; a refusal reason (a metric label) ends the connection, null lets them pass.</summary>
    public string? Inspect(ReadOnlySpan<byte> bytes)
    {
        var i = 0;
        while (i < bytes.Length)
        {
            switch (inState)
            {
                case InState.Body:
                    var take = Math.Min(bodyLeft, bytes.Length - i);
                    i += take;
                    bodyLeft -= take;
                    inState = bodyLeft == 0 ? InState.Header : InState.Body;
                    break;
                case InState.Header:
                    // MQTT 3.1.1 §3.1 and 5.0 §3.1: the first packet must be a CONNECT; MQTTnet would read a wrong one whole first.
                    if (firstPacket && bytes[i] != ConnectHeader)
                    {
                        return "first_packet_not_connect";
                    }

                    firstPacket = false;
                    (length, lengthBytes, multiplier) = (0, 0, 1);
                    inState = InState.Length;
                    i++;
                    break;
                default:
                    var encoded = bytes[i++];
                    length += (encoded & 0x7F) * multiplier;
                    lengthBytes++;

                    // Later length bytes only add, so a partial length already over the limit is refused at once.
                    if (length > Limit)
                    {
                        return "packet_too_large";
                    }

                    if ((encoded & 0x80) != 0)
                    {
                        if (lengthBytes == 4)
                        {
                            return "malformed_length";
                        }

                        multiplier *= 128;
                        break;
                    }

                    bodyLeft = length;
                    inState = length == 0 ? InState.Header : InState.Body;
                    break;
            }
        }

        return null;
    }

    /// <summary>Watches bytes the server sends for the CONNACK; true when these bytes completed an accepting one.</summary>
    public bool Observe(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            switch (outState)
            {
                case OutState.Header:
                    // Enhanced authentication (AUTH before CONNACK) is not offered, so the first packet out is the CONNACK.
                    outState = b == ConnAckHeader ? OutState.Length : OutState.Done;
                    break;
                case OutState.Length:
                    outState = (b & 0x80) == 0 || ++outLengthBytes == 4 ? OutState.Flags : OutState.Length;
                    break;
                case OutState.Flags:
                    outState = OutState.ReasonCode;
                    break;
                case OutState.ReasonCode:
                    // 0 is "connection accepted" in 3.1.1 and "success" in 5.0; any other code keeps the CONNECT limit.
                    outState = OutState.Done;
                    accepted = b == 0;
                    return accepted;
                default:
                    return false;
            }
        }

        return false;
    }
}

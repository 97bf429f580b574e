namespace MedTech.Edge.Mqtt.Tests;

/// <summary>The fixed-header guard on its own: which bytes pass, and where a refusal falls.</summary>
public sealed class PacketSizeGuardTests
{
    private static readonly byte[] AcceptingConnAck = [0x20, 0x02, 0x00, 0x00];

    [Fact]
    public void GivenAConnectAnnouncing256MB_WhenItsLengthBytesArrive_ThenItIsRefusedBeforeAnyBodyByte()
    {
        var guard = new PacketSizeGuard(connectLimit: 1024, sessionLimit: 4096);

        // 0xFF 0xFF 0xFF 0x7F is 268,435,455, the largest MQTT length; the partial length is over the limit after two bytes.
        Assert.Null(guard.Inspect([0x10, 0xFF]));
        Assert.Equal("packet_too_large", guard.Inspect([0xFF]));
    }

    [Theory]
    [InlineData(1024, null)]
    [InlineData(1025, "packet_too_large")]
    public void GivenTheConnectLimit_WhenAConnectAnnouncesALength_ThenOnlyLengthsUpToTheLimitPass(int length, string? expected)
    {
        var guard = new PacketSizeGuard(connectLimit: 1024, sessionLimit: 4096);

        Assert.Equal(expected, guard.Inspect([0x10, .. Encode(length)]));
    }

    [Fact]
    public void GivenAFirstPacketThatIsNoConnect_WhenItsFirstByteArrives_ThenItIsRefused()
    {
        var guard = new PacketSizeGuard(connectLimit: 1024, sessionLimit: 4096);

        Assert.Equal("first_packet_not_connect", guard.Inspect([0x32, 0x05]));
    }

    [Fact]
    public void GivenALengthWithAFifthByte_WhenItArrives_ThenItIsRefusedAsMalformed()
    {
        var guard = new PacketSizeGuard(connectLimit: int.MaxValue, sessionLimit: int.MaxValue);

        Assert.Equal("malformed_length", guard.Inspect([0x10, 0x80, 0x80, 0x80, 0x80]));
    }

    [Fact]
    public void GivenAnAcceptingConnAck_WhenTheNextPacketIsLargerThanTheConnectLimit_ThenTheSessionLimitApplies()
    {
        var guard = new PacketSizeGuard(connectLimit: 100, sessionLimit: 4096);
        Assert.Null(guard.Inspect([0x10, 0x02, 0x00, 0x04]));

        Assert.True(guard.Observe(AcceptingConnAck));

        // A PUBLISH of 4096 passes, split at every byte (MQTTnet reads the length a byte at a time); 4097 does not.
        byte[] header = [0x32, .. Encode(4096)];
        foreach (var b in header)
        {
            Assert.Null(guard.Inspect([b]));
        }

        Assert.Null(guard.Inspect(new byte[4096]));
        Assert.Equal("packet_too_large", guard.Inspect([0x32, .. Encode(4097)]));
    }

    [Fact]
    public void GivenSeveralPacketsInOneRead_WhenTheLastIsTooLarge_ThenTheBodiesBeforeItAreSkippedAndItIsRefused()
    {
        var guard = new PacketSizeGuard(connectLimit: 100, sessionLimit: 200);
        Assert.Null(guard.Inspect([0x10, 0x00]));
        guard.Observe(AcceptingConnAck);

        // A PINGREQ, a PUBLISH whose body contains bytes that look like a huge header, then a PUBLISH over the limit.
        byte[] reads = [0xC0, 0x00, 0x30, 0x05, 0x10, 0xFF, 0xFF, 0xFF, 0x7F, 0x30, .. Encode(201)];

        Assert.Equal("packet_too_large", guard.Inspect(reads));
    }

    [Theory]
    [InlineData(new byte[] { 0x20, 0x02, 0x00, 0x05 })] // 3.1.1: not authorized
    [InlineData(new byte[] { 0x20, 0x03, 0x00, 0x86, 0x00 })] // 5.0: bad user name or password
    public void GivenARefusingConnAck_WhenItGoesOut_ThenTheConnectLimitStays(byte[] connAck)
    {
        var guard = new PacketSizeGuard(connectLimit: 100, sessionLimit: 4096);

        Assert.False(guard.Observe(connAck));

        Assert.False(guard.Accepted);
        Assert.Equal(100, guard.Limit);
    }

    [Fact]
    public void GivenAnMqtt5ConnAckWithLongProperties_WhenItGoesOutInPieces_ThenItIsSeenAsAccepting()
    {
        var guard = new PacketSizeGuard(connectLimit: 100, sessionLimit: 4096);

        // Remaining length 300 (two length bytes): flags, reason code 0, then properties.
        Assert.False(guard.Observe([0x20, 0xAC]));
        Assert.True(guard.Observe([0x02, 0x00, 0x00, .. new byte[298]]));
        Assert.Equal(4096, guard.Limit);
    }

    [Fact]
    public void GivenTheServersFirstPacketIsNoConnAck_WhenItGoesOut_ThenTheConnectLimitStays()
    {
        var guard = new PacketSizeGuard(connectLimit: 100, sessionLimit: 4096);

        Assert.False(guard.Observe([0xF0, 0x02, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00]));
        Assert.False(guard.Accepted);
    }

    /// <summary>MQTT's variable byte integer.</summary>
    private static byte[] Encode(int length)
    {
        var bytes = new List<byte>();
        do
        {
            var b = (byte)(length % 128);
            length /= 128;
            bytes.Add(length > 0 ? (byte)(b | 0x80) : b);
        }
        while (length > 0);
        return [.. bytes];
    }
}

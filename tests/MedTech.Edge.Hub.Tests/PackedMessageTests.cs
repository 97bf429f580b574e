using System.Text;
using System.Text.Json;

namespace MedTech.Edge.Hub.Tests;

public sealed class PackedMessageTests
{
    [Fact]
    public void GivenOneGroup_WhenPacked_ThenTheMessageIsTheGroupAsItIs()
    {
        var group = Bytes("""{"id":"a","measurements":[]}""");

        Assert.Equal(group, PackedMessage.Pack([group]));
    }

    [Fact]
    public void GivenSeveralGroups_WhenPackedAndSplit_ThenTheMessageIsAJsonArrayOfThemAndSplitGivesEachBackInOrder()
    {
        byte[][] groups = [Bytes("""{"id":"a","measurements":[{"Type":"hr"}]}"""), Bytes("""{"id":"b","measurements":[]}"""), Bytes("""{"id":"c","x":[1,{"y":"]"}]}""")];

        var packed = PackedMessage.Pack(groups.Select(g => (ReadOnlyMemory<byte>)g).ToList());

        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(packed).RootElement.ValueKind);
        Assert.Equal(PackedMessage.PackedLength(groups.Sum(g => g.Length), groups.Length), packed.Length);
        Assert.Equal(groups.Select(Encoding.UTF8.GetString), PackedMessage.Split(packed).Select(s => Encoding.UTF8.GetString(s.Span)));
    }

    [Theory]
    [InlineData("""{"id":"a","measurements":[]}""")]
    [InlineData("not JSON at all")]
    [InlineData("")]
    public void GivenAMessageThatIsNotAnArray_WhenSplit_ThenItIsOneGroupAsItIs(string message)
    {
        Assert.Equal(message, Encoding.UTF8.GetString(Assert.Single(PackedMessage.Split(Bytes(message))).Span));
    }

    [Fact]
    public void GivenAnArrayWithWhitespace_WhenSplit_ThenEachElementIsItsOwnBytes()
    {
        Assert.Equal(["{\"id\":\"a\"}", "7"], PackedMessage.Split(Bytes(" [ {\"id\":\"a\"} ,\n 7 ] ")).Select(s => Encoding.UTF8.GetString(s.Span)));
    }

    [Theory]
    [InlineData("[{\"id\":\"a\"}")]
    [InlineData("[{\"id\":\"a\"}] trailing")]
    [InlineData("[{\"id\":}]")]
    public void GivenABrokenArray_WhenSplit_ThenItIsAJsonError(string message)
    {
        Assert.ThrowsAny<JsonException>(() => PackedMessage.Split(Bytes(message)));
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);
}

using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>The binary string encoding of buffer records, and the bounds on dead-letter text.</summary>
public sealed class BufferStringsTests
{
    // Each with a label: xUnit gives lone surrogates the same test id, and would silently run only one of them.
    public static TheoryData<string, string> Strings => new()
    {
        { "empty", "" }, { "NUL", "\0" }, { "ascii", "ascii" }, { "BMP and astral", "é😀" }, { "lone high", "\uD800" }, { "lone low", "\uDFFF" },
        { "reversed pair", "\uDC00\uD800" }, { "high at the end", "a\uD83D" }, { "high then text", "\uD83Db" },
        { "70,000 lone highs", new string('\uD800', 70_000) }, { "1 MiB ascii", new string('x', 1 << 20) },
    };

    [Theory]
    [MemberData(nameof(Strings))]
    public void GivenAnyUtf16String_WhenWrittenAndRead_ThenItIsTheSameAndTakesTheBytesSizeSays(string label, string value)
    {
        using var data = new MemoryStream();
        using (var writer = new BinaryWriter(data, Encoding.UTF8, leaveOpen: true))
        {
            BufferStrings.Write(writer, value);
        }

        Assert.Equal(BufferStrings.Size(value), data.Length);
        data.Position = 0;
        using var reader = new BinaryReader(data);
        Assert.True(value == BufferStrings.Read(reader), label);
    }

    [Fact]
    public void GivenEveryUtf16CodeUnitAlone_WhenWrittenAndRead_ThenEachIsTheSame()
    {
        var all = Enumerable.Range(0, 0x10000).Select(u => ((char)u).ToString()).ToList();
        using var data = new MemoryStream();
        using (var writer = new BinaryWriter(data, Encoding.UTF8, leaveOpen: true))
        {
            all.ForEach(s => BufferStrings.Write(writer, s));
        }

        data.Position = 0;
        using var reader = new BinaryReader(data);
        Assert.All(all, s => Assert.Equal((int)s[0], (int)BufferStrings.Read(reader).Single()));
    }

    [Fact]
    public void GivenARecordCutInsideAString_WhenRead_ThenItFailsInsteadOfInventingText()
    {
        using var data = new MemoryStream();
        using (var writer = new BinaryWriter(data, Encoding.UTF8, leaveOpen: true))
        {
            BufferStrings.Write(writer, "monitor-1");
        }

        using var reader = new BinaryReader(new MemoryStream(data.ToArray()[..5]));
        Assert.Throws<EndOfStreamException>(() => BufferStrings.Read(reader));
    }

    [Theory]
    [InlineData(10, 4096)]
    [InlineData(5000, 4096)]
    [InlineData(100_000, 128)]
    [InlineData(100, 5)]
    public void GivenLongText_WhenBounded_ThenItFitsAndSaysItWasCut(int length, int max)
    {
        var bounded = DeadLetter.Bound(new string('r', length), max);
        Assert.InRange(bounded.Length, 1, max);
        Assert.Equal(length <= max, bounded == new string('r', length));
    }

    [Fact]
    public void GivenABoundInsideASurrogatePair_WhenBounded_ThenThePairIsNotSplit()
    {
        var text = string.Concat(Enumerable.Repeat("😀", 100));
        var bounded = DeadLetter.Bound(text, 64);
        Assert.True(BufferStrings.IsWellFormed(bounded));
    }
}

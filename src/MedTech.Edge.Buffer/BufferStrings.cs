using System.Text;

namespace MedTech.Edge.Buffer;

/// <summary>
/// Strings in the buffer's binary records, exactly as a device sent them. <see cref="BinaryWriter.Write(string)"/>
/// writes UTF-8, which turns an unpaired surrogate (valid in an MQTT client's UTF-16 strings once decoded, and in
/// anything a .NET caller builds) into U+FFFD: the message read back would not be the message received. So a string
/// is written as UTF-8 when it is well-formed (nearly always: compact) and as UTF-16 code units when it is not. The
/// header is one 7-bit-encoded number: the byte count shifted left by one, the low bit set for UTF-16. NUL needs no
/// care here: these are bytes in a binary field, never a LiteDB key.
/// </summary>
internal static class BufferStrings
{
    public static void Write(BinaryWriter writer, string value)
    {
        if (IsWellFormed(value))
        {
            var bytes = Encoding.UTF8.GetByteCount(value);
            writer.Write7BitEncodedInt64((long)bytes << 1);
            var buffer = bytes <= 512 ? stackalloc byte[bytes] : new byte[bytes];
            Encoding.UTF8.GetBytes(value, buffer);
            writer.Write(buffer);
        }
        else
        {
            writer.Write7BitEncodedInt64(((long)value.Length * 2 << 1) | 1);
            foreach (var c in value)
            {
                writer.Write((ushort)c);
            }
        }
    }

    public static string Read(BinaryReader reader)
    {
        var header = reader.Read7BitEncodedInt64();
        var length = checked((int)(header >> 1));
        var bytes = reader.ReadBytes(length);
        if (bytes.Length != length)
        {
            throw new EndOfStreamException("A buffer record ends inside a string.");
        }

        if ((header & 1) == 0)
        {
            return Encoding.UTF8.GetString(bytes);
        }

        return string.Create(length / 2, bytes, static (chars, units) =>
        {
            for (var i = 0; i < chars.Length; i++)
            {
                chars[i] = (char)(units[2 * i] | (units[(2 * i) + 1] << 8));
            }
        });
    }

    /// <summary>The bytes <see cref="Write"/> takes for <paramref name="value"/>, header included.</summary>
    public static long Size(string value)
    {
        var bytes = IsWellFormed(value) ? Encoding.UTF8.GetByteCount(value) : 2L * value.Length;
        return HeaderSize(bytes << 1) + bytes;
    }

    /// <summary>No unpaired surrogate: UTF-8 holds it exactly. The search for a surrogate is vectorized; the pairing walk runs only on strings that have one.</summary>
    public static bool IsWellFormed(string value)
    {
        var at = value.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (at < 0)
        {
            return true;
        }

        for (var i = at; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static int HeaderSize(long header)
    {
        var size = 1;
        while ((header >>= 7) != 0)
        {
            size++;
        }

        return size;
    }
}

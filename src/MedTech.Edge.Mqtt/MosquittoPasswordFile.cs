using System.Security.Cryptography;
using System.Text;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// Device passwords as Mosquitto keeps them, so operators use the tool they know: one <c>user:hash</c> line per device,
/// written by <c>mosquitto_passwd</c>. <c>$7$iterations$salt$hash</c> is PBKDF2-HMAC-SHA512 (Mosquitto 2's default);
/// <c>$6$salt$hash</c> is one SHA-512 over password then salt (Mosquitto 1.6 and older, <c>-H sha512</c>), accepted
/// because a ward upgrading from an old broker has such files. Salt and hash are base64. A plain-text line is refused
/// when the file is read, never compared. The file is read again when its time or size changes, so adding a device
/// needs no restart; a change that does not parse keeps the last good file in force.
/// </summary>
public sealed class MosquittoPasswordFile
{
    /// <summary>Beyond this an entry's PBKDF2 costs a CPU-second or so per CONNECT attempt, which anyone can trigger.</summary>
    public const int MaxIterations = 1_000_000;

    private const long MaxFileBytes = 16 << 20;

    private readonly string path;
    private readonly object reloading = new();
    private volatile Snapshot current;

    private MosquittoPasswordFile(string path, Snapshot snapshot)
    {
        this.path = path;
        current = snapshot;
    }

    /// <summary>Reads the file; throws <see cref="InvalidDataException"/> naming the first bad line (by number, never its text).</summary>
    public static MosquittoPasswordFile Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return new MosquittoPasswordFile(path, Read(path));
    }

    /// <summary>Null when the file at <paramref name="path"/> can be used, else why not (for start-up validation).</summary>
    public static string? Problem(string path)
    {
        try
        {
            Read(path);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return ex.Message;
        }
    }

    /// <summary>Whether <paramref name="user"/> has a line in the file now in force.</summary>
    public bool Contains(string user) => Refresh().Entries.ContainsKey(user);

    /// <summary>Users in the file now in force.</summary>
    public int Count => current.Entries.Count;

    /// <summary>Raised (with the reason) when a changed file could not be read and the previous one stays in force.</summary>
    public event Action<string>? ReloadFailed;

    /// <summary>
    /// Whether <paramref name="password"/> is the user's. Constant-time comparison; an unknown user costs a hash too,
    /// so the time taken does not tell which users exist. Nothing derived is kept after the call.
    /// </summary>
    public bool Verify(string? user, ReadOnlySpan<byte> password)
    {
        var snapshot = Refresh();
        if (string.IsNullOrEmpty(user) || !snapshot.Entries.TryGetValue(user, out var entry))
        {
            Derive(snapshot.Decoy, password);
            return false;
        }

        return Derive(entry, password);
    }

    private static bool Derive(Entry entry, ReadOnlySpan<byte> password)
    {
        Span<byte> derived = stackalloc byte[64];
        derived = derived[..Math.Min(entry.Hash.Length, 64)];
        try
        {
            if (entry.Iterations == 0)
            {
                // $6$: SHA-512(password || salt), as Mosquitto 1.6 computed it.
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
                sha.AppendData(password);
                sha.AppendData(entry.Salt);
                Span<byte> full = stackalloc byte[64];
                sha.GetHashAndReset(full);
                full[..derived.Length].CopyTo(derived);
                CryptographicOperations.ZeroMemory(full);
            }
            else
            {
                Rfc2898DeriveBytes.Pbkdf2(password, entry.Salt, derived, entry.Iterations, HashAlgorithmName.SHA512);
            }

            return entry.Hash.Length == derived.Length && CryptographicOperations.FixedTimeEquals(derived, entry.Hash);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(derived);
        }
    }

    private Snapshot Refresh()
    {
        var snapshot = current;
        var stamp = Stamp(path);
        if (stamp == snapshot.Stamp)
        {
            return snapshot;
        }

        lock (reloading)
        {
            if (current.Stamp != stamp)
            {
                try
                {
                    current = Read(path);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
                {
                    // Keep the devices that could log in before; say once per change why the new file is not used.
                    current = current with { Stamp = stamp };
                    ReloadFailed?.Invoke(ex.Message);
                }
            }

            return current;
        }
    }

    private static (DateTime, long) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : default;
    }

    private static Snapshot Read(string path)
    {
        var stamp = Stamp(path);
        if (stamp == default)
        {
            throw new FileNotFoundException($"The password file '{path}' does not exist (make it with: mosquitto_passwd -c FILE <clientId>).");
        }

        if (stamp.Item2 > MaxFileBytes)
        {
            throw new InvalidDataException($"The password file '{path}' is larger than {MaxFileBytes >> 20} MB.");
        }

        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var number = 0;
        foreach (var raw in File.ReadLines(path, Encoding.UTF8))
        {
            number++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var entry = colon > 0 ? Parse(line.AsSpan(colon + 1)) : null;
            if (entry is null)
            {
                throw new InvalidDataException($"Password file '{path}' line {number} is not 'user:' and a mosquitto_passwd hash ($7$ or $6$). "
                    + "A file of plain 'user:password' lines is hashed in place with: mosquitto_passwd -U FILE.");
            }

            if (!entries.TryAdd(line[..colon], entry))
            {
                throw new InvalidDataException($"Password file '{path}' line {number} repeats a user of an earlier line.");
            }
        }

        var decoy = entries.Values.FirstOrDefault(e => e.Iterations > 0) ?? new Entry(101, new byte[12], new byte[64]);
        return new Snapshot(entries, decoy, stamp);
    }

    /// <summary>The entry a hash field spells, or null when it is not one of the two formats (a plain-text password).</summary>
    private static Entry? Parse(ReadOnlySpan<char> field)
    {
        var parts = field.ToString().Split('$');
        try
        {
            return parts switch
            {
                ["", "7", var iterations, var salt, var hash] when int.TryParse(iterations, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count)
                    && count is > 0 and <= MaxIterations => Checked(new Entry(count, Convert.FromBase64String(salt), Convert.FromBase64String(hash))),
                ["", "6", var salt, var hash] => Checked(new Entry(0, Convert.FromBase64String(salt), Convert.FromBase64String(hash))),
                _ => null,
            };
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static Entry? Checked(Entry entry) => entry.Salt.Length > 0 && entry.Hash.Length is >= 16 and <= 64 ? entry : null;

    /// <summary>Iterations 0 means the single-round <c>$6$</c> SHA-512.</summary>
    private sealed record Entry(int Iterations, byte[] Salt, byte[] Hash);

    private sealed record Snapshot(Dictionary<string, Entry> Entries, Entry Decoy, (DateTime, long) Stamp);
}

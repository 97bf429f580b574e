using System.CommandLine;
using System.Text.Json;
using LiteDB;
using MedTech.Edge.Buffer;

namespace MedTech.Edge.Cli.Buffer;

/// <summary>
/// <c>medtech buffer salvage --from F --to G</c>: copies every readable document of a damaged buffer (inbox, outbox,
/// dead letters, counters, state) to a new file, keeping ids, and reports how many it copied and where it could not
/// read. It reads each collection forwards until the damage, then backwards from its end to the damage, so one damaged
/// spot loses only the documents it holds. The source is opened read-only and never changed.
/// </summary>
internal static class BufferSalvage
{
    private static readonly string[] Collections = ["inbox", "outbox", "deadletters", "counters", "state"];

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static Command Create(TextWriter output, TextWriter error)
    {
        var from = new Option<string>("--from") { Description = "The damaged buffer file (read-only).", Required = true };
        var to = new Option<string>("--to") { Description = "A new file for what is readable (must not exist).", Required = true };
        var salvage = new Command("salvage", "Copy every readable document of a damaged buffer to a new file; report what could not be read.") { from, to };
        salvage.SetAction(parsed => Run(parsed.GetValue(from)!, parsed.GetValue(to)!, output, error));
        return salvage;
    }

    private static int Run(string from, string to, TextWriter output, TextWriter error)
    {
        if (!File.Exists(from))
        {
            error.WriteLine($"{from}: no file there.");
            return MedTechCommand.UsageError;
        }

        if (File.Exists(to))
        {
            error.WriteLine($"{to}: exists; give a new file, salvage never overwrites.");
            return MedTechCommand.UsageError;
        }

        LiteDatabase source;
        List<string> names;
        try
        {
            source = new LiteDatabase(new ConnectionString { Filename = from, Connection = ConnectionType.Direct, ReadOnly = true });
            // The buffer's collections, and any other the file holds (a newer release may keep more).
            names = Collections.Union(source.GetCollectionNames(), StringComparer.Ordinal).ToList();
        }
        catch (Exception ex) when (ex is LiteException or IOException or InvalidCastException or IndexOutOfRangeException or ArgumentException or InvalidOperationException)
        {
            error.WriteLine($"{from}: LiteDB cannot open it ({ex.GetType().Name}); nothing could be copied.");
            return MedTechCommand.UsageError;
        }

        var copied = new Dictionary<string, int>();
        var unreadable = new List<string>();
        using (source)
        // The copy holds what the buffer held (payloads, patient ids): private like the buffer.
        using (var target = PrivateFiles.OpenLiteDatabase(to))
        {
            foreach (var name in names)
            {
                var ids = new HashSet<BsonValue>();
                var into = target.GetCollection(name);
                var stoppedAt = Copy(source.GetCollection(name).Find(Query.All(Query.Ascending)), into, ids);
                if (stoppedAt is not null)
                {
                    // Backwards from the end up to the damage (or to what the forward pass already copied).
                    Copy(source.GetCollection(name).Find(Query.All(Query.Descending)), into, ids);
                    unreadable.Add($"{name}: damaged after {stoppedAt.Value.Forward} readable documents ({stoppedAt.Value.Error}); {ids.Count} copied in all");
                }

                copied[name] = ids.Count;
            }

            target.Checkpoint();
        }

        output.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { from, to, copied, unreadable }, Json));
        return unreadable.Count == 0 ? MedTechCommand.Success : MedTechCommand.InputErrors;
    }

    /// <summary>Copies documents until the first that cannot be read; returns null when all were read, else how many were and the error type.</summary>
    private static (int Forward, string Error)? Copy(IEnumerable<BsonDocument> documents, ILiteCollection<BsonDocument> into, HashSet<BsonValue> ids)
    {
        var read = 0;
        try
        {
            foreach (var document in documents)
            {
                if (!ids.Add(document["_id"]))
                {
                    return null;
                }

                into.Insert(document);
                read++;
            }

            return null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return (read, ex.GetType().Name);
        }
    }
}

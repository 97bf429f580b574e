using System.Text.Json;
using Confluent.Kafka;
using MedTech.Edge.Files;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Writer;

/// <summary>
/// Makes a crash loop impossible: which hub messages (topic, partition, offset range) the writer has in hand, in a
/// small file written before it starts on them and cleared when their offsets are stored. If the process dies with
/// messages in hand (an out-of-memory, a native fault, a bug not met yet), the next start knows: it handles each of
/// those messages alone, once more, and a message that was in hand alone when the process died is quarantined
/// (<see cref="ErrorCodes.Poison"/>) without another attempt. Kafka offset commits cannot carry this (the .NET
/// client has no commit metadata), so it lives beside the process: a file that survives a container restart.
/// Written with a rename, never fsynced: it guards against process death, not power loss.
/// </summary>
public sealed class InHandJournal
{
    /// <summary>Suspects not seen again within this long (their partition went to another writer) are forgotten.</summary>
    private static readonly TimeSpan SuspectLifetime = TimeSpan.FromDays(1);

    private readonly string path;
    private readonly TimeProvider time;
    private List<Entry> suspects;

    public InHandJournal(string path, TimeProvider? timeProvider = null)
    {
        this.path = Path.GetFullPath(path);
        time = timeProvider ?? TimeProvider.System;
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(this.path)!);
        suspects = Read(this.path);
        Recovered = suspects.Count;
    }

    /// <summary>Ranges found in hand at start: the previous process died holding them.</summary>
    public int Recovered { get; }

    /// <summary>How a consumed message is to be handled, by what the previous process was doing when it died.</summary>
    public enum Handling
    {
        /// <summary>Not in hand when a process died: with the rest of the batch.</summary>
        Batch,

        /// <summary>In hand in a batch when a process died: once more, alone.</summary>
        Alone,

        /// <summary>In hand alone when a process died: quarantined, not handled again.</summary>
        Quarantine,
    }

    public Handling Classify(TopicPartitionOffset message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var found = suspects.Where(s => s.Covers(message)).ToList();
        return found.Count == 0 ? Handling.Batch : found.Any(s => s.Alone) ? Handling.Quarantine : Handling.Alone;
    }

    /// <summary>Records <paramref name="messages"/> as in hand (replacing what was), before any work on them starts.</summary>
    public void InHand(IEnumerable<TopicPartitionOffset> messages, bool alone)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var now = time.GetUtcNow().UtcDateTime;
        var inHand = messages.GroupBy(m => (m.Topic, m.Partition.Value))
            .Select(p => new Entry(p.Key.Topic, p.Key.Value, p.Min(m => m.Offset.Value), p.Max(m => m.Offset.Value), alone, now));
        Write([.. suspects, .. inHand]);
    }

    /// <summary>
    /// Nothing is in hand: the batch's offsets are stored (<paramref name="stored"/>: each partition's next offset).
    /// Suspects those offsets passed are done with; the rest stay for when their messages come again.
    /// </summary>
    public void Done(IEnumerable<TopicPartitionOffset> stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var next = stored.ToDictionary(s => (s.Topic, s.Partition.Value), s => s.Offset.Value);
        var expired = time.GetUtcNow().UtcDateTime - SuspectLifetime;
        suspects = suspects.Where(s => s.RecordedUtc > expired && (!next.TryGetValue((s.Topic, s.Partition), out var offset) || offset <= s.To)).ToList();
        Write(suspects);
    }

    private void Write(List<Entry> entries)
    {
        if (entries.Count == 0)
        {
            File.Delete(path);
            return;
        }

        var temporary = path + ".tmp";
        PrivateFiles.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(entries));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>What the file holds; nothing when there is none, and nothing (rather than a module that cannot start) when it is damaged.</summary>
    private static List<Entry> Read(string path)
    {
        try
        {
            return File.Exists(path) ? (JsonSerializer.Deserialize<List<Entry?>>(File.ReadAllBytes(path)) ?? []).OfType<Entry>().ToList() : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    private sealed record Entry(string Topic, int Partition, long From, long To, bool Alone, DateTime RecordedUtc)
    {
        public bool Covers(TopicPartitionOffset m) => m.Topic == Topic && m.Partition.Value == Partition && m.Offset.Value >= From && m.Offset.Value <= To;
    }
}

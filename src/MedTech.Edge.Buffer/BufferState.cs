namespace MedTech.Edge.Buffer;

/// <summary>
/// An open buffer as its parts share it: the file, the stages' in-hand records, the options and the clock, and what
/// the file holds, in memory: the inbox's and the outbox's indexes, the senders' ledger and the accounting. Built from
/// the file at every open (<see cref="Load"/>: the recovery after a restart or a reopen) and kept in step by the parts
/// after each commit. Also the one step that takes from both ends: dropping the oldest unsent data.
/// </summary>
internal sealed class BufferState
{
    public BufferState(BufferFile file, BufferOptions options, TimeProvider time)
    {
        (File, Options, Time) = (file, options, time);
        InHand = new InHandFiles(file.Path, file.ReadOnly);
        Inbox = new InboxIndex(file, Senders);
        Outbox = new OutboxIndex(file, Senders, time);
        Accounting = new BufferAccounting(file, options);
    }

    public BufferFile File { get; }

    public BufferOptions Options { get; }

    public TimeProvider Time { get; }

    /// <summary>The stages' records of what they hold (<see cref="IInHandRecords"/>).</summary>
    public InHandFiles InHand { get; }

    public SenderLedger Senders { get; } = new();

    public InboxIndex Inbox { get; }

    public OutboxIndex Outbox { get; }

    public BufferAccounting Accounting { get; }

    /// <summary>
    /// The size of the last commit that was refused, or took room by evicting the oldest, for capacity. The buffer is
    /// at capacity while a commit of that size still would not fit (<see cref="AtCapacity"/>): full for the messages the
    /// devices send even below its limits (a 1 MiB message does not fit in the last 2 %), whatever smaller commits fit
    /// meanwhile. In memory only: after a restart the next refusal tells again.
    /// </summary>
    public (long Messages, long Bytes)? Overflow { get; set; }

    /// <summary>A commit of <see cref="Overflow"/>'s size would be refused or evict now (as <see cref="Inbox.Append"/> decides).</summary>
    public bool AtCapacity => Overflow is { } overflow && Unsent is var (messages, bytes)
        && (messages + overflow.Messages > Options.MaxMessages || (bytes > 0 && bytes + overflow.Bytes > Options.MaxBytes));

    /// <summary>Device messages and bytes not yet delivered (inbox, and those behind undelivered outbox batches): what capacity counts.</summary>
    public (long Messages, long Bytes) Unsent => (Inbox.Count + Outbox.Messages, Inbox.Bytes + Outbox.Bytes);

    public void Load()
    {
        var committedInInbox = Inbox.Load();

        // A record left by a kill between a round's commit and its delete names ids that may have left the inbox:
        // new messages must not get them again (an emptied inbox would restart at 1), or Recover takes them for the
        // ones the dead process held.
        // An unreadable record fails the stage's Recover, not the opening of the buffer (intake goes on).
        InHand? held = null;
        try
        {
            held = InHand.Read(GatewayStore.NormalizationInHand);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        if (held is not null)
        {
            Inbox.KeepIdsAbove(Math.Max(held.LastId, held.RecoverUpTo));
        }

        Outbox.Load();
        Accounting.Load(committedInInbox, Inbox.Count);
    }

    /// <summary>Forgets everything <see cref="Load"/> builds, before a reload.</summary>
    public void Clear()
    {
        Inbox.Clear();
        Senders.Clear();
        Outbox.Clear();
    }

    /// <summary>What <see cref="DropOldest"/> deleted, for <see cref="Forget"/> once its transaction committed.</summary>
    public sealed record Dropped(List<long> OutboxBatches, List<InboxChange> Inbox)
    {
        public static Dropped Nothing => new([], []);
    }

    /// <summary>
    /// Deletes unsent data from the oldest (outbox first: it is older) while it is from before <paramref name="cutoff"/>,
    /// until at least <paramref name="max"/> device messages and <paramref name="maxBytes"/> bytes are gone, and counts
    /// the messages under <paramref name="reason"/>. Runs inside the caller's accounted transaction.
    /// </summary>
    public Dropped DropOldest(DateTime cutoff, long max, long maxBytes, string reason)
    {
        var batches = Outbox.DeleteOldest(cutoff, max, maxBytes);
        var fromOutbox = batches.Sum(id => Outbox[id].Messages);
        var fromOutboxBytes = batches.Sum(id => Outbox[id].Bytes);
        var inbox = Inbox.DeleteOldest(cutoff, max - fromOutbox, maxBytes - fromOutboxBytes);
        var fromInbox = Inbox.Removed(inbox);
        Accounting.Count(reason, fromOutbox + fromInbox);
        Accounting.Pending.DroppedFromInbox += fromInbox;
        return new Dropped(batches, inbox);
    }

    /// <summary>Updates the in-memory indexes after a committed <see cref="DropOldest"/>; returns how many device messages went.</summary>
    public long Forget(Dropped dropped)
    {
        var fromOutbox = dropped.OutboxBatches.Sum(id => Outbox[id].Messages);
        foreach (var id in dropped.OutboxBatches)
        {
            Outbox.Untrack(id);
        }

        return Inbox.Apply(dropped.Inbox) + fromOutbox;
    }
}

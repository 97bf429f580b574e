namespace MedTech.Edge.Buffer;

/// <summary>The buffer as its housekeeping and its gauges see it: statistics, expiry, purge of delivered batches, space reclaim.</summary>
public interface IBufferUpkeep
{
    BufferStats Stats();

    int ExpireOld();

    long PurgeDelivered();

    bool ReclaimSpace(long minimumFileBytes = 64L << 20);
}

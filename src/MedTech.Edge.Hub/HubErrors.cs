using Confluent.Kafka;

namespace MedTech.Edge.Hub;

/// <summary>What a hub's refusal of a message means.</summary>
public static class HubErrors
{
    /// <summary>Errors no retry can fix: the message itself does not fit the hub (too large, an invalid record).</summary>
    public static bool IsPermanent(ErrorCode code) => code is ErrorCode.MsgSizeTooLarge
        or ErrorCode.InvalidMsgSize or ErrorCode.RecordListTooLarge or ErrorCode.InvalidRecord;
}

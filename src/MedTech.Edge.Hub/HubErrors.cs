using Confluent.Kafka;

namespace MedTech.Edge.Hub;

/// <summary>What a hub's refusal of a message means.</summary>
public static class HubErrors
{
    /// <summary>Errors no retry can fix: the message itself does not fit the hub (too large, an invalid record).</summary>
    public static bool IsPermanent(ErrorCode code) => code is ErrorCode.MsgSizeTooLarge
        or ErrorCode.InvalidMsgSize or ErrorCode.RecordListTooLarge or ErrorCode.InvalidRecord;

    /// <summary>
    /// Errors only an operator fixes: the topic is missing or not the module's to write, or its credentials are refused.
    /// A retry waits for the fix; health says unhealthy meanwhile, not merely degraded as for an unreachable hub.
    /// </summary>
    public static bool NeedsOperator(ErrorCode code) => code is ErrorCode.TopicAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed
        or ErrorCode.SaslAuthenticationFailed or ErrorCode.Local_Authentication or ErrorCode.Local_UnknownTopic
        or ErrorCode.UnknownTopicOrPart or ErrorCode.TopicException or ErrorCode.PolicyViolation;
}

namespace MedTech.Edge.Hub;

/// <summary>Which client the gateway forwards with (<c>Hub:Transport</c>).</summary>
public enum HubTransport
{
    /// <summary>Confluent.Kafka against the Event Hubs Kafka endpoint (port 9093) or a Kafka cluster.</summary>
    Kafka,

    /// <summary>The Event Hubs SDK (AMQP on 5671, or AMQP over WebSockets on 443, through an HTTP proxy if need be).</summary>
    EventHubs,
}

/// <summary>How a hub client proves itself to Event Hubs (<c>Hub:Authentication</c>), named as for the FHIR server.</summary>
public enum HubAuthentication
{
    /// <summary>A SAS connection string (<c>Hub:ConnectionString</c>, a secret file).</summary>
    ConnectionString,

    /// <summary>The host's managed identity: system-assigned, or user-assigned when <c>Hub:EntraId:ClientId</c> is set.</summary>
    ManagedIdentity,

    /// <summary>Kubernetes workload identity: a federated token file (<c>AZURE_FEDERATED_TOKEN_FILE</c> by default).</summary>
    WorkloadIdentity,

    /// <summary>An app registration's certificate (PEM or PFX file).</summary>
    ClientCertificate,

    /// <summary>An app registration's client secret (a secret file).</summary>
    ClientSecret,
}

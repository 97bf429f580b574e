using System.Net;
using Azure.Identity;
using Azure.Messaging.EventHubs;

namespace MedTech.Edge.Hub.Tests;

/// <summary>The transport and identity options are checked on start, and build the client and credential they name.</summary>
public class HubTransportOptionsTests
{
    private const string Connection = "Endpoint=sb://ward-hub.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0LWtleQ==;EntityPath=measurements";

    [Fact]
    public async Task GivenTheEventHubsTransportWithAConnectionString_WhenTheProducerIsBuilt_ThenItNamesTheNamespaceAndHubAndUsesAmqpOverTcp()
    {
        var options = new HubOptions { Transport = HubTransport.EventHubs, ConnectionString = Connection };

        Assert.Empty(options.Validate());
        await using var producer = EventHubsClients.CreateProducer(options);
        Assert.Equal(("ward-hub.servicebus.windows.net", "measurements"), (producer.FullyQualifiedNamespace, producer.EventHubName));
        Assert.Equal(EventHubsTransportType.AmqpTcp, EventHubsClients.ClientOptions(options).ConnectionOptions.TransportType);
    }

    [Fact]
    public void GivenWebSocketsThroughAProxy_WhenTheClientOptionsAreBuilt_ThenTheSdkGoesThroughThatProxyOn443()
    {
        var options = new HubOptions { Transport = HubTransport.EventHubs, ConnectionString = Connection };
        options.EventHubs.TransportType = EventHubsTransportType.AmqpWebSockets;
        options.EventHubs.Proxy = new Uri("http://proxy.hospital.local:3128");

        var client = EventHubsClients.ClientOptions(options);

        Assert.Empty(options.Validate());
        Assert.Equal(EventHubsTransportType.AmqpWebSockets, client.ConnectionOptions.TransportType);
        Assert.Equal(new Uri("http://proxy.hospital.local:3128"), client.ConnectionOptions.Proxy!.GetProxy(new Uri("https://ward-hub.servicebus.windows.net/")));
    }

    [Theory]
    [InlineData(EventHubsTransportType.AmqpTcp, "http://proxy.hospital.local:3128", "Hub:EventHubs:Proxy works only with")]
    [InlineData(EventHubsTransportType.AmqpWebSockets, "http://user:pw@proxy.hospital.local:3128", "Hub:EventHubs:Proxy must be")]
    [InlineData(EventHubsTransportType.AmqpWebSockets, "socks5://proxy.hospital.local:1080", "Hub:EventHubs:Proxy must be")]
    [InlineData((EventHubsTransportType)7, null, "Hub:EventHubs:TransportType")]
    public void GivenAProxyTheTransportCannotUse_WhenValidated_ThenTheErrorNamesTheKey(EventHubsTransportType transport, string? proxy, string expected)
    {
        var options = new HubOptions { Transport = HubTransport.EventHubs, ConnectionString = Connection };
        options.EventHubs.TransportType = transport;
        options.EventHubs.Proxy = proxy is null ? null : new Uri(proxy);

        Assert.Contains(options.Validate(), e => e.StartsWith(expected, StringComparison.Ordinal));
        Assert.All(options.Validate(), e => Assert.DoesNotContain("pw@", e, StringComparison.Ordinal));
    }

    [Fact]
    public void GivenTheEventHubsTransportWithoutAnyHub_WhenValidated_ThenItSaysWhatIsNeeded()
    {
        var noHub = new HubOptions { Transport = HubTransport.EventHubs, BootstrapServers = "127.0.0.1:9092", Topic = "t" };
        var twoHubs = new HubOptions { Transport = HubTransport.EventHubs, ConnectionString = Connection, Topic = "other" };

        Assert.Contains(noHub.Validate(), e => e.StartsWith("Hub:Transport EventHubs needs", StringComparison.Ordinal));
        Assert.Contains(twoHubs.Validate(), e => e.StartsWith("Hub:Topic differs", StringComparison.Ordinal));
        Assert.Contains(new HubOptions { Transport = (HubTransport)9, ConnectionString = Connection }.Validate(), e => e.StartsWith("Hub:Transport must", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GivenAManagedIdentity_WhenTheProducerIsBuilt_ThenItReachesTheNamespaceWithoutAConnectionString()
    {
        var options = new HubOptions
        {
            Transport = HubTransport.EventHubs, Authentication = HubAuthentication.ManagedIdentity,
            FullyQualifiedNamespace = "ward-hub.servicebus.windows.net", Topic = "measurements",
        };

        Assert.Empty(options.Validate());
        await using var producer = EventHubsClients.CreateProducer(options);
        Assert.Equal(("ward-hub.servicebus.windows.net", "measurements"), (producer.FullyQualifiedNamespace, producer.EventHubName));
    }

    [Theory]
    [InlineData(null, "measurements", "Hub:FullyQualifiedNamespace")]
    [InlineData("https://ward-hub.servicebus.windows.net/", "measurements", "Hub:FullyQualifiedNamespace")]
    [InlineData("ward-hub", "measurements", "Hub:FullyQualifiedNamespace")]
    [InlineData("ward-hub.servicebus.windows.net", null, "Hub:Topic")]
    public void GivenEntraIdWithoutANamespaceOrHub_WhenValidated_ThenTheErrorNamesTheKey(string? fullyQualifiedNamespace, string? topic, string expected)
    {
        var options = new HubOptions { Authentication = HubAuthentication.WorkloadIdentity, FullyQualifiedNamespace = fullyQualifiedNamespace, Topic = topic };

        Assert.Contains(options.Validate(), e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void GivenEntraIdAndAConnectionString_WhenValidated_ThenOneMustGoAndNeitherSecretIsPrinted()
    {
        var options = new HubOptions
        {
            Authentication = HubAuthentication.ClientSecret, ConnectionString = Connection,
            FullyQualifiedNamespace = "ward-hub.servicebus.windows.net", Topic = "measurements",
        };
        options.EntraId.TenantId = "tenant";
        options.EntraId.ClientId = "app";
        options.EntraId.ClientSecret = "s3cr3t-value";

        Assert.Contains(options.Validate(), e => e.StartsWith("Hub:ConnectionString is set although", StringComparison.Ordinal));
        Assert.DoesNotContain("s3cr3t", string.Join(" ", options.Validate()) + options + options.EntraId, StringComparison.Ordinal);
        Assert.DoesNotContain("c2VjcmV0", options.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(HubAuthentication.ClientSecret, "Hub:EntraId:ClientSecret is required")]
    [InlineData(HubAuthentication.ClientCertificate, "Hub:EntraId:ClientCertificatePath is required")]
    public void GivenAnAppRegistrationWithoutItsSecret_WhenValidated_ThenTheErrorNamesTheKey(HubAuthentication authentication, string expected)
    {
        var options = new HubOptions { Authentication = authentication, FullyQualifiedNamespace = "ward-hub.servicebus.windows.net", Topic = "measurements" };
        options.EntraId.TenantId = "tenant";
        options.EntraId.ClientId = "app";

        Assert.Contains(options.Validate(), e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(HubAuthentication.ManagedIdentity, null, typeof(ManagedIdentityCredential))]
    [InlineData(HubAuthentication.ManagedIdentity, "user-assigned-client-id", typeof(ManagedIdentityCredential))]
    [InlineData(HubAuthentication.WorkloadIdentity, "app", typeof(WorkloadIdentityCredential))]
    [InlineData(HubAuthentication.ClientCertificate, "app", typeof(ClientCertificateCredential))]
    [InlineData(HubAuthentication.ClientSecret, "app", typeof(ClientSecretCredential))]
    public void GivenAnAuthentication_WhenTheCredentialIsBuilt_ThenItIsTheAzureIdentityTypeItNames(HubAuthentication authentication, string? clientId, Type expected)
    {
        var entraId = new EntraIdOptions
        {
            TenantId = "tenant", ClientId = clientId, ClientSecret = "secret", ClientCertificatePath = "/app/secrets/client.pem", TokenFilePath = "/var/run/token",
        };

        Assert.IsType(expected, entraId.Create(authentication));
        Assert.Null(entraId.Create(HubAuthentication.ConnectionString));
    }

    [Fact]
    public void GivenAProxyUri_WhenUsed_ThenItIsAWebProxyTheSdkAccepts() =>
        Assert.IsType<WebProxy>(EventHubsClients.ClientOptions(new HubOptions { EventHubs = { TransportType = EventHubsTransportType.AmqpWebSockets, Proxy = new Uri("http://p:1") } })
            .ConnectionOptions.Proxy);
}

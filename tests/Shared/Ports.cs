using System.Net;
using System.Net.Sockets;

namespace MedTech.Edge.Testing;

/// <summary>Free loopback ports for the servers tests start (FHIR, MQTT, metrics).</summary>
internal static class Ports
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

using System.Net;
using System.Net.Sockets;

namespace MedTech.Edge.Testing;

/// <summary>Free loopback ports for the servers tests start (FHIR, MQTT, metrics).</summary>
public static class Ports
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Something accepts TCP connections on the loopback port (a server the test started is up).</summary>
    public static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MedTech.Edge.Testing;

/// <summary>
/// An OTLP/HTTP receiver (protobuf encoding) on a loopback port, as an OpenTelemetry collector answers a module: every
/// POST is kept byte for byte (for the no-patient-data check) and answered 200 with an empty ExportTraceServiceResponse;
/// the spans of <c>/v1/traces</c> are decoded by <see cref="OtlpTraces"/>. No package with the OTLP protobuf types is
/// served here (OpenTelemetry.Proto is not), and the exporter no longer brings Google.Protobuf, so the few fields the
/// tests read are decoded by hand.
/// </summary>
public sealed class OtlpReceiver : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly List<(string Path, byte[] Body)> requests = [];
    private readonly Task loop;

    public OtlpReceiver()
    {
        Port = Ports.Free();
        listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        listener.Start();
        loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>What <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names: the exporter appends <c>/v1/traces</c>.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Every request so far (any path), its body as sent (after gzip, if the exporter compressed it).</summary>
    public IReadOnlyList<(string Path, byte[] Body)> Requests
    {
        get
        {
            lock (requests)
            {
                return requests.ToList();
            }
        }
    }

    /// <summary>Every span received on <c>/v1/traces</c> so far.</summary>
    public IReadOnlyList<OtlpTraces.Span> Spans => Requests.Where(r => r.Path == "/v1/traces").SelectMany(r => OtlpTraces.Decode(r.Body)).ToList();

    public void Dispose()
    {
        listener.Close();
        try
        {
            loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The listener's close ends the loop with an exception: nothing to report.
        }
    }

    private async Task ServeAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var body = new MemoryStream();
            Stream input = context.Request.InputStream;
            if (string.Equals(context.Request.Headers["Content-Encoding"], "gzip", StringComparison.OrdinalIgnoreCase))
            {
                input = new GZipStream(input, CompressionMode.Decompress);
            }

            await input.CopyToAsync(body);
            lock (requests)
            {
                requests.Add((context.Request.Url!.AbsolutePath, body.ToArray()));
            }

            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }

    /// <summary>A port that accepts connections and never answers: a collector that hangs.</summary>
    public sealed class Hanging : IDisposable
    {
        private readonly TcpListener listener = new(IPAddress.Loopback, 0);
        private readonly List<TcpClient> held = [];
        private readonly CancellationTokenSource stop = new();

        public Hanging()
        {
            listener.Start();
            _ = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        var client = await listener.AcceptTcpClientAsync(stop.Token);
                        lock (held)
                        {
                            held.Add(client);
                        }
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                        return;
                    }
                }
            });
        }

        public string Endpoint => $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";

        /// <summary>Connections accepted so far (and held open, unanswered).</summary>
        public int Accepted
        {
            get
            {
                lock (held)
                {
                    return held.Count;
                }
            }
        }

        public void Dispose()
        {
            stop.Cancel();
            listener.Stop();
            lock (held)
            {
                held.ForEach(c => c.Dispose());
            }

            stop.Dispose();
        }
    }
}

/// <summary>
/// The fields of an OTLP ExportTraceServiceRequest (opentelemetry-proto, trace/v1 and collector/trace/v1) the tests
/// read, decoded from the protobuf wire format: resource attributes, scope name, trace id, span id, parent span id,
/// name, kind and attributes (as text) of each span.
/// </summary>
public static class OtlpTraces
{
    public sealed record Span(string Service, string Scope, string TraceId, string SpanId, string ParentSpanId, string Name, int Kind, IReadOnlyDictionary<string, string> Attributes);

    public static List<Span> Decode(byte[] request)
    {
        var spans = new List<Span>();
        // ExportTraceServiceRequest.resource_spans = 1
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1).Select(f => f.Bytes))
        {
            var resource = Fields(resourceSpans).Where(f => f.Number == 1).Select(f => Attributes(f.Bytes, 1)).FirstOrDefault() ?? [];
            var service = resource.GetValueOrDefault("service.name", "");
            // ResourceSpans.scope_spans = 2
            foreach (var scopeSpans in Fields(resourceSpans).Where(f => f.Number == 2).Select(f => f.Bytes))
            {
                var scope = Fields(scopeSpans).Where(f => f.Number == 1).Select(f => Text(Fields(f.Bytes), 1)).FirstOrDefault() ?? "";
                // ScopeSpans.spans = 2
                foreach (var span in Fields(scopeSpans).Where(f => f.Number == 2).Select(f => f.Bytes))
                {
                    var fields = Fields(span);
                    spans.Add(new Span(service, scope, Hex(fields, 1), Hex(fields, 2), Hex(fields, 4), Text(fields, 5),
                        (int)(fields.FirstOrDefault(f => f.Number == 6)?.Value ?? 0), Attributes(span, 9)));
                }
            }
        }

        return spans;
    }

    /// <summary>The KeyValue list in field <paramref name="number"/> of a message, values as text (string, bool, int, double).</summary>
    private static Dictionary<string, string> Attributes(byte[] message, int number)
    {
        var attributes = new Dictionary<string, string>();
        foreach (var keyValue in Fields(message).Where(f => f.Number == number).Select(f => Fields(f.Bytes)))
        {
            var value = keyValue.Where(f => f.Number == 2).Select(f => Fields(f.Bytes)).FirstOrDefault() ?? [];
            attributes[Text(keyValue, 1)] = value.FirstOrDefault() is { } any ? any.Number switch
            {
                1 => Encoding.UTF8.GetString(any.Bytes),
                4 => BitConverter.Int64BitsToDouble((long)any.Value).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => any.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
            } : "";
        }

        return attributes;
    }

    private static string Text(List<Field> fields, int number) => fields.FirstOrDefault(f => f.Number == number) is { } f ? Encoding.UTF8.GetString(f.Bytes) : "";

    private static string Hex(List<Field> fields, int number) => fields.FirstOrDefault(f => f.Number == number) is { } f ? Convert.ToHexStringLower(f.Bytes) : "";

    /// <summary>One field: a varint or fixed value in <see cref="Value"/>, a length-delimited one's bytes in <see cref="Bytes"/> (else empty).</summary>
    private sealed record Field(int Number, ulong Value, byte[] Bytes);

    /// <summary>The top-level fields of one protobuf message; a malformed message throws (the test fails on it).</summary>
    private static List<Field> Fields(byte[] message)
    {
        var fields = new List<Field>();
        var at = 0;
        while (at < message.Length)
        {
            var tag = Varint(message, ref at);
            var number = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    fields.Add(new Field(number, Varint(message, ref at), []));
                    break;
                case 1:
                    fields.Add(new Field(number, BitConverter.ToUInt64(message, at), []));
                    at += 8;
                    break;
                case 2:
                    var length = checked((int)Varint(message, ref at));
                    fields.Add(new Field(number, 0, message[at..(at + length)]));
                    at += length;
                    break;
                case 5:
                    fields.Add(new Field(number, BitConverter.ToUInt32(message, at), []));
                    at += 4;
                    break;
                default:
                    throw new InvalidDataException($"wire type {tag & 7} at byte {at}");
            }
        }

        return fields;
    }

    private static ulong Varint(byte[] message, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = message[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}

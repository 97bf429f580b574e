using System.Globalization;
using MedTech.Edge.Benchmarks;

// dotnet run -c Release --project tests/MedTech.Edge.Benchmarks [-- normalize [--seconds N]]
// dotnet run -c Release --project tests/MedTech.Edge.Benchmarks -- persist [--measurements N] [--only SampledData|Quantity]
// dotnet run -c Release --project tests/MedTech.Edge.Benchmarks -- persist --association DeviceUseStatement|DeviceHistory [--max-staleness SECONDS]
// dotnet run -c Release --project tests/MedTech.Edge.Benchmarks -- gateway [--messages N] [--backlog N]
// dotnet run -c Release --project tests/MedTech.Edge.Benchmarks -- e2e [--seconds N]
// dotnet run -c Release --project tests/MedTech.Edge.Benchmarks -- localstore [--readings N]
// dotnet run -c Release --project tests/MedTech.Edge.Benchmarks -- cloudnorm [--messages N]
// dotnet run -c Release --project tests/MedTech.Edge.Benchmarks -- instrumentation [--messages N] [--repeats N] [--ratio R] [--only ROW]   (none / default / sampled 10 % / every span)
// dotnet run -c Release --project tests/MedTech.Edge.Benchmarks -- ingest-trace-cost [--messages N] [--repeats N]   (CPU ns per message of the ingest span)
var mode = args.FirstOrDefault() ?? "normalize";
string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
switch (mode)
{
    case "normalize" or "--seconds":
        NormalizationBenchmark.Run(double.Parse(Option("--seconds") ?? "5", CultureInfo.InvariantCulture));
        break;
    case "persist" when Option("--association") is { } association:
        await PersistBenchmark.RunAssociationAsync(int.Parse(Option("--measurements") ?? "10000", CultureInfo.InvariantCulture),
            Enum.Parse<MedTech.Edge.Persist.Identity.PatientAssociation>(association, ignoreCase: true),
            TimeSpan.FromSeconds(double.Parse(Option("--max-staleness") ?? "30", CultureInfo.InvariantCulture)));
        break;
    case "persist":
        await PersistBenchmark.RunAsync(int.Parse(Option("--measurements") ?? "10000", CultureInfo.InvariantCulture), Option("--only"));
        break;
    case "gateway":
        await GatewayBenchmark.RunAsync(int.Parse(Option("--messages") ?? "100000", CultureInfo.InvariantCulture),
            int.Parse(Option("--backlog") ?? "1000000", CultureInfo.InvariantCulture));
        break;
    case "e2e":
        await EndToEndBenchmark.RunAsync(int.Parse(Option("--seconds") ?? "60", CultureInfo.InvariantCulture));
        break;
    case "localstore":
        await LocalStoreBenchmark.RunAsync(int.Parse(Option("--readings") ?? "30000", System.Globalization.CultureInfo.InvariantCulture));
        break;
    case "cloudnorm":
        await CloudNormalizeBenchmark.RunAsync(int.Parse(Option("--messages") ?? "2000", CultureInfo.InvariantCulture));
        break;
    case "instrumentation":
        await InstrumentationBenchmark.RunAsync(int.Parse(Option("--messages") ?? "20000", CultureInfo.InvariantCulture),
            int.Parse(Option("--repeats") ?? "3", CultureInfo.InvariantCulture), double.Parse(Option("--ratio") ?? "0.1", CultureInfo.InvariantCulture), Option("--only"));
        break;
    case "ingest-trace-cost":
        IngestTraceCostBenchmark.Run(int.Parse(Option("--messages") ?? "500000", CultureInfo.InvariantCulture),
            int.Parse(Option("--repeats") ?? "5", CultureInfo.InvariantCulture));
        break;
    case "mock-cluster":
        MockClusterProcess.Serve(args.Skip(1));
        break;
    default:
        Console.Error.WriteLine("usage: [normalize [--seconds N]] | persist [--measurements N] [--only SampledData|Quantity] [--association A [--max-staleness S]] | gateway [--messages N] [--backlog N] | e2e [--seconds N] | localstore [--readings N] | cloudnorm [--messages N] | instrumentation [--messages N] [--repeats N] [--ratio R] [--only ROW] | ingest-trace-cost [--messages N] [--repeats N]");
        return 2;
}

return 0;

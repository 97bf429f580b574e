using System.CommandLine;
using MedTech.Edge.Standalone.LocalStore;

namespace MedTech.Edge.Cli.Fhir;

/// <summary><c>medtech fhir export</c>: the local FHIR store of <c>medtech run</c> as FHIR NDJSON.</summary>
internal static class FhirCommands
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var data = new Option<string>("--data") { Description = "The data folder of medtech run.", DefaultValueFactory = _ => "medtech-data" };
        var outFile = new Option<string>("--out") { Description = "The NDJSON file to write.", Required = true };
        var export = new Command("export", "Write every resource of the local FHIR store as FHIR NDJSON (stop medtech run first: the store belongs to one process).") { data, outFile };
        export.SetAction(parsed =>
        {
            var path = Path.Combine(parsed.GetValue(data)!, "fhir.db");
            if (!File.Exists(path))
            {
                error.WriteLine($"{path}: no local FHIR store there (give --data).");
                return MedTechCommand.UsageError;
            }

            try
            {
                using var store = new LocalFhirStore(path);
                // Patients and their readings: 0600 like the store itself, also when the file existed with another mode.
                var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = MedTech.Edge.Buffer.PrivateFiles.FileMode;
                }

                using var file = new FileStream(parsed.GetValue(outFile)!, options);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(file.SafeFileHandle, MedTech.Edge.Buffer.PrivateFiles.FileMode);
                }

                using var writer = new StreamWriter(file);
                var count = store.ExportNdjson(writer);
                output.WriteLine($"{count} resource(s) written to {parsed.GetValue(outFile)}.");
                return MedTechCommand.Success;
            }
            catch (IOException ex)
            {
                error.WriteLine($"{path}: cannot open the store ({ex.Message}); stop medtech run first.");
                return MedTechCommand.UsageError;
            }
        });
        return new Command("fhir", "The local FHIR store.") { export };
    }
}

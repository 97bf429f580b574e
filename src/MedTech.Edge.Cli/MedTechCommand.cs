using System.CommandLine;
using MedTech.Edge.Cli.Buffer;
using MedTech.Edge.Cli.Fhir;
using MedTech.Edge.Cli.Mapping;
using MedTech.Edge.Cli.Pipeline;

namespace MedTech.Edge.Cli;

/// <summary>The <c>medtech</c> command line. Exit codes: 0 success, 1 the input has errors, 2 usage or an invalid mapping.</summary>
public static class MedTechCommand
{
    public const int Success = 0;
    public const int InputErrors = 1;
    public const int UsageError = 2;

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("MedTech.Edge: bedside-device data to FHIR, from the ward to the cloud.")
        {
            MappingCommands.Create(output, error),
        };
        root.Subcommands.Add(FhirCommands.Create(output, error));
        root.Subcommands.Add(WriterDeadLetterCommands.Create(output, error));
        foreach (var command in BufferCommands.Create(output, error).Concat(PipelineCommands.Create(output, error)))
        {
            root.Subcommands.Add(command);
        }

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var parseError in parsed.Errors)
            {
                error.WriteLine($"medtech: {parseError.Message}");
            }

            error.WriteLine("Run 'medtech --help' for usage.");
            return UsageError;
        }

        return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }
}

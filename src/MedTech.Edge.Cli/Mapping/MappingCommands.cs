using System.CommandLine;

namespace MedTech.Edge.Cli.Mapping;

/// <summary><c>medtech mapping validate</c> and <c>medtech mapping test</c>: the offline Mapping debugger.</summary>
internal static class MappingCommands
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var validateMapping = DeviceMappingOption();
        var validate = new Command("validate", "Check a device mapping; prints every error with file, line and position.")
        {
            validateMapping,
        };
        validate.SetAction(parsed => new MappingValidation(output, error).Validate(parsed.GetRequiredValue(validateMapping).ToString()));

        var testMapping = DeviceMappingOption();
        var message = new Option<FileInfo>("--message")
        {
            Description = "A device payload, or a whole {Body, Properties, SystemProperties} envelope.",
            Required = true,
        };
        var raw = new Option<bool>("--raw") { Description = "Treat the message as a payload even if it looks like an envelope." };
        var test = new Command("test", "Normalize one message with a device mapping and print {\"normalized\": [...], \"errors\": [...]}.")
        {
            testMapping,
            message,
            raw,
        };
        test.SetAction(parsed => new MappingTest(output, error).Run(
            parsed.GetRequiredValue(testMapping).ToString(), parsed.GetRequiredValue(message).ToString(), parsed.GetValue(raw)));

        return new Command("mapping", "Validate and test MedTech device mappings.") { validate, test };
    }

    private static Option<FileInfo> DeviceMappingOption() => new("--device-mapping")
    {
        Description = "A MedTech / iomt-fhir device mapping (CollectionContent JSON).",
        Required = true,
    };
}

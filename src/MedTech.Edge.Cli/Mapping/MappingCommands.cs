using System.CommandLine;

namespace MedTech.Edge.Cli.Mapping;

/// <summary><c>medtech mapping validate</c>, <c>test</c> (the offline Mapping debugger) and <c>import</c> (from a MedTech service's exported template).</summary>
internal static class MappingCommands
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var validateDevice = DeviceMappingOption(required: false);
        var validateFhir = FhirMappingOption();
        var validate = new Command("validate", "Check a device mapping, a FHIR mapping, or both and whether they fit together; prints every error with file, line and position.")
        {
            validateDevice,
            validateFhir,
        };
        validate.SetAction(parsed => new MappingValidation(output, error).Validate(
            parsed.GetValue(validateDevice)?.ToString(), parsed.GetValue(validateFhir)?.ToString()));

        var testDevice = DeviceMappingOption(required: true);
        var testFhir = FhirMappingOption();
        var message = new Option<FileInfo>("--message")
        {
            Description = "A device payload, or a whole {Body, Properties, SystemProperties} envelope.",
            Required = true,
        };
        var raw = new Option<bool>("--raw") { Description = "Treat the message as a payload even if it looks like an envelope." };
        var test = new Command("test", "Normalize one message and print {\"normalized\": [...], \"errors\": [...]}; with --fhir-mapping also the Observations.")
        {
            testDevice,
            testFhir,
            message,
            raw,
        };
        test.SetAction(parsed => new MappingTest(output, error).Run(
            parsed.GetRequiredValue(testDevice).ToString(), parsed.GetValue(testFhir)?.ToString(), parsed.GetRequiredValue(message).ToString(), parsed.GetValue(raw)));

        var from = new Option<FileInfo>("--from") { Description = "An exported ARM template (or Bicep built to JSON) of a MedTech service and its FHIR destination.", Required = true };
        var outDir = new Option<DirectoryInfo>("--out") { Description = $"Folder for {MappingImport.DeviceFile} and {MappingImport.FhirFile} (created if missing).", Required = true };
        var name = new Option<string>("--name") { Description = "Only the MedTech service (and destination) whose resource name contains this, when the template has several." };
        var force = new Option<bool>("--force") { Description = "Replace the two files if the folder already has them." };
        var import = new Command("import", "Take the device and FHIR mappings out of a MedTech service's exported template, write them and validate them.")
        {
            from,
            outDir,
            name,
            force,
        };
        import.SetAction(parsed => new MappingImport(output, error).Run(
            parsed.GetRequiredValue(from).ToString(), parsed.GetRequiredValue(outDir).ToString(), parsed.GetValue(name), parsed.GetValue(force)));

        return new Command("mapping", "Validate, test and import MedTech device and FHIR destination mappings.") { validate, test, import };
    }

    private static Option<FileInfo> DeviceMappingOption(bool required) => new("--device-mapping")
    {
        Description = "A MedTech / iomt-fhir device mapping (CollectionContent JSON).",
        Required = required,
    };

    private static Option<FileInfo> FhirMappingOption() => new("--fhir-mapping")
    {
        Description = "A MedTech / iomt-fhir FHIR destination mapping (CollectionFhir JSON).",
    };
}

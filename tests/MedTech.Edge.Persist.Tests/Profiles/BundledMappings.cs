using System.Globalization;
using System.Text;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Persist.Tests.Profiles;

/// <summary>
/// The mappings the product ships (src/MedTech.Edge.Cli/Mappings and Examples), their sample messages (Messages/
/// here, and the example's own message), and the real Normalize → Transform path that `medtech mapping test` and the
/// writer use.
/// </summary>
internal static class BundledMappings
{
    public const string Loinc = "http://loinc.org";
    public const string Mdc = "urn:iso:std:iso:11073:10101";
    public const string Ucum = "http://unitsofmeasure.org";

    public sealed record Set(string Name, string DeviceMapping, string FhirMapping, string[] Messages);

    public static readonly Set VitalSignsSet = new("vital-signs",
        Repository.PathOf("src", "MedTech.Edge.Cli", "Mappings", "vital-signs.device-mapping.json"),
        Repository.PathOf("src", "MedTech.Edge.Cli", "Mappings", "vital-signs.fhir-mapping.json"),
        [Message("vital-signs-monitor.json"), Message("vital-signs-batch.json")]);

    public static readonly Set BedsideMonitor = new("bedside-monitor",
        Repository.PathOf("src", "MedTech.Edge.Cli", "Examples", "bedside-monitor.device-mapping.json"),
        Repository.PathOf("src", "MedTech.Edge.Cli", "Examples", "bedside-monitor.fhir-mapping.json"),
        [Repository.PathOf("src", "MedTech.Edge.Cli", "Examples", "bedside-monitor.message.json")]);

    public static readonly IReadOnlyList<Set> All = [VitalSignsSet, BedsideMonitor];

    public static Set Named(string name) => All.Single(s => s.Name == name);

    /// <summary>
    /// The ISO/IEEE 11073-10101 (MDC) code that goes with each LOINC code, as the HL7 PoCD and PHD guides pair them.
    /// Sources: HL7 Denmark's DK Core IG, ValueSet dk-core-IEEEBasicObservation (hl7dk/dk-core, input/fsh), which lists
    /// 147842 MDC_ECG_HEART_RATE, 150456 MDC_PULS_OXIM_SAT_O2, 151562 MDC_RESP_RATE, 150364 MDC_TEMP_BODY, 150020
    /// MDC_PRESS_BLD_NONINV and 150021/150022/150023 its SYS/DIA/MEAN; US Core's pulse-oximetry example codes SpO2 as
    /// LOINC 2708-6 + 59408-5 + MDC 150456; IHE PCD-01 sample messages carry 150021-150023 with 266016 MDC_DIM_MMHG.
    /// Each is partition 2 (SCADA) × 65536 + term code, e.g. 150456 = 2 × 65536 + 19384.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (string Code, string Name)> MdcByLoinc = new Dictionary<string, (string, string)>
    {
        ["8867-4"] = ("147842", "MDC_ECG_HEART_RATE"),
        ["2708-6"] = ("150456", "MDC_PULS_OXIM_SAT_O2"),
        ["9279-1"] = ("151562", "MDC_RESP_RATE"),
        ["8310-5"] = ("150364", "MDC_TEMP_BODY"),
        ["85354-9"] = ("150020", "MDC_PRESS_BLD_NONINV"),
        ["8480-6"] = ("150021", "MDC_PRESS_BLD_NONINV_SYS"),
        ["8462-4"] = ("150022", "MDC_PRESS_BLD_NONINV_DIA"),
        ["8478-0"] = ("150023", "MDC_PRESS_BLD_NONINV_MEAN"),
    };

    /// <summary>The UCUM code each LOINC code's value must carry (the R4 profiles fix them; 8478-0 by ucum-vitals-common).</summary>
    public static readonly IReadOnlyDictionary<string, string> UcumByLoinc = new Dictionary<string, string>
    {
        ["8867-4"] = "/min",
        ["2708-6"] = "%",
        ["9279-1"] = "/min",
        ["8310-5"] = "Cel",
        ["8480-6"] = "mm[Hg]",
        ["8462-4"] = "mm[Hg]",
        ["8478-0"] = "mm[Hg]",
    };

    public static readonly DateTimeOffset Issued = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    public static DeviceMapping Device(Set set)
    {
        var mapping = DeviceMapping.Parse(File.ReadAllText(set.DeviceMapping));
        Assert.True(mapping.IsValid, string.Join(Environment.NewLine, mapping.Errors));
        return mapping;
    }

    public static FhirMapping FhirMappingOf(Set set) => FhirMapping.Parse(File.ReadAllText(set.FhirMapping)).EnsureValid(set.FhirMapping);

    /// <summary>One message through Normalize; its measurements and the reason codes of any normalization errors.</summary>
    public static (IReadOnlyList<Measurement> Measurements, IReadOnlyList<string> Errors) Normalize(Set set, byte[] message)
    {
        var result = new Normalizer(Device(set)).Normalize(new DeviceMessage(message, Issued.UtcDateTime));
        return (result.Measurements, result.Errors.Select(e => e.Code).ToList());
    }

    /// <summary>Measurements through Transform as the writer builds them in Create mode, with the reason codes of failed groups.</summary>
    public static (IReadOnlyList<Observation> Observations, IReadOnlyList<string> Errors) Transform(Set set, IReadOnlyList<Measurement> measurements)
    {
        var (observations, errors) = ObservationPreview.Create(measurements, FhirMappingOf(set), null, Issued);
        return (observations, errors.Select(e => e.Code).ToList());
    }

    /// <summary>A heart-rate-style message of the vital-signs mapping with one field set to a raw JSON value.</summary>
    public static byte[] VitalSignsMessage(string field, string rawJsonValue, string deviceId = "monitor-edge", int second = 0)
    {
        // Blood pressure needs both pressures to match; the other field stays an ordinary value.
        var partner = field switch { "systolic" => ", \"diastolic\": 80", "diastolic" => ", \"systolic\": 120", _ => "" };
        return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"deviceId": "{{deviceId}}", "patientId": "patient-{{deviceId}}", "timestamp": "2026-11-24T10:00:{{second:00}}Z", "{{field}}": {{rawJsonValue}}{{partner}}}"""));
    }

    private static string Message(string file) => Repository.PathOf("tests", "MedTech.Edge.Persist.Tests", "Profiles", "Messages", file);
}

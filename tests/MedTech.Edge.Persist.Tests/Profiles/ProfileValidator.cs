using Firely.Fhir.Validation;
using Hl7.Fhir.Model;
using Hl7.Fhir.Specification.Source;
using Hl7.Fhir.Specification.Terminology;

namespace MedTech.Edge.Persist.Tests.Profiles;

/// <summary>
/// The Firely validator over the FHIR R4 core profiles, offline: every StructureDefinition and ValueSet comes from the
/// specification.zip that Hl7.Fhir.Specification.Data.R4 ships, and terminology is the local service over it.
/// <para>
/// Checked: the profiles' structure, cardinalities, fixed and pattern values (the LOINC slice codes, the UCUM system
/// and codes such as <c>/min</c>, <c>%</c>, <c>mm[Hg]</c>), slicing, types (a heart rate must be a Quantity), the
/// FHIRPath invariants (vs-1, vs-2, vs-3, obs-6, obs-7, ele-1 …), and required bindings to value sets the
/// specification enumerates (ucum-bodytemp, ucum-vitals-common, observation-status).
/// Not checked: whether a code exists in LOINC, UCUM or ISO/IEEE 11073 (no terminology server; those code systems
/// are not in the zip; <see cref="BundledMappingTests"/> pins the MDC codes against a cited table instead), bindings
/// to value sets defined by a whole external code system, and whether referenced Patient/Device resources exist.
/// </para>
/// </summary>
internal static class ProfileValidator
{
    public const string VitalSigns = "http://hl7.org/fhir/StructureDefinition/vitalsigns";

    /// <summary>The R4 vital-signs profile for each LOINC code the bundled mappings use (FHIR R4 §observation-vitalsigns).</summary>
    public static readonly IReadOnlyDictionary<string, string> ProfileByLoinc = new Dictionary<string, string>
    {
        ["8867-4"] = "http://hl7.org/fhir/StructureDefinition/heartrate",
        ["2708-6"] = "http://hl7.org/fhir/StructureDefinition/oxygensat",
        ["9279-1"] = "http://hl7.org/fhir/StructureDefinition/resprate",
        ["8310-5"] = "http://hl7.org/fhir/StructureDefinition/bodytemp",
        ["85354-9"] = BloodPressure,
    };

    // Building the validator reads and indexes the zip (seconds); one instance serves every test.
    private static readonly Lazy<Validator> Instance = new(Create);
    private static readonly Lock Gate = new();

    /// <summary>The issues of error or fatal severity when <paramref name="resource"/> is validated against <paramref name="profile"/>.</summary>
    public static IReadOnlyList<string> Errors(Resource resource, string profile)
    {
        OperationOutcome outcome;
        // The validator caches compiled schemas internally; one validation at a time keeps that simple and safe.
        lock (Gate)
        {
            outcome = Instance.Value.Validate(resource, profile);
        }

        return outcome.Issue
            .Where(i => i.Severity is OperationOutcome.IssueSeverity.Error or OperationOutcome.IssueSeverity.Fatal)
            .Select(i => $"{profile}: {i.Details?.Text} at {string.Join(",", i.Expression)}")
            .ToList();
    }

    /// <summary>The profile errors of an Observation: against the profile its LOINC code calls for and the vital-signs base.</summary>
    public static IReadOnlyList<string> ObservationErrors(Observation observation)
    {
        ArgumentNullException.ThrowIfNull(observation);
        var profiles = observation.Code.Coding
            .Where(c => c.System == "http://loinc.org")
            .Select(c => ProfileByLoinc.GetValueOrDefault(c.Code ?? ""))
            .OfType<string>()
            .Append(VitalSigns)
            .Distinct();
        return profiles.SelectMany(p => p == BloodPressure ? BloodPressureErrors(observation) : Errors(observation, p)).ToList();
    }

    public const string BloodPressure = "http://hl7.org/fhir/StructureDefinition/bp";

    /// <summary>What Firely reports for a blood-pressure component that carries more than one coding (see <see cref="BloodPressureErrors"/>).</summary>
    public static readonly IReadOnlyList<string> MultiCodingSliceErrors =
    [
        $"{BloodPressure}: No elements matched required slice: 'component:SystolicBP' at Observation",
        $"{BloodPressure}: No elements matched required slice: 'component:DiastolicBP' at Observation",
    ];

    /// <summary>
    /// The R4 bp profile slices <c>component</c> by the values at <c>code.coding.code</c> and <c>code.coding.system</c>;
    /// Firely cannot match a value discriminator whose path repeats, so any component with a second coding (MDC, or the
    /// connector's own coding MedTech adds to every component) matches no slice, though the R4 specification's own
    /// blood-pressure example has three codings per component (HL7's Java validator had the same defect: hapifhir
    /// org.hl7.fhir.core PR #22, "Validator cannot validate BP Profile"). So: the full Observation must have no error but
    /// exactly those slice messages, and a copy whose components keep only their LOINC coding must have none at all,
    /// which checks everything the slices demand (LOINC 8480-6/8462-4, Quantity, value, unit, UCUM mm[Hg]).
    /// </summary>
    public static IReadOnlyList<string> BloodPressureErrors(Observation observation)
    {
        ArgumentNullException.ThrowIfNull(observation);
        var full = Errors(observation, BloodPressure).Where(e => !MultiCodingSliceErrors.Contains(e));
        var loincOnly = (Observation)observation.DeepCopy();
        foreach (var component in loincOnly.Component)
        {
            component.Code.Coding.RemoveAll(c => c.System != "http://loinc.org");
        }

        return full.Concat(Errors(loincOnly, BloodPressure).Select(e => "LOINC-only components: " + e)).ToList();
    }

    private static Validator Create()
    {
        var source = new CachedResolver(ZipSource.CreateValidationSource());
        return new Validator(source, new LocalTerminologyService(source));
    }
}

using System.Globalization;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Server;

namespace MedTech.Edge.Testing;

/// <summary>What the FHIR server charts to a Patient from a Device: every SampledData value with the time of its slot.</summary>
public static class ChartedValues
{
    public static async Task<Dictionary<DateTime, string>> ReadAsync(FhirServerClient client, string patientId, string deviceId)
    {
        var values = new Dictionary<DateTime, string>();
        var observations = await client.SearchAsync<Observation>($"Observation?subject=Patient/{patientId}&device=Device/{deviceId}", default);
        foreach (var observation in observations)
        {
            var start = DateTime.Parse(((Period)observation.Effective!).Start!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);
            var data = (SampledData)observation.Value!;
            var slots = data.Data!.Split(' ');
            for (var i = 0; i < slots.Length; i++)
            {
                if (slots[i] != "E")
                {
                    values[start.AddMilliseconds(i * (double)data.Period!.Value)] = slots[i];
                }
            }
        }

        return values;
    }
}

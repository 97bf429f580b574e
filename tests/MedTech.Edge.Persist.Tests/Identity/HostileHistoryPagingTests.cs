using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Persist.Tests.Identity;

/// <summary>
/// Hostile review of issue 20 (holds): a Device history longer than one page, newest first as FHIR serves it. The test
/// FHIR server never pages a history, so this plays a server that does (HAPI pages at 20 by default).
/// </summary>
public class HostileHistoryPagingTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public async System.Threading.Tasks.Task GivenAHistoryOverTwoPagesWithARelinkOnTheFirst_WhenReadAndPlaced_ThenEachTimeHasThePatientOfItsVersion()
    {
        using var http = new HttpClient(new TwoPages()) { BaseAddress = new Uri("http://fhir.test/fhir/") };
        var client = new FhirServerClient(http, new FhirServerOptions { Url = new Uri("http://fhir.test/fhir/") }, NullLogger<FhirServerClient>.Instance);

        var versions = await client.HistoryAsync<Device>("Device/d/_history", default);
        var timeline = AssociationTimeline.FromDeviceHistory(versions, T0.AddHours(3));

        Assert.Equal(4, versions.Count);
        Assert.Equal("4", timeline.DeviceVersion);
        Assert.Equal((null, FhirErrorCodes.NoPatientAssociation), timeline.PatientAt(T0.AddMinutes(-1).UtcDateTime));
        Assert.Equal("a", timeline.PatientAt(T0.AddMinutes(30).UtcDateTime).PatientId);
        Assert.Equal((null, FhirErrorCodes.NoPatientAssociation), timeline.PatientAt(T0.AddMinutes(90).UtcDateTime));
        Assert.Equal("b", timeline.PatientAt(T0.AddHours(2).UtcDateTime).PatientId);
        Assert.Equal("b", timeline.PatientAt(T0.AddHours(5).UtcDateTime).PatientId);
    }

    /// <summary>Page 1: version 4 (b, 2 h) and a deletion (1 h); page 2: versions 2 (a, 10 min) and 1 (a, 0).</summary>
    private sealed class TwoPages : HttpMessageHandler
    {
        protected override System.Threading.Tasks.Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var second = request.RequestUri!.Query.Contains("page=2", StringComparison.Ordinal);
            var bundle = new Bundle { Type = Bundle.BundleType.History };
            if (second)
            {
                bundle.Entry.Add(Version("2", "Patient/a", T0.AddMinutes(10)));
                bundle.Entry.Add(Version("1", "Patient/a", T0));
            }
            else
            {
                bundle.Entry.Add(Version("4", "Patient/b", T0.AddHours(2)));
                bundle.Entry.Add(new Bundle.EntryComponent
                {
                    Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.DELETE, Url = "Device/d" },
                    Response = new Bundle.ResponseComponent { Status = "204", LastModified = T0.AddHours(1) },
                });
                bundle.Link.Add(new Bundle.LinkComponent { Relation = "next", Url = "http://fhir.test/fhir/Device/d/_history?page=2" });
            }

            return System.Threading.Tasks.Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StringContent(FhirJson.Serialize(bundle), Encoding.UTF8, "application/fhir+json"),
            });
        }

        private static Bundle.EntryComponent Version(string versionId, string patient, DateTimeOffset at) => new()
        {
            Resource = new Device { Id = "d", Meta = new Meta { VersionId = versionId, LastUpdated = at }, Patient = new ResourceReference(patient) },
            Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.PUT, Url = "Device/d" },
            Response = new Bundle.ResponseComponent { Status = "200" },
        };
    }
}

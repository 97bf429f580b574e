using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Writer.Tests.CloudNormalization;

/// <summary><c>Writer:Input</c> and what it needs: a device mapping, sane limits; an invalid mapping stops the writer at start.</summary>
public sealed class CloudWriterOptionsTests
{
    [Fact]
    public void GivenDeviceMessagesInput_WhenTheDeviceMappingOrALimitIsMissing_ThenValidationSaysWhich()
    {
        var groups = new WriterOptions { FhirMappingPath = VitalSigns.FhirMapping, DeviceMappingPath = "/nonexistent/devicecontent.json" };
        Assert.Empty(groups.Validate());

        var cloud = new WriterOptions { FhirMappingPath = VitalSigns.FhirMapping, Input = WriterInput.DeviceMessages, DeviceMappingPath = "/nonexistent/devicecontent.json" };
        Assert.Contains(cloud.Validate(), e => e.Contains("Writer:DeviceMappingPath", StringComparison.Ordinal));

        cloud.DeviceMappingPath = VitalSigns.DeviceMapping;
        Assert.Empty(cloud.Validate());
        cloud.Normalization.MaxTimePerMessage = TimeSpan.Zero;
        Assert.Contains(cloud.Validate(), e => e.Contains("Writer:Normalization", StringComparison.Ordinal));

        var unknown = new WriterOptions { FhirMappingPath = VitalSigns.FhirMapping, Input = (WriterInput)7 };
        Assert.Contains(unknown.Validate(), e => e.Contains("Writer:Input", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GivenAnInvalidDeviceMapping_WhenTheCloudWriterStarts_ThenItStopsNamingTheMappingError()
    {
        var folder = Directory.CreateTempSubdirectory("medtech-cloudnorm-opt-").FullName;
        try
        {
            var mapping = Path.Combine(folder, "devicecontent.json");
            await File.WriteAllTextAsync(mapping, """{"templateType": "CollectionContent", "template": [{"templateType": "CalculatedContent", "template": {"typeName": "x"}}]}""");
            using var cluster = new MockCluster();
            using var host = TestHosts.Writer(new Uri("http://127.0.0.1:9/fhir/"), cluster.BootstrapServers, extra: new()
            {
                ["Writer:Input"] = "deviceMessages",
                ["Writer:DeviceMappingPath"] = mapping,
                ["Writer:InHandPath"] = Path.Combine(folder, "inhand.json"),
            });

            await Assert.ThrowsAsync<InvalidMappingException>(() => host.StartAsync());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

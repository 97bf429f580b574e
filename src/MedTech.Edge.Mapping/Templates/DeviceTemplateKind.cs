namespace MedTech.Edge.Mapping.Templates;

/// <summary>The device-mapping template types of MedTech / iomt-fhir.</summary>
public enum DeviceTemplateKind
{
    /// <summary>Expressions run against the envelope plus <c>matchedToken</c>; JSONPath or JMESPath.</summary>
    CalculatedContent,

    /// <summary>Legacy: expressions run against the matched token itself; JSONPath only.</summary>
    JsonPathContent,

    /// <summary>Legacy, for IoT Hub routed messages: device id and time come from the envelope's fixed fields.</summary>
    IotJsonPathContent,

    /// <summary>Legacy, for IoT Central data export: device id from <c>$.deviceId</c>, time from <c>$.enqueuedTime</c>.</summary>
    IotCentralJsonPathContent,
}

namespace MedTech.Edge.Standalone.Tests.Hostile;

/// <summary>
/// The mappings the hostile-input tests run: a heart rate (Quantity, to the second), an ECG strip grouped by session
/// (SampledData, periodInterval -1: one Observation per correlation id, however long it spans), and a template whose
/// type match is a JSONPath regex filter that backtracks catastrophically on a long "tag".
/// </summary>
internal static class HostileMappings
{
    public const string Device = """
        {"templateType": "CollectionContent", "template": [
          {"templateType": "CalculatedContent", "template": {"typeName": "heartRate", "typeMatchExpression": "$..[?(@heartRate)]",
            "deviceIdExpression": "$.matchedToken.deviceId", "patientIdExpression": "$.matchedToken.patientId", "timestampExpression": "$.matchedToken.timestamp",
            "values": [{"valueName": "heartRate", "valueExpression": "$.matchedToken.heartRate", "required": true}]}},
          {"templateType": "CalculatedContent", "template": {"typeName": "ecg", "typeMatchExpression": "$..[?(@ecg)]",
            "deviceIdExpression": "$.matchedToken.deviceId", "patientIdExpression": "$.matchedToken.patientId", "timestampExpression": "$.matchedToken.timestamp",
            "correlationIdExpression": "$.matchedToken.session",
            "values": [{"valueName": "ecg", "valueExpression": "$.matchedToken.ecg", "required": true}]}},
          {"templateType": "CalculatedContent", "template": {"typeName": "tagged", "typeMatchExpression": "$..[?(@.tag =~ /^(a+)+$/)]",
            "deviceIdExpression": "$.matchedToken.deviceId", "patientIdExpression": "$.matchedToken.patientId", "timestampExpression": "$.matchedToken.timestamp",
            "values": [{"valueName": "level", "valueExpression": "$.matchedToken.level", "required": true}]}}
        ]}
        """;

    public const string Fhir = """
        {"templateType": "CollectionFhir", "template": [
          {"templateType": "CodeValueFhir", "template": {"typeName": "heartRate", "periodInterval": 0,
            "codes": [{"code": "8867-4", "system": "http://loinc.org", "display": "Heart rate"}],
            "value": {"valueName": "heartRate", "valueType": "Quantity", "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}},
          {"templateType": "CodeValueFhir", "template": {"typeName": "ecg", "periodInterval": -1,
            "codes": [{"code": "131329", "system": "urn:iso:std:iso:11073:10101", "display": "MDC_ECG_ELEC_POTL_I"}],
            "value": {"valueName": "ecg", "valueType": "SampledData", "unit": "mV", "defaultPeriod": 1000}}},
          {"templateType": "CodeValueFhir", "template": {"typeName": "tagged", "periodInterval": 0,
            "codes": [{"code": "tagged", "system": "urn:medtech-edge:test"}],
            "value": {"valueName": "level", "valueType": "Quantity", "unit": "1"}}}
        ]}
        """;
}

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>The two expression languages MedTech mappings use; JSONPath is the default.</summary>
public enum ExpressionLanguage
{
    JsonPath,
    JmesPath,
}

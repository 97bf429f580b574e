using System.Globalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions.Functions;

/// <summary><c>insertString(original, toInsert, position)</c>: 0-based insert; position may equal the length (append).</summary>
internal sealed class InsertStringFunction() : MedTechFunction("insertString", Text, Text, Integer)
{
    protected override JToken Execute(JValue[] args)
    {
        var original = (string)args[0].Value!;
        var position = Convert.ToInt64(args[2].Value, CultureInfo.InvariantCulture);
        if (position < 0 || position > original.Length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(args), $"insertString position {position} is out of range 0..{original.Length}.");
        }

        return new JValue(original.Insert((int)position, (string)args[1].Value!));
    }
}

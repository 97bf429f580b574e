using DevLab.JmesPath.Functions;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions.Functions;

/// <summary>Base of MedTech's custom JMESPath functions: fixed arity and typed arguments, checked before running.</summary>
internal abstract class MedTechFunction(string name, params JTokenType[][] argumentTypes)
    : JmesPathFunction(name, argumentTypes.Length)
{
    protected static readonly JTokenType[] Number = [JTokenType.Integer, JTokenType.Float];
    protected static readonly JTokenType[] Text = [JTokenType.String];
    protected static readonly JTokenType[] Integer = [JTokenType.Integer];

    public override void Validate(params JmesPathFunctionArgument[] args)
    {
        base.Validate(args);
        if (args.Length != argumentTypes.Length)
        {
            throw new InvalidOperationException(
                $"Incorrect number of arguments provided to function {Name}. Expected {argumentTypes.Length} but received {args.Length}.");
        }

        for (var i = 0; i < args.Length; i++)
        {
            var type = args[i].IsToken ? args[i].Token.Type : JTokenType.None;
            if (!argumentTypes[i].Contains(type))
            {
                throw new InvalidOperationException(
                    $"Error: invalid-type, function {Name} expects argument {i} to be one of the following: {string.Join("|", argumentTypes[i])}; it was {type}.");
            }
        }
    }

    public sealed override JToken Execute(params JmesPathFunctionArgument[] args) => Execute(args.Select(a => (JValue)a.Token).ToArray());

    protected abstract JToken Execute(JValue[] args);
}

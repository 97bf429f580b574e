namespace MedTech.Edge.Transform.Observations;

/// <summary>
/// The measurements that become one Observation: one type, one period (<see cref="Start"/> to <see cref="End"/>),
/// and per value name the values sorted by time. <see cref="IdSegment"/> is the period part of the identifier.
/// </summary>
public sealed record ObservationGroup(
    string Type,
    DateTime Start,
    DateTime End,
    string IdSegment,
    IReadOnlyDictionary<string, IReadOnlyList<TimedValue>> Values)
{
    public IReadOnlyList<TimedValue> ValuesOf(string valueName) => Values.GetValueOrDefault(valueName) ?? [];
}

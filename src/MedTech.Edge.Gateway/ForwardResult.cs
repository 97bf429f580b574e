namespace MedTech.Edge.Gateway;

/// <summary>What one forwarding round did: entries the hub acknowledged, and entries it refused for good (now dead letters).</summary>
public readonly record struct ForwardResult(int Acknowledged, int Rejected);

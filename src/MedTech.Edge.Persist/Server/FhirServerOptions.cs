namespace MedTech.Edge.Persist.Server;

/// <summary>
/// Where the FHIR server is and how to reach it (configuration section <c>FhirServer</c>). Secrets
/// (<see cref="BearerToken"/>, <see cref="ClientSecret"/>, <see cref="ClientCertificatePassword"/>) come from secret
/// files or environment variables at deployment and are never printed: <see cref="ToString"/> redacts them.
/// </summary>
public sealed class FhirServerOptions
{
    public const string SectionName = "FhirServer";

    /// <summary>The FHIR base URL, e.g. <c>https://ws-fhir.fhir.azurehealthcareapis.com</c>. Plain http only on loopback.</summary>
    public Uri? Url { get; set; }

    public FhirAuthentication Authentication { get; set; } = FhirAuthentication.None;

    public string? BearerToken { get; set; }

    public string? TenantId { get; set; }

    public string? ClientId { get; set; }

    public string? ClientSecret { get; set; }

    /// <summary>ClientCertificate: a PEM (certificate and key) or PFX file, mounted like the secrets.</summary>
    public string? ClientCertificatePath { get; set; }

    /// <summary>ClientCertificate: the PFX file's password, if it has one (a secret file).</summary>
    public string? ClientCertificatePassword { get; set; }

    /// <summary>WorkloadIdentity: the federated token file; default <c>AZURE_FEDERATED_TOKEN_FILE</c>.</summary>
    public string? TokenFilePath { get; set; }

    /// <summary>The token scope; default <c>{Url origin}/.default</c>.</summary>
    public string? Scope { get; set; }

    /// <summary>Entra ID authority; default the public cloud.</summary>
    public Uri? AuthorityHost { get; set; }

    /// <summary>Per-request timeout; a timed-out request counts as transient and is retried.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Attempts per request for 408/429/5xx and network errors before the batch fails as unavailable.</summary>
    public int MaxAttempts { get; set; } = 6;

    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Url is null || !Url.IsAbsoluteUri || Url.Scheme is not ("https" or "http"))
        {
            errors.Add($"{SectionName}:Url must be an absolute https URL of the FHIR service.");
        }
        else if (Url.Scheme == "http" && !Url.IsLoopback)
        {
            errors.Add($"{SectionName}:Url uses plain http to another machine; use https (plain http is allowed only on loopback, for tests).");
        }

        switch (Authentication)
        {
            case FhirAuthentication.BearerToken when string.IsNullOrWhiteSpace(BearerToken):
                errors.Add($"{SectionName}:BearerToken is required when {SectionName}:Authentication is BearerToken.");
                break;
            case FhirAuthentication.ClientCredentials or FhirAuthentication.ClientSecret:
                Require(errors, (nameof(TenantId), TenantId), (nameof(ClientId), ClientId), (nameof(ClientSecret), ClientSecret));
                break;
            case FhirAuthentication.ClientCertificate:
                Require(errors, (nameof(TenantId), TenantId), (nameof(ClientId), ClientId), (nameof(ClientCertificatePath), ClientCertificatePath));
                break;
            case FhirAuthentication.None when Url is { IsLoopback: false }:
                errors.Add($"{SectionName}:Authentication is None for a server that is not on loopback; use ManagedIdentity, WorkloadIdentity, ClientCertificate, ClientSecret or BearerToken.");
                break;
            case not (FhirAuthentication.None or FhirAuthentication.BearerToken or FhirAuthentication.ManagedIdentity or FhirAuthentication.WorkloadIdentity):
                errors.Add($"{SectionName}:Authentication must be None, BearerToken, ManagedIdentity, WorkloadIdentity, ClientCertificate, ClientSecret or ClientCredentials.");
                break;
        }

        if (AuthorityHost is { IsAbsoluteUri: false } or { Scheme: not "https" })
        {
            errors.Add($"{SectionName}:AuthorityHost must be an https URL, e.g. https://login.microsoftonline.us/.");
        }

        if (MaxAttempts < 1)
        {
            errors.Add($"{SectionName}:MaxAttempts must be at least 1.");
        }

        if (RequestTimeout <= TimeSpan.Zero || InitialBackoff <= TimeSpan.Zero || MaxBackoff < InitialBackoff)
        {
            errors.Add($"{SectionName}:RequestTimeout, InitialBackoff and MaxBackoff must be positive, with MaxBackoff >= InitialBackoff.");
        }

        return errors;
    }

    public override string ToString() =>
        $"Url={Url}, Authentication={Authentication}, TenantId={TenantId}, ClientId={ClientId}, " +
        $"BearerToken={Redacted(BearerToken)}, ClientSecret={Redacted(ClientSecret)}, ClientCertificatePath={ClientCertificatePath}, " +
        $"ClientCertificatePassword={Redacted(ClientCertificatePassword)}";

    private void Require(List<string> errors, params (string Name, string? Value)[] settings) => errors.AddRange(settings
        .Where(s => string.IsNullOrWhiteSpace(s.Value))
        .Select(s => $"{SectionName}:{s.Name} is required when {SectionName}:Authentication is {Authentication}."));

    private static string Redacted(string? secret) => string.IsNullOrEmpty(secret) ? "(none)" : "(set)";
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Hosting;

/// <summary>Options bound by configuration section and validated when the host starts.</summary>
public static class OptionsRegistration
{
    /// <summary>Binds <paramref name="section"/> and validates it on start; a failure names every field at fault.</summary>
    public static IServiceCollection AddValidatedOptions<T>(this IServiceCollection services, string section, Func<T, IReadOnlyList<string>> validate)
        where T : class
    {
        services.AddOptions<T>().BindConfiguration(section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(new Validator<T>(validate));
        return services;
    }

    /// <summary>The bound value of an options class.</summary>
    public static T Value<T>(this IServiceProvider services)
        where T : class => services.GetRequiredService<IOptions<T>>().Value;

    private sealed class Validator<T>(Func<T, IReadOnlyList<string>> validate) : IValidateOptions<T>
        where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options) =>
            validate(options) is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}

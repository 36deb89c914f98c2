using System.Text.Json.Serialization;
using DiffusionSharp.Schedules;

namespace DiffusionSharp.Sampling.Samplers;

/// <summary>The σ-space samplers, by the names the CLI and run JSON use.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SigmaSamplerKind>))]
public enum SigmaSamplerKind
{
    /// <summary><see cref="EulerSampler"/>. Name <c>"euler"</c>.</summary>
    [JsonStringEnumMemberName("euler")]
    Euler,

    /// <summary><see cref="HeunSampler"/> (deterministic unless S_churn &gt; 0). Name <c>"heun"</c>.</summary>
    [JsonStringEnumMemberName("heun")]
    Heun,

    /// <summary><see cref="DpmPlusPlus2MSampler"/>. Name <c>"dpm++2m"</c>.</summary>
    [JsonStringEnumMemberName("dpm++2m")]
    DpmPlusPlus2M,

    /// <summary><see cref="DpmPlusPlus2MSdeSampler"/>. Name <c>"dpm++2m-sde"</c>.</summary>
    [JsonStringEnumMemberName("dpm++2m-sde")]
    DpmPlusPlus2MSde,
}

/// <summary>The one place σ-space samplers are named, parsed and built.</summary>
public static class SigmaSamplers
{
    /// <summary>Builds the sampler of <paramref name="kind"/>; the options apply to Heun and 2M SDE (defaults otherwise).</summary>
    /// <exception cref="ArgumentException">An undefined kind.</exception>
    public static ISigmaSampler Create(SigmaSamplerKind kind, HeunSamplerOptions? heun = null, DpmPlusPlus2MSdeOptions? sde = null) => kind switch
    {
        SigmaSamplerKind.Euler => new EulerSampler(),
        SigmaSamplerKind.Heun => new HeunSampler(heun),
        SigmaSamplerKind.DpmPlusPlus2M => new DpmPlusPlus2MSampler(),
        SigmaSamplerKind.DpmPlusPlus2MSde => new DpmPlusPlus2MSdeSampler(sde),
        _ => throw new ArgumentException($"Unknown sampler {(int)kind}; allowed values: {AllowedNames}.", nameof(kind)),
    };

    /// <summary>Parses a sampler name (<c>euler</c>, <c>heun</c>, <c>dpm++2m</c>, <c>dpm++2m-sde</c>).</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the allowed ones.</exception>
    public static SigmaSamplerKind Parse(string? name, string paramName = "sampler") => DiffusersNames.Parse<SigmaSamplerKind>(name, paramName);

    /// <summary>The name of <paramref name="kind"/>.</summary>
    public static string Name(SigmaSamplerKind kind) => DiffusersNames.ToName(kind);

    /// <summary>The accepted names, quoted and comma-separated.</summary>
    public static string AllowedNames => DiffusersNames.AllowedValues<SigmaSamplerKind>();

    /// <summary>Whether <paramref name="kind"/> with these options draws noise during sampling (so needs a noise source).</summary>
    public static bool IsStochastic(SigmaSamplerKind kind, HeunSamplerOptions? heun = null, DpmPlusPlus2MSdeOptions? sde = null) => kind switch
    {
        SigmaSamplerKind.Heun => (heun?.SChurn ?? 0) > 0,
        SigmaSamplerKind.DpmPlusPlus2MSde => (sde?.Eta ?? 1) > 0,
        _ => false,
    };
}

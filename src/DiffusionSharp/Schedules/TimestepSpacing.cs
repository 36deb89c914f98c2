using System.Text.Json.Serialization;

namespace DiffusionSharp.Schedules;

/// <summary>
/// How N inference timesteps are picked from the T training timesteps (Lin et al. 2023, "Common Diffusion Noise
/// Schedules and Sample Steps are Flawed", Table 2).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<TimestepSpacing>))]
public enum TimestepSpacing
{
    /// <summary>t_i = i·⌊T/N⌋ (+ steps_offset), largest first: never visits t = T−1. JSON <c>"leading"</c>.</summary>
    [JsonStringEnumMemberName("leading")]
    Leading,

    /// <summary>t_i = round(T − i·T/N) − 1: starts at T−1. JSON <c>"trailing"</c>.</summary>
    [JsonStringEnumMemberName("trailing")]
    Trailing,

    /// <summary>N values evenly spaced over [0, T−1] (rounded for integer schedulers). JSON <c>"linspace"</c>.</summary>
    [JsonStringEnumMemberName("linspace")]
    Linspace,
}

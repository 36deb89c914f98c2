using System.Text.Json.Serialization;

namespace DiffusionSharp.Schedules;

/// <summary>How the training betas β_1..β_T are laid out (diffusers' <c>beta_schedule</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BetaSchedule>))]
public enum BetaSchedule
{
    /// <summary>β linear from <c>BetaStart</c> to <c>BetaEnd</c> (Ho et al. 2020, §4). JSON <c>"linear"</c>.</summary>
    [JsonStringEnumMemberName("linear")]
    Linear,

    /// <summary>√β linear from √<c>BetaStart</c> to √<c>BetaEnd</c>, then squared (latent diffusion). JSON <c>"scaled_linear"</c>.</summary>
    [JsonStringEnumMemberName("scaled_linear")]
    ScaledLinear,

    /// <summary>The cosine ᾱ(t) of Nichol &amp; Dhariwal 2021 (eq. 17), β capped at 0.999. JSON <c>"squaredcos_cap_v2"</c>.</summary>
    [JsonStringEnumMemberName("squaredcos_cap_v2")]
    SquaredCosCapV2,

    /// <summary>β = sigmoid(linspace(−6, 6)) scaled into [<c>BetaStart</c>, <c>BetaEnd</c>] (GeoDiff). JSON <c>"sigmoid"</c>.</summary>
    [JsonStringEnumMemberName("sigmoid")]
    Sigmoid,
}

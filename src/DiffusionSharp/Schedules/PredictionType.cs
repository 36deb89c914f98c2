using System.Text.Json.Serialization;

namespace DiffusionSharp.Schedules;

/// <summary>What the network predicts from x_t (diffusers' <c>prediction_type</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PredictionType>))]
public enum PredictionType
{
    /// <summary>The noise ε with x_t = √ᾱ x₀ + √(1−ᾱ) ε (Ho et al. 2020). JSON <c>"epsilon"</c>.</summary>
    [JsonStringEnumMemberName("epsilon")]
    Epsilon,

    /// <summary>The clean sample x₀. JSON <c>"sample"</c>.</summary>
    [JsonStringEnumMemberName("sample")]
    Sample,

    /// <summary>The velocity v = √ᾱ ε − √(1−ᾱ) x₀ (Salimans &amp; Ho 2022, §4). JSON <c>"v_prediction"</c>.</summary>
    [JsonStringEnumMemberName("v_prediction")]
    VPrediction,
}

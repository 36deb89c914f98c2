using System.Text.Json.Serialization;

namespace DiffusionSharp.Schedules;

/// <summary>Where the last step of a σ-grid rollout lands (diffusers' <c>final_sigmas_type</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FinalSigmasType>))]
public enum FinalSigmasType
{
    /// <summary>σ = 0: the last step returns the model's clean-sample estimate. JSON <c>"zero"</c>.</summary>
    [JsonStringEnumMemberName("zero")]
    Zero,

    /// <summary>σ = the smallest noise level of the grid (σ of training step 0, or the grid's last σ for Karras
    /// grids in UniPC), so the rollout stops one hair short of clean. JSON <c>"sigma_min"</c>.</summary>
    [JsonStringEnumMemberName("sigma_min")]
    SigmaMin,
}

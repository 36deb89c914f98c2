using System.Text.Json.Serialization;

namespace DiffusionSharp.Training;

/// <summary>How the per-sample denoising loss is weighted across noise levels.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LossWeighting>))]
public enum LossWeighting
{
    /// <summary>Plain MSE on the network's target (Ho et al. 2020, "simple" loss).</summary>
    Uniform,

    /// <summary>Min-SNR-γ (Hang et al. 2023, eq. 9): the x₀-space weight min(SNR, γ), expressed for the target in use.</summary>
    MinSnr,

    /// <summary>
    /// EDM's λ(σ) = (σ² + σ_data²)/(σ·σ_data)² on the x₀ error (Karras et al. 2022, Table 1), with σ = √((1−ᾱ)/ᾱ) of the
    /// discrete schedule, expressed for the target in use.
    /// </summary>
    Edm,
}

using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

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
    /// EDM's λ(σ) = (σ² + σ_data²)/(σ·σ_data)² on the x₀ error (Karras et al. 2022, Table 1). With the discrete
    /// objective σ = √((1−ᾱ)/ᾱ) of the schedule and t is drawn uniformly; with <see cref="Preconditioning.Edm"/> σ is
    /// drawn log-normally as in the paper.
    /// </summary>
    Edm,
}

/// <summary>The weights of <see cref="LossWeighting"/> on the x₀ error ‖x̂₀ − x₀‖², as functions of SNR = 1/σ².</summary>
public static class LossWeights
{
    /// <summary>Per-row x₀-space weights for per-row <paramref name="snr"/> (float64 in, float64 out).</summary>
    public static Tensor OnSample(LossWeighting weighting, Tensor snr, double snrGamma, double sigmaData)
    {
        ArgumentNullException.ThrowIfNull(snr);
        return weighting switch
        {
            LossWeighting.Uniform => torch.ones_like(snr),
            LossWeighting.MinSnr => snr.clamp(max: snrGamma),
            // λ(σ) = (σ² + σ_d²)/(σ·σ_d)², σ² = 1/SNR.
            LossWeighting.Edm => (snr.reciprocal() + sigmaData * sigmaData) * snr / (sigmaData * sigmaData),
            _ => throw new ArgumentOutOfRangeException(nameof(weighting), weighting, "unknown loss weighting"),
        };
    }
}

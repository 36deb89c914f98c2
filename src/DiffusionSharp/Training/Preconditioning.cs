using System.Text.Json.Serialization;

namespace DiffusionSharp.Training;

/// <summary>How the trained network is wrapped into a denoiser.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Preconditioning>))]
public enum Preconditioning
{
    /// <summary>None: a discrete-time network F(x_t, t) predicting ε, x₀ or v over the noise schedule (DDPM, diffusers).</summary>
    None,

    /// <summary>
    /// EDM (Karras et al. 2022, Table 1): D(x; σ) = c_skip·x + c_out·F(c_in·x; ¼ ln σ), trained with log-normal σ
    /// (<see cref="EdmLoss"/>). The saved model folder records it, so sampling wraps the network the same way.
    /// </summary>
    Edm,
}

using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// The discrete-time network contract diffusers uses: network(x_t, t) with x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε the
/// variance-preserving sample and t the <b>training timestep</b> (0..T−1 of the schedule the network was trained on,
/// fractional between them for Euler/Heun-style schedulers) — never a noise level σ. It returns the quantity named by
/// its prediction type (ε, x₀ or v). The U-Net implements it; guidance and <see cref="PredictionAdapter"/> wrap it.
/// </summary>
/// <remarks>
/// The one exception is the raw network F inside <see cref="EdmPreconditioning"/>, whose time input is
/// c_noise = ¼ ln σ: it is only ever called through that wrapper (an <see cref="IDenoiser"/>), never by a scheduler.
/// To use a discrete-time network with σ-space samplers, wrap it in <see cref="DiscreteTimeDenoiser"/>.
/// </remarks>
public interface IDiffusionNetwork
{
    /// <summary>Runs the network: <paramref name="sample"/> x_t [B, …], <paramref name="timesteps"/> t [B] (training
    /// timesteps, float or int64), optional <paramref name="classLabels"/> [B] int64. Returns a fresh tensor shaped like
    /// the output channels.</summary>
    Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels);
}

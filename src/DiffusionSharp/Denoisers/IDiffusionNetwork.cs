using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// A network that predicts, from a noisy sample at integer-or-fractional training timesteps, the quantity named by its
/// prediction type (ε, x₀ or v). The U-Net implements it; guidance and parameterisation adapters wrap it.
/// </summary>
public interface IDiffusionNetwork
{
    /// <summary>Runs the network: <paramref name="sample"/> [B,C,H,W], <paramref name="timesteps"/> [B] (float or int64),
    /// optional <paramref name="classLabels"/> [B] int64. Returns a tensor shaped like the output channels.</summary>
    Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels);
}

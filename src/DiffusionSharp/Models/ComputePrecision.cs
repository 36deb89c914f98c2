namespace DiffusionSharp.Models;

/// <summary>The arithmetic of the U-Net's convolutions, linear layers and attention products.</summary>
/// <remarks>
/// TorchSharp has no <c>torch.autocast</c>, so <see cref="BFloat16"/> is done by hand: inputs and weights of each
/// conv / linear / matmul are cast to bfloat16, the product is computed there, and the result is cast back. Group
/// norms, softmax, the time sinusoid and every residual addition stay in the parameters' dtype (float32), and the
/// parameters themselves stay float32, so an optimizer updates full-precision weights.
/// </remarks>
public enum ComputePrecision
{
    /// <summary>Everything in the parameters' dtype (float32, or float64 for reference runs).</summary>
    Full,

    /// <summary>Conv, linear and attention matmuls in bfloat16; norms and the residual stream in float32.</summary>
    BFloat16,
}

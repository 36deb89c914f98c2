using DiffusionSharp.Denoisers;
using DiffusionSharp.Sampling.Samplers;
using static TorchSharp.torch;

namespace DiffusionSharp.Editing;

/// <summary>An inverted image: its latent x_T, the reconstruction from it, and how far that is from the input.</summary>
/// <param name="Latent">x at σ_max (σ-space scale: about σ_max·n; divide by √(σ_max² + 1) for the network's unit scale).</param>
/// <param name="Reconstruction">The deterministic decode of <paramref name="Latent"/> back down to σ_min.</param>
/// <param name="Rmse">Root-mean-square of reconstruction − input over every pixel, in the images' [-1, 1] units.</param>
/// <param name="MaxAbsError">The largest |reconstruction − input|.</param>
public sealed record InversionResult(Tensor Latent, Tensor Reconstruction, double Rmse, double MaxAbsError) : IDisposable
{
    /// <summary>Disposes both tensors.</summary>
    public void Dispose()
    {
        Latent.Dispose();
        Reconstruction.Dispose();
    }
}

/// <summary>
/// DDIM inversion (Song et al. 2021, "Denoising Diffusion Implicit Models", §4.3 and eq. 13–14, run from t = 0 to T as
/// Dhariwal &amp; Nichol 2021, App. F, and Mokady et al. 2023 do): maps an image to the latent x_T that deterministic
/// DDIM sampling turns back into it. In σ-space (x̄ = x_t/√ᾱ_t, σ = √((1 − ᾱ)/ᾱ)) DDIM for an ε-network is exactly
/// Euler on the probability-flow ODE dx/dσ = (x − D(x; σ))/σ (Karras et al. 2022, eq. 3/§3), so inversion is Euler
/// run upwards over the same grid: x_{i+1} = x_i + (σ_{i+1} − σ_i)·(x_i − D(x_i; σ_i))/σ_i, from σ_min to σ_max.
/// </summary>
/// <remarks>
/// Two approximations, as in every DDIM inversion: the image is taken as the sample at σ_min (σ_min ≈ 0.01 for the
/// linear schedule: the ODE cannot start at σ = 0), and each upward step uses the denoiser at its start x_i, σ_i —
/// the explicit step, where the exact inverse of the downward Euler step would need D at the unknown end point
/// x_{i+1}, σ_{i+1}. The reconstruction error measures the gap; it shrinks with the step count (first order).
/// Reconstruction is <see cref="EulerSampler"/> from σ_max down to σ_min on the same grid.
/// </remarks>
public static class DdimInversion
{
    /// <summary>
    /// x at σ_max for <paramref name="image"/> [B, …] in [-1, 1], over <paramref name="sigmas"/> (strictly decreasing
    /// from σ_max to σ_min &gt; 0, walked backwards; see <see cref="EditModel.InversionSigmas"/>). Fresh tensor.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two σ, a σ ≤ 0, or a grid that is not strictly decreasing.</exception>
    public static Tensor Invert(IDenoiser denoiser, Tensor image, IReadOnlyList<double> sigmas, Tensor? classLabels = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(image);
        CheckGrid(sigmas);
        using var inference = inference_mode();
        var x = image.clone();
        for (int i = sigmas.Count - 1; i > 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double sigma = sigmas[i], sigmaNext = sigmas[i - 1];
            using var scope = NewDisposeScope();
            var denoised = denoiser.Denoise(x, full(x.shape[0], sigma, dtype: ScalarType.Float64, device: x.device), classLabels);
            var next = (x + (x - denoised) * ((sigmaNext - sigma) / sigma)).MoveToOuterDisposeScope();
            x.Dispose();
            x = next;
        }
        return x;
    }

    /// <summary>The deterministic decode: <see cref="EulerSampler"/> from <paramref name="latent"/> at sigmas[0] down to sigmas[^1].</summary>
    public static Tensor Reconstruct(IDenoiser denoiser, Tensor latent, IReadOnlyList<double> sigmas, Tensor? classLabels = null, CancellationToken cancellationToken = default)
    {
        CheckGrid(sigmas);
        return new EulerSampler().Sample(denoiser, latent, sigmas, new SamplingContext(classLabels, Cancellation: cancellationToken));
    }

    /// <summary>Inverts <paramref name="image"/>, decodes the latent again and measures the reconstruction error.</summary>
    public static InversionResult RoundTrip(IDenoiser denoiser, Tensor image, IReadOnlyList<double> sigmas, Tensor? classLabels = null, CancellationToken cancellationToken = default)
    {
        var latent = Invert(denoiser, image, sigmas, classLabels, cancellationToken);
        var reconstruction = Reconstruct(denoiser, latent, sigmas, classLabels, cancellationToken);
        using var scope = NewDisposeScope();
        var error = (reconstruction.to(ScalarType.Float64) - image.to(ScalarType.Float64)).detach();
        return new InversionResult(latent, reconstruction, error.square().mean().sqrt().item<double>(), error.abs().max().item<double>());
    }

    private static void CheckGrid(IReadOnlyList<double> sigmas)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        if (sigmas.Count < 2)
            throw new ArgumentException("sigmas must hold at least two noise levels (σ_max … σ_min).", nameof(sigmas));
        for (int i = 0; i < sigmas.Count; i++)
        {
            if (!double.IsFinite(sigmas[i]) || sigmas[i] <= 0 || (i > 0 && !(sigmas[i] < sigmas[i - 1])))
                throw new ArgumentException($"sigmas must be finite, > 0 and strictly decreasing; sigmas[{i}] = {sigmas[i]}.", nameof(sigmas));
        }
    }
}

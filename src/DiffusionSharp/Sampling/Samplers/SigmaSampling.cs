using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling.Samplers;

/// <summary>
/// Draws samples with a σ-space sampler from per-sample seeds (as NVlabs/edm's generator per image): x_T = σ_0·n with n
/// the first draw of one generator per seed (<see cref="PerSampleNoise"/>), and every later draw of a stochastic sampler
/// from the same per-row generators, so sample i depends only on seeds[i] — not on the batch nor its place in it (for
/// denoisers whose rows do not interact).
/// </summary>
public static class SigmaSampling
{
    /// <summary>
    /// Runs <paramref name="sampler"/> over <paramref name="sigmas"/> (decreasing, ending at 0 or σ_min; see
    /// <see cref="Schedules.SigmaGrid.Create"/>) and returns x at sigmas[^1], [seeds.Length, ..sampleShape], owned by the caller.
    /// </summary>
    /// <param name="sampler">The algorithm.</param>
    /// <param name="denoiser">D(x; σ).</param>
    /// <param name="seeds">One seed per sample.</param>
    /// <param name="sampleShape">The shape of one sample ([C, H, W], [C, L], [D], …).</param>
    /// <param name="sigmas">The σ grid.</param>
    /// <param name="classLabels">Optional [B] int64 labels (borrowed).</param>
    /// <param name="onStep">Optional per-step hook (may replace x).</param>
    /// <param name="device">Where to sample (default CPU).</param>
    /// <param name="dtype">The sample dtype (default float32).</param>
    /// <param name="cancellationToken">Checked between steps.</param>
    /// <exception cref="ArgumentException">No seeds, a non-positive dimension, or labels not one per seed.</exception>
    public static Tensor Sample(
        ISigmaSampler sampler,
        IDenoiser denoiser,
        long[] seeds,
        long[] sampleShape,
        IReadOnlyList<double> sigmas,
        Tensor? classLabels = null,
        SamplerStepHook? onStep = null,
        Device? device = null,
        ScalarType dtype = ScalarType.Float32,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(sampleShape);
        ArgumentNullException.ThrowIfNull(sigmas);
        if (seeds.Length == 0)
            throw new ArgumentException("At least one seed is needed.", nameof(seeds));
        if (sampleShape.Length == 0 || sampleShape.Any(d => d <= 0))
            throw new ArgumentException($"Every dimension of the sample shape must be positive; got [{string.Join(", ", sampleShape)}].", nameof(sampleShape));
        if (sigmas.Count == 0)
            throw new ArgumentException("The σ grid is empty.", nameof(sigmas));
        if (classLabels is not null && (classLabels.dim() != 1 || classLabels.shape[0] != seeds.Length))
            throw new ArgumentException($"classLabels must be [{seeds.Length}] (one per seed); got [{string.Join(", ", classLabels.shape)}].", nameof(classLabels));
        device ??= CPU;

        using var inference = inference_mode();
        using var scope = NewDisposeScope();
        using var noise = new PerSampleNoise(seeds);
        var labels = classLabels?.to(ScalarType.Int64, device);
        var xT = noise.Draw(sampleShape, dtype, device) * sigmas[0];
        var context = new SamplingContext(labels, noise, onStep, cancellationToken);
        return sampler.Sample(denoiser, xT, sigmas, context).MoveToOuterDisposeScope();
    }
}

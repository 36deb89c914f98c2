using DiffusionSharp.Denoisers;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling.Samplers;

/// <summary>
/// The loop every σ-space sampler shares: argument checks, inference mode, one dispose scope per step, the step hook,
/// and the hand-over of x from step to step. Each sampler supplies only its step.
/// </summary>
internal static class SigmaSteps
{
    /// <summary>
    /// One step from sigmas[i] to sigmas[i + 1], given the previous step's x̂₀ (null at i = 0; multistep solvers use it):
    /// returns (x at sigmas[i + 1], the step's x̂₀), both made in the step's scope.
    /// </summary>
    public delegate (Tensor X, Tensor Denoised) Step(int i, Tensor x, Tensor? previousDenoised);

    /// <summary>Checks the arguments, then runs <paramref name="step"/> for i = 0..sigmas.Count − 2.</summary>
    public static Tensor Run(IDenoiser denoiser, Tensor x, IReadOnlyList<double> sigmas, SamplingContext context, Step step)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(context);
        CheckGrid(sigmas);
        if (x.dim() < 1)
            throw new ArgumentException("The sample needs a batch dimension.", nameof(x));
        if (context.ClassLabels is { } labels && (labels.dim() != 1 || labels.shape[0] != x.shape[0]))
            throw new ArgumentException($"ClassLabels must be [{x.shape[0]}] (one per row); got [{string.Join(", ", labels.shape)}].", nameof(context));

        using var inference = inference_mode();
        // current: x at sigmas[i] (the caller's x at i = 0, never disposed); previous: the last step's x̂₀. Both are moved
        // out of each step's scope and disposed by hand when replaced, so exactly two tensors outlive a step.
        var current = x;
        Tensor? previous = null;
        try
        {
            for (int i = 0; i + 1 < sigmas.Count; i++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                Tensor next, denoised;
                using (var scope = NewDisposeScope())
                {
                    var (stepped, d) = step(i, current, previous);
                    var replaced = context.OnStep?.Invoke(new SamplerStepInfo(i, sigmas[i], sigmas[i + 1], stepped, d));
                    if (replaced is not null && !replaced.shape.SequenceEqual(stepped.shape))
                        throw new InvalidOperationException($"The step hook returned shape [{string.Join(", ", replaced.shape)}] for x of shape [{string.Join(", ", stepped.shape)}].");
                    next = replaced ?? stepped;
                    if (ReferenceEquals(next, d) || ReferenceEquals(next, current))
                        next = next.clone();
                    next.MoveToOuterDisposeScope();
                    denoised = d.MoveToOuterDisposeScope();
                }
                if (!ReferenceEquals(current, x))
                    current.Dispose();
                previous?.Dispose();
                current = next;
                previous = denoised;
            }
        }
        catch
        {
            if (!ReferenceEquals(current, x))
                current.Dispose();
            throw;
        }
        finally
        {
            previous?.Dispose();
        }
        return ReferenceEquals(current, x) ? x.clone() : current;
    }

    /// <summary>A [B] float64 tensor holding σ for every row of <paramref name="x"/> (in the current scope).</summary>
    public static Tensor Sigma(double sigma, Tensor x) => full(x.shape[0], sigma, dtype: ScalarType.Float64, device: x.device);

    /// <summary>D(x; σ) for every row.</summary>
    public static Tensor Denoise(IDenoiser denoiser, Tensor x, double sigma, SamplingContext context) =>
        denoiser.Denoise(x, Sigma(sigma, x), context.ClassLabels);

    /// <summary>The context's noise source, required by stochastic samplers.</summary>
    public static Schedulers.INoiseSource Noise(SamplingContext context, string sampler) =>
        context.Noise ?? throw new ArgumentException($"{sampler} is stochastic: SamplingContext.Noise is required.", nameof(context));

    private static void CheckGrid(IReadOnlyList<double> sigmas)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        if (sigmas.Count == 0)
            throw new ArgumentException("The σ grid is empty.", nameof(sigmas));
        for (int i = 0; i < sigmas.Count; i++)
        {
            if (!double.IsFinite(sigmas[i]) || sigmas[i] < 0)
                throw new ArgumentException($"sigmas[{i}] = {sigmas[i]}: every σ must be finite and ≥ 0.", nameof(sigmas));
            if (i > 0 && !(sigmas[i] < sigmas[i - 1]))
                throw new ArgumentException($"sigmas must be strictly decreasing; sigmas[{i}] = {sigmas[i]} follows {sigmas[i - 1]}.", nameof(sigmas));
        }
    }
}

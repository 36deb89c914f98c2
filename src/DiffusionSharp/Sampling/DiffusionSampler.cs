using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling;

/// <summary>
/// The reverse-diffusion loop in diffusers' pipeline shape: x_T from per-sample seeded noise scaled by
/// <see cref="IScheduler.InitNoiseSigma"/>, then for every scheduler timestep t: x_in = scale_model_input(x, t),
/// ε̂/x̂₀/v̂ = network(x_in, t), x = step(output, t, x). The scheduler owns the algorithm; this class owns the loop,
/// the seeds and the memory.
/// </summary>
/// <remarks>
/// Runs under <c>torch.inference_mode()</c> with one dispose scope per network call, so the number of live tensors
/// stays flat however many steps run. Noise (x_T and every stochastic step) comes from one generator per sample
/// (<see cref="PerSampleNoise"/>), so sample i depends only on seeds[i]: the same seed gives the same image whether it
/// is drawn alone or in a batch (for networks whose rows do not interact).
/// </remarks>
public sealed class DiffusionSampler
{
    private readonly IScheduler _scheduler;
    private readonly IDiffusionNetwork _network;

    /// <summary>A sampler driving <paramref name="network"/> with <paramref name="scheduler"/>.</summary>
    public DiffusionSampler(IScheduler scheduler, IDiffusionNetwork network)
    {
        _scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        _network = network ?? throw new ArgumentNullException(nameof(network));
    }

    /// <summary>The scheduler.</summary>
    public IScheduler Scheduler => _scheduler;

    /// <summary>
    /// Draws one sample per seed and returns x₀ [seeds.Length, ..sampleShape] (the caller owns it).
    /// </summary>
    /// <param name="seeds">One seed per sample.</param>
    /// <param name="sampleShape">The shape of one sample, e.g. [C, H, W].</param>
    /// <param name="steps">Inference steps (network calls: steps × the scheduler's order, Heun 2N − 1).</param>
    /// <param name="classLabels">Optional [B] int64 class labels for a class-conditional network.</param>
    /// <param name="onStep">
    /// Called after every scheduler step with the call index, the new x and the step's x̂₀ (when the scheduler forms one).
    /// The tensors are valid only during the call; clone what must be kept.
    /// </param>
    /// <param name="device">Where to sample (default CPU).</param>
    /// <param name="dtype">The sample dtype (default float32).</param>
    /// <param name="cancellationToken">Checked between steps.</param>
    /// <param name="replaceX">
    /// Called after every scheduler step (after <paramref name="onStep"/>) with the call index, the timestep stepped from,
    /// the new x and the step's x̂₀; returns a replacement for x (inpainting projects the known region back, noised to
    /// the next timestep) or null to keep x. A replacement must be shaped like x and is taken over by the sampler: make
    /// it during the call (it then belongs to the step's dispose scope). The σ-space samplers' counterpart is
    /// <see cref="Samplers.SamplerStepHook"/>.
    /// </param>
    /// <exception cref="ArgumentException">No seeds, a non-positive dimension, or labels not matching the seeds.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is not valid for the scheduler.</exception>
    public Tensor Sample(
        long[] seeds,
        long[] sampleShape,
        int steps,
        Tensor? classLabels = null,
        Action<int, Tensor, Tensor?>? onStep = null,
        Device? device = null,
        ScalarType dtype = ScalarType.Float32,
        CancellationToken cancellationToken = default,
        Func<int, double, Tensor, Tensor?, Tensor?>? replaceX = null)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (seeds.Length == 0)
            throw new ArgumentException("At least one seed is needed.", nameof(seeds));
        if (sampleShape.Length == 0 || sampleShape.Any(d => d <= 0))
            throw new ArgumentException($"Every dimension of the sample shape must be positive; got [{string.Join(", ", sampleShape)}].", nameof(sampleShape));
        if (classLabels is not null && (classLabels.dim() != 1 || classLabels.shape[0] != seeds.Length))
            throw new ArgumentException($"classLabels must be [{seeds.Length}] (one per seed); got [{string.Join(", ", classLabels.shape)}].", nameof(classLabels));
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        device ??= CPU;

        using var inference = inference_mode();
        _scheduler.SetTimesteps(steps);
        var timesteps = _scheduler.Timesteps.data<double>().ToArray();

        using var outer = NewDisposeScope();
        using var noise = new PerSampleNoise(seeds);
        var labels = classLabels?.to(ScalarType.Int64, device);
        var x = noise.Draw(sampleShape, dtype, device) * (float)_scheduler.InitNoiseSigma;
        for (int i = 0; i < timesteps.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            double t = timesteps[i];
            var modelInput = _scheduler.ScaleModelInput(x, t);
            var tBatch = full(seeds.Length, t, dtype: ScalarType.Float32, device: device);
            var output = _network.Predict(modelInput, tBatch, labels);
            var step = _scheduler.Step(output, t, x, noise);
            onStep?.Invoke(i, step.PrevSample, step.PredOriginalSample);
            var next = step.PrevSample;
            if (replaceX?.Invoke(i, t, next, step.PredOriginalSample) is { } replaced)
            {
                if (!replaced.shape.SequenceEqual(next.shape))
                    throw new InvalidOperationException($"replaceX returned shape [{string.Join(", ", replaced.shape)}] for x of shape [{string.Join(", ", next.shape)}].");
                next = ReferenceEquals(replaced, x) ? replaced.clone() : replaced;
            }
            next.MoveToOuterDisposeScope();
            x.Dispose();
            x = next;
        }
        return x.MoveToOuterDisposeScope();
    }
}

using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling;

/// <summary>One kept state of a reverse-process rollout.</summary>
/// <param name="Step">Scheduler steps taken to reach it (0 is the initial noise x_T, N the final sample).</param>
/// <param name="Sigma">The σ-space noise level σ = √((1 − ᾱ)/ᾱ) of the sample (σ_max for x_T, 0 for the final sample).</param>
/// <param name="Sample">The sample [B, …] (a clone, owned by the recorder).</param>
public sealed record TrajectoryFrame(int Step, double Sigma, Tensor Sample);

/// <summary>
/// Keeps copies of the sample at chosen steps of a <see cref="DiffusionSampler"/> rollout, through its <c>onStep</c>
/// callback, with the noise level of each: the frames of a "noise flowing into data" picture.
/// </summary>
/// <remarks>
/// After scheduler step i (0-based) of N the sample sits at the next timestep of the rollout, t_{i+1}, whose σ is read
/// from the training schedule's σ table (linearly interpolated for fractional timesteps); after the last step it is the
/// clean sample, σ = 0. x_T itself is never passed to <c>onStep</c>, so <see cref="Record"/> rebuilds it from the seeds as
/// the sampler draws it. The recorder owns its frames' tensors (detached from every dispose scope): dispose it.
/// </remarks>
public sealed class TrajectoryRecorder : IDisposable
{
    private readonly List<TrajectoryFrame> _frames = [];

    /// <summary>The frames, in step order.</summary>
    public IReadOnlyList<TrajectoryFrame> Frames => _frames;

    /// <summary>
    /// <paramref name="count"/> step numbers spread evenly over 0…<paramref name="steps"/> (both ends included) in σ
    /// order, i.e. evenly in the number of steps taken.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is below 2 or above steps + 1.</exception>
    public static int[] EvenlySpaced(int steps, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, steps + 1);
        return Enumerable.Range(0, count).Select(k => (int)Math.Round((double)k * steps / (count - 1))).Distinct().ToArray();
    }

    /// <summary>
    /// Runs <paramref name="sampler"/> (see <see cref="DiffusionSampler.Sample"/>) and keeps the sample after each step
    /// number in <paramref name="keep"/> (0 = x_T, <paramref name="steps"/> = the result). Returns the final sample
    /// (the caller owns it).
    /// </summary>
    /// <param name="sampler">The sampler.</param>
    /// <param name="schedule">The training noise schedule of the network, for the σ of each frame.</param>
    /// <param name="seeds">One seed per sample.</param>
    /// <param name="sampleShape">The shape of one sample ([2] for points, [C, H, W] for images).</param>
    /// <param name="steps">Inference steps.</param>
    /// <param name="keep">Step numbers in 0…steps to keep (e.g. <see cref="EvenlySpaced"/>).</param>
    /// <param name="classLabels">Optional [B] class labels.</param>
    /// <exception cref="ArgumentOutOfRangeException">A kept step outside 0…steps.</exception>
    public Tensor Record(DiffusionSampler sampler, NoiseSchedule schedule, long[] seeds, long[] sampleShape, int steps,
        IReadOnlyCollection<int> keep, Tensor? classLabels = null)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(keep);
        if (keep.Any(k => k < 0 || k > steps))
            throw new ArgumentOutOfRangeException(nameof(keep), $"kept steps must lie in [0, {steps}]");
        var wanted = keep.ToHashSet();
        var trainSigmas = schedule.TrainSigmas();
        double[] timesteps = [];
        var scheduler = sampler.Scheduler;

        if (wanted.Contains(0))
        {
            using var scope = NewDisposeScope();
            var xT = PerSampleNoise.InitialNoise(seeds, sampleShape) * (float)scheduler.InitNoiseSigma;
            scheduler.SetTimesteps(steps);
            double t0 = scheduler.Timesteps.data<double>()[0];
            Add(0, SigmaAt(trainSigmas, t0), xT);
        }
        var result = sampler.Sample(seeds, sampleShape, steps, classLabels, onStep: (i, x, _) =>
        {
            if (timesteps.Length == 0)
                timesteps = scheduler.Timesteps.data<double>().ToArray();
            int taken = i + 1;
            if (!wanted.Contains(taken))
                return;
            double sigma = taken < timesteps.Length ? SigmaAt(trainSigmas, timesteps[taken]) : 0.0;
            Add(taken, sigma, x);
        });
        return result;
    }

    /// <summary>Keeps a copy of <paramref name="sample"/> as the frame of step <paramref name="step"/> (frames stay sorted by step).</summary>
    public void Add(int step, double sigma, Tensor sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        var copy = sample.detach().clone().DetachFromDisposeScope();
        int at = _frames.FindLastIndex(f => f.Step <= step) + 1;
        _frames.Insert(at, new TrajectoryFrame(step, sigma, copy));
    }

    /// <summary>Disposes every frame's tensor.</summary>
    public void Dispose()
    {
        foreach (var f in _frames)
            f.Sample.Dispose();
        _frames.Clear();
    }

    /// <summary>σ at a (possibly fractional) training timestep <paramref name="t"/>, linearly interpolated in the table
    /// <paramref name="sigmas"/> = σ_0 … σ_{T−1} (<see cref="NoiseSchedule.TrainSigmas"/>).</summary>
    public static double SigmaAt(float[] sigmas, double t)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        double c = Math.Clamp(t, 0, sigmas.Length - 1);
        int lo = (int)Math.Floor(c);
        int hi = Math.Min(lo + 1, sigmas.Length - 1);
        double w = c - lo;
        return (1 - w) * sigmas[lo] + w * sigmas[hi];
    }
}

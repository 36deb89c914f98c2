using DiffusionSharp.Denoisers;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Editing;

/// <summary>RePaint's resampling: blocks of <paramref name="JumpLength"/> steps, each run <paramref name="Resamplings"/> times.</summary>
/// <param name="JumpLength">j: how many steps each jump goes back up (Lugmayr et al. 2022, §4.2; the paper uses 10 of 250).</param>
/// <param name="Resamplings">r: how often each block is run (the paper's U = 10); 1 is plain replacement.</param>
public sealed record RePaintOptions(int JumpLength = 5, int Resamplings = 5);

/// <summary>
/// RePaint (Lugmayr et al. 2022, "RePaint: Inpainting using Denoising Diffusion Probabilistic Models", Algorithm 1 with
/// the jump schedule of §4.2): the per-step replacement of <see cref="Inpainting"/>, plus resampling — after a block of
/// j steps the sample is noised back up j steps and the block is run again, r times in all, so that the generated region
/// has time to harmonise with the known one. In σ-space the jump from σ_b back up to σ_a (σ_a &gt; σ_b) is the forward
/// (variance-exploding) process, x ← x + √(σ_a² − σ_b²)·n (Algorithm 1, line 10, in σ-space).
/// </summary>
/// <remarks>
/// Block ends are the grid indices p = N − 1 − m·j ≥ j (m = 0, 1, …), so the last block ends at the last noisy level
/// and the final step to σ = 0 is taken once; every block's steps are run r times, ≈ r·N denoiser calls in all. Down
/// segments go through the given <see cref="ISigmaSampler"/> (a multistep sampler restarts its history at each jump).
/// The kept pixels of the result equal the input exactly, as for <see cref="Inpainting.Replace"/>.
/// </remarks>
public static class RePaint
{
    /// <summary>
    /// The visiting order of the grid indices 0..N: down one step at a time, and after arriving at a block end for the
    /// k-th time (k &lt; r) back up j indices. Starts at 0, ends at N.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">N, j or r below 1.</exception>
    public static IReadOnlyList<int> Schedule(int steps, RePaintOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        if (options.JumpLength < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.JumpLength, "jump length must be ≥ 1");
        if (options.Resamplings < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.Resamplings, "resamplings must be ≥ 1");
        var jumpsLeft = new Dictionary<int, int>();
        for (int p = steps - 1; p >= options.JumpLength; p -= options.JumpLength)
            jumpsLeft[p] = options.Resamplings - 1;
        var path = new List<int> { 0 };
        int i = 0;
        while (i < steps)
        {
            path.Add(++i);
            if (jumpsLeft.TryGetValue(i, out int left) && left > 0)
            {
                jumpsLeft[i] = left - 1;
                i -= options.JumpLength;
                path.Add(i);
            }
        }
        return path;
    }

    /// <summary>
    /// Inpaints <paramref name="image"/> [B, C, H, W] where <paramref name="mask"/> is 1 (binary, as for
    /// <see cref="Inpainting.Replace"/>) over a grid from σ_max to 0, with RePaint's jumps. Returns a fresh tensor.
    /// </summary>
    /// <exception cref="ArgumentException">A bad mask, seeds or grid (see <see cref="Inpainting.Replace"/>).</exception>
    /// <exception cref="ArgumentOutOfRangeException">j or r below 1.</exception>
    public static Tensor Run(IDenoiser denoiser, ISigmaSampler sampler, Tensor image, Tensor mask, IReadOnlyList<double> sigmas,
        long[] seeds, RePaintOptions options, Tensor? classLabels = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(sampler);
        EditChecks.ImageSeedsGrid(image, seeds, sigmas);
        var path = Schedule(sigmas.Count - 1, options);
        using var noise = new PerSampleNoise(seeds);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var regenerate = EditChecks.Regenerate(mask, image);
        var context = new SamplingContext(classLabels, noise, Inpainting.KnownRegionHook(image, regenerate, noise), cancellationToken);
        var x = noise.Next(image) * sigmas[0];
        int s = 0;
        while (s + 1 < path.Count)
        {
            using var step = NewDisposeScope();
            Tensor next;
            if (path[s + 1] > path[s])
            {
                int e = s + 1;
                while (e + 1 < path.Count && path[e + 1] > path[e])
                    e++;
                var segment = sigmas.Skip(path[s]).Take(path[e] - path[s] + 1).ToArray();
                next = sampler.Sample(denoiser, x, segment, context);
                s = e;
            }
            else
            {
                double from = sigmas[path[s]], to = sigmas[path[s + 1]];
                next = x + noise.Next(x) * Math.Sqrt(to * to - from * from);
                s++;
            }
            x.Dispose();
            x = next.MoveToOuterDisposeScope();
        }
        return x.MoveToOuterDisposeScope();
    }
}

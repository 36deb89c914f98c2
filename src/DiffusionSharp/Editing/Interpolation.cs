using DiffusionSharp.Denoisers;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Editing;

/// <summary>
/// Interpolation between two samples through their starting noises, as DDIM's §5.3 does (Song et al. 2021): spherical
/// linear interpolation (Shoemake 1985, "Animating Rotation with Quaternion Curves") of x_T^(0) and x_T^(1),
/// slerp(a, b; t) = sin((1 − t)θ)/sin θ · a + sin(tθ)/sin θ · b with θ = arccos(⟨a, b⟩/(|a||b|)), then one deterministic
/// sampling run per frame. Unlike the straight line, whose midpoint of two independent Gaussian vectors has only 1/√2 of
/// their norm (a noise level the network never saw), slerp keeps the norm between the two endpoints' norms.
/// </summary>
public static class Interpolation
{
    /// <summary>
    /// slerp(a, b; t) row by row (each row flattened to one vector), computed in float64 and returned in a's dtype;
    /// t = 0 gives a and t = 1 gives b exactly. Rows that are (anti)parallel to within 1e-12 fall back to the straight line.
    /// </summary>
    /// <exception cref="ArgumentException">Different shapes, or t not finite.</exception>
    public static Tensor Slerp(Tensor a, Tensor b, double t)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.shape.SequenceEqual(b.shape) || a.dim() < 1)
            throw new ArgumentException($"slerp needs two tensors of one shape [B, …]; got [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}].", nameof(b));
        if (!double.IsFinite(t))
            throw new ArgumentException($"t must be finite, not {t}.", nameof(t));
        using var scope = NewDisposeScope();
        var a64 = a.to(ScalarType.Float64).flatten(1);
        var b64 = b.to(ScalarType.Float64).flatten(1);
        var cos = ((a64 * b64).sum(1) / (a64.norm(1) * b64.norm(1))).clamp(-1, 1);
        var theta = cos.acos();
        var sin = theta.sin();
        var parallel = sin.abs().lt(1e-12);
        var safeSin = where(parallel, ones_like(sin), sin);
        var wa = where(parallel, full_like(sin, 1 - t), ((1 - t) * theta).sin() / safeSin).unsqueeze(1);
        var wb = where(parallel, full_like(sin, t), (t * theta).sin() / safeSin).unsqueeze(1);
        return (wa * a64 + wb * b64).reshape(a.shape).to(a.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>The interpolation weights t_k = k/(F − 1), k = 0..F − 1.</summary>
    public static double[] Times(int frames)
    {
        if (frames < 2)
            throw new ArgumentOutOfRangeException(nameof(frames), frames, "frames must be ≥ 2");
        return Enumerable.Range(0, frames).Select(k => (double)k / (frames - 1)).ToArray();
    }

    /// <summary>
    /// <paramref name="frames"/> samples [F, ..shape]: frame k starts from σ_0·slerp(z_a, z_b; t_k), where z_a, z_b are
    /// the first draws of <paramref name="seedA"/> and <paramref name="seedB"/> (the noises plain sampling starts from),
    /// so the first and last frames are the two seeds' own samples. A stochastic sampler's step noise comes from seed
    /// A for every frame. <paramref name="classLabels"/> is [F] or null.
    /// </summary>
    public static Tensor Frames(IDenoiser denoiser, ISigmaSampler sampler, long seedA, long seedB, int frames, long[] shape,
        IReadOnlyList<double> sigmas, Tensor? classLabels = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(sigmas);
        var times = Times(frames);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var za = PerSampleNoise.InitialNoise([seedA], shape);
        var zb = PerSampleNoise.InitialNoise([seedB], shape);
        var start = cat(times.Select(t => Slerp(za, zb, t)).ToArray(), 0) * sigmas[0];
        using var noise = new PerSampleNoise(Enumerable.Repeat(seedA, frames).ToArray());
        return sampler.Sample(denoiser, start, sigmas, new SamplingContext(classLabels, noise, null, cancellationToken)).MoveToOuterDisposeScope();
    }
}

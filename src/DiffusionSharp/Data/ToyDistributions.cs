using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Data;

/// <summary>The 2-D toy distributions of <see cref="ToyDistributions"/> (CLI names in parentheses).</summary>
public enum ToyDistribution
{
    /// <summary>Two interleaved half circles with Gaussian jitter, as scikit-learn's <c>make_moons</c> (<c>two-moons</c>).</summary>
    TwoMoons,

    /// <summary>A mixture of eight isotropic Gaussians on a circle (Gulrajani et al. 2017, WGAN-GP toy) (<c>eight-gaussians</c>).</summary>
    EightGaussians,

    /// <summary>The 2-D Swiss roll (t cos t, t sin t), t ∈ [1.5π, 4.5π] (scikit-learn's <c>make_swiss_roll</c>, x and z) (<c>swiss-roll</c>).</summary>
    SwissRoll,

    /// <summary>Uniform on the dark squares of a 4×4 checkerboard (Grathwohl et al. 2019, FFJORD toy) (<c>checkerboard</c>).</summary>
    Checkerboard,
}

/// <summary>
/// A draw of a toy distribution: <see cref="Points"/> [N, 2] float32, <see cref="Labels"/> [N] int64 (the moon, the
/// Gaussian's index; zeros where the distribution has no natural classes, then <see cref="ClassNames"/> is empty).
/// Owns both tensors (detached from every dispose scope): dispose it.
/// </summary>
/// <param name="Points">[N, 2] float32 points, centred, with total variance tr Σ ≈ 2 (that of N(0, I₂)).</param>
/// <param name="Labels">[N] int64 class indices into <paramref name="ClassNames"/>, or zeros.</param>
/// <param name="ClassNames">The class names, indexed by label; empty for an unlabelled distribution.</param>
public sealed record ToyData(Tensor Points, Tensor Labels, IReadOnlyList<string> ClassNames) : IDisposable
{
    /// <summary>N.</summary>
    public long Count => Points.shape[0];

    /// <summary>Disposes both tensors.</summary>
    public void Dispose()
    {
        Points.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// Seeded draws of 2-D toy distributions, the smallest data on which a diffusion model can be trained and looked at.
/// </summary>
/// <remarks>
/// <para>Scaling: each distribution is drawn in its natural units, then mapped by one fixed affine map,
/// x ↦ (x − μ)·√(2 / tr Σ), where μ and Σ are the mean and covariance of a 200 000-point reference draw (seed 0) made
/// once per process. So every draw, of any size and seed, shares the same map, is centred, and has total variance
/// ≈ 2 — the total variance of the N(0, I₂) prior a diffusion model starts from — while the shape keeps its aspect
/// ratio (one scale for both axes).</para>
/// <para>Determinism: all randomness comes from one libtorch CPU generator seeded with the given seed, so a seed gives
/// the same points on every run. Points are in random order (the classes interleave), so any prefix is a fair draw.</para>
/// </remarks>
public static class ToyDistributions
{
    private const int ReferenceCount = 200_000;

    private static readonly (string Name, ToyDistribution Kind)[] s_names =
    [
        ("two-moons", ToyDistribution.TwoMoons),
        ("eight-gaussians", ToyDistribution.EightGaussians),
        ("swiss-roll", ToyDistribution.SwissRoll),
        ("checkerboard", ToyDistribution.Checkerboard),
    ];

    private static readonly Lazy<(double Mx, double My, double Scale)>[] s_maps =
        s_names.Select(n => new Lazy<(double, double, double)>(() => ReferenceMap(n.Kind))).ToArray();

    /// <summary>The names <see cref="Parse"/> accepts, in the order help texts list them.</summary>
    public static IReadOnlyList<string> Names { get; } = s_names.Select(n => n.Name).ToArray();

    /// <summary>The CLI name of <paramref name="distribution"/> (<c>two-moons</c>, …).</summary>
    public static string Name(this ToyDistribution distribution) =>
        s_names.FirstOrDefault(n => n.Kind == distribution).Name
        ?? throw new ArgumentOutOfRangeException(nameof(distribution), distribution, "not a defined ToyDistribution");

    /// <summary>Reads a name of <see cref="Names"/> (any case; <c>_</c> for <c>-</c> is accepted).</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the allowed ones.</exception>
    public static ToyDistribution Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = name.Trim().Replace('_', '-');
        foreach (var (n, kind) in s_names)
        {
            if (string.Equals(n, key, StringComparison.OrdinalIgnoreCase))
                return kind;
        }
        throw new ArgumentException($"unknown toy distribution '{name}'; allowed: {string.Join(", ", Names)}", nameof(name));
    }

    /// <summary>The class names of <paramref name="distribution"/> (empty where it has none).</summary>
    public static IReadOnlyList<string> ClassNames(ToyDistribution distribution) => distribution switch
    {
        ToyDistribution.TwoMoons => ["upper moon", "lower moon"],
        ToyDistribution.EightGaussians => Enumerable.Range(0, 8).Select(k => $"{45 * k}°").ToArray(),
        ToyDistribution.SwissRoll or ToyDistribution.Checkerboard => [],
        _ => throw new ArgumentOutOfRangeException(nameof(distribution), distribution, "not a defined ToyDistribution"),
    };

    /// <summary>Draws <paramref name="count"/> points of <paramref name="distribution"/> from <paramref name="seed"/> (see remarks of the class).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive.</exception>
    public static ToyData Sample(ToyDistribution distribution, int count, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var (mx, my, scale) = s_maps[Index(distribution)].Value;
        using var scope = NewDisposeScope();
        var (raw, labels) = Raw(distribution, count, seed);
        var center = tensor(new[] { (float)mx, (float)my });
        var points = ((raw - center) * scale).to(ScalarType.Float32).contiguous();
        return new ToyData(points.DetachFromDisposeScope(), labels.DetachFromDisposeScope(), ClassNames(distribution));
    }

    /// <inheritdoc cref="Sample(ToyDistribution, int, long)"/>
    public static ToyData Sample(string name, int count, long seed) => Sample(Parse(name), count, seed);

    private static int Index(ToyDistribution distribution)
    {
        int i = Array.FindIndex(s_names, n => n.Kind == distribution);
        return i >= 0 ? i : throw new ArgumentOutOfRangeException(nameof(distribution), distribution, "not a defined ToyDistribution");
    }

    /// <summary>μ and √(2 / tr Σ) of a large fixed-seed draw in natural units.</summary>
    private static (double, double, double) ReferenceMap(ToyDistribution distribution)
    {
        using var scope = NewDisposeScope();
        var (raw, _) = Raw(distribution, ReferenceCount, seed: 0);
        var mean = raw.mean([0]);
        double totalVariance = (raw - mean).square().sum(1).mean().item<double>();
        var m = mean.data<double>().ToArray();
        return (m[0], m[1], Math.Sqrt(2.0 / totalVariance));
    }

    /// <summary>Points [N, 2] float64 in the distribution's natural units and labels [N] int64, in random order.</summary>
    private static (Tensor Points, Tensor Labels) Raw(ToyDistribution distribution, int n, long seed)
    {
        using var g = new Generator(unchecked((ulong)seed), CPU);
        const ScalarType f64 = ScalarType.Float64;
        switch (distribution)
        {
            case ToyDistribution.TwoMoons:
            {
                // Moon k ∈ {0, 1} of each point from a fair coin; θ ~ U[0, π]. Upper: (cos θ, sin θ);
                // lower: (1 − cos θ, ½ − sin θ). Jitter N(0, 0.06²) per coordinate.
                var labels = randint(0, 2, [n], dtype: ScalarType.Int64, generator: g);
                var theta = rand(n, dtype: f64, generator: g) * Math.PI;
                var lower = labels.to(f64);
                var x = cos(theta) * (1 - 2 * lower) + lower;
                var y = sin(theta) * (1 - 2 * lower) + lower * 0.5;
                var points = stack([x, y], 1) + randn(n, 2, dtype: f64, generator: g) * 0.06;
                return (points, labels);
            }
            case ToyDistribution.EightGaussians:
            {
                // Component k ~ U{0..7} centred at (cos kπ/4, sin kπ/4), standard deviation 0.08.
                var labels = randint(0, 8, [n], dtype: ScalarType.Int64, generator: g);
                var angle = labels.to(f64) * (Math.PI / 4);
                var points = stack([cos(angle), sin(angle)], 1) + randn(n, 2, dtype: f64, generator: g) * 0.08;
                return (points, labels);
            }
            case ToyDistribution.SwissRoll:
            {
                // t = 1.5π(1 + 2u), u ~ U[0, 1]; (t cos t, t sin t) + N(0, 0.3²). No classes.
                var t = (rand(n, dtype: f64, generator: g) * 2 + 1) * (1.5 * Math.PI);
                var points = stack([t * cos(t), t * sin(t)], 1) + randn(n, 2, dtype: f64, generator: g) * 0.3;
                return (points, zeros(n, dtype: ScalarType.Int64));
            }
            case ToyDistribution.Checkerboard:
            {
                // x ~ U[−2, 2); y uniform over the two unit rows of [−2, 2) whose squares are dark in x's column.
                var x = rand(n, dtype: f64, generator: g) * 4 - 2;
                var row = randint(0, 2, [n], dtype: ScalarType.Int64, generator: g).to(f64) * 2;
                var y = rand(n, dtype: f64, generator: g) - row + floor(x).remainder(2);
                return (stack([x, y], 1), zeros(n, dtype: ScalarType.Int64));
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(distribution), distribution, "not a defined ToyDistribution");
        }
    }
}

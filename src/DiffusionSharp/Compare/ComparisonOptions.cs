using System.Collections.Immutable;
using System.Globalization;
using DiffusionSharp.Schedulers;

namespace DiffusionSharp.Compare;

/// <summary>The model sizes of a comparison: the stated defaults, or a very small test size.</summary>
public enum CompareSize
{
    /// <summary>U-Net preset tiny (1.16M), GAN G ≈ 0.73M (0.93M conditional) / D ≈ 0.10M, VAE ≈ 0.97M.</summary>
    Default,

    /// <summary>Every model a few thousand to tens of thousands of parameters, for the test suite.</summary>
    Tiny,
}

/// <summary>
/// Every knob of <c>diffuse compare</c>, immutable, stored in <c>DIR/comparison.json</c>. A cell is one model family ×
/// conditioning × data fraction × seed; all cells get the same training-time budget, batch size and evaluator.
/// </summary>
public sealed record ComparisonOptions
{
    /// <summary>The model family names.</summary>
    public static IReadOnlyList<string> Families { get; } = ["diffusion", "vae", GanVariants.Dcgan, GanVariants.HingeSpectralNorm];

    /// <summary>The families to train.</summary>
    public ImmutableArray<string> Models { get; init; } = [.. Families];

    /// <summary>Class-conditional and/or unconditional training (true = conditional).</summary>
    public ImmutableArray<bool> Conditioning { get; init; } = [true, false];

    /// <summary>Shares of the training digits each model is trained on (the same digits for every model and seed).</summary>
    public ImmutableArray<double> Fractions { get; init; } = [0.01, 0.1, 1.0];

    /// <summary>Seeds per cell (seeds 0 … N−1).</summary>
    public int Seeds { get; init; } = 3;

    /// <summary>Training time per cell in seconds (step time only; evaluation is not counted).</summary>
    public double BudgetSeconds { get; init; } = 180;

    /// <summary>Samples per optimizer step, for every model.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Samples drawn for each cell's final evaluation.</summary>
    public int Samples { get; init; } = 1000;

    /// <summary>Evaluations spread over the budget (the FID-vs-time curve).</summary>
    public int CurvePoints { get; init; } = 4;

    /// <summary>Samples per curve evaluation.</summary>
    public int CurveSamples { get; init; } = 250;

    /// <summary>
    /// The diffusion model's sampler for its evaluation samples. Ancestral DDPM by default: the short-budget U-Nets of a
    /// comparison leave a high-frequency residue that a deterministic solver keeps and DDPM's fresh noise at every step
    /// washes out. Measured on a 10 % cell (4-minute budget): the independent judge's FID 62.6 with DDPM 100 steps
    /// against 264.8 with DPM-Solver++ 20 (273.1 at 50 steps), conditional accuracy 88 % against 58 %.
    /// </summary>
    public SamplerKind Sampler { get; init; } = SamplerKind.Ddpm;

    /// <summary>Steps of <see cref="Sampler"/> for the diffusion model's evaluation samples.</summary>
    public int SamplingSteps { get; init; } = 100;

    /// <summary>Classifier-free guidance for the conditional diffusion model's samples (the model folder's default of <c>diffuse train</c>).</summary>
    public double Guidance { get; init; } = 2.0;

    /// <summary>The FID whose first crossing "time to reach" reports; null: twice the real-data floor at the curve's sample count.</summary>
    public double? TargetFid { get; init; }

    /// <summary>The model sizes.</summary>
    public CompareSize Size { get; init; } = CompareSize.Default;

    /// <summary>Checks every option; the message names the command-line option.</summary>
    public void Validate()
    {
        if (Models.IsDefaultOrEmpty || Models.Any(m => !Families.Contains(m)) || Models.Distinct().Count() != Models.Length)
            throw new ArgumentException($"--models takes distinct names among {string.Join(", ", Families)}");
        if (Conditioning.IsDefaultOrEmpty || Conditioning.Distinct().Count() != Conditioning.Length)
            throw new ArgumentException("--conditioning takes conditional and/or unconditional");
        if (Fractions.IsDefaultOrEmpty || Fractions.Any(f => !(f > 0 && f <= 1)) || Fractions.Distinct().Count() != Fractions.Length)
            throw new ArgumentException("--fractions takes distinct shares in (0, 1], e.g. 0.01,0.1,1");
        if (Seeds is < 1 or > 100)
            throw new ArgumentException("--seeds must be in [1, 100]");
        if (!(BudgetSeconds > 0) || !double.IsFinite(BudgetSeconds))
            throw new ArgumentException("--budget-minutes must be > 0");
        if (BatchSize < 2)
            throw new ArgumentException("--batch-size must be ≥ 2");
        if (Samples < 10)
            throw new ArgumentException("--samples must be ≥ 10 (the k-NN metrics need k + 1 points)");
        if (CurvePoints < 1)
            throw new ArgumentException("--curve-points must be ≥ 1");
        if (CurveSamples < 10)
            throw new ArgumentException("--curve-samples must be ≥ 10");
        if (SamplingSteps < 1)
            throw new ArgumentException("--sampling-steps must be ≥ 1");
        if (!(Guidance >= 1))
            throw new ArgumentException("--guidance must be ≥ 1");
        if (TargetFid is { } t && !(t > 0))
            throw new ArgumentException("--target-fid must be > 0");
    }

    /// <summary>The options that define what a finished cell holds: a resumed comparison must keep them.</summary>
    internal IEnumerable<(string Option, string Value)> CellDefining() =>
    [
        ("--budget-minutes", (BudgetSeconds / 60).ToString("R", CultureInfo.InvariantCulture)),
        ("--batch-size", BatchSize.ToString(CultureInfo.InvariantCulture)),
        ("--samples", Samples.ToString(CultureInfo.InvariantCulture)),
        ("--curve-points", CurvePoints.ToString(CultureInfo.InvariantCulture)),
        ("--curve-samples", CurveSamples.ToString(CultureInfo.InvariantCulture)),
        ("--sampler", SchedulerFactory.CliName(Sampler)),
        ("--sampling-steps", SamplingSteps.ToString(CultureInfo.InvariantCulture)),
        ("--guidance", Guidance.ToString("R", CultureInfo.InvariantCulture)),
        ("--size", Size.ToString()),
    ];

    /// <summary>Parses a comma-separated list of fractions (<c>0.01,0.1,1</c>); percentages such as <c>10%</c> are read too.</summary>
    public static ImmutableArray<double> ParseFractions(string text) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
            s.EndsWith('%') && double.TryParse(s[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out double p) ? p / 100
            : double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) ? f
            : throw new ArgumentException($"--fractions: '{s}' is not a number"))];

    /// <summary>Parses <c>conditional,unconditional</c> (or <c>cond</c>, <c>uncond</c>).</summary>
    public static ImmutableArray<bool> ParseConditioning(string text) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.ToLowerInvariant() switch
        {
            "conditional" or "cond" => true,
            "unconditional" or "uncond" => false,
            _ => throw new ArgumentException($"--conditioning: '{s}' is neither conditional nor unconditional"),
        })];
}

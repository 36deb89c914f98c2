using System.Globalization;
using System.Text;
using DiffusionSharp.Evaluation;
using DiffusionSharp.IO;
using DiffusionSharp.Training;

namespace DiffusionSharp.Compare;

/// <summary>
/// Writes the comparison's <c>report.md</c> and figures from the cells' results: the models and their sizes, one table
/// per data fraction (FID vs floor, conditional accuracy, KL from uniform, precision/recall, density/coverage,
/// memorisation, sampling time), data hunger, the VAE's reconstructions, seed spread, time to reach a target FID,
/// sampling cost, and the findings, computed from the numbers (including where a baseline wins).
/// </summary>
internal static class ComparisonReport
{
    private static readonly CultureInfo s_c = CultureInfo.InvariantCulture;

    /// <summary>Writes <c>report.md</c> and its figures into <paramref name="outDir"/>; returns the report's path.</summary>
    public static string Write(string outDir, ComparisonOptions options, IReadOnlyList<CellResult> cells, IReadOnlyList<SamplingCost> costs)
    {
        var sb = new StringBuilder();
        double full = options.Fractions.Max();
        sb.AppendLine("# Diffusion vs GAN vs VAE on MNIST").AppendLine();
        sb.AppendLine(s_c, $"Every model trained for {options.BudgetSeconds / 60:0.##} minutes of step time on this CPU ({Environment.ProcessorCount} threads), batch {options.BatchSize}, " +
            $"seeds 0–{options.Seeds - 1}, on {string.Join(", ", options.Fractions.Select(f => f.ToString("P0", s_c)))} of the training digits (the same digits for every model). " +
            $"Final figures on {options.Samples} samples (seeds 1,000,000…); curves on {options.CurveSamples}. Weights evaluated: the EMA copy (decay ≤ 0.999) for every model. " +
            $"Sizes: {options.Size}.").AppendLine();
        sb.AppendLine($"Feature space: {DigitEvaluator.FeatureSpaceDescription}. {EvaluationReport.NotInceptionFid}").AppendLine();
        sb.AppendLine("Precision/recall: Kynkäänniemi et al. 2019, k = 3; density/coverage: Naeem et al. 2020, k = 5; both against the test split's features. " +
            "Memorised: share of samples whose nearest training digit (of the digits that model saw, pixel ℓ2) is < 1/3 of the distance to the second nearest (Gu et al. 2023); " +
            "memorised (features): the same test in the classifier's feature space, which residual noise in a sample does not push apart as it does pixels.").AppendLine();

        sb.AppendLine("## Models").AppendLine();
        sb.AppendLine("| model | conditioning | what | sampler parameters | all parameters | median step (s) | steps in budget (mean) |");
        sb.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: |");
        foreach (var g in cells.Where(c => c.Fraction == full).GroupBy(c => (c.Model, c.Conditional)))
            sb.AppendLine(s_c, $"| {g.Key.Model} | {Cond(g.Key.Conditional)} | {g.First().Description} | {g.First().SamplerParameters:N0} | {g.First().Parameters:N0} | {g.Average(c => c.MedianStepSeconds):F3} | {g.Average(c => c.Steps):F0} |");
        sb.AppendLine().AppendLine("Sampler parameters: the U-Net, the GAN's generator, the VAE's decoder; all parameters add the discriminator or the encoder.").AppendLine();

        foreach (double fraction in options.Fractions.OrderByDescending(f => f))
        {
            var at = cells.Where(c => c.Fraction == fraction).ToList();
            if (at.Count == 0)
                continue;
            sb.AppendLine(s_c, $"## {fraction:P0} of the digits ({at[0].TrainingDigits} digits)").AppendLine();
            sb.AppendLine("| model | cond. | FID (mean ± sd over seeds) | floor | FID / floor | cond. accuracy | KL(classes ‖ uniform) | precision | recall | density | coverage | memorised | memorised (features) | ms / image |");
            sb.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var g in at.GroupBy(c => (c.Model, c.Conditional)))
            {
                var acc = g.Where(c => c.Report.ConditionalAccuracy is not null).Select(c => c.Report.ConditionalAccuracy!.Value).ToList();
                sb.AppendLine(s_c, $"| {g.Key.Model} | {Cond(g.Key.Conditional)} | {MeanSd(g.Select(c => c.Report.FidSamplesVsTest))} | {g.Average(c => c.Report.FidFloorTrainVsTest):F2} | " +
                    $"{g.Average(c => c.Report.FidSamplesVsTest / c.Report.FidFloorTrainVsTest):F2} | {(acc.Count > 0 ? acc.Average().ToString("P1", s_c) : "—")} | {g.Average(c => c.Report.KlFromUniform):F4} | " +
                    $"{g.Average(c => c.PrecisionRecall.Precision):F3} | {g.Average(c => c.PrecisionRecall.Recall):F3} | {g.Average(c => c.DensityCoverage.Density):F3} | {g.Average(c => c.DensityCoverage.Coverage):F3} | " +
                    $"{g.Average(c => c.Memorised):P1} | {MeanMemorisedFeatures(g)?.ToString("P1", s_c) ?? "—"} | {g.Average(c => c.SampleSecondsPerImage) * 1000:F2} |");
            }
            sb.AppendLine().AppendLine("Class histograms (seed 0, predicted classes 0…9):").AppendLine();
            foreach (var c in at.Where(c => c.Seed == 0))
                sb.AppendLine(s_c, $"- {c.Model} {Cond(c.Conditional)}: {string.Join(" ", c.Report.ClassHistogram)}");
            sb.AppendLine();
            string figure = string.Create(s_c, $"fid-vs-time-f{fraction:R}.png");
            string bars = string.Create(s_c, $"prc-bars-f{fraction:R}.png");
            ComparisonPlots.FidVersusTime(at, fraction, Path.Combine(outDir, figure));
            ComparisonPlots.PrecisionRecallCoverage(at, fraction, Path.Combine(outDir, bars));
            var seed0 = at.Where(c => c.Seed == 0).OrderBy(c => options.Models.IndexOf(c.Model)).ThenByDescending(c => c.Conditional).ToList();
            string sideBySide = string.Create(s_c, $"samples-f{fraction:R}.png");
            ComparisonPlots.SideBySide(seed0.Select(c => Path.Combine(outDir, "cells", CellResult.Name(c.Model, c.Conditional, c.Fraction, c.Seed), "samples")).ToList(), Path.Combine(outDir, sideBySide));
            sb.AppendLine(s_c, $"![FID vs training time]({figure})").AppendLine();
            sb.AppendLine(s_c, $"![precision, recall, density, coverage]({bars})").AppendLine();
            sb.AppendLine(s_c, $"![samples, left to right: {string.Join(", ", seed0.Select(c => $"{c.Model} {Cond(c.Conditional)}"))}]({sideBySide})").AppendLine();
            sb.AppendLine(s_c, $"*Samples (seed 0), left to right: {string.Join(", ", seed0.Select(c => $"{c.Model} {Cond(c.Conditional)}"))}; every sample is a PNG under `cells/NAME/samples/`.*").AppendLine();
            TrainingCurves(sb, outDir, options, at, fraction);
        }

        DataHunger(sb, options, cells);
        Vae(sb, cells);
        TimeToTarget(sb, options, cells);
        Costs(sb, costs);
        Findings(sb, options, cells);
        string path = Path.Combine(outDir, "report.md");
        AtomicFile.WriteAllText(path, sb.ToString());
        return path;
    }

    /// <summary>One loss figure per model at <paramref name="fraction"/>, every seed and conditioning in it (a GAN's D and G losses: its instability is part of the finding).</summary>
    private static void TrainingCurves(StringBuilder sb, string outDir, ComparisonOptions options, IReadOnlyList<CellResult> at, double fraction)
    {
        var figures = new List<string>();
        foreach (var g in at.GroupBy(c => c.Model).OrderBy(g => options.Models.IndexOf(g.Key)))
        {
            var runs = g.OrderByDescending(c => c.Conditional).ThenBy(c => c.Seed)
                .Select(c => (Path.Combine(outDir, "cells", CellResult.Name(c.Model, c.Conditional, c.Fraction, c.Seed), "run"), c.Conditional, c.Seed)).ToList();
            if (runs.All(r => TrainingLog.LossColumns(r.Item1).Count == 0))
                continue;
            bool gan = GanVariants.All.Contains(g.Key);
            string file = string.Create(s_c, $"losses-{g.Key}-f{fraction:R}.png");
            ComparisonPlots.TrainingLosses(runs, string.Create(s_c, $"{g.Key}: training losses, {fraction:P0} of the digits, seeds {string.Join(", ", g.Select(c => c.Seed).Distinct().Order())}"),
                gan ? AdversarialLoss.DiscriminatorStage : "loss", Path.Combine(outDir, file));
            figures.Add(file);
        }
        if (figures.Count == 0)
            return;
        sb.AppendLine(s_c, $"Training losses (`cells/NAME/run/log.csv`; a GAN logs D's loss as `loss` and G's as `loss_generator`), a moving average of {ComparisonPlots.LossWindow} steps (of a tenth of the steps in a shorter run):").AppendLine();
        foreach (string file in figures)
            sb.AppendLine(s_c, $"![training losses]({file})").AppendLine();
    }

    private static void DataHunger(StringBuilder sb, ComparisonOptions options, IReadOnlyList<CellResult> cells)
    {
        var fractions = options.Fractions.Order().ToList();
        sb.AppendLine("## Data hunger: FID (mean over seeds) by share of the training digits").AppendLine();
        sb.AppendLine($"| model | cond. | {string.Join(" | ", fractions.Select(f => f.ToString("P0", s_c)))} |");
        sb.AppendLine($"| --- | --- |{string.Concat(fractions.Select(_ => " ---: |"))}");
        foreach (var g in cells.GroupBy(c => (c.Model, c.Conditional)))
            sb.AppendLine(s_c, $"| {g.Key.Model} | {Cond(g.Key.Conditional)} | {string.Join(" | ", fractions.Select(f => g.Where(c => c.Fraction == f).Select(c => c.Report.FidSamplesVsTest).DefaultIfEmpty(double.NaN).Average().ToString("F2", s_c)))} |");
        sb.AppendLine();
    }

    private static void Vae(StringBuilder sb, IReadOnlyList<CellResult> cells)
    {
        var vae = cells.Where(c => c.ReconstructionMse is not null).ToList();
        if (vae.Count == 0)
            return;
        sb.AppendLine("## VAE: reconstructions of held-out digits next to its samples").AppendLine();
        sb.AppendLine("| cond. | fraction | seed | reconstruction MSE ([−1, 1]) | reconstruction NLL (nats / pixel) | sample FID |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var c in vae)
            sb.AppendLine(s_c, $"| {Cond(c.Conditional)} | {c.Fraction:P0} | {c.Seed} | {c.ReconstructionMse:F4} | {c.ReconstructionBce:F4} | {c.Report.FidSamplesVsTest:F2} |");
        sb.AppendLine().AppendLine("Reconstructions (test digits over their reconstructions): `cells/vae-*/reconstructions.png`.").AppendLine();
    }

    private static void TimeToTarget(StringBuilder sb, ComparisonOptions options, IReadOnlyList<CellResult> cells)
    {
        double full = options.Fractions.Max();
        var at = cells.Where(c => c.Fraction == full && c.Curve.Count > 0).ToList();
        if (at.Count == 0)
            return;
        double target = options.TargetFid ?? 2 * at.SelectMany(c => c.Curve).Average(p => p.Floor);
        sb.AppendLine(s_c, $"## Training curves and time to reach FID ≤ {target:F2} ({(options.TargetFid is null ? "twice the mean real-data floor at the curve's sample count" : "--target-fid")})").AppendLine();
        sb.AppendLine("| model | cond. | seed | FID at each evaluation (training seconds) | first time ≤ target |");
        sb.AppendLine("| --- | --- | ---: | --- | ---: |");
        foreach (var c in at)
        {
            var hit = c.Curve.FirstOrDefault(p => p.Fid <= target);
            sb.AppendLine(s_c, $"| {c.Model} | {Cond(c.Conditional)} | {c.Seed} | {string.Join(", ", c.Curve.Select(p => string.Create(s_c, $"{p.Fid:F1} ({p.TrainSeconds:F0} s)")))} | {(hit is null ? "not reached" : string.Create(s_c, $"{hit.TrainSeconds:F0} s"))} |");
        }
        sb.AppendLine();
    }

    private static void Costs(StringBuilder sb, IReadOnlyList<SamplingCost> costs)
    {
        if (costs.Count == 0)
            return;
        sb.AppendLine("## Sampling cost per image (batches of 100)").AppendLine();
        sb.AppendLine("| model | passes | ms / image |");
        sb.AppendLine("| --- | ---: | ---: |");
        foreach (var c in costs)
            sb.AppendLine(s_c, $"| {c.Model} | {(c.Model == "diffusion" ? $"{c.Steps} DPM-Solver++ steps (×2 with guidance)" : "1")} | {c.SecondsPerImage * 1000:F3} |");
        sb.AppendLine();
    }

    /// <summary>The best model per figure at each fraction and conditioning, stated plainly, whichever it is.</summary>
    private static void Findings(StringBuilder sb, ComparisonOptions options, IReadOnlyList<CellResult> cells)
    {
        sb.AppendLine("## Findings (computed from the tables above)").AppendLine();
        (string Name, Func<IEnumerable<CellResult>, double> Value, bool Lower)[] figures =
        [
            ("FID", g => g.Average(c => c.Report.FidSamplesVsTest), true),
            ("precision", g => g.Average(c => c.PrecisionRecall.Precision), false),
            ("recall", g => g.Average(c => c.PrecisionRecall.Recall), false),
            ("coverage", g => g.Average(c => c.DensityCoverage.Coverage), false),
            ("memorised share", g => g.Average(c => c.Memorised), true),
            ("memorised share in features", g => MeanMemorisedFeatures(g) ?? double.NaN, true),
            ("sampling time", g => g.Average(c => c.SampleSecondsPerImage), true),
        ];
        foreach (double fraction in options.Fractions.OrderByDescending(f => f))
        {
            foreach (bool conditional in options.Conditioning)
            {
                var groups = cells.Where(c => c.Fraction == fraction && c.Conditional == conditional).GroupBy(c => c.Model).ToList();
                if (groups.Count < 2)
                    continue;
                var parts = figures.Where(f => groups.All(g => !double.IsNaN(f.Value(g)))).Select(f =>
                {
                    var ranked = groups.Select(g => (g.Key, V: f.Value(g))).OrderBy(x => f.Lower ? x.V : -x.V).ToList();
                    var diffusion = ranked.FirstOrDefault(x => x.Key == "diffusion");
                    string note = diffusion.Key is not null && ranked[0].Key != "diffusion" ? string.Create(s_c, $" — a baseline wins (diffusion {diffusion.V:G3})") : "";
                    return string.Create(s_c, $"best {f.Name}: {ranked[0].Key} ({ranked[0].V:G3}){note}");
                });
                sb.AppendLine(s_c, $"- {fraction:P0}, {Cond(conditional)}: {string.Join("; ", parts)}.");
            }
        }
        var gans = cells.Where(c => c.Model is GanVariants.Dcgan or GanVariants.HingeSpectralNorm).GroupBy(c => (c.Model, c.Conditional, c.Fraction)).Where(g => g.Count() > 1).ToList();
        foreach (var g in gans)
            sb.AppendLine(s_c, $"- GAN seed spread, {g.Key.Model} {Cond(g.Key.Conditional)} at {g.Key.Fraction:P0}: FID {MeanSd(g.Select(c => c.Report.FidSamplesVsTest))} over {g.Count()} seeds (min {g.Min(c => c.Report.FidSamplesVsTest):F2}, max {g.Max(c => c.Report.FidSamplesVsTest):F2}).");
        sb.AppendLine();
    }

    /// <summary>The feature-space memorised share over seeds, or null when a cell was written before it was measured.</summary>
    private static double? MeanMemorisedFeatures(IEnumerable<CellResult> cells) =>
        cells.All(c => c.MemorisedFeatures is not null) ? cells.Average(c => c.MemorisedFeatures!.Value) : null;

    private static string Cond(bool conditional) => conditional ? "conditional" : "unconditional";

    private static string MeanSd(IEnumerable<double> values)
    {
        var v = values.ToList();
        double mean = v.Average();
        if (v.Count < 2)
            return mean.ToString("F2", s_c);
        double sd = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Count - 1));
        return string.Create(s_c, $"{mean:F2} ± {sd:F2}");
    }
}

using System.Diagnostics;
using System.Text.Json;
using DiffusionSharp.Data;
using DiffusionSharp.Evaluation;
using DiffusionSharp.IO;
using DiffusionSharp.Training;
using static TorchSharp.torch;

namespace DiffusionSharp.Compare;

/// <summary>Sampling time per image of one model: diffusion at several step counts, the one-pass models at one pass.</summary>
/// <param name="Model">The family.</param>
/// <param name="Steps">Network passes per image (1 for the GAN and the VAE; sampler steps for diffusion, doubled by guidance).</param>
/// <param name="SecondsPerImage">Wall time per image, in batches of 100.</param>
public sealed record SamplingCost(string Model, int Steps, double SecondsPerImage);

/// <summary>What a comparison produced: every cell's result, the sampling costs, and the report's folder.</summary>
public sealed record ComparisonSummary(ComparisonOptions Options, IReadOnlyList<CellResult> Cells, IReadOnlyList<SamplingCost> SamplingCosts, string ReportPath);

/// <summary>
/// <c>diffuse compare</c>'s service: trains every cell (<see cref="ComparisonCell"/>) of diffusion, the VAE and the two
/// GANs on the same MNIST digits with the same budget, measures them all with the same <see cref="DigitEvaluator"/>, and
/// writes the report folder (<see cref="ComparisonReport"/>, <see cref="ComparisonPlots"/>). Resumable: finished cells are
/// read back, an interrupted one continues from its checkpoint.
/// </summary>
public static class ComparisonRun
{
    /// <summary>The options file of a comparison folder.</summary>
    public const string OptionsFile = "comparison.json";

    /// <summary>Diffusion sampler step counts whose cost is measured.</summary>
    public static IReadOnlyList<int> CostSteps { get; } = [1, 10, 20, 50];

    /// <summary>
    /// Runs (or continues) the comparison in <paramref name="outDir"/>. <paramref name="train"/> and <paramref name="test"/>
    /// are the MNIST splits, <paramref name="evaluator"/> the shared evaluator (its classifier trained on the train split).
    /// </summary>
    /// <exception cref="ArgumentException">An option is bad, or differs from the stored comparison's (the message names it).</exception>
    public static ComparisonSummary Run(ComparisonOptions options, string outDir, ImageDataset train, ImageDataset test, DigitEvaluator evaluator,
        Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(evaluator);
        options.Validate();
        log ??= _ => { };
        Directory.CreateDirectory(outDir);
        CheckStored(options, outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, OptionsFile), JsonSerializer.Serialize(options, TrainingOptions.Json));
        using var testFeatures = evaluator.Classifier.Features(test.Images).DetachFromDisposeScope();
        var cell = new ComparisonCell(options, train, test, evaluator, testFeatures);
        var plan = (from f in options.Fractions from s in Enumerable.Range(0, options.Seeds) from c in options.Conditioning from m in options.Models select (m, c, f, s)).ToList();
        var results = new List<CellResult>();
        for (int i = 0; i < plan.Count; i++)
        {
            var (model, conditional, fraction, seed) = plan[i];
            string name = CellResult.Name(model, conditional, fraction, seed);
            string dir = Path.Combine(outDir, "cells", name);
            bool done = File.Exists(Path.Combine(dir, "result.json"));
            log($"cell {i + 1}/{plan.Count} {name}{(done ? ": finished, skipped" : "")}");
            var watch = Stopwatch.StartNew();
            var result = cell.Run(model, conditional, fraction, seed, dir, log, cancellationToken);
            if (!done)
                log($"  done in {watch.Elapsed.TotalSeconds:F0} s: {result.Steps} steps, FID {result.Report.FidSamplesVsTest:F2} (floor {result.Report.FidFloorTrainVsTest:F2}), precision {result.PrecisionRecall.Precision:F2}, recall {result.PrecisionRecall.Recall:F2}");
            results.Add(result);
        }
        var costs = MeasureCosts(options, outDir, results, log);
        string report = ComparisonReport.Write(outDir, options, results, costs);
        log($"report: {report}");
        return new ComparisonSummary(options, results, costs, report);
    }

    private static void CheckStored(ComparisonOptions options, string outDir)
    {
        string path = Path.Combine(outDir, OptionsFile);
        if (!File.Exists(path))
            return;
        var stored = JsonSerializer.Deserialize<ComparisonOptions>(File.ReadAllText(path), TrainingOptions.Json)
            ?? throw new InvalidDataException($"{path}: empty");
        foreach (var ((option, old), (_, now)) in stored.CellDefining().Zip(options.CellDefining()))
        {
            if (old != now)
                throw new ArgumentException($"{option} cannot change in an existing comparison: {outDir} was run with {old}, not {now}; use another --out");
        }
    }

    /// <summary>Sampling time per image of each family's first finished cell (fraction 1 and conditional preferred).</summary>
    private static List<SamplingCost> MeasureCosts(ComparisonOptions options, string outDir, List<CellResult> results, Action<string> log)
    {
        string path = Path.Combine(outDir, "sampling-cost.json");
        var costs = File.Exists(path) ? JsonSerializer.Deserialize<List<SamplingCost>>(File.ReadAllText(path), TrainingOptions.Json)! : [];
        int count = options.Size == CompareSize.Tiny ? 10 : 100;
        foreach (var family in options.Models.Where(m => costs.All(c => c.Model != m)))
        {
            var pick = results.Where(r => r.Model == family).OrderByDescending(r => r.Fraction).ThenByDescending(r => r.Conditional).ThenBy(r => r.Seed).FirstOrDefault();
            if (pick is null)
                continue;
            string dir = Path.Combine(outDir, "cells", CellResult.Name(pick.Model, pick.Conditional, pick.Fraction, pick.Seed), "model");
            using var model = TrainableModels.Load(dir);
            foreach (int steps in model is IOnePassImageModel ? [1] : CostSteps)
            {
                CompareModel.Sample(model, pick.Conditional, Math.Min(10, count), 0, steps, options).Samples.Dispose();   // warm-up
                var watch = Stopwatch.StartNew();
                var (samples, labels) = CompareModel.Sample(model, pick.Conditional, count, 0, steps, options);
                costs.Add(new SamplingCost(family, steps, watch.Elapsed.TotalSeconds / count));
                samples.Dispose();
                labels?.Dispose();
                log($"sampling cost {family} at {steps} step(s): {costs[^1].SecondsPerImage * 1000:F2} ms per image");
            }
        }
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(costs, TrainingOptions.Json));
        return costs;
    }
}

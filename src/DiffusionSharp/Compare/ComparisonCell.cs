using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DiffusionSharp.Data;
using DiffusionSharp.Evaluation;
using DiffusionSharp.Imaging;
using DiffusionSharp.IO;
using DiffusionSharp.Training;
using static TorchSharp.torch;

namespace DiffusionSharp.Compare;

/// <summary>One evaluation during training: the FID-vs-time curve.</summary>
public sealed record CurvePoint(int Step, double TrainSeconds, double Fid, double Floor, double? ConditionalAccuracy);

/// <summary>Everything measured for one cell, written to <c>cells/NAME/result.json</c> when it is finished.</summary>
public sealed record CellResult(
    string Model, bool Conditional, double Fraction, int Seed, string Description, int TrainingDigits,
    long Parameters, long SamplerParameters, int Steps, double TrainSeconds, double MedianStepSeconds,
    EvaluationReport Report, PrecisionRecallResult PrecisionRecall, DensityCoverageResult DensityCoverage, double Memorised,
    double SampleSecondsPerImage, double? ReconstructionMse, double? ReconstructionBce, IReadOnlyList<CurvePoint> Curve,
    double? MemorisedFeatures = null)
{
    /// <summary>The cell's folder name, e.g. <c>dcgan-cond-f0.1-s0</c>.</summary>
    public static string Name(string model, bool conditional, double fraction, int seed) =>
        string.Create(CultureInfo.InvariantCulture, $"{model}-{(conditional ? "cond" : "uncond")}-f{fraction:R}-s{seed}");
}

/// <summary>
/// Trains and evaluates one cell (model × conditioning × fraction × seed) with the one <see cref="Trainer"/>, stopping on
/// the training-time budget, resumable: a finished cell (<c>result.json</c>) is read back, an unfinished one continues
/// from its latest checkpoint (the trainer's atomic checkpoints), and its training time so far is the sum of the step
/// times of <c>log.csv</c> up to that checkpoint, so a kill never counts or loses time twice.
/// </summary>
internal sealed class ComparisonCell(ComparisonOptions options, ImageDataset train, ImageDataset test, DigitEvaluator evaluator, Tensor testFeatures)
{
    internal static readonly JsonSerializerOptions s_json = new(TrainingOptions.Json) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Runs (or reads back) a cell in <paramref name="directory"/>.</summary>
    public CellResult Run(string model, bool conditional, double fraction, int seed, string directory, Action<string> log, CancellationToken cancellationToken)
    {
        string resultPath = Path.Combine(directory, "result.json");
        if (File.Exists(resultPath))
            return JsonSerializer.Deserialize<CellResult>(File.ReadAllText(resultPath), s_json)
                ?? throw new InvalidDataException($"{resultPath}: empty");
        var spec = CompareModel.For(model, conditional, seed, options);
        int digits = Math.Max(options.BatchSize, (int)Math.Round(fraction * train.Count));
        using var subset = train.RandomSubset(Math.Min(digits, (int)train.Count), seed: 7919 + (long)Math.Round(fraction * 1e6));   // same digits for every model and seed
        string runDir = Path.Combine(directory, "run");
        using var trainer = OpenTrainer(spec, runDir, subset);
        var curvePath = Path.Combine(directory, "curve.json");
        var curve = File.Exists(curvePath) ? JsonSerializer.Deserialize<List<CurvePoint>>(File.ReadAllText(curvePath), s_json)! : [];
        double budget = options.BudgetSeconds;
        while (true)
        {
            double trained = TrainedSeconds(runDir, trainer.Step);
            int due = Math.Min(options.CurvePoints, (int)Math.Floor(trained / budget * options.CurvePoints + 1e-9));
            if (trainer.Step > 0 && curve.Count < due && (curve.Count == 0 || curve[^1].Step != trainer.Step))
            {
                curve.Add(CurveEvaluation(trainer.EmaModel, conditional, trainer.Step, trained));
                AtomicFile.WriteAllText(curvePath, JsonSerializer.Serialize(curve, s_json));
                log($"  step {trainer.Step}, {trained:F0}/{budget:F0} s: FID {curve[^1].Fid:F2} (floor {curve[^1].Floor:F2})");
            }
            if (trained >= budget)
                break;
            double target = Math.Min(budget, budget * (Math.Floor(trained / budget * options.CurvePoints + 1e-9) + 1) / options.CurvePoints);
            TrainUntil(trainer, trained, target, budget, log, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
        }
        var result = Finish(spec, trainer, conditional, fraction, seed, subset, directory, curve);
        AtomicFile.WriteAllText(resultPath, JsonSerializer.Serialize(result, s_json));
        return result;
    }

    private static Trainer OpenTrainer(CompareModel spec, string runDir, SampleDataset data)
    {
        var setup = new TrainerSetup(spec.Objective());
        if (Trainer.LatestCheckpoint(runDir) is not null)
            return Trainer.Resume(runDir, data, null, setup);
        if (Directory.Exists(runDir))
            Directory.Delete(runDir, recursive: true);   // killed before its first checkpoint: nothing to keep
        return Trainer.Create(runDir, spec.Options, spec.Create, data, setup);
    }

    /// <summary>Trains from <paramref name="trained"/> to <paramref name="target"/> seconds of step time; the trainer checkpoints when it stops.</summary>
    private static void TrainUntil(Trainer trainer, double trained, double target, double budget, Action<string> log, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        double elapsed = trained, logged = trained, every = Math.Max(10, budget / 12);
        void OnStep(TrainingProgress p)
        {
            elapsed += p.StepSeconds;
            if (elapsed - logged >= every)
            {
                logged = elapsed;
                log(string.Create(CultureInfo.InvariantCulture, $"  step {p.Step}, {elapsed:F0}/{budget:F0} s, loss {p.Loss:G4}, {p.StepSeconds:F3} s/step"));
            }
            if (elapsed >= target)
                stop.Cancel();
        }
        trainer.Progress += OnStep;
        try
        {
            trainer.Run(stop.Token);
        }
        finally
        {
            trainer.Progress -= OnStep;
        }
    }

    /// <summary>Σ step_seconds of log.csv over steps ≤ <paramref name="upTo"/> (the last line of a step wins: a resumed run re-logs the steps after its checkpoint).</summary>
    internal static double TrainedSeconds(string runDir, int upTo) => StepSeconds(runDir, upTo).Sum();

    private static IEnumerable<double> StepSeconds(string runDir, int upTo) =>
        TrainingLog.Column(runDir, "step_seconds", upTo).Select(r => r.Value);

    private CurvePoint CurveEvaluation(ITrainableModel ema, bool conditional, int step, double trained)
    {
        var (samples, labels) = CompareModel.Sample(ema, conditional, options.CurveSamples, 1_000_000, options.SamplingSteps, options);
        using (samples)
        using (labels)
        {
            var report = evaluator.Evaluate(samples, labels, seed: 1);
            return new CurvePoint(step, trained, report.FidSamplesVsTest, report.FidFloorTrainVsTest, report.ConditionalAccuracy);
        }
    }

    private CellResult Finish(CompareModel spec, Trainer trainer, bool conditional, double fraction, int seed, ImageDataset subset, string directory, List<CurvePoint> curve)
    {
        var ema = trainer.EmaModel;
        CompareModel.SaveFolder(ema, conditional, Path.Combine(directory, "model"), options);
        var watch = Stopwatch.StartNew();
        var (samples, labels) = CompareModel.Sample(ema, conditional, options.Samples, 1_000_000, options.SamplingSteps, options);
        double perImage = watch.Elapsed.TotalSeconds / options.Samples;
        using var scope = NewDisposeScope();
        var report = evaluator.Evaluate(samples, labels, seed: 2);
        var features = evaluator.Classifier.Features(samples);
        var pr = PrecisionRecall.Compute(testFeatures, features, k: 3);
        var dc = DensityCoverage.Compute(testFeatures, features, k: 5);
        double memorised = Memorisation.Share(samples, subset.Images);
        double memorisedFeatures = Memorisation.Share(features, evaluator.Classifier.Features(subset.Images));
        WriteSamples(samples, Path.Combine(directory, "samples"));
        double? mse = null, bce = null;
        if (ema is VaeModel vae)
            (mse, bce) = Reconstruction(vae, conditional, Path.Combine(directory, "reconstructions.png"));
        var steps = StepSeconds(trainer.RunDirectory, trainer.Step).Order().ToArray();
        return new CellResult(spec.Family, conditional, fraction, seed, spec.Description, (int)subset.Count,
            ema.ParameterCount, CompareModel.SamplerParameters(ema), trainer.Step, steps.Sum(), steps.Length == 0 ? 0 : steps[steps.Length / 2],
            report, pr, dc, memorised, perImage, mse, bce, curve, memorisedFeatures);
    }

    /// <summary>NNNNN.png per sample and grid.png of the first 100 (ten columns: one per class when conditional).</summary>
    internal static void WriteSamples(Tensor samples, string folder)
    {
        Directory.CreateDirectory(folder);
        for (int i = 0; i < samples.shape[0]; i++)
        {
            using var one = samples[i];
            ImageWriter.SavePng(one, Path.Combine(folder, $"{i:D5}.png"));
        }
        using var first = samples.narrow(0, 0, Math.Min(100, samples.shape[0]));
        ImageWriter.SaveGrid(first, Path.Combine(folder, "grid.png"), new GridOptions(Columns: 10));
    }

    /// <summary>The VAE's reconstruction error on the held-out test digits, x̂ = E[x | z = μ(x)]: MSE in [−1, 1] and Bernoulli NLL per pixel; writes 20 digits over their reconstructions.</summary>
    private (double Mse, double Bce) Reconstruction(VaeModel vae, bool conditional, string picture)
    {
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        vae.eval();
        var x = test.Images;
        var y = conditional ? test.Labels.to(ScalarType.Int64) : null;
        var (mu, _) = vae.Encode(x, y);
        var logits = vae.DecoderLogits(mu, y);
        var xHat = sigmoid(logits) * 2 - 1;
        double mse = (xHat - x).square().mean().item<float>();
        double bce = nn.functional.binary_cross_entropy_with_logits(logits, (x.clamp(-1, 1) + 1) * 0.5).item<float>();
        ImageWriter.SaveGrid(cat([x.narrow(0, 0, 20), xHat.narrow(0, 0, 20)], 0), picture, new GridOptions(Columns: 20));
        return (mse, bce);
    }
}

using System.Diagnostics;
using DiffusionSharp.Compare;
using DiffusionSharp.Evaluation;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Tests.Cli;
using DiffusionSharp.Tests.Evaluation;
using DiffusionSharp.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Compare;

/// <summary>A tiny <c>diffuse compare</c>: every model family for two seconds, the report folder, resume, and sampling the saved folders.</summary>
[Collection("digits")]
public sealed class CompareRunTests(DigitsFixture digits, ITestOutputHelper output)
{
    private static readonly ComparisonOptions s_tiny = new()
    {
        Conditioning = [true, false],
        Fractions = [0.02],
        Seeds = 1,
        BudgetSeconds = 1.5,
        BatchSize = 16,
        Samples = 20,
        CurvePoints = 2,
        CurveSamples = 10,
        SamplingSteps = 2,
        Size = CompareSize.Tiny,
    };

    [Fact]
    public void TinyComparisonWritesTheReportResumesAndItsModelsSample()
    {
        using var dir = new TempFolder();
        using var slice = digits.Train.RandomSubset(500, seed: 5);
        using var evaluator = DigitEvaluator.Create(DigitClassifier.Train(slice, new DigitClassifierOptions(Epochs: 1)), digits.Train, digits.Test);
        var watch = Stopwatch.StartNew();
        var summary = ComparisonRun.Run(s_tiny, dir.Path, digits.Train, digits.Test, evaluator, output.WriteLine);
        output.WriteLine($"first run {watch.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(8, summary.Cells.Count);
        foreach (var cell in summary.Cells)
        {
            Assert.InRange(cell.TrainSeconds, s_tiny.BudgetSeconds, s_tiny.BudgetSeconds + 2.0);
            Assert.True(cell.Steps > 0 && double.IsFinite(cell.Report.FidSamplesVsTest), cell.Model);
            Assert.Equal(s_tiny.CurvePoints, cell.Curve.Count);
            Assert.InRange(cell.PrecisionRecall.Precision, 0, 1);
            Assert.InRange(cell.DensityCoverage.Coverage, 0, 1);
            Assert.InRange(cell.Memorised, 0, 1);
            Assert.InRange(cell.MemorisedFeatures ?? -1, 0, 1);
            Assert.Equal(cell.Model == "vae", cell.ReconstructionMse is not null);
            Assert.Equal(cell.Conditional, cell.Report.ConditionalAccuracy is not null);
            string cellDir = Path.Combine(dir.Path, "cells", CellResult.Name(cell.Model, cell.Conditional, cell.Fraction, cell.Seed));
            Assert.True(File.Exists(Path.Combine(cellDir, "samples", "00019.png")));
            Assert.True(File.Exists(Path.Combine(cellDir, "samples", "grid.png")));
        }
        // The GAN's log holds both stages: D's loss as loss, G's as loss_generator, a finite value for every step.
        var dcgan = summary.Cells.First(c => c.Model == GanVariants.Dcgan);
        string ganRun = Path.Combine(dir.Path, "cells", CellResult.Name(dcgan.Model, dcgan.Conditional, dcgan.Fraction, dcgan.Seed), "run");
        Assert.Equal(["loss", "loss_generator"], TrainingLog.LossColumns(ganRun));
        foreach (string column in new[] { "loss", "loss_generator" })
        {
            var rows = TrainingLog.Column(ganRun, column);
            Assert.True(rows.Count >= dcgan.Steps, column);
            Assert.All(rows, r => Assert.True(double.IsFinite(r.Value), column));
        }
        string report = File.ReadAllText(summary.ReportPath);
        foreach (var heading in new[] { "## Models", "## Data hunger", "## VAE", "## Sampling cost", "## Findings", "hinge-sn", "dcgan" })
            Assert.Contains(heading, report);
        foreach (var png in new[] { "fid-vs-time-f0.02.png", "prc-bars-f0.02.png", "samples-f0.02.png", "losses-dcgan-f0.02.png", "losses-diffusion-f0.02.png" })
            Assert.True(new FileInfo(Path.Combine(dir.Path, png)).Length > 1000, png);
        Assert.Equal([1, 10, 20, 50], summary.SamplingCosts.Where(c => c.Model == "diffusion").Select(c => c.Steps));

        // Resume: every cell is finished, so nothing trains and the results are read back as they were.
        watch.Restart();
        var again = ComparisonRun.Run(s_tiny, dir.Path, digits.Train, digits.Test, evaluator);
        Assert.Equal(summary.Cells.Select(c => c.Report.FidSamplesVsTest), again.Cells.Select(c => c.Report.FidSamplesVsTest));
        Assert.Equal(summary.Cells.Select(c => c.MemorisedFeatures), again.Cells.Select(c => c.MemorisedFeatures));
        output.WriteLine($"resumed run {watch.Elapsed.TotalSeconds:F1} s");
        var changed = Assert.Throws<ArgumentException>(() => ComparisonRun.Run(s_tiny with { BatchSize = 32 }, dir.Path, digits.Train, digits.Test, evaluator));
        Assert.Contains("--batch-size", changed.Message);
        // The diffusion cells sample with the ancestral sampler by default, and their model folders say so.
        Assert.Equal(SamplerKind.Ddpm, s_tiny.Sampler);
        string schedulerConfig = File.ReadAllText(Path.Combine(dir.Path, "cells", "diffusion-cond-f0.02-s0", "model", "scheduler_config.json"));
        Assert.Contains("\"DDPMScheduler\"", schedulerConfig);
        changed = Assert.Throws<ArgumentException>(() => ComparisonRun.Run(s_tiny with { Sampler = SamplerKind.DpmSolverMultistep }, dir.Path, digits.Train, digits.Test, evaluator));
        Assert.Contains("--sampler", changed.Message);

        // diffuse sample on the GAN and VAE folders.
        foreach (var model in new[] { "dcgan-cond-f0.02-s0", "vae-uncond-f0.02-s0" })
        {
            string outDir = Path.Combine(dir.Path, "sampled-" + model);
            var (code, text) = CliRunner.Run("sample", "--model", Path.Combine(dir.Path, "cells", model, "model"), "--count", "12", "--out", outDir);
            Assert.True(code == 0, text);
            Assert.True(File.Exists(Path.Combine(outDir, "grid.png")) && File.Exists(Path.Combine(outDir, "00011.png")), text);
        }
    }

    [Fact]
    public void AnInterruptedCellContinuesFromItsCheckpointWithoutCountingTimeTwice()
    {
        using var dir = new TempFolder();
        using var slice = digits.Train.RandomSubset(300, seed: 6);
        using var evaluator = DigitEvaluator.Create(DigitClassifier.Train(slice, new DigitClassifierOptions(Epochs: 1)), digits.Train, digits.Test);
        var options = s_tiny with { Models = ["dcgan"], Conditioning = [true], BudgetSeconds = 2.0 };
        using var cts = new CancellationTokenSource();
        // Stop as soon as the first curve point is written (half the budget): the trainer has checkpointed there.
        void Log(string line)
        {
            if (line.Contains("FID", StringComparison.Ordinal))
                cts.Cancel();
        }
        Assert.ThrowsAny<OperationCanceledException>(() => ComparisonRun.Run(options, dir.Path, digits.Train, digits.Test, evaluator, Log, cts.Token));
        string cellDir = Path.Combine(dir.Path, "cells", "dcgan-cond-f0.02-s0");
        Assert.False(File.Exists(Path.Combine(cellDir, "result.json")));
        string? checkpoint = Trainer.LatestCheckpoint(Path.Combine(cellDir, "run"));
        Assert.NotNull(checkpoint);
        var summary = ComparisonRun.Run(options, dir.Path, digits.Train, digits.Test, evaluator);
        var cell = Assert.Single(summary.Cells);
        Assert.InRange(cell.TrainSeconds, options.BudgetSeconds, options.BudgetSeconds + 1.0);
        Assert.Equal(options.CurvePoints, cell.Curve.Count);
        Assert.True(cell.Curve[1].Step > cell.Curve[0].Step);
    }

    [Fact]
    public void GanAndVaeFoldersRoundTripThroughTrainableModels()
    {
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        foreach (ITrainableModel model in new ITrainableModel[]
        {
            new GanModel(new GanConfig { Variant = GanVariants.HingeSpectralNorm, NumClasses = 10, GeneratorWidth = 8, DiscriminatorWidth = 8, LatentDim = 8 }),
            new VaeModel(new VaeConfig { Width = 8, LatentDim = 4 }),
        })
        {
            using (model)
            {
                string folder = Path.Combine(dir.Path, model.ClassName);
                model.SavePretrained(folder);
                using var loaded = TrainableModels.Load(folder);
                Assert.Equal(model.ClassName, loaded.ClassName);
                var a = OnePassSampling.Generate((IOnePassImageModel)model, 6, seed: 3);
                var b = OnePassSampling.Generate((IOnePassImageModel)loaded, 6, seed: 3);
                Assert.True(a.equal(b).all().item<bool>(), model.ClassName);
                Assert.Equal(new long[] { 6, 1, 28, 28 }, a.shape);
                // Sample i does not depend on the batch it is drawn in.
                var c = OnePassSampling.Generate((IOnePassImageModel)loaded, 6, seed: 3, batchSize: 4);
                Assert.True(a.equal(c).all().item<bool>());
            }
        }
    }
}

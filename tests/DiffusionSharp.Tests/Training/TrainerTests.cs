using System.Collections.Immutable;
using DiffusionSharp.Data;
using DiffusionSharp.Models;
using DiffusionSharp.Schedules;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Training;

public sealed class TrainerTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-train-");

    public void Dispose() => _dir.Delete(true);

    /// <summary>16×16 digits: the first 256 MNIST training images, average-pooled from 28×28 after padding to 32.</summary>
    internal static ImageDataset SmallDigits()
    {
        using var full = Mnist.LoadCached(MnistSplit.Train);
        using var scope = NewDisposeScope();
        var idx = arange(256);
        var x = full.Images.index_select(0, idx);
        x = nn.functional.pad(x, [2, 2, 2, 2], value: -1.0);
        x = nn.functional.avg_pool2d(x, 2);
        var y = full.Labels.index_select(0, idx);
        return new ImageDataset("digits16", x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), full.ClassNames);
    }

    internal static UNet2DConfig MicroConfig() => new()
    {
        SampleSize = [16, 16],
        InChannels = 1,
        OutChannels = 1,
        BlockOutChannels = [16, 32],
        LayersPerBlock = 1,
        DownBlockTypes = [UNetDownBlockType.DownBlock2D, UNetDownBlockType.AttnDownBlock2D],
        UpBlockTypes = [UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.UpBlock2D],
        NormNumGroups = 8,
        AttentionHeadDim = 16,
        NumClassEmbeds = 11,
    };

    /// <summary>A fresh <see cref="MicroConfig"/> U-Net, as <see cref="Trainer.Create"/> takes its model.</summary>
    internal static ITrainableModel Micro() => new UNet2DModel(MicroConfig());

    internal static TrainingOptions Options(int steps) => new()
    {
        Steps = steps,
        BatchSize = 16,
        LearningRate = 2e-3,
        WarmupSteps = 5,
        CheckpointEvery = 1000,
        SampleEvery = 0,
        Weighting = LossWeighting.Uniform,
        Seed = 7,
    };

    [Fact]
    public void LossFallsOnASmallSlice()
    {
        using var data = SmallDigits();
        var losses = new List<double>();
        using var trainer = Trainer.Create(Path.Combine(_dir.FullName, "run"), Options(40), Micro, data);
        trainer.Progress += p => losses.Add(p.Loss);
        trainer.Run();
        Assert.Equal(40, losses.Count);
        double first = losses.Take(5).Average(), last = losses.TakeLast(8).Average();
        Assert.True(last < 0.6 * first, $"loss did not fall: first {first:F4}, last {last:F4}");
        Assert.True(File.Exists(Path.Combine(Trainer.LatestCheckpoint(trainer.RunDirectory)!, "ema", "diffusion_pytorch_model.safetensors")));
    }

    [Fact]
    public void NonFiniteLossStopsWithTheStepAndKeepsTheCheckpoint()
    {
        using var data = SmallDigits();
        string runDir = Path.Combine(_dir.FullName, "nan");
        using var t = Trainer.Create(runDir, Options(10) with { CheckpointEvery = 2 }, Micro, data);
        t.Run(stopAfter: 2);
        string good = Trainer.LatestCheckpoint(runDir)!;
        var before = File.ReadAllBytes(Path.Combine(good, "model", "diffusion_pytorch_model.safetensors"));
        using (no_grad())
            t.Model.Module.parameters().First().fill_(float.NaN);
        var e = Assert.Throws<TrainingDivergedException>(() => t.Run());
        Assert.Equal(3, e.Step);
        Assert.Equal(good, Trainer.LatestCheckpoint(runDir));
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(good, "model", "diffusion_pytorch_model.safetensors")));
    }

    [Fact]
    public void OptionsRoundTripThroughJson()
    {
        var o = Options(123) with { Prediction = PredictionType.VPrediction, Weighting = LossWeighting.Edm, Precision = ComputePrecision.BFloat16 };
        var json = System.Text.Json.JsonSerializer.Serialize(o, TrainingOptions.Json);
        var back = System.Text.Json.JsonSerializer.Deserialize<TrainingOptions>(json, TrainingOptions.Json);
        Assert.Equal(o, back);
        Assert.Contains("\"precision\": \"bf16\"", json);
    }

    [Theory]
    [InlineData("fp32", ComputePrecision.Full)]
    [InlineData("Fp32", ComputePrecision.Full)]        // what run.json held before the two precision enums were merged
    [InlineData("Bf16", ComputePrecision.BFloat16)]
    [InlineData("BF16", ComputePrecision.BFloat16)]
    public void RunJsonPrecisionNamesAreRead(string name, ComputePrecision expected)
    {
        var back = System.Text.Json.JsonSerializer.Deserialize<TrainingOptions>($$"""{"precision": "{{name}}"}""", TrainingOptions.Json);
        Assert.Equal(expected, back!.Precision);
    }

    [Fact]
    public void UnknownRunJsonPrecisionNamesTheChoices()
    {
        var e = Assert.Throws<System.Text.Json.JsonException>(
            () => System.Text.Json.JsonSerializer.Deserialize<TrainingOptions>("""{"precision": "fp16"}""", TrainingOptions.Json));
        Assert.Contains("'fp16' is unknown; allowed: fp32, bf16", e.Message);
    }

    [Fact]
    public void MinSnrWeightsMatchTheirDefinition()
    {
        using var loss = new DiffusionLoss(new NoiseSchedule(new NoiseScheduleOptions()), PredictionType.Epsilon, LossWeighting.MinSnr, snrGamma: 5);
        using var abar = tensor(new double[] { 0.999, 0.5, 0.01 });
        var w = loss.TargetWeights(abar).data<double>().ToArray();
        double[] snr = [0.999 / 0.001, 1.0, 0.01 / 0.99];
        for (int i = 0; i < 3; i++)
            Assert.Equal(Math.Min(snr[i], 5) / snr[i], w[i], 1e-9);
    }
}

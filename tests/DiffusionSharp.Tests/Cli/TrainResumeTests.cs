using System.Text.Json;
using DiffusionSharp.Data;
using DiffusionSharp.Runs;
using DiffusionSharp.Training;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Cli;

/// <summary>Issue 14: a resumed run keeps the options of its own folder; only explicit options override them.</summary>
[Collection("Console")]
public sealed class TrainResumeTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-resume-");

    public void Dispose() => _dir.Delete(true);

    private string Temp(string name) => Path.Combine(_dir.FullName, name);

    /// <summary>32 real digits as an MNIST IDX folder.</summary>
    private string DigitsFolder()
    {
        string data = Temp("mnist32");
        Directory.CreateDirectory(data);
        using var full = Mnist.LoadCached(MnistSplit.Train);
        using var scope = NewDisposeScope();
        var pixels = ((full.Images.narrow(0, 0, 32) + 1) * 127.5).round().clamp(0, 255).to(ScalarType.Byte).data<byte>().ToArray();
        var labels = full.Labels.narrow(0, 0, 32).to(ScalarType.Byte).data<byte>().ToArray();
        IdxFile.Write(Path.Combine(data, Mnist.StandardNames.TrainImages), new IdxArray([32, 28, 28], pixels));
        IdxFile.Write(Path.Combine(data, Mnist.StandardNames.TrainLabels), new IdxArray([32], labels));
        return data;
    }

    private static TrainingOptions Stored(string run) => Trainer.ReadRunFile(run).Options;

    [Fact]
    public void ResumeKeepsTheRunsOwnOptionsAndOnlyExplicitOnesOverride()
    {
        string data = DigitsFolder(), run = Temp("run");
        var (code, output) = CliRunner.Run("train", "--data", data, "--out", run, "--preset", "tiny", "--steps", "2", "--batch-size", "8",
            "--lr", "0.002", "--warmup", "1", "--checkpoint-every", "1", "--sample-every", "0");
        Assert.True(code == 0, output);
        var created = Stored(run);
        Assert.Equal((2, 8, 0.002), (created.Steps, created.BatchSize, created.LearningRate));
        byte[] runJson = File.ReadAllBytes(Path.Combine(run, "run.json"));

        // No options: the stored ones, the stored preset, run.json untouched.
        (code, output) = CliRunner.Run("train", "--out", run, "--resume");
        Assert.True(code == 0, output);
        Assert.Equal(created, Stored(run));
        Assert.Equal(runJson, File.ReadAllBytes(Path.Combine(run, "run.json")));
        Assert.Contains("tiny:", output);
        Assert.DoesNotContain("small", output);
        Assert.Contains("step 2 of 2", output);
        Assert.Contains("device", output);

        // An explicit --steps overrides, is printed, recorded and the run trains on to it.
        (code, output) = CliRunner.Run("train", "--out", run, "--resume", "--steps", "3");
        Assert.True(code == 0, output);
        Assert.Contains("steps: 2 → 3", output);
        Assert.Equal(created with { Steps = 3 }, Stored(run));
        var description = Trainer.ReadRunFile(run).Description!.Deserialize<RunDescription>(TrainingOptions.Json)!;
        Assert.Equal("tiny", description.Preset);
        Assert.Equal(data, description.Data.Source);
        Assert.Equal("steps", Assert.Single(description.Overrides!).Name);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(run, "log.csv")).Length);

        // Options that define the model, the data or the objective are refused, naming the option.
        foreach (var (option, value) in new[] { ("--preset", "small"), ("--data", "mnist"), ("--prediction", "v_prediction") })
        {
            (code, output) = CliRunner.Run("train", "--out", run, "--resume", option, value);
            Assert.Equal(1, code);
            var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            Assert.Contains(option.TrimStart('-'), line);
        }
        Assert.Equal(created with { Steps = 3 }, Stored(run));
    }

    [Theory]
    [InlineData("train")]
    [InlineData("sample")]
    public void CudaWhereThereIsNoneIsOneLine(string command)
    {
        if (TorchSharp.torch.cuda.is_available())
            return;   // the machine has a GPU: nothing to refuse
        var (code, output) = CliRunner.Run(command, "--device", "cuda", "--out", Temp("o"), "--steps", "1");
        Assert.Equal(1, code);
        Assert.Contains("cuda", Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
    }
}

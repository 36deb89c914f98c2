using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Cli;

[Collection("Console")]
public sealed class CliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-cli-");

    public void Dispose() => _dir.Delete(true);

    private string Temp(string name) => Path.Combine(_dir.FullName, name);

    private static string SingleLine(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return Assert.Single(lines);
    }

    [Fact]
    public void SampleWritesAGridAndOnePngPerSample()
    {
        string model = Path.Combine(TestPaths.UNet2D, "cifar10_like_small");
        var (code, output) = CliRunner.Run("sample", "--model", model, "--out", Temp("out"), "--count", "3", "--sampler", "ddim", "--steps", "2", "--trajectory");
        Assert.True(code == 0, output);
        foreach (var f in new[] { "grid.png", "00000.png", "00001.png", "00002.png", "trajectory.png", "trajectory.gif" })
            Assert.True(File.Exists(Path.Combine(Temp("out"), f)), $"{f} missing; output:\n{output}");
        Assert.False(File.Exists(Path.Combine(Temp("out"), "00003.png")));
        Assert.Contains("ddim", output);
    }

    [Fact]
    public void MissingModelFolderIsOneLineNamingIt()
    {
        string missing = Temp("no-such-model");
        var (code, output) = CliRunner.Run("sample", "--model", missing);
        Assert.Equal(1, code);
        Assert.Contains(missing, SingleLine(output));
    }

    [Theory]
    [InlineData("--sampler", "plms", "dpm++")]
    [InlineData("--precision", "fp16", "bf16")]
    public void UnknownChoiceIsOneLineNamingTheChoices(string option, string value, string aChoice)
    {
        string model = Path.Combine(TestPaths.UNet2D, "tiny");
        var (code, output) = CliRunner.Run("sample", "--model", model, option, value, "--out", Temp("o"));
        Assert.Equal(1, code);
        var line = SingleLine(output);
        Assert.Contains(value, line);
        Assert.Contains(aChoice, line);
    }

    [Fact]
    public void SampleInBf16MatchesFp32ToBf16Rounding()
    {
        string model = Path.Combine(TestPaths.UNet2D, "cifar10_like_small");
        string[] common = ["sample", "--model", model, "--count", "2", "--sampler", "ddim", "--steps", "2", "--seed", "5"];
        var (code32, out32) = CliRunner.Run([.. common, "--out", Temp("fp32")]);
        var (code16, out16) = CliRunner.Run([.. common, "--out", Temp("bf16"), "--precision", "bf16"]);
        Assert.True(code32 == 0 && code16 == 0, out32 + out16);
        Assert.Contains("bf16", out16);
        byte[] a = File.ReadAllBytes(Path.Combine(Temp("fp32"), "00000.png"));
        byte[] b = File.ReadAllBytes(Path.Combine(Temp("bf16"), "00000.png"));
        Assert.NotEqual(a, b);   // bf16 products really ran (8-bit mantissas change some pixel)…
        using var ia = SkiaSharp.SKBitmap.Decode(a);
        using var ib = SkiaSharp.SKBitmap.Decode(b);
        int worst = 0;
        for (int y = 0; y < ia.Height; y++)
            for (int x = 0; x < ia.Width; x++)
                worst = Math.Max(worst, Math.Abs(ia.GetPixel(x, y).Red - ib.GetPixel(x, y).Red));
        Assert.True(worst <= 16, $"bf16 image differs from fp32 by up to {worst}/255");   // …but only by rounding
    }

    [Fact]
    public void OutOfRangeTrainingOptionIsOneLineNamingTheSetting()
    {
        var (code, output) = CliRunner.Run("train", "--data", Temp("unused"), "--out", Temp("run"), "--chunk-size", "-1");
        Assert.Equal(1, code);
        var line = SingleLine(output);
        Assert.Contains("ChunkSize", line);
        Assert.Contains("-1", line);
        Assert.False(Directory.Exists(Temp("run")) && Directory.EnumerateFileSystemEntries(Temp("run")).Any(), "nothing is written before the options are valid");
    }

    [Fact]
    public void InfoShowsTheKeepAliveRewrite()
    {
        var (code, output) = CliRunner.Run("info");
        Assert.Equal(0, code);
        Assert.Contains("keep-alive rewrite", output);
        Assert.Contains($"present ({DiffusionSharp.Runtime.TorchRuntime.KeepAlivePatchedMethods} methods)", output);
    }

    [Fact]
    public void GuidanceOnAModelWithoutNullClassIsRejected()
    {
        string model = Path.Combine(TestPaths.UNet2D, "tiny_class_cond");
        var (code, output) = CliRunner.Run("sample", "--model", model, "--guidance", "3", "--steps", "2", "--out", Temp("o"));
        Assert.Equal(1, code);
        Assert.Contains("guidance", SingleLine(output));
    }

    [Fact]
    public void TrainRejectsAWrongIdxMagicBeforeAnyStep()
    {
        string data = Temp("bad-mnist");
        Directory.CreateDirectory(data);
        string images = Path.Combine(data, Mnist.StandardNames.TrainImages);
        File.WriteAllBytes(images, [0, 0, 8, 1, 0, 0, 0, 1, 0]); // the labels' magic (…0801) where images (…0803) belong
        File.WriteAllBytes(Path.Combine(data, Mnist.StandardNames.TrainLabels), [0, 0, 8, 1, 0, 0, 0, 1, 3]);
        string run = Temp("run");
        var (code, output) = CliRunner.Run("train", "--data", data, "--out", run, "--steps", "2");
        Assert.Equal(1, code);
        Assert.Contains(images, SingleLine(output));
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoints")));
    }

    [Fact]
    public void TrainThenSampleEndToEnd()
    {
        string data = WriteDigits(Temp("mnist64"), 64);
        string run = Temp("run");
        var (code, output) = CliRunner.Run("train", "--data", data, "--out", run, "--preset", "tiny", "--steps", "3", "--batch-size", "16",
            "--checkpoint-every", "2", "--sample-every", "3", "--warmup", "1");
        Assert.True(code == 0, output);
        Assert.Contains("parameters", output);
        foreach (var f in new[] { "run.json", "log.csv", "loss.png", "model/config.json", "model/diffusion_pytorch_model.safetensors",
                     "model/scheduler_config.json", "model/diffusionsharp.json", "samples/step-00000003.png", "checkpoints/latest" })
            Assert.True(File.Exists(Path.Combine(run, f)), $"{f} missing; output:\n{output}");
        Assert.Equal(4, File.ReadAllLines(Path.Combine(run, "log.csv")).Length);

        var (sampleCode, sampleOutput) = CliRunner.Run("sample", "--model", Path.Combine(run, "model"), "--count", "10", "--steps", "2", "--out", Temp("s"));
        Assert.True(sampleCode == 0, sampleOutput);
        Assert.True(File.Exists(Path.Combine(Temp("s"), "grid.png")));
        Assert.Contains("dpm++", sampleOutput);

        // Resume continues from the latest checkpoint to a longer run.
        var (resumeCode, resumeOutput) = CliRunner.Run("train", "--data", data, "--out", run, "--resume", "--steps", "4", "--batch-size", "16");
        Assert.True(resumeCode == 0, resumeOutput);
        Assert.Equal(5, File.ReadAllLines(Path.Combine(run, "log.csv")).Length);
    }

    /// <summary>The first <paramref name="count"/> real training digits written as an MNIST IDX folder; returns it.</summary>
    internal static string WriteDigits(string folder, int count)
    {
        Directory.CreateDirectory(folder);
        using var full = Mnist.LoadCached(MnistSplit.Train);
        using var scope = NewDisposeScope();
        var pixels = ((full.Images.narrow(0, 0, count) + 1) * 127.5).round().clamp(0, 255).to(ScalarType.Byte).data<byte>().ToArray();
        var labels = full.Labels.narrow(0, 0, count).to(ScalarType.Byte).data<byte>().ToArray();
        IdxFile.Write(Path.Combine(folder, Mnist.StandardNames.TrainImages), new IdxArray([count, 28, 28], pixels));
        IdxFile.Write(Path.Combine(folder, Mnist.StandardNames.TrainLabels), new IdxArray([count], labels), gzip: true);
        return folder;
    }
}

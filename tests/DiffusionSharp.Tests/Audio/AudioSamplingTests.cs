using DiffusionSharp.Audio;
using DiffusionSharp.Models;
using DiffusionSharp.Sampling;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using DiffusionSharp.Tests.Cli;
using DiffusionSharp.Tests.Sampling;
using DiffusionSharp.Training;
using SixLabors.ImageSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Audio;

/// <summary>Sampling a 1-D U-Net: a scheduler and a σ sampler through the pipeline, and what <c>diffuse sample</c> writes.</summary>
[Collection("Console")]
public sealed class AudioSamplingTests(ITestOutputHelper output) : IDisposable
{
    private const int Rate = 2048;

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly PipelineMetadata s_metadata = new(["low", "high"], NullClass: 2, DefaultGuidance: 2.0, DefaultSteps: 3);

    private static UNet1DModel TinyModel(int length)
    {
        manual_seed(7);
        var model = new UNet1DModel(ModelPresets.CreateUNet1D("tiny", length, Rate, numClasses: 2));
        model.eval();
        return model;
    }

    [Theory]
    [InlineData(SamplerKind.Ddim, null)]
    [InlineData(null, SigmaSamplerKind.Heun)]
    public void SchedulerAndSigmaSamplerDrawClipsThatDependOnlyOnTheirSeed(SamplerKind? scheduler, SigmaSamplerKind? sigmaSampler)
    {
        using var model = TinyModel(256);
        using var pipeline = DiffusionPipeline.FromModel(model, s_metadata, SamplerKind.DpmSolverMultistep, new NoiseScheduleOptions(), PredictionType.Epsilon);
        var options = new GenerationOptions(Count: 3, Sampler: scheduler, Steps: 3, BatchSize: 3, SigmaSampler: sigmaSampler);
        using var all = pipeline.Generate(options);
        Assert.Equal([3L, 1, 256], all.shape);
        Assert.True(all.isfinite().all().item<bool>(), "non-finite samples");
        // Sample 1 drawn alone (seed 1, class 1) is sample 1 of the batch: per-sample seeds, whatever the batch (up to
        // float rounding, relative to the clip's scale: the untrained network's x̂₀ is far from [-1, 1]).
        using var alone = pipeline.Generate(options with { Count = 1, Seed = 1, ClassLabel = 1, BatchSize = 1 });
        double gap = (alone[0] - all[1]).abs().max().item<float>(), scale = all[1].abs().max().item<float>();
        Assert.True(gap <= 1e-4 * Math.Max(1, scale), $"a clip depends on its batch: max difference {gap} of {scale}");
        Assert.False(all[0].allclose(all[1], rtol: 1e-3, atol: 1e-3), "two seeds gave the same clip");
    }

    [Fact]
    public void SamplingWithATrajectoryKeepsTheLiveTensorCountFlat()
    {
        using var model = TinyModel(256);
        using var pipeline = DiffusionPipeline.FromModel(model, s_metadata, SamplerKind.DpmSolverMultistep, new NoiseScheduleOptions(), PredictionType.Epsilon);
        LiveTensors.AssertFlatOverSteps(steps =>
        {
            // What diffuse sample does for --trajectory: keep a CPU copy of x̂₀ after every step, then release them.
            var frames = new List<Tensor>();
            using (var x = pipeline.Generate(new GenerationOptions(Count: 2, Steps: steps, BatchSize: 2),
                (_, _, x, x0) => frames.Add((x0 ?? x).detach().cpu().DetachFromDisposeScope())))
                Assert.Equal(steps, frames.Count);
            foreach (var f in frames)
                f.Dispose();
        }, output, "UNet1D, DPM-Solver++ with a trajectory");
    }

    [Fact]
    public void SampleCommandWritesWavsAtTheModelRateASpectrogramRowPerClassAndATrajectory()
    {
        string modelDir = _dir.File("model"), outDir = _dir.File("out");
        using (var model = TinyModel(Rate))
        {
            model.SavePretrained(modelDir);
            DiffusionPipeline.WriteSidecars(modelDir, s_metadata, SamplerKind.DpmSolverMultistep, new NoiseScheduleOptions(), PredictionType.Epsilon);
        }
        var (code, output) = CliRunner.Run("sample", "--model", modelDir, "--count", "5", "--steps", "2", "--class", "all", "--trajectory", "--out", outDir);
        Assert.True(code == 0, output);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"{i:D5}.wav").Append("spectrograms.png").Append("trajectory.png").Order(StringComparer.Ordinal),
            Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (string wav in Directory.GetFiles(outDir, "*.wav"))
        {
            var audio = WavFile.ReadMono(wav);
            Assert.Equal((Rate, Rate), (audio.SampleRate, audio.Samples.Length));
            Assert.True(AudioClip.Peak(audio.Samples) > 0, $"{wav} is silent");
        }

        // Labels 0 1 0 1 0: two rows (one per class) of three tiles; the trajectory has a row per sample, a column per kept step.
        var mel = AudioSampleWriter.SpectrogramOptions(Rate);
        var tile = new SpectrogramImageOptions();
        int tileWidth = mel.Frames(Rate) * tile.Scale, tileHeight = mel.Mels * tile.Scale, pad = tile.Padding;
        var grid = Image.Identify(Path.Combine(outDir, "spectrograms.png"));
        Assert.Equal((pad + 3 * (tileWidth + pad), pad + 2 * (tileHeight + pad)), (grid.Width, grid.Height));
        var strip = Image.Identify(Path.Combine(outDir, "trajectory.png"));
        Assert.Equal((pad + 2 * (tileWidth + pad), pad + 5 * (tileHeight + pad)), (strip.Width, strip.Height));

        // One class asked for: its clips fill one row instead of one row among empty ones.
        (code, output) = CliRunner.Run("sample", "--model", modelDir, "--count", "3", "--steps", "2", "--class", "1", "--out", _dir.File("one"));
        Assert.True(code == 0, output);
        var one = Image.Identify(Path.Combine(_dir.File("one"), "spectrograms.png"));
        Assert.Equal((pad + 3 * (tileWidth + pad), pad + 1 * (tileHeight + pad)), (one.Width, one.Height));
    }

    [Fact]
    public void DiffusersStereoModelWritesTwoChannelWavsAtTheDefaultRate()
    {
        // diffusers' ResNet-temporal fixture: 2 channels, 64 samples, sample_rate null, no sidecars (DDPM, unconditional).
        string outDir = _dir.File("stereo");
        var (code, output) = CliRunner.Run("sample", "--model", Path.Combine(TestPaths.UNet1D, "resnet_temporal_tiny"), "--count", "2", "--steps", "2", "--out", outDir);
        Assert.True(code == 0, output);
        using (var reader = new NAudio.Wave.WaveFileReader(Path.Combine(outDir, "00001.wav")))
        {
            Assert.Equal((2, 16000, 16), (reader.WaveFormat.Channels, reader.WaveFormat.SampleRate, reader.WaveFormat.BitsPerSample));
            Assert.Equal(64, reader.SampleCount);
        }
        Assert.True(File.Exists(Path.Combine(outDir, "spectrograms.png")));
    }

    [Theory]
    [InlineData("waveform", "1×2048")]
    [InlineData(null, "11×160")]   // the CLI's default for audio: 11 mel bands × 160 frames at 2,048 Hz
    public void TrainOnAWavFolderAtAChosenRateThenSampleAndEvaluateGoThroughTheAudioPaths(string? representation, string shown)
    {
        string data = _dir.File("tones"), run = _dir.File("run");
        foreach (var (name, hz) in new[] { ("low", 150.0), ("high", 600.0) })
        {
            Directory.CreateDirectory(Path.Combine(data, name));
            for (int i = 0; i < 2; i++)
                WavFile.WritePcm16(Path.Combine(data, name, $"{i}.wav"), WavFileTests.Sine(hz + 20 * i, 8000, 6000), 8000);
        }
        string[] choice = representation is null ? [] : ["--representation", representation];
        var (code, output) = CliRunner.Run(["train", "--data", data, "--sample-rate", $"{Rate}", "--preset", "tiny", "--steps", "2",
            "--batch-size", "4", "--warmup", "1", "--sample-every", "0", "--out", run, .. choice]);
        Assert.True(code == 0, output);
        Assert.Contains(shown, output);

        (code, output) = CliRunner.Run("train", "--out", run, "--resume", "--sample-rate", "4096");
        Assert.Equal(1, code);
        Assert.Contains("data cannot change", output);

        string samples = _dir.File("s");
        (code, output) = CliRunner.Run("sample", "--model", Path.Combine(run, "model"), "--count", "2", "--steps", "2", "--sigma-sampler", "euler", "--out", samples);
        Assert.True(code == 0, output);
        Assert.Equal((Rate, Rate), (WavFile.ReadMono(Path.Combine(samples, "00001.wav")).SampleRate, WavFile.ReadMono(Path.Combine(samples, "00001.wav")).Samples.Length));
        Assert.False(File.Exists(Path.Combine(samples, "grid.png")));

        // The spoken-digit classifier scores digit models only: a model of other classes stops with one line, before any data is read.
        (code, output) = CliRunner.Run("evaluate", "--model", Path.Combine(run, "model"), "--count", "2");
        Assert.Equal(1, code);
        Assert.Contains("the spoken-digit classifier scores models of the digits", output);
        Assert.Contains("high, low", output);
        Assert.Single(output.Trim().Split('\n'));
    }
}

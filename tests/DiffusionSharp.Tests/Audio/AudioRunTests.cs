using System.Text.Json;
using DiffusionSharp.Audio;
using DiffusionSharp.Models;
using DiffusionSharp.Runs;
using DiffusionSharp.Sampling;
using DiffusionSharp.Training;

namespace DiffusionSharp.Tests.Audio;

/// <summary>The run service on audio: a 1-D U-Net run on a tiny folder of clips, its pictures, model folder and resume.</summary>
public sealed class AudioRunTests : IDisposable
{
    private const int Rate = 2048;

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Two classes of four one-second tones (low and high) at <see cref="Rate"/> Hz.</summary>
    private string ToneFolder()
    {
        string root = _dir.File("tones");
        foreach (var (name, hz) in new[] { ("low", 150.0), ("high", 600.0) })
        {
            Directory.CreateDirectory(Path.Combine(root, name));
            for (int i = 0; i < 4; i++)
                WavFile.WritePcm16(Path.Combine(root, name, $"{i}.wav"), WavFileTests.Sine(hz * (1 + 0.05 * i), Rate, Rate), Rate);
        }
        return root;
    }

    [Fact]
    public void UNet1DRunTrainsDrawsSpectrogramsWritesADiffusersFolderAndResumes()
    {
        string data = ToneFolder(), run = _dir.File("run");
        var options = new TrainingOptions { Steps = 3, BatchSize = 4, WarmupSteps = 1, CheckpointEvery = 1, SampleEvery = 3 };
        using (var created = TrainingRun.Create(new NewRun(run, options, "tiny", new DataSpec(data, SampleRate: Rate))))
        {
            Assert.IsType<AudioClips>(created.Data);
            var model = Assert.IsType<UNet1DModel>(created.Trainer.Model);
            Assert.Equal((Rate, (int?)Rate, 1, 3), (model.Config.SampleSize, model.Config.SampleRate, model.Config.InChannels, model.Config.NumClassEmbeds));
            Assert.Equal(ModelPresets.CreateUNet1D("tiny", Rate, Rate, 2).BlockOutChannels.ToArray(), model.Config.BlockOutChannels.ToArray());
            created.Train();
            Assert.Equal(3, created.Trainer.Step);
            Assert.True(File.Exists(Path.Combine(run, "samples", "step-00000003.png")), "no in-training spectrogram grid");
            created.Finish();
        }

        string modelDir = Path.Combine(run, "model");
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(modelDir, "config.json"))))
        {
            Assert.Equal("UNet1DModel", config.RootElement.GetProperty("_class_name").GetString());
            Assert.Equal(Rate, config.RootElement.GetProperty("sample_size").GetInt32());
            Assert.Equal(Rate, config.RootElement.GetProperty("sample_rate").GetInt32());
        }
        using (var pipeline = DiffusionPipeline.Load(modelDir))
        {
            Assert.True(pipeline.IsAudioModel);
            Assert.Equal(Rate, pipeline.SampleRate);
            Assert.Equal([1L, Rate], pipeline.SampleShape);
            Assert.Equal(["high", "low"], pipeline.Metadata.ClassNames);
            Assert.Equal(2, pipeline.NumClasses);
            Assert.Equal(TrainingRun.DefaultSampler, pipeline.DefaultSampler);
        }

        // Resume: the stored options and data, an explicit step count on top; a changed sample rate is refused.
        var e = Assert.Throws<ArgumentException>(() => TrainingRun.Resume(new ResumeRun(run, SampleRate: 4096)));
        Assert.Contains("data cannot change", e.Message);
        using var resumed = TrainingRun.Resume(new ResumeRun(run, o => o with { Steps = 5 }, SampleRate: Rate));
        Assert.Equal(3, resumed.Trainer.Step);
        Assert.IsType<UNet1DModel>(resumed.Trainer.Model);
        Assert.Equal(["steps"], resumed.Overrides.Select(o => o.Name));
        resumed.Train();
        Assert.Equal(5, resumed.Trainer.Step);
        Assert.Equal([1L, 2, 3, 4, 5], resumed.LossHistory.Select(l => (long)l.Step));
        Assert.All(resumed.LossHistory, l => Assert.True(double.IsFinite(l.Loss)));
    }

    [Fact]
    public void EdmPreconditionedRunDrawsItsInTrainingSpectrograms()
    {
        string data = ToneFolder(), run = _dir.File("edm-run");
        var options = new TrainingOptions
        {
            Steps = 2, BatchSize = 4, WarmupSteps = 1, CheckpointEvery = 2, SampleEvery = 2,
            Preconditioning = Preconditioning.Edm, SigmaData = 0.35,
        };
        using var created = TrainingRun.Create(new NewRun(run, options, "tiny", new DataSpec(data, SampleRate: Rate)));
        Assert.Equal("edm", created.Metadata.Preconditioning);
        created.Train();
        string picture = Path.Combine(run, "samples", "step-00000002.png");
        Assert.True(File.Exists(picture), "an EDM run wrote no in-training spectrogram grid");
        Assert.True(new FileInfo(picture).Length > 1000);
    }

    [Fact]
    public void SpectrogramRunTrainsOnFramesAndItsModelSamplesClips()
    {
        string data = ToneFolder(), run = _dir.File("spectrogram-run");
        var options = new TrainingOptions { Steps = 2, BatchSize = 4, WarmupSteps = 1, CheckpointEvery = 2, SampleEvery = 2 };
        var spec = new DataSpec(data, SampleRate: Rate, Representation: DataSpec.Spectrogram);
        var codec = SpectrogramCodecOptions.For(Rate, Rate);
        using (var created = TrainingRun.Create(new NewRun(run, options, "tiny", spec)))
        {
            var frames = Assert.IsType<AudioSpectrograms>(created.Data);
            Assert.Equal(codec, frames.Codec);
            Assert.Equal([8L, codec.Channels, codec.Frames], frames.Samples.shape);
            var model = Assert.IsType<UNet1DModel>(created.Trainer.Model);
            Assert.Equal((codec.Frames, codec.Channels, codec.Channels), (model.Config.SampleSize, model.Config.InChannels, model.Config.OutChannels));
            Assert.Equal(codec, created.Metadata.Spectrogram);
            created.Train();
            Assert.True(File.Exists(Path.Combine(run, "samples", "step-00000002.png")), "no in-training spectrogram grid");
            created.Finish();
        }
        using (var pipeline = DiffusionPipeline.Load(Path.Combine(run, "model")))
        {
            Assert.Equal(codec, pipeline.Metadata.Spectrogram);
            Assert.Equal((Rate, Rate), (pipeline.SampleRate, pipeline.ClipLength));
            using var samples = pipeline.Generate(new GenerationOptions(Count: 2, Steps: 2, BatchSize: 2));
            Assert.Equal([2L, codec.Channels, codec.Frames], samples.shape);
            using var clips = pipeline.ToClips(samples);
            Assert.Equal([2L, 1, Rate], clips.shape);
            Assert.True(clips.isfinite().all().item<bool>());
        }
        var e = Assert.Throws<ArgumentException>(() => TrainingRun.Resume(new ResumeRun(run, Representation: DataSpec.Waveform)));
        Assert.Contains("data cannot change", e.Message);
        var bad = Assert.Throws<InvalidDataException>(() => TrainingRun.Create(new NewRun(_dir.File("bad"), options, "tiny", spec with { Representation = "mel" })));
        Assert.Contains("--representation mel", bad.Message);
    }
}

using DiffusionSharp.Audio;
using DiffusionSharp.Data;
using DiffusionSharp.Runs;
using DiffusionSharp.Training;
using NAudio.Wave;

namespace DiffusionSharp.Tests.Audio;

/// <summary><c>--data</c> for audio: which specs are audio, what they load as, and that a bad file stops a run before it starts.</summary>
public sealed class AudioDataSourceTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Sub(params string[] parts)
    {
        string path = Path.Combine([_dir.Path, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    [Fact]
    public void SpokenDigitsAndWavFoldersAreAudioAndTextAndImagesAreNot()
    {
        WavFile.WritePcm16(Sub("wavs", "a.wav"), WavFileTests.Sine(440, 8000, 800), 8000);
        File.WriteAllText(Sub("texts", "a.txt"), "hello");
        File.WriteAllBytes(Sub("songs", "x", "a.flac"), [0x66, 0x4C, 0x61, 0x43]);
        Assert.True(DataSources.IsAudio("spoken-digits"));
        Assert.True(DataSources.IsAudio(Path.Combine(_dir.Path, "wavs")));
        Assert.True(DataSources.IsAudio(Path.Combine(_dir.Path, "songs")));   // refused later, by name, not read as images
        Assert.False(DataSources.IsAudio(Path.Combine(_dir.Path, "texts")));
        // An image folder with one stray clip stays an image folder.
        File.WriteAllBytes(Sub("pictures", "cat", "a.png"), [0x89, 0x50]);
        File.WriteAllBytes(Sub("pictures", "cat", "b.png"), [0x89, 0x50]);
        WavFile.WritePcm16(Sub("pictures", "cat", "stray.wav"), WavFileTests.Sine(440, 8000, 800), 8000);
        Assert.False(DataSources.IsAudio(Path.Combine(_dir.Path, "pictures")));
        Assert.False(DataSources.IsAudio("mnist"));
        Assert.False(DataSources.IsAudio("two-moons"));
        Assert.False(DataSources.IsAudio(Path.Combine(_dir.Path, "nowhere")));
        var e = Assert.Throws<InvalidDataException>(() => DataSources.LoadSamples("two-moons", null, null, _ => { }, sampleRate: 8000));
        Assert.Contains("--sample-rate applies to audio data only", e.Message);
    }

    [Fact]
    public void WavFolderOfAnyFormatLoadsAsOneSecondClipsAtTheRequestedRate()
    {
        WavFile.WritePcm16(Sub("data", "low", "a.wav"), WavFileTests.Sine(200, 16000, 16000), 16000);
        WavFileTests.WriteWith(Sub("data", "high", "b.wav"), new WaveFormat(44100, 16, 2), WavFileTests.Sine(600, 44100, 2 * 22050));
        WavFileTests.WriteWith(Sub("data", "high", "c.wav"), WaveFormat.CreateIeeeFloatWaveFormat(22050, 1), WavFileTests.Sine(600, 22050, 30000));
        using var data = DataSources.LoadSamples(Path.Combine(_dir.Path, "data"), null, null, _ => { }, sampleRate: 4000);
        var clips = Assert.IsType<AudioClips>(data);
        Assert.Equal(["high", "low"], clips.ClassNames);
        Assert.Equal([3L, 1, 4000], clips.Samples.shape);
        Assert.Equal(4000, clips.SampleRate);
        Assert.Equal([0L, 0, 1], clips.Labels.data<long>().ToArray());
        // A flat folder is one class, and the default rate is the spoken-digit rate.
        WavFile.WritePcm16(Sub("flat", "x.wav"), WavFileTests.Sine(440, 8000, 4000), 8000);
        using var flat = Assert.IsType<AudioClips>(DataSources.LoadSamples(Path.Combine(_dir.Path, "flat"), null, null, _ => { }));
        Assert.Equal(["flat"], flat.ClassNames);
        Assert.Equal([1L, 1, SpokenDigits.DefaultSampleRate], flat.Samples.shape);
    }

    [Fact]
    public void CorruptOrNonWavFileStopsANewRunWithOneLineNamingItBeforeAnythingIsWritten()
    {
        WavFile.WritePcm16(Sub("bad", "yes", "good.wav"), WavFileTests.Sine(440, 8000, 800), 8000);
        string corrupt = Sub("bad", "no", "broken.wav");
        File.WriteAllBytes(corrupt, [.. "RIFF"u8, 0x24, 0, 0, 0, .. "WAVEjunkjunkjunk"u8]);
        string run = _dir.File("run");
        var request = new NewRun(run, new TrainingOptions { Steps = 2, BatchSize = 2 }, "tiny", new DataSpec(Path.Combine(_dir.Path, "bad"), SampleRate: 2048));
        var e = Assert.Throws<InvalidDataException>(() => TrainingRun.Create(request));
        Assert.StartsWith(corrupt + ":", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(File.Exists(Path.Combine(run, Trainer.RunFile)));

        // A text file named .wav is refused the same way.
        File.Delete(corrupt);
        string text = Sub("bad", "no", "notes.wav");
        File.WriteAllText(text, "not audio at all");
        e = Assert.Throws<InvalidDataException>(() => TrainingRun.Create(request));
        Assert.StartsWith(text + ": not a readable WAV file", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(File.Exists(Path.Combine(run, Trainer.RunFile)));
    }

    [Fact]
    public void ClipsTheOneDimensionalUNetCannotTakeAndAMismatchedFamilyAreOneLineErrors()
    {
        WavFile.WritePcm16(Sub("odd", "a.wav"), WavFileTests.Sine(440, 1000, 1000), 1000);
        var options = new TrainingOptions { Steps = 2, BatchSize = 2 };
        // 1000 samples are not a multiple of the 64 that six halvings need.
        var e = Assert.Throws<ArgumentException>(() => TrainingRun.Create(new NewRun(_dir.File("r1"), options, "tiny", new DataSpec(Path.Combine(_dir.Path, "odd"), SampleRate: 1000))));
        Assert.Contains("1000 samples", e.Message);
        Assert.Contains("multiple of 64", e.Message);
        e = Assert.Throws<ArgumentException>(() => TrainingRun.Create(new NewRun(_dir.File("r2"), options, "tiny", new DataSpec(Path.Combine(_dir.Path, "odd"), SampleRate: 1024), Model: "unet")));
        Assert.Contains("--model unet1d", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}

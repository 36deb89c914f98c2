using DiffusionSharp.Audio;
using DiffusionSharp.Data;
using NAudio.Wave;

namespace DiffusionSharp.Tests.Audio;

public sealed class AudioFolderTests : IDisposable
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
    public void ClassFoldersOfAnyFormatBecomeFixedLengthClipsAtTheTargetRate()
    {
        WavFile.WritePcm16(Sub("data", "cat", "a.wav"), WavFileTests.Sine(440, 16000, 8000), 16000);
        WavFileTests.WriteWith(Sub("data", "dog", "b.wav"), new WaveFormat(44100, 24, 2), WavFileTests.Sine(300, 44100, 2 * 44100 * 2));
        WavFileTests.WriteWith(Sub("data", "dog", "deep", "c.wav"), WaveFormat.CreateIeeeFloatWaveFormat(8000, 1), WavFileTests.Sine(200, 8000, 4000, 1.5));
        File.WriteAllText(Sub("data", "dog", "notes.txt"), "ignored");

        using var clips = AudioFolder.Load(Path.Combine(_dir.Path, "data"), new AudioFolderOptions(SampleRate: 16000));
        Assert.Equal(["cat", "dog"], clips.ClassNames);
        Assert.Equal([3L, 1, 16000], clips.Samples.shape);
        Assert.Equal([0L, 1, 1], clips.Labels.data<long>().ToArray());
        Assert.Equal(16000, clips.SampleRate);
        // The half-second tone is centred: silent first and last quarter, the tone in between.
        var a = clips.Clip(0);
        Assert.True(a[..3900].All(v => v == 0) && a[12100..].All(v => v == 0));
        Assert.True(AudioClip.Peak(a.AsSpan(4000, 8000)) > 0.49);
        // The float file above full scale is clamped.
        Assert.True(AudioClip.Peak(clips.Clip(2)) <= 1f);
    }

    [Fact]
    public void FlatFolderIsOneClassNamedAfterIt()
    {
        WavFile.WritePcm16(Sub("voices", "x.wav"), WavFileTests.Sine(440, 22050, 30000), 22050);
        using var clips = AudioFolder.Load(Path.Combine(_dir.Path, "voices"), new AudioFolderOptions(SampleRate: 8000, Length: 4000));
        Assert.Equal(["voices"], clips.ClassNames);
        Assert.Equal([1L, 1, 4000], clips.Samples.shape);
    }

    [Fact]
    public void TruncatedFileStopsTheLoadNamingIt()
    {
        WavFile.WritePcm16(Sub("d", "a", "good.wav"), WavFileTests.Sine(440, 16000, 800), 16000);
        string bad = Sub("d", "b", "cut.wav");
        WavFile.WritePcm16(bad, WavFileTests.Sine(440, 16000, 800), 16000);
        File.WriteAllBytes(bad, File.ReadAllBytes(bad)[..600]);
        var e = Assert.Throws<InvalidDataException>(() => AudioFolder.Load(Path.Combine(_dir.Path, "d")));
        Assert.StartsWith(bad + ": truncated", e.Message);
    }

    [Fact]
    public void TextFileNamedWavStopsTheLoadNamingIt()
    {
        string bad = Sub("d", "a", "readme.wav");
        File.WriteAllText(bad, "this is text");
        var e = Assert.Throws<InvalidDataException>(() => AudioFolder.Load(Path.Combine(_dir.Path, "d")));
        Assert.StartsWith(bad + ": not a readable WAV file", e.Message);
    }

    [Fact]
    public void EmptyFolderAndOtherAudioFormatsAreErrors()
    {
        Directory.CreateDirectory(Path.Combine(_dir.Path, "empty"));
        var e = Assert.Throws<InvalidDataException>(() => AudioFolder.Load(Path.Combine(_dir.Path, "empty")));
        Assert.Contains("no WAV files", e.Message);

        string mp3 = Sub("m", "song.mp3");
        File.WriteAllBytes(mp3, [0xFF, 0xFB, 0x90, 0x00]);
        e = Assert.Throws<InvalidDataException>(() => AudioFolder.Load(Path.Combine(_dir.Path, "m")));
        Assert.StartsWith(mp3 + ": MP3 audio is not read", e.Message);
    }

    [Fact]
    public void GivenClassNamesFixTheLabelOrder()
    {
        WavFile.WritePcm16(Sub("n", "one", "a.wav"), WavFileTests.Sine(440, 16000, 100), 16000);
        WavFile.WritePcm16(Sub("n", "zero", "a.wav"), WavFileTests.Sine(440, 16000, 100), 16000);
        using var clips = AudioFolder.Load(Path.Combine(_dir.Path, "n"), new AudioFolderOptions(ClassNames: ["zero", "one", "two"]));
        Assert.Equal(["zero", "one", "two"], clips.ClassNames);
        Assert.Equal([0L, 1], clips.Labels.data<long>().ToArray()); // label order, not folder-name order
        var e = Assert.Throws<InvalidDataException>(() => AudioFolder.Load(Path.Combine(_dir.Path, "n"), new AudioFolderOptions(ClassNames: ["zero"])));
        Assert.Contains("not among the classes", e.Message);
    }
}

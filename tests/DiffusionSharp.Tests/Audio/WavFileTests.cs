using DiffusionSharp.Audio;
using NAudio.Wave;

namespace DiffusionSharp.Tests.Audio;

public sealed class WavFileTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    internal static float[] Sine(double hz, int rate, int count, double amplitude = 0.5) =>
        Enumerable.Range(0, count).Select(i => (float)(amplitude * Math.Sin(2 * Math.PI * hz * i / rate))).ToArray();

    /// <summary>Writes interleaved samples in any format through NAudio's own writer.</summary>
    internal static void WriteWith(string path, WaveFormat format, float[] interleaved)
    {
        using var writer = new WaveFileWriter(path, format);
        writer.WriteSamples(interleaved, 0, interleaved.Length);
    }

    [Fact]
    public void Pcm16RoundTripsWithinOneQuantisationStep()
    {
        var x = Sine(440, 16000, 1600);
        string path = _dir.File("a.wav");
        WavFile.WritePcm16(path, x, 16000);
        var back = WavFile.ReadMono(path);
        Assert.Equal(16000, back.SampleRate);
        Assert.Equal(x.Length, back.Samples.Length);
        for (int i = 0; i < x.Length; i++)
            Assert.True(Math.Abs(x[i] - back.Samples[i]) <= 1.0 / 32767, $"sample {i}: {x[i]} vs {back.Samples[i]}");
        Assert.Equal(44 + 2 * x.Length, new FileInfo(path).Length);
    }

    [Fact]
    public void EncodingIsDeterministic()
    {
        var x = Sine(300, 8000, 800);
        Assert.Equal(WavFile.EncodePcm16(x, 8000), WavFile.EncodePcm16(x, 8000));
    }

    [Fact]
    public void StereoIsAveragedToMonoAnd24BitAndFloatAreRead()
    {
        var left = Sine(200, 44100, 441, 0.8);
        var interleaved = new float[2 * left.Length];
        for (int i = 0; i < left.Length; i++)
        {
            interleaved[2 * i] = left[i];
            interleaved[2 * i + 1] = -0.5f * left[i];
        }
        string pcm24 = _dir.File("stereo24.wav");
        WriteWith(pcm24, new WaveFormat(44100, 24, 2), interleaved);
        var mono = WavFile.ReadMono(pcm24);
        Assert.Equal(44100, mono.SampleRate);
        Assert.Equal(left.Length, mono.Samples.Length);
        for (int i = 0; i < left.Length; i++)
            Assert.True(Math.Abs(mono.Samples[i] - 0.25f * left[i]) < 1e-5, $"sample {i}");

        string f32 = _dir.File("float.wav");
        WriteWith(f32, WaveFormat.CreateIeeeFloatWaveFormat(22050, 1), left);
        Assert.Equal(left, WavFile.ReadMono(f32).Samples);
    }

    [Fact]
    public void TruncatedFileIsAnErrorNamingIt()
    {
        string path = _dir.File("cut.wav");
        WavFile.WritePcm16(path, Sine(440, 16000, 1000), 16000);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => WavFile.ReadMono(path));
        Assert.StartsWith(path + ": truncated", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("just some text, not audio\n")]
    [InlineData("")]
    [InlineData("RIFF\u0010\0\0\0WAVEjunk")]
    public void NonWavFileIsAnErrorNamingIt(string content)
    {
        string path = _dir.File("text.wav");
        File.WriteAllText(path, content);
        var e = Assert.Throws<InvalidDataException>(() => WavFile.ReadMono(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}

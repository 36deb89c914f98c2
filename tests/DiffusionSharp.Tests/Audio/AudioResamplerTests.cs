using DiffusionSharp.Audio;

namespace DiffusionSharp.Tests.Audio;

public sealed class AudioResamplerTests
{
    private static double Rms(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (float v in x)
            s += (double)v * v;
        return Math.Sqrt(s / x.Length);
    }

    [Theory]
    [InlineData(22050, 16000)]
    [InlineData(44100, 16000)]
    [InlineData(8000, 16000)]
    public void ToneKeepsItsFrequencyPhaseAndLength(int from, int to)
    {
        int n = from; // one second
        var x = WavFileTests.Sine(440, from, n);
        var y = AudioResampler.Resample(x, from, to);
        Assert.Equal(to, y.Length);
        var expected = WavFileTests.Sine(440, to, to);
        // Away from the edges the output is the same tone, in phase: the filter delay is compensated.
        double maxError = 0;
        for (int i = to / 10; i < to - to / 10; i++)
            maxError = Math.Max(maxError, Math.Abs(y[i] - expected[i]));
        Assert.True(maxError < 0.02, $"max error {maxError}");
    }

    [Fact]
    public void DownsamplingRemovesToneAboveTheNewNyquist()
    {
        // 7 kHz at 22.05 kHz → 8 kHz: without a band-limiting filter it would fold to 1 kHz at full level.
        var x = WavFileTests.Sine(7000, 22050, 22050);
        var y = AudioResampler.Resample(x, 22050, 8000);
        double rms = Rms(y.AsSpan(800, 6400));
        Assert.True(rms < 0.01, $"aliased RMS {rms} (input RMS {Rms(x):F3})");
    }

    [Fact]
    public void SameRateIsACopy()
    {
        float[] x = [0.1f, -0.2f, 0.3f];
        var y = AudioResampler.Resample(x, 16000, 16000);
        Assert.Equal(x, y);
        Assert.NotSame(x, y);
    }
}

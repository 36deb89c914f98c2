using DiffusionSharp.Audio;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Audio;

public sealed class LogMelSpectrogramTests
{
    [Fact]
    public void OneSecondAt16kHzGives64MelsBy101Frames()
    {
        using var mel = new LogMelSpectrogram();
        Assert.Equal(400, mel.Options.WindowLength);
        Assert.Equal(160, mel.Options.HopLength);
        Assert.Equal(512, mel.Options.FftSize);
        using var clips = zeros(3, 1, 16000);
        using var s = mel.Compute(clips);
        Assert.Equal([3L, 64, 101], s.shape);
        Assert.Equal(101, mel.Options.Frames(16000));
        Assert.Equal(Math.Log(1e-6), s.max().item<float>(), 4); // silence is the floor
    }

    [Fact]
    public void FrameMatchesAPlainDftOfTheWindowedFrameThroughTheFilterBank()
    {
        var x = new float[16000];
        var rng = new Random(3);
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(0.3 * Math.Sin(2 * Math.PI * 1000 * i / 16000.0) + 0.1 * (rng.NextDouble() - 0.5));
        using var mel = new LogMelSpectrogram();
        using var clip = tensor(x, [1, 1, 16000]);
        using var s = mel.Compute(clip);
        var o = mel.Options;
        int frame = 50, n = o.FftSize, bins = n / 2 + 1;
        // Centred frame t covers [t·hop − n/2, t·hop + n/2); the 400-sample Hann window sits in the middle of it.
        int start = frame * o.HopLength - n / 2 + (n - o.WindowLength) / 2;
        var power = new double[bins];
        for (int k = 0; k < bins; k++)
        {
            double re = 0, im = 0;
            for (int j = 0; j < o.WindowLength; j++)
            {
                double w = 0.5 - 0.5 * Math.Cos(2 * Math.PI * j / o.WindowLength);
                double v = w * x[start + j];
                double phase = -2 * Math.PI * k * (j + (n - o.WindowLength) / 2) / n;
                re += v * Math.Cos(phase);
                im += v * Math.Sin(phase);
            }
            power[k] = re * re + im * im;
        }
        var got = s[0, .., frame].data<float>().ToArray();
        int loudest = Array.IndexOf(got, got.Max());
        for (int m = 0; m < o.Mels; m++)
        {
            double e = 0;
            for (int k = 0; k < bins; k++)
                e += mel.FilterBank[m][k] * power[k];
            Assert.True(Math.Abs(Math.Log(e + o.Floor) - got[m]) < 1e-3, $"band {m}: {Math.Log(e + o.Floor)} vs {got[m]}");
        }
        // The loudest band is the one whose triangle peaks nearest 1 kHz (bin 32 of 512 at 16 kHz).
        int best = Enumerable.Range(0, o.Mels).MaxBy(m => mel.FilterBank[m][32]);
        Assert.Equal(best, loudest);
    }
}

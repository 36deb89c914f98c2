using DiffusionSharp.Audio;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Audio;

/// <summary>The log-magnitude STFT representation of a spectrogram model and its fast Griffin-Lim decoder.</summary>
public sealed class SpectrogramCodecTests
{
    /// <summary>A word-like clip: a gliding harmonic tone under an envelope, with digital silence around it.</summary>
    private static float[] Voiced(int rate, int length, double f0 = 140)
    {
        var x = new float[length];
        for (int i = length / 4; i < 3 * length / 4; i++)
        {
            double t = (double)i / rate, envelope = Math.Sin(Math.PI * (i - length / 4) / (length / 2.0));
            double f = f0 * (1 + 0.3 * t), sum = 0;
            for (int h = 1; h <= 6; h++)
                sum += Math.Sin(2 * Math.PI * h * f * t) / h;
            x[i] = (float)(0.3 * envelope * sum);
        }
        return x;
    }

    [Fact]
    public void SettingsFollowTheRate()
    {
        var wide = SpectrogramCodecOptions.For(16000, 16000);
        Assert.Equal((512, 128, 128, 257, 80, 16256), (wide.FftSize, wide.HopLength, wide.Frames, wide.Bins, wide.Channels, wide.PaddedLength));
        var narrow = SpectrogramCodecOptions.For(8000, 8000);
        Assert.Equal((256, 64, 128, 129, 43), (narrow.FftSize, narrow.HopLength, narrow.Frames, narrow.Bins, narrow.Channels));
        Assert.Equal(257, (wide with { Mels = 0 }).Channels);
        Assert.All(new[] { 8000, 11025, 16000, 22050, 44100 }, r => Assert.Equal(0, SpectrogramCodecOptions.For(r, r).Frames % 32));
    }

    [Theory]
    [InlineData(500, 128, 32, "fft_size")]
    [InlineData(512, 300, 128, "hop_length")]
    [InlineData(512, 128, 64, "frames")]
    [InlineData(512, 128, 128, "mels", 300)]
    public void BadSettingsNameTheSetting(int fft, int hop, int frames, string named, int mels = 0)
    {
        var options = new SpectrogramCodecOptions(FftSize: fft, HopLength: hop, Frames: frames, Mels: mels);
        var e = Assert.Throws<ArgumentException>(() => new SpectrogramCodec(options));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void AFullScaleToneReadsZeroDecibelsAndSilenceTheFloor()
    {
        var options = SpectrogramCodecOptions.For(16000, 16000) with { Mels = 0 };
        using var codec = new SpectrogramCodec(options);
        // 1 kHz falls on bin 32 of a 512-point FFT at 16 kHz.
        using var clips = stack([tensor(WavFileTests.Sine(1000, 16000, 16000, amplitude: 1.0)), zeros(16000)]).unsqueeze(1);
        using var s = codec.Encode(clips);
        Assert.Equal([2L, 257, 128], s.shape);
        using var peak = s[0, 32, TensorIndex.Slice(10, 110)];
        Assert.All(peak.data<float>().ToArray(), v => Assert.InRange(v, 0.98f, 1.0f));   // 0 dB = +1 (within 0.8 dB)
        Assert.Equal(-1f, s[1].max().item<float>());
        // Silence decodes to exact zeros, not to a hiss at the floor.
        using var back = codec.Decode(s[1].unsqueeze(0));
        Assert.Equal(0f, back.abs().max().item<float>());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(80)]
    public void GriffinLimFindsAWaveformWithTheGivenMagnitudes(int mels)
    {
        var options = SpectrogramCodecOptions.For(16000, 16000) with { GriffinLimIterations = 32, Mels = mels };
        using var codec = new SpectrogramCodec(options);
        using var clip = tensor(Voiced(16000, 16000), [1, 1, 16000]);
        using var s = codec.Encode(clip);
        using var decoded = codec.Decode(s);
        Assert.Equal([1L, 1, 16000], decoded.shape);
        using var again = codec.Encode(decoded);
        // Magnitudes are reproduced (the unit scale spans 80 dB: 0.01 is 0.4 dB), and so is the loudness.
        double error = (again - s).abs().mean().item<float>();
        Assert.True(error < 0.01, $"mean spectral error {error:F4} (unit scale)");
        double rms = decoded.square().mean().sqrt().item<float>(), rmsIn = clip.square().mean().sqrt().item<float>();
        Assert.InRange(rms / rmsIn, 0.9, 1.1);
        // Zero iterations (the magnitudes with zero phase) are measurably worse: the iterations do the work.
        using var plain = new SpectrogramCodec(options with { GriffinLimIterations = 0 });
        using var zeroPhase = plain.Decode(s);
        using var zeroAgain = codec.Encode(zeroPhase);
        Assert.True((zeroAgain - s).abs().mean().item<float>() > 2 * error);
    }

    [Fact]
    public void DecodingDoesNotDependOnTheBatch()
    {
        using var codec = new SpectrogramCodec(SpectrogramCodecOptions.For(8000, 8000) with { GriffinLimIterations = 8 });
        using var clips = stack([tensor(Voiced(8000, 8000)), tensor(Voiced(8000, 8000, f0: 220))]).unsqueeze(1);
        using var s = codec.Encode(clips);
        using var both = codec.Decode(s);
        using var second = codec.Decode(s.narrow(0, 1, 1));
        double difference = (both.narrow(0, 1, 1) - second).abs().max().item<float>();
        Assert.True(difference < 1e-4, $"clip 1 differs by {difference:E2} between a batch of two and a batch of one");
        using var again = codec.Decode(s);
        Assert.True(both.equal(again).all().item<bool>());   // deterministic
    }

    [Fact]
    public void EncodingAndDecodingLeakNoTensors()
    {
        using var codec = new SpectrogramCodec(SpectrogramCodecOptions.For(8000, 8000) with { GriffinLimIterations = 4 });
        using var clips = tensor(Voiced(8000, 8000), [1, 1, 8000]);
        void RoundTrip()
        {
            using var s = codec.Encode(clips);
            using var back = codec.Decode(s);
        }
        RoundTrip();
        long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++)
            RoundTrip();
        Assert.Equal(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}

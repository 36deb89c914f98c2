using DiffusionSharp.Audio;

namespace DiffusionSharp.Tests.Audio;

public sealed class AudioClipTests
{
    [Fact]
    public void ShortClipIsCentredAndLongClipCentreCropped()
    {
        float[] x = [1, 2, 3];
        Assert.Equal([0, 1, 2, 3, 0, 0], AudioClip.FitCentred(x, 6));
        float[] y = [1, 2, 3, 4, 5, 6, 7];
        Assert.Equal([3, 4, 5], AudioClip.FitCentred(y, 3));
        Assert.Equal([2, 3, 4, 5, 6], AudioClip.FitCentred(y, 5));
    }

    [Fact]
    public void TrimSilenceKeepsTheSpanAboveOnePercentOfThePeak()
    {
        float[] x = [0, 0.001f, 0.5f, 0, -1f, 0.005f, 0];
        Assert.Equal([0.5f, 0, -1f], AudioClip.TrimSilence(x).ToArray());
        Assert.Equal(0, AudioClip.TrimSilence(new float[5]).Length);
    }

    [Fact]
    public void NormalisePeakScalesToTheGivenPeak()
    {
        float[] x = [0.1f, -0.4f, 0.2f];
        AudioClip.NormalisePeak(x, 0.8f);
        Assert.Equal(0.8f, AudioClip.Peak(x), 6);
        Assert.Equal(0.2f, x[0], 6);
        Assert.Throws<ArgumentOutOfRangeException>(() => AudioClip.NormalisePeak(x, 1.5f));
    }
}

using NAudio.Dsp;

namespace DiffusionSharp.Audio;

/// <summary>
/// Sample-rate conversion through NAudio.Core's <see cref="WdlResampler"/> (a port of Cockos WDL's resampler) in its
/// windowed-sinc mode: 64-tap sinc, so downsampling is band-limited to the new Nyquist frequency. (NAudio's
/// <c>WdlResamplingSampleProvider</c> uses the same class in linear-interpolation mode, which aliases more.)
/// </summary>
/// <remarks>
/// The output has round(n · to / from) samples and is aligned with the input (a test checks a tone's phase).
/// </remarks>
public static class AudioResampler
{
    /// <summary>Sinc filter taps (WDL's default).</summary>
    public const int SincSize = 64;

    /// <summary>Resamples mono <paramref name="samples"/> from <paramref name="fromRate"/> to <paramref name="toRate"/> Hz.</summary>
    /// <returns>A new array (a copy when the rates are equal).</returns>
    public static float[] Resample(ReadOnlySpan<float> samples, int fromRate, int toRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(fromRate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(toRate);
        if (fromRate == toRate || samples.IsEmpty)
            return samples.ToArray();
        int outCount = (int)Math.Round((double)samples.Length * toRate / fromRate);
        var resampler = new WdlResampler();
        resampler.SetMode(true, 0, true, SincSize, 32);
        resampler.SetFeedMode(true); // input-driven: we say how much input we have
        resampler.SetRates(fromRate, toRate);

        // In input-driven mode WDL aligns its output with the input (measured: a tone comes out in phase, lag 0);
        // SincSize zeros after the signal flush the filter so the last samples come out too.
        var input = new float[samples.Length + SincSize];
        samples.CopyTo(input);
        var output = new List<float>(outCount + SincSize);
        var chunk = new float[4096];
        int position = 0;
        while (position < input.Length)
        {
            int want = Math.Min(2048, input.Length - position);
            int accepted = resampler.ResamplePrepare(want, 1, out Span<float> buffer);
            int take = Math.Min(accepted, want);
            input.AsSpan(position, take).CopyTo(buffer);
            position += take;
            int maxOut = (int)Math.Ceiling((double)take * toRate / fromRate) + 8;
            if (chunk.Length < maxOut)
                chunk = new float[maxOut];
            int produced = resampler.ResampleOut(chunk, take, maxOut, 1);
            output.AddRange(chunk.AsSpan(0, produced));
        }
        var result = new float[outCount];
        for (int i = 0; i < outCount && i < output.Count; i++)
            result[i] = output[i];
        return result;
    }
}

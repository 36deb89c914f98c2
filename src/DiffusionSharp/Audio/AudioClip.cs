namespace DiffusionSharp.Audio;

/// <summary>Fixed-length clips: trimming silence, centre padding or cropping, peak normalisation.</summary>
public static class AudioClip
{
    /// <summary>
    /// The span from the first to the last sample whose magnitude exceeds <paramref name="relativeThreshold"/> times
    /// the peak (empty when the clip is silent).
    /// </summary>
    public static ReadOnlySpan<float> TrimSilence(ReadOnlySpan<float> samples, float relativeThreshold = 0.01f)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(relativeThreshold);
        float threshold = Peak(samples) * relativeThreshold;
        int first = 0, last = samples.Length - 1;
        while (first <= last && Math.Abs(samples[first]) <= threshold)
            first++;
        while (last >= first && Math.Abs(samples[last]) <= threshold)
            last--;
        return first > last ? [] : samples[first..(last + 1)];
    }

    /// <summary>
    /// Exactly <paramref name="length"/> samples: a shorter clip is centred between zeros (the extra zero, if odd,
    /// at the end), a longer one is centre-cropped.
    /// </summary>
    public static float[] FitCentred(ReadOnlySpan<float> samples, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        var result = new float[length];
        if (samples.Length <= length)
            samples.CopyTo(result.AsSpan((length - samples.Length) / 2));
        else
            samples.Slice((samples.Length - length) / 2, length).CopyTo(result);
        return result;
    }

    /// <summary>The largest magnitude (0 for an empty clip).</summary>
    public static float Peak(ReadOnlySpan<float> samples)
    {
        float peak = 0;
        foreach (float s in samples)
            peak = Math.Max(peak, Math.Abs(s));
        return peak;
    }

    /// <summary>Scales <paramref name="samples"/> in place so the peak magnitude is <paramref name="peak"/> (a silent clip stays silent).</summary>
    public static void NormalisePeak(Span<float> samples, float peak)
    {
        if (!(peak > 0 && peak <= 1))
            throw new ArgumentOutOfRangeException(nameof(peak), peak, "peak must be in (0, 1]");
        float current = Peak(samples);
        if (current == 0)
            return;
        float gain = peak / current;
        foreach (ref float s in samples)
            s *= gain;
    }
}

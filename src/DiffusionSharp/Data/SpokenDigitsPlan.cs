using System.Globalization;

namespace DiffusionSharp.Data;

/// <summary>Which part of the spoken-digit set.</summary>
public enum SpokenDigitsSplit
{
    /// <summary>Clips spoken by the training voices.</summary>
    Train,

    /// <summary>Clips spoken by the held-out voices, which the training split never uses.</summary>
    HeldOut,
}

/// <summary>One clip to synthesise: the word, the voice and the random draws that make it.</summary>
/// <param name="Split">Train or held-out.</param>
/// <param name="Digit">0–9, the label.</param>
/// <param name="Index">Position within its split and digit.</param>
/// <param name="Accent">The espeak-ng English voice, e.g. <c>en-gb-scotland</c>.</param>
/// <param name="Variant">The espeak-ng voice variant (a file of <c>voices/!v</c>), e.g. <c>m3</c>.</param>
/// <param name="Pitch">espeak-ng <c>-p</c>, 0–99 (50 is the voice's own).</param>
/// <param name="Speed">espeak-ng <c>-s</c>, words per minute.</param>
/// <param name="PeakDb">The clip's peak level after normalisation, in dB below full scale.</param>
public sealed record SpokenDigitClip(SpokenDigitsSplit Split, int Digit, int Index, string Accent, string Variant, int Pitch, int Speed, double PeakDb)
{
    /// <summary>The split's folder name: <c>train</c> or <c>held-out</c>.</summary>
    public string SplitFolder => SpokenDigitsPlan.FolderName(Split);

    /// <summary>Path of the WAV file relative to the set's folder, e.g. <c>train/seven/0042.wav</c>.</summary>
    public string RelativePath => $"{SplitFolder}/{SpokenDigits.ClassNames[Digit]}/{Index.ToString("D4", CultureInfo.InvariantCulture)}.wav";

    /// <summary>The linear peak amplitude, 10^(PeakDb / 20).</summary>
    public float PeakGain => (float)Math.Pow(10, PeakDb / 20);

    /// <summary>The espeak-ng voice argument, <c>accent+variant</c>.</summary>
    public string Voice => $"{Accent}+{Variant}";
}

/// <summary>
/// Which voice says which digit how: every clip's accent, variant, pitch, speed and gain drawn from its own SplitMix64
/// stream seeded by (seed, split, digit, index), so a clip does not depend on how many others are made or in which
/// order. The held-out voices are <see cref="SpokenDigitsOptions.HeldOutVariants"/> variants (a seeded choice)
/// in every accent; training clips never use them.
/// </summary>
public static class SpokenDigitsPlan
{
    /// <summary>Lowest espeak-ng pitch drawn (0–99; 50 is the voice's own).</summary>
    public const int MinPitch = 20;

    /// <summary>Highest espeak-ng pitch drawn.</summary>
    public const int MaxPitch = 80;

    /// <summary>Slowest speed drawn, words per minute (espeak-ng's default is 175). At 130 wpm the slowest voices
    /// still say "seven" within one second; a longer word is centre-cropped.</summary>
    public const int MinSpeed = 130;

    /// <summary>Fastest speed drawn, words per minute.</summary>
    public const int MaxSpeed = 220;

    /// <summary>Quietest peak drawn, dB below full scale.</summary>
    public const double MinPeakDb = -12;

    /// <summary>Loudest peak drawn, dB below full scale.</summary>
    public const double MaxPeakDb = -1;

    /// <summary>The folder name of a split: <c>train</c> or <c>held-out</c>.</summary>
    public static string FolderName(SpokenDigitsSplit split) => split == SpokenDigitsSplit.Train ? "train" : "held-out";

    /// <summary>The held-out variants: the first <see cref="SpokenDigitsOptions.HeldOutVariants"/> of a seeded permutation of <paramref name="variants"/> (sorted ordinally first).</summary>
    public static IReadOnlyList<string> HeldOutVariants(IReadOnlyList<string> variants, SpokenDigitsOptions options)
    {
        ArgumentNullException.ThrowIfNull(variants);
        ArgumentNullException.ThrowIfNull(options);
        if (options.HeldOutVariants >= variants.Count)
            throw new ArgumentOutOfRangeException(nameof(options), $"{options.HeldOutVariants} held-out variants leave none of the {variants.Count} for training");
        var sorted = variants.Order(StringComparer.Ordinal).ToArray();
        long[] perm = SeededShuffle.Permutation(sorted.Length, SeededShuffle.Mix(options.Seed, 0x686F6C64));
        return perm.Take(options.HeldOutVariants).Select(i => sorted[i]).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Every clip of both splits, train first, each split by digit then index.</summary>
    public static IReadOnlyList<SpokenDigitClip> Clips(IReadOnlyList<string> variants, SpokenDigitsOptions options)
    {
        ArgumentNullException.ThrowIfNull(variants);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var heldOut = HeldOutVariants(variants, options);
        var train = variants.Except(heldOut).Order(StringComparer.Ordinal).ToArray();
        var clips = new List<SpokenDigitClip>();
        foreach (var (split, pool, perDigit) in new[] { (SpokenDigitsSplit.Train, (IReadOnlyList<string>)train, options.TrainPerDigit), (SpokenDigitsSplit.HeldOut, heldOut, options.HeldOutPerDigit) })
        {
            for (int digit = 0; digit < SpokenDigits.ClassNames.Count; digit++)
            {
                for (int index = 0; index < perDigit; index++)
                {
                    var rng = new SeededShuffle.SplitMix64(SeededShuffle.Mix(options.Seed, (long)split, digit, index));
                    string accent = SpokenDigits.Accents[(int)rng.NextBelow((ulong)SpokenDigits.Accents.Count)];
                    string variant = pool[(int)rng.NextBelow((ulong)pool.Count)];
                    int pitch = MinPitch + (int)rng.NextBelow(MaxPitch - MinPitch + 1);
                    int speed = MinSpeed + (int)rng.NextBelow(MaxSpeed - MinSpeed + 1);
                    double unit = (rng.Next() >> 11) * (1.0 / (1UL << 53));
                    double peakDb = Math.Round(MinPeakDb + unit * (MaxPeakDb - MinPeakDb), 2);
                    clips.Add(new SpokenDigitClip(split, digit, index, accent, variant, pitch, speed, peakDb));
                }
            }
        }
        return clips;
    }
}

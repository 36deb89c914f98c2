using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Audio;

/// <summary>
/// Clips as a spectrogram model trains on them: <see cref="SampleDataset.Samples"/> is N×channels×frames float32 in [−1, 1]
/// (<see cref="SpectrogramCodec.Encode"/> of N×1×L clips), with the clips' labels, class names and the
/// <see cref="Codec"/> settings that decode samples back into clips.
/// </summary>
public sealed class AudioSpectrograms : SampleDataset
{
    /// <summary>Clips encoded at once; a batch of 256 one-second clips takes ~34 MB of spectra.</summary>
    private const int EncodeBatch = 256;

    private AudioSpectrograms(string name, Tensor samples, Tensor labels, IReadOnlyList<string> classNames, SpectrogramCodecOptions codec)
        : base(name, samples, labels, classNames)
    {
        Codec = codec;
    }

    /// <summary>The codec settings: the model folder records them, sampling decodes with them.</summary>
    public SpectrogramCodecOptions Codec { get; }

    /// <summary>
    /// The spectrograms of <paramref name="clips"/> (mono) with the codec for their rate and length
    /// (<see cref="SpectrogramCodecOptions.For"/>), or <paramref name="options"/> when given; the clips stay the caller's.
    /// </summary>
    /// <exception cref="InvalidDataException">The clips are not mono, or do not fit the codec.</exception>
    public static AudioSpectrograms Encode(AudioClips clips, SpectrogramCodecOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(clips);
        options ??= SpectrogramCodecOptions.For(clips.SampleRate, clips.Length);
        if (options.SampleRate != clips.SampleRate || options.ClipLength != clips.Length)
            throw new InvalidDataException($"{clips.Name}: clips of {clips.Length} samples at {clips.SampleRate} Hz do not fit a codec for {options.ClipLength} at {options.SampleRate} Hz");
        using var codec = new SpectrogramCodec(options);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        for (long start = 0; start < clips.Count; start += EncodeBatch)
            parts.Add(codec.Encode(clips.Samples.narrow(0, start, Math.Min(EncodeBatch, clips.Count - start))));
        var samples = cat(parts, 0);
        return new AudioSpectrograms($"{clips.Name} (spectrograms)", samples, clips.Labels.clone(), clips.ClassNames, options);
    }
}

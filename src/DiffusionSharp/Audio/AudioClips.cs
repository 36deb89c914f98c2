using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Audio;

/// <summary>
/// Fixed-length mono clips and labels in memory, ready for a 1-D diffusion model: <see cref="SampleDataset.Samples"/> is N×1×L
/// float32 on the CPU in [-1, 1], <see cref="SampleDataset.Labels"/> N int64 class indices into <see cref="SampleDataset.ClassNames"/>.
/// </summary>
/// <remarks>
/// A <see cref="SampleDataset"/> (it owns both tensors, as every dataset does), so the trainer takes it as it is.
/// </remarks>
public sealed class AudioClips : SampleDataset
{
    /// <summary>Takes ownership of <paramref name="samples"/> and <paramref name="labels"/>.</summary>
    /// <exception cref="ArgumentException">Shapes, dtypes or counts disagree.</exception>
    public AudioClips(string name, Tensor samples, Tensor labels, IReadOnlyList<string> classNames, int sampleRate)
        : base(name, CheckClips(samples, sampleRate), labels, classNames)
    {
        SampleRate = sampleRate;
    }

    // Checked before the base constructor takes ownership of the tensors.
    private static Tensor CheckClips(Tensor samples, int sampleRate)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        if (samples.dim() != 3 || samples.shape[1] != 1 || samples.dtype != ScalarType.Float32)
            throw new ArgumentException($"samples must be N×1×L float32, not [{string.Join(", ", samples.shape)}] {samples.dtype}", nameof(samples));
        return samples;
    }

    /// <summary>Samples per second.</summary>
    public int SampleRate { get; }

    /// <summary>L, samples per clip.</summary>
    public int Length => (int)Samples.shape[2];

    /// <summary>Builds the tensors from equal-length clips.</summary>
    /// <exception cref="ArgumentException">Clips differ in length, there are none, or a label is out of range.</exception>
    public static AudioClips FromArrays(string name, IReadOnlyList<float[]> clips, IReadOnlyList<long> labels,
        IReadOnlyList<string> classNames, int sampleRate)
    {
        ArgumentNullException.ThrowIfNull(clips);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (clips.Count == 0)
            throw new ArgumentException("no clips", nameof(clips));
        if (labels.Count != clips.Count)
            throw new ArgumentException($"{labels.Count} labels for {clips.Count} clips", nameof(labels));
        int length = clips[0].Length;
        var flat = new float[checked((long)clips.Count * length)];
        for (int i = 0; i < clips.Count; i++)
        {
            if (clips[i].Length != length)
                throw new ArgumentException($"clip {i} has {clips[i].Length} samples, not the {length} of clip 0", nameof(clips));
            if (labels[i] < 0 || labels[i] >= classNames.Count)
                throw new ArgumentException($"label {labels[i]} is outside [0, {classNames.Count})", nameof(labels));
            clips[i].CopyTo(flat, (long)i * length);
        }
        using var scope = NewDisposeScope();
        return new AudioClips(name, tensor(flat, [clips.Count, 1, length]), tensor(labels.ToArray(), [clips.Count]), classNames, sampleRate);
    }

    /// <summary>Clip <paramref name="index"/> as a new array.</summary>
    public float[] Clip(long index)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((ulong)index, (ulong)Count, nameof(index));
        using var scope = NewDisposeScope();
        return Samples[index, 0].data<float>().ToArray();
    }
}

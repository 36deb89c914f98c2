using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>
/// Gaussian noise with one seeded generator per batch row (as NVlabs/edm's <c>StackedRandomGenerator</c>): row i is
/// drawn only from the generator seeded with <c>seeds[i]</c>, so a sample depends on its own seed and on nothing
/// else — not on the batch it was drawn in, nor on its position there. The same seeds give bit-identical noise.
/// </summary>
/// <remarks>
/// Draws are made in float32 on the CPU and then converted, so a seed gives the same values whatever the target
/// dtype or device. The instance owns its generators: dispose it.
/// </remarks>
public sealed class PerSampleNoise : INoiseSource, IDisposable
{
    private readonly Generator[] _generators;
    private bool _disposed;

    /// <summary>One generator per seed; the batch size of every draw must be <c>seeds.Length</c>.</summary>
    /// <exception cref="ArgumentException">No seeds.</exception>
    public PerSampleNoise(long[] seeds)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        if (seeds.Length == 0)
            throw new ArgumentException("At least one seed is needed (one per batch row).", nameof(seeds));
        Seeds = (long[])seeds.Clone();
        _generators = new Generator[seeds.Length];
        for (int i = 0; i < seeds.Length; i++)
            _generators[i] = new Generator(unchecked((ulong)seeds[i]), CPU);
    }

    /// <summary>The seeds, one per batch row.</summary>
    public IReadOnlyList<long> Seeds { get; }

    /// <summary>The batch size this source draws for.</summary>
    public int BatchSize => _generators.Length;

    /// <summary>
    /// x_T for a batch: the first draw of fresh per-row generators, shaped [seeds.Length, ..perSampleShape]. It equals
    /// the first <see cref="Draw"/> of a new <see cref="PerSampleNoise"/> built from the same seeds.
    /// </summary>
    public static Tensor InitialNoise(long[] seeds, long[] perSampleShape, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        using var noise = new PerSampleNoise(seeds);
        return noise.Draw(perSampleShape, dtype, device);
    }

    /// <summary>A standard-normal tensor [BatchSize, ..perSampleShape]; row i comes from generator i.</summary>
    /// <exception cref="ArgumentException">A negative dimension.</exception>
    public Tensor Draw(long[] perSampleShape, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(perSampleShape);
        if (perSampleShape.Any(d => d < 0))
            throw new ArgumentException($"Negative dimension in shape [{string.Join(", ", perSampleShape)}].", nameof(perSampleShape));
        using var scope = NewDisposeScope();
        var rows = new Tensor[_generators.Length];
        for (int i = 0; i < rows.Length; i++)
            rows[i] = randn(perSampleShape, dtype: ScalarType.Float32, device: CPU, generator: _generators[i]);
        var batch = stack(rows, 0);
        if (dtype != ScalarType.Float32 || (device is not null && device.type != DeviceType.CPU))
            batch = batch.to(dtype, device ?? CPU);
        return batch.MoveToOuterDisposeScope();
    }

    /// <summary>A standard-normal tensor like <paramref name="like"/>, whose first dimension must be the batch size.</summary>
    /// <exception cref="ArgumentException"><paramref name="like"/>'s batch dimension differs from the number of seeds.</exception>
    public Tensor Next(Tensor like)
    {
        ArgumentNullException.ThrowIfNull(like);
        if (like.dim() < 1 || like.shape[0] != _generators.Length)
            throw new ArgumentException(
                $"Noise for shape [{string.Join(", ", like.shape)}] asked of a per-sample source with {_generators.Length} seeds; the first dimension must equal the number of seeds.",
                nameof(like));
        return Draw(like.shape[1..], like.dtype, like.device);
    }

    /// <summary>Releases the generators.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (var g in _generators)
            g.Dispose();
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>
/// The keys and values a causal transformer has computed for the positions it has read, per layer, so that the next
/// position costs one token's work instead of a pass over the whole prefix (the key/value cache of autoregressive
/// decoding, e.g. Pope et al. 2022, "Efficiently Scaling Transformer Inference", §2). Keys are stored after their
/// rotary rotation, so a cached key never has to be rotated again. Made by <see cref="TextTransformer.NewCache"/>;
/// the tensors are preallocated to <see cref="Capacity"/> positions and owned by the cache until it is disposed.
/// </summary>
public sealed class KeyValueCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;
    private long _pending = -1;

    internal KeyValueCache(int layers, long batch, long heads, long capacity, long headSize, ScalarType dtype, Device device)
    {
        if (capacity < 1)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "a cache holds at least one position");
        Capacity = capacity;
        Batch = batch;
        _keys = new Tensor[layers];
        _values = new Tensor[layers];
        for (int i = 0; i < layers; i++)
        {
            _keys[i] = zeros([batch, heads, capacity, headSize], dtype, device).DetachFromDisposeScope();
            _values[i] = zeros([batch, heads, capacity, headSize], dtype, device).DetachFromDisposeScope();
        }
    }

    /// <summary>Positions read so far (the position of the next token).</summary>
    public long Length { get; private set; }

    /// <summary>The most positions the cache holds.</summary>
    public long Capacity { get; }

    /// <summary>The batch size it was made for.</summary>
    public long Batch { get; }

    /// <summary>
    /// Writes the new positions' keys and values [B, heads, n, d] of <paramref name="layer"/> at <see cref="Length"/>
    /// and returns views of every position so far, [B, heads, Length + n, d]. <see cref="Length"/> moves on when
    /// <see cref="Advance"/> is called, after the last layer.
    /// </summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        long n = keys.shape[2];
        if (keys.shape[0] != Batch)
            throw new ArgumentException($"a batch of {keys.shape[0]} for a cache made for {Batch}", nameof(keys));
        if (Length + n > Capacity)
            throw new ArgumentException($"position {Length + n - 1} is past the cache's capacity of {Capacity} positions", nameof(keys));
        if (_pending >= 0 && _pending != n)
            throw new InvalidOperationException($"layers appended {_pending} and {n} positions in one step");
        _pending = n;
        using (no_grad())
        {
            _keys[layer].narrow(2, Length, n).copy_(keys);
            _values[layer].narrow(2, Length, n).copy_(values);
        }
        return (_keys[layer].narrow(2, 0, Length + n), _values[layer].narrow(2, 0, Length + n));
    }

    /// <summary>Moves <see cref="Length"/> past the positions every layer has just appended.</summary>
    internal void Advance()
    {
        if (_pending < 0)
            throw new InvalidOperationException("nothing was appended");
        Length += _pending;
        _pending = -1;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values))
            t.Dispose();
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Training;

/// <summary>
/// An exponential moving average of a model's parameters, kept in a second instance of the same architecture
/// (so it can be saved, sampled and exported like the model itself). Buffers are copied, not averaged.
/// </summary>
/// <remarks>
/// Warm-up as in Karras et al.'s and diffusers' <c>EMAModel</c>: decay(s) = 1 − (1 + s/γ)^(−p), clamped to
/// [<see cref="MinDecay"/>, <see cref="MaxDecay"/>], where s counts updates. With p = 2/3 the average covers most of a short
/// run early on and approaches <see cref="MaxDecay"/> later; p = 3/4 suits runs of a million steps.
/// </remarks>
public sealed class ExponentialMovingAverage
{
    private readonly (Tensor Ema, Tensor Source)[] _pairs;
    private readonly (Tensor Ema, Tensor Source)[] _buffers;

    /// <summary>Pairs <paramref name="ema"/>'s parameters with <paramref name="source"/>'s by name and copies them in.</summary>
    public ExponentialMovingAverage(nn.Module ema, nn.Module source, double maxDecay = 0.9999, double minDecay = 0.0, double invGamma = 1.0, double power = 2.0 / 3.0)
    {
        MaxDecay = maxDecay;
        MinDecay = minDecay;
        InvGamma = invGamma;
        Power = power;
        var src = source.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        _pairs = ema.named_parameters().Select(p => ((Tensor)p.parameter, src[p.name])).ToArray();
        var srcBuf = source.named_buffers().ToDictionary(p => p.name, p => p.buffer);
        _buffers = ema.named_buffers().Select(p => (p.buffer, srcBuf[p.name])).ToArray();
        foreach (var p in ema.parameters())
            p.requires_grad = false;
        CopyFromSource();
    }

    /// <summary>The largest decay used.</summary>
    public double MaxDecay { get; }

    /// <summary>The smallest decay used.</summary>
    public double MinDecay { get; }

    /// <summary>γ of the warm-up.</summary>
    public double InvGamma { get; }

    /// <summary>p of the warm-up.</summary>
    public double Power { get; }

    /// <summary>Updates done so far (saved with the training state).</summary>
    public long Updates { get; set; }

    /// <summary>The decay the next update will use.</summary>
    public double CurrentDecay
    {
        get
        {
            double step = Math.Max(0, Updates);
            double d = 1.0 - Math.Pow(1.0 + step / InvGamma, -Power);
            return Math.Clamp(d, MinDecay, MaxDecay);
        }
    }

    /// <summary>ema ← d·ema + (1−d)·source, for every parameter; buffers copied.</summary>
    public void Update()
    {
        double d = CurrentDecay;
        using (no_grad())
        {
            foreach (var (ema, source) in _pairs)
                ema.lerp_(source, 1.0 - d);
            foreach (var (ema, source) in _buffers)
                ema.copy_(source);
        }
        Updates++;
    }

    /// <summary>Sets the average to the source's current values.</summary>
    public void CopyFromSource()
    {
        using (no_grad())
        {
            foreach (var (ema, source) in _pairs)
                ema.copy_(source);
            foreach (var (ema, source) in _buffers)
                ema.copy_(source);
        }
    }
}

using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers;

/// <summary>
/// Halves the resolution with a stride-2 3×3 convolution (parameter <c>conv</c>). With <c>padding = 0</c> the input is
/// first zero-padded by one column on the right and one row at the bottom (diffusers' <c>Downsample2D</c>, as in the
/// original DDPM TensorFlow code), so even sizes halve exactly.
/// </summary>
internal sealed class Downsample2D : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")] private readonly Conv2d _conv;
    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly long _padding;

    public Downsample2D(LayerContext ctx, string path, long channels, long padding) : base(nameof(Downsample2D))
    {
        _ctx = ctx;
        _path = path;
        _padding = padding;
        _conv = nn.Conv2d(channels, channels, 3, stride: 2, padding: padding);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var input = _padding == 0 ? F.pad(x, [0, 1, 0, 1]) : x;
        var output = Ops.Conv2d(_ctx, _conv, input, 2, _padding);
        _ctx.Emit(_path, output);
        return output.MoveToOuterDisposeScope();
    }
}

/// <summary>Doubles the resolution: nearest-neighbour ×2, then a 3×3 convolution (parameter <c>conv</c>).</summary>
internal sealed class Upsample2D : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")] private readonly Conv2d _conv;
    private readonly LayerContext _ctx;
    private readonly string _path;

    public Upsample2D(LayerContext ctx, string path, long channels) : base(nameof(Upsample2D))
    {
        _ctx = ctx;
        _path = path;
        _conv = nn.Conv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var output = Ops.Conv2d(_ctx, _conv, Nearest2x(x), 1, 1);
        _ctx.Emit(_path, output);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>Nearest-neighbour ×2: every pixel becomes a 2×2 block.</summary>
    public static Tensor Nearest2x(Tensor x) => F.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
}

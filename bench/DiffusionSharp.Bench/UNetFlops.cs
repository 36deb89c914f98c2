using DiffusionSharp.Models;

namespace DiffusionSharp.Bench;

/// <summary>Floating-point operations of one U-Net forward pass, by kind (a multiply-add counts as 2).</summary>
/// <param name="Conv">Convolutions: 2·C_in·k²·C_out per output pixel.</param>
/// <param name="Linear">Linear layers (time MLP, time projections of residual blocks, attention Q/K/V/out).</param>
/// <param name="Attention">The two attention products Q·Kᵀ and softmax·V: 2·2·N²·d per head.</param>
internal sealed record FlopCount(double Conv, double Linear, double Attention)
{
    public double Total => Conv + Linear + Attention;

    public static FlopCount operator +(FlopCount a, FlopCount b) => new(a.Conv + b.Conv, a.Linear + b.Linear, a.Attention + b.Attention);

    public static FlopCount operator *(FlopCount a, double k) => new(a.Conv * k, a.Linear * k, a.Attention * k);
}

/// <summary>
/// Counts the forward FLOPs of diffusers' <c>UNet2DModel</c> from its config, walking the network as its constructor
/// builds it (the same channel bookkeeping as <see cref="UNet2DModel"/>). Only the products are counted: norms,
/// activations, softmax, bias and residual additions are O(activations), not O(activations × channels), and are left
/// out, as in the usual "model FLOPs" convention. bench/torch_bench.py counts the same quantity from the shapes its
/// modules actually see (forward hooks), and <c>bench/run --check</c> requires both counts to agree.
/// </summary>
internal static class UNetFlops
{
    /// <summary>A training step is forward + backward, and backward costs about twice the forward (input and weight gradients).</summary>
    public const double TrainStepFactor = 3.0;

    public static FlopCount Forward(UNet2DConfig c, long batch, long height, long width)
    {
        if (c.DownsampleType != ResamplingType.Conv || c.UpsampleType != ResamplingType.Conv)
            throw new NotSupportedException("FLOP count: only conv resampling is implemented");
        var ch = c.BlockOutChannels;
        long emb = c.TimeEmbedDim;
        long c0 = ch[0];
        long timeIn = c.TimeEmbeddingType == TimeEmbeddingType.Fourier ? 2 * c0 : c0;
        var total = new FlopCount(0, 0, 0);

        total += Conv(batch, c.InChannels, c0, 3, height, width);
        total += Linear(batch, timeIn, emb) + Linear(batch, emb, emb);
        if (c.ClassEmbedType == ClassEmbedType.Timestep)
            total += Linear(batch, timeIn, emb) + Linear(batch, emb, emb);

        long h = height, w = width, output = c0;
        for (int i = 0; i < ch.Length; i++)
        {
            long input = output;
            output = ch[i];
            for (int j = 0; j < c.LayersPerBlock; j++)
            {
                total += Resnet(c, batch, j == 0 ? input : output, output, emb, h, w);
                if (c.DownBlockTypes[i] == UNetDownBlockType.AttnDownBlock2D)
                    total += Attention(batch, output, c.HeadDimFor((int)output), h * w);
            }
            if (i < ch.Length - 1)
            {
                long ho = (h + 2 * c.DownsamplePadding - 3 + (c.DownsamplePadding == 0 ? 1 : 0)) / 2 + 1;
                long wo = (w + 2 * c.DownsamplePadding - 3 + (c.DownsamplePadding == 0 ? 1 : 0)) / 2 + 1;
                total += Conv(batch, output, output, 3, ho, wo);
                (h, w) = (ho, wo);
            }
        }
        if (c.MidBlockType is not null)
        {
            long m = ch[^1];
            total += Resnet(c, batch, m, m, emb, h, w);
            if (c.AddAttention)
                total += Attention(batch, m, c.HeadDimFor((int)m), h * w);
            total += Resnet(c, batch, m, m, emb, h, w);
        }
        foreach (var up in c.UpBlocks())
        {
            for (int j = 0; j < up.Layers; j++)
            {
                var (hidden, skip) = up.ResnetInput(j);
                total += Resnet(c, batch, hidden + skip, up.Output, emb, h, w);
                if (c.UpBlockTypes[up.Index] == UNetUpBlockType.AttnUpBlock2D)
                    total += Attention(batch, up.Output, c.HeadDimFor((int)up.Output), h * w);
            }
            if (up.Level > 0)
            {
                (h, w) = (2 * h, 2 * w);
                total += Conv(batch, up.Output, up.Output, 3, h, w);
            }
        }
        total += Conv(batch, c0, c.OutChannels, 3, h, w);
        return total;
    }

    private static FlopCount Conv(long b, long cin, long cout, long k, long h, long w) => new(2.0 * b * cin * k * k * cout * h * w, 0, 0);

    private static FlopCount Linear(long rows, long fin, long fout) => new(0, 2.0 * rows * fin * fout, 0);

    private static FlopCount Resnet(UNet2DConfig c, long b, long cin, long cout, long emb, long h, long w)
    {
        long tembOut = c.ResnetTimeScaleShift == ResnetTimeScaleShift.ScaleShift ? 2 * cout : cout;
        var f = Conv(b, cin, cout, 3, h, w) + Linear(b, emb, tembOut) + Conv(b, cout, cout, 3, h, w);
        return cin != cout ? f + Conv(b, cin, cout, 1, h, w) : f;
    }

    private static FlopCount Attention(long b, long channels, long headDim, long n)
    {
        long heads = channels / headDim;
        long inner = heads * headDim;
        var projections = Linear(b * n, channels, inner) * 3 + Linear(b * n, inner, channels);
        double products = 2.0 * 2.0 * b * heads * n * n * headDim;
        return projections + new FlopCount(0, 0, products);
    }
}

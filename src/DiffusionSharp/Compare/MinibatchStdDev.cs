using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Compare;

/// <summary>
/// The minibatch standard-deviation layer of Karras et al., "Progressive Growing of GANs for Improved Quality, Stability,
/// and Variation", ICLR 2018, §3: the discriminator sees, beside each image's features, how much the features vary
/// across a small group of images of the same batch. A generator that draws (nearly) the same image for every z gives
/// groups with no spread, which the discriminator can then tell from real groups, so collapse stops paying.
/// </summary>
/// <remarks>
/// <para>For h [N, C, H, W] and group size g: the standard deviation of each feature and position over the g images of
/// a group (biased, √(var + 10⁻⁸)), averaged over C, H and W to one value per group, appended as one constant channel
/// to each image of the group: [N, C + 1, H, W].</para>
/// <para>Groups are g consecutive images (the paper's code takes every (N/g)-th), so a group never straddles two chunks
/// of a chunked backward pass when the chunk size is a multiple of g, and chunking leaves D's output unchanged. When g
/// does not divide N, the largest group size below it that does is used (a batch of 3 forms one group of 3).</para>
/// <para>It stands in for the batch coupling DCGAN's BatchNorm gave its generator (Radford et al. 2016 §3: it "prevented
/// the generator from collapsing all samples to a single point"), which the comparison's GroupNorm generator lacks: the
/// first 7-minute comparison run drew one image per class for every z in both GAN variants (recall 0.04).</para>
/// </remarks>
internal sealed class MinibatchStdDev : nn.Module<Tensor, Tensor>
{
    private const double Epsilon = 1e-8;
    private readonly int _groupSize;

    /// <summary>A layer over groups of <paramref name="groupSize"/> images (4 in the paper).</summary>
    public MinibatchStdDev(int groupSize) : base(nameof(MinibatchStdDev))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(groupSize, 1);
        _groupSize = groupSize;
    }

    /// <summary>The group size for a batch of <paramref name="n"/>: the largest divisor of n not above the configured one.</summary>
    public long GroupFor(long n)
    {
        long g = Math.Min(_groupSize, n);
        while (n % g != 0)
            g--;
        return g;
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor h)
    {
        using var scope = NewDisposeScope();
        long n = h.shape[0], g = GroupFor(n);
        var shape = h.shape;
        var grouped = h.reshape(n / g, g, shape[1], shape[2], shape[3]);
        var spread = (grouped.var(1, unbiased: false) + Epsilon).sqrt().mean([1, 2, 3]);     // [N / g]
        var channel = spread.repeat_interleave(g).reshape(n, 1, 1, 1).expand(n, 1, shape[2], shape[3]);
        return cat([h, channel.to(h.dtype)], 1).MoveToOuterDisposeScope();
    }
}

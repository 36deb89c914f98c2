namespace DiffusionSharp.Models;

/// <summary>
/// One block of the 1-D U-Net as diffusers' <c>UNet1DModel.__init__</c> builds it: <c>down_blocks.i</c> /
/// <c>up_blocks.i</c> with the channel counts it is constructed with and its <c>add_downsample</c> / <c>add_upsample</c>
/// flag (which only the ResNet-family blocks honour; the ResConv family always or never resamples).
/// </summary>
/// <param name="Index">i of the block.</param>
/// <param name="In">The block's <c>in_channels</c> (an up block concatenates a skip of the same width to it).</param>
/// <param name="Out">The block's <c>out_channels</c>.</param>
/// <param name="AddResample">diffusers' <c>add_downsample</c> / <c>add_upsample</c>.</param>
public sealed record UNet1DBlockWidths(int Index, int In, int Out, bool AddResample);

public sealed partial record UNet1DConfig
{
    /// <summary>The encoder blocks as diffusers builds them.</summary>
    public IEnumerable<UNet1DBlockWidths> DownBlocks()
    {
        int output = InChannels;
        for (int i = 0; i < DownBlockTypes.Length; i++)
        {
            int input = output + (i == 0 ? ExtraInChannels : 0);
            output = BlockOutChannels[i];
            yield return new UNet1DBlockWidths(i, input, output, i != BlockOutChannels.Length - 1 || DownsampleEachBlock);
        }
    }

    /// <summary>The decoder blocks as diffusers builds them (the last one ends at out_channels, or at c₀ before an out block).</summary>
    public IEnumerable<UNet1DBlockWidths> UpBlocks()
    {
        int finalChannels = OutBlockType is null ? OutChannels : BlockOutChannels[0];
        int output = BlockOutChannels[^1];
        for (int i = 0; i < UpBlockTypes.Length; i++)
        {
            int previous = output;
            output = i < UpBlockTypes.Length - 1 ? BlockOutChannels[BlockOutChannels.Length - 2 - i] : finalChannels;
            yield return new UNet1DBlockWidths(i, previous, output, i != BlockOutChannels.Length - 1);
        }
    }

    /// <summary>Sample lengths must be multiples of this: 2^(halvings on the way to the bottleneck).</summary>
    public int LengthMultiple => 1 << Walk().Halvings;

    /// <summary>The shortest sample length: reflect padding of the cubic FIR kernels needs ≥ 3 samples at the deepest level.</summary>
    public int MinimumLength => Walk() is var w && w.Cubic ? 3 * (1 << w.Halvings) : 1 << w.Halvings;

    /// <summary>
    /// Checks what would make diffusers' constructor or forward fail (or build a different network than asked); returns
    /// the config key and a reason for the first problem, or <c>null</c>. Walks the channels through the blocks exactly
    /// as diffusers' forward does, so every concatenation is checked before anything is built.
    /// </summary>
    public (string Key, string Reason)? FindProblem() => Walk().Problem;

    private ((string Key, string Reason)? Problem, int Halvings, bool Cubic) Walk()
    {
        static (string, string)? Bad(string key, string reason) => (key, reason);
        int halvings = 0;
        bool cubic = false;
        if (BlockOutChannels.IsDefaultOrEmpty)
            return (Bad("block_out_channels", "must list at least one block"), 0, false);
        if (BlockOutChannels.Any(c => c <= 0))
            return (Bad("block_out_channels", "channel counts must be positive"), 0, false);
        if (InChannels <= 0)
            return (Bad("in_channels", "must be positive"), 0, false);
        if (OutChannels <= 0)
            return (Bad("out_channels", "must be positive"), 0, false);
        if (ExtraInChannels < 0)
            return (Bad("extra_in_channels", "must not be negative"), 0, false);
        if (LayersPerBlock < 0)
            return (Bad("layers_per_block", "must not be negative"), 0, false);
        if (SampleSize <= 0)
            return (Bad("sample_size", "must be positive"), 0, false);
        if (TimeEmbeddingType == TimeEmbeddingType.Learned)
            return (Bad("time_embedding_type", "UNet1DModel takes \"fourier\" or \"positional\""), 0, false);
        if (TimeEmbeddingDim is < 0)
            return (Bad("time_embedding_dim", "must not be negative"), 0, false);
        if (TimeEmbeddingType == TimeEmbeddingType.Fourier && TimeProjDim % 2 != 0)
            return (Bad("time_embedding_dim", $"the Fourier embedding size must be even, got {TimeProjDim}"), 0, false);
        if (!double.IsFinite(FreqShift) || (TimeEmbeddingType == TimeEmbeddingType.Positional && FreqShift == BlockOutChannels[0] / 2))
            return (Bad("freq_shift", "must be finite and differ from block_out_channels[0] / 2"), 0, false);
        if (UseTimestepEmbedding && ActFn is null)
            return (Bad("act_fn", "the time MLP (use_timestep_embedding) needs an activation"), 0, false);
        if (OutBlockType is not null && ActFn is null)
            return (Bad("act_fn", $"out block {OutBlockType} needs an activation"), 0, false);
        if (NormNumGroups is <= 0 || OutNormGroups <= 0)
            return (Bad("norm_num_groups", "must be positive"), 0, false);
        if (NumClassEmbeds is <= 0)
            return (Bad("num_class_embeds", "must be positive"), 0, false);
        if (DownBlockTypes.IsDefaultOrEmpty || DownBlockTypes.Length > BlockOutChannels.Length)
            return (Bad("down_block_types", $"must list 1 to {BlockOutChannels.Length} blocks (one per block_out_channels entry)"), 0, false);
        if (UpBlockTypes.IsDefault || UpBlockTypes.Length > DownBlockTypes.Length)
            return (Bad("up_block_types", $"at most {DownBlockTypes.Length} blocks (one per skip connection)"), 0, false);

        (string, string)? NeedsTime(string block) => UseTimestepEmbedding ? null
            : Bad("use_timestep_embedding", $"{block} adds the time MLP's output; it needs use_timestep_embedding true");
        (string, string)? Groups8(string block, int c) => c % 8 == 0 ? null
            : Bad("block_out_channels", $"{block} normalises with GroupNorm(8), which does not divide {c} channels");
        (string, string)? Attention(string block, int c) => c < 32 ? Bad("block_out_channels", $"{block}: self-attention has C // 32 heads and needs ≥ 32 channels, got {c}")
            : c % (c / 32) != 0 ? Bad("block_out_channels", $"{block}: {c / 32} heads do not divide {c} channels") : null;

        int h = InChannels;
        var skips = new Stack<int>();
        foreach (var b in DownBlocks())
        {
            var type = DownBlockTypes[b.Index];
            string name = $"down_blocks.{b.Index} ({type})";
            int received = h;
            if (type == UNet1DDownBlockType.DownBlock1DNoSkip)
            {
                if (UseTimestepEmbedding)
                    return (Bad("use_timestep_embedding", $"{name} concatenates the repeated time features; it needs use_timestep_embedding false"), 0, false);
                if (halvings > 0)
                    return (Bad("down_block_types", $"{name} concatenates full-length time features, so it must come before any downsampling block"), 0, false);
                received = h + TembChannels;
            }
            if (received != b.In)
            {
                return (b.Index == 0
                    ? Bad("extra_in_channels", $"{name} receives {received} channels but is built for {b.In} (in_channels + extra_in_channels)")
                    : Bad("block_out_channels", $"{name} receives {received} channels but is built for {b.In}"), 0, false);
            }
            var problem = type switch
            {
                UNet1DDownBlockType.DownResnetBlock1D => NeedsTime(name) ?? Groups8(name, b.Out),
                UNet1DDownBlockType.AttnDownBlock1D => Attention(name, b.Out),
                _ => null,
            };
            if (problem is not null)
                return (problem, 0, false);
            if (type is UNet1DDownBlockType.DownBlock1D or UNet1DDownBlockType.AttnDownBlock1D)
            {
                halvings++;
                cubic = true;
            }
            else if (type == UNet1DDownBlockType.DownResnetBlock1D && b.AddResample)
            {
                halvings++;
            }
            skips.Push(b.Out);
            h = b.Out;
        }

        int mid = BlockOutChannels[^1];
        string midName = $"mid_block ({MidBlockType})";
        if (h != mid)
            return (Bad("down_block_types", $"the last down block gives {h} channels, {midName} takes block_out_channels[-1] = {mid}"), 0, false);
        switch (MidBlockType)
        {
            case UNet1DMidBlockType.UNetMidBlock1D:
                if (Attention(midName, mid) is { } a)
                    return (a, 0, false);
                halvings++;
                cubic = true;
                break;
            case UNet1DMidBlockType.MidResTemporalBlock1D:
                if ((NeedsTime(midName) ?? Groups8(midName, mid)) is { } r)
                    return (r, 0, false);
                halvings += DownsampleEachBlock ? 1 : 0;
                break;
            default:
                if ((NeedsTime(midName) ?? Groups8(midName, mid / 2) ?? Groups8(midName, mid / 4)) is { } v)
                    return (v, 0, false);
                if (mid % 4 != 0)
                    return (Bad("block_out_channels", $"{midName} quarters the channels; {mid} is not a multiple of 4"), 0, false);
                halvings += 2;
                h = mid / 4;
                break;
        }

        foreach (var b in UpBlocks())
        {
            var type = UpBlockTypes[b.Index];
            string name = $"up_blocks.{b.Index} ({type})";
            int skip = skips.Pop();
            if (h != b.In || skip != b.In)
                return (Bad("block_out_channels", $"{name} is built for [{b.In} + {b.In}] channels, receives [{h} hidden + {skip} skip]"), 0, false);
            var problem = type switch
            {
                UNet1DUpBlockType.UpResnetBlock1D => NeedsTime(name) ?? Groups8(name, b.Out),
                UNet1DUpBlockType.AttnUpBlock1D => Attention(name, b.Out),
                _ => null,
            };
            if (problem is not null)
                return (problem, 0, false);
            h = b.Out;
        }

        int c0 = BlockOutChannels[0];
        switch (OutBlockType)
        {
            case UNet1DOutBlockType.OutConv1DBlock when h != c0:
                return (Bad("out_block_type", $"OutConv1DBlock takes block_out_channels[0] = {c0} channels, the up path gives {h}"), 0, false);
            case UNet1DOutBlockType.OutConv1DBlock when c0 % OutNormGroups != 0:
                return (Bad("norm_num_groups", $"{OutNormGroups} groups do not divide {c0} channels"), 0, false);
            case UNet1DOutBlockType.ValueFunction when NeedsTime("ValueFunction") is { } t:
                return (t, 0, false);
            case UNet1DOutBlockType.ValueFunction when h != mid / 4 || mid / 8 == 0:
                return (Bad("out_block_type", $"ValueFunction reads block_out_channels[-1] / 4 = {mid / 4} features, the network gives {h} channels"), 0, false);
            case null when h != OutChannels:
                return (Bad("out_channels", $"without an out block the last up block must give out_channels = {OutChannels}, it gives {h}"), 0, false);
        }
        return (null, halvings, cubic);
    }

    /// <summary>Elements of the state dict's buffers: the 8 cubic taps of every FIR resampler (not parameters, but stored).</summary>
    public long CountBufferElements()
    {
        int fir = DownBlockTypes.Count(t => t is UNet1DDownBlockType.DownBlock1D or UNet1DDownBlockType.AttnDownBlock1D)
            + UpBlockTypes.Count(t => t is UNet1DUpBlockType.UpBlock1D or UNet1DUpBlockType.AttnUpBlock1D)
            + (MidBlockType == UNet1DMidBlockType.UNetMidBlock1D ? 2 : 0);
        return 8L * fir;
    }

    /// <summary>
    /// The number of scalar parameters <see cref="UNet1DModel"/> builds (buffers excluded, as diffusers'
    /// <c>num_parameters()</c>), computed without building it. Throws <see cref="OverflowException"/> past <see cref="long.MaxValue"/>.
    /// </summary>
    public long CountParameters()
    {
        Validate();
        checked
        {
            long c0 = BlockOutChannels[0];
            long Conv(long cin, long cout, long k) => cout * cin * k + cout;
            long Linear(long cin, long cout) => cin * cout + cout;
            long ResConv(long cin, long m, long cout, bool isLast = false) =>
                (cin != cout ? cin * cout : 0) + Conv(cin, m, 5) + 2 * m + Conv(m, cout, 5) + (isLast ? 0 : 2 * cout);
            long Attn(long c) => 2 * c + 4 * Linear(c, c);
            long Temporal(long cin, long cout) => Conv(cin, cout, 5) + 2 * cout + Conv(cout, cout, 5) + 2 * cout
                + Linear(c0, cout) + (cin != cout ? Conv(cin, cout, 1) : 0);
            long Resnets(long cin, long cout) => Temporal(cin, cout) + LayersPerBlock * Temporal(cout, cout);

            long total = TimeEmbeddingType == TimeEmbeddingType.Fourier ? TimeProjDim / 2 : 0;
            if (UseTimestepEmbedding)
                total += Linear(TimeProjDim, 4 * c0) + Linear(4 * c0, c0);
            if (NumClassEmbeds is { } n)
                total += n * ClassEmbedDim;
            foreach (var b in DownBlocks())
            {
                long i = b.In, o = b.Out;
                total += DownBlockTypes[b.Index] switch
                {
                    UNet1DDownBlockType.DownResnetBlock1D => Resnets(i, o) + (b.AddResample ? Conv(o, o, 3) : 0),
                    UNet1DDownBlockType.AttnDownBlock1D => ResConv(i, o, o) + 2 * ResConv(o, o, o) + 3 * Attn(o),
                    _ => ResConv(i, o, o) + 2 * ResConv(o, o, o),
                };
            }
            long mid = BlockOutChannels[^1];
            total += MidBlockType switch
            {
                UNet1DMidBlockType.UNetMidBlock1D => 6 * ResConv(mid, mid, mid) + 6 * Attn(mid),
                UNet1DMidBlockType.MidResTemporalBlock1D => Resnets(mid, mid) + (DownsampleEachBlock ? Conv(mid, mid, 3) : 0),
                _ => Temporal(mid, mid / 2) + Conv(mid / 2, mid / 2, 3) + Temporal(mid / 2, mid / 4) + Conv(mid / 4, mid / 4, 3),
            };
            foreach (var b in UpBlocks())
            {
                long i = b.In, o = b.Out;
                total += UpBlockTypes[b.Index] switch
                {
                    UNet1DUpBlockType.UpResnetBlock1D => Resnets(2 * i, o) + (b.AddResample ? Conv(o, o, 4) : 0),
                    UNet1DUpBlockType.AttnUpBlock1D => ResConv(2 * i, o, o) + 2 * ResConv(o, o, o) + 3 * Attn(o),
                    UNet1DUpBlockType.UpBlock1D => ResConv(2 * i, i, i) + ResConv(i, i, i) + ResConv(i, i, o),
                    _ => ResConv(2 * i, i, i) + ResConv(i, i, i) + ResConv(i, i, o, isLast: true),
                };
            }
            total += OutBlockType switch
            {
                UNet1DOutBlockType.OutConv1DBlock => Conv(c0, c0, 5) + 2 * c0 + Conv(c0, OutChannels, 1),
                UNet1DOutBlockType.ValueFunction => Linear(mid / 4 + c0, mid / 8) + Linear(mid / 8, 1),
                _ => 0,
            };
            return total;
        }
    }
}

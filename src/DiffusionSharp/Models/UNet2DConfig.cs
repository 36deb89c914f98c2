using System.Collections.Immutable;

namespace DiffusionSharp.Models;

/// <summary>How the U-Net turns a timestep into a feature vector before the time-embedding MLP.</summary>
public enum TimeEmbeddingType
{
    /// <summary>Sinusoidal embedding of the (integer or fractional) timestep (Vaswani et al. 2017, §3.5; DDPM, Ho et al. 2020).</summary>
    Positional,

    /// <summary>Random Fourier features of log σ (Tancik et al. 2020; Song et al. 2021, score SDE); the output is divided by σ.</summary>
    Fourier,

    /// <summary>A learned table with one row per training timestep (needs <see cref="UNet2DConfig.NumTrainTimesteps"/>).</summary>
    Learned,
}

/// <summary>An encoder (down) block of the U-Net.</summary>
public enum UNetDownBlockType
{
    /// <summary>Residual blocks, then an optional stride-2 downsampler.</summary>
    DownBlock2D,

    /// <summary>Residual blocks each followed by spatial self-attention, then an optional downsampler.</summary>
    AttnDownBlock2D,
}

/// <summary>A decoder (up) block of the U-Net.</summary>
public enum UNetUpBlockType
{
    /// <summary>Residual blocks over the concatenated skip connections, then an optional ×2 upsampler.</summary>
    UpBlock2D,

    /// <summary>As <see cref="UpBlock2D"/>, with spatial self-attention after every residual block.</summary>
    AttnUpBlock2D,
}

/// <summary>The bottleneck block between encoder and decoder.</summary>
public enum UNetMidBlockType
{
    /// <summary>Residual block, then (attention, residual block) pairs.</summary>
    UNetMidBlock2D,
}

/// <summary>How a block changes resolution.</summary>
public enum ResamplingType
{
    /// <summary>A 3×3 convolution (stride 2 down; nearest-neighbour ×2 then 3×3 conv up).</summary>
    Conv,

    /// <summary>A residual block with a parameter-free resampler inside (2×2 average pool down; nearest ×2 up).</summary>
    Resnet,
}

/// <summary>How a residual block injects the time embedding.</summary>
public enum ResnetTimeScaleShift
{
    /// <summary>h ← norm(h + W·emb): an additive shift before the second normalisation.</summary>
    Default,

    /// <summary>h ← norm(h)·(1 + s) + b with (s, b) = W·emb (FiLM / AdaGN, Dhariwal &amp; Nichol 2021, §3).</summary>
    ScaleShift,
}

/// <summary>The class-embedding kinds of diffusers' UNet2DModel other than the plain lookup table.</summary>
public enum ClassEmbedType
{
    /// <summary>Class labels are embedded like timesteps (sinusoid, then an MLP named <c>class_embedding</c>).</summary>
    Timestep,

    /// <summary>Class labels are already embedding vectors [B, time_embed_dim] and are added unchanged.</summary>
    Identity,
}

/// <summary>The activation used inside residual blocks.</summary>
public enum ActivationFunction
{
    /// <summary>x·σ(x).</summary>
    Silu,

    /// <summary>Same function as <see cref="Silu"/> under its older name.</summary>
    Swish,

    /// <summary>x·tanh(softplus(x)).</summary>
    Mish,

    /// <summary>Exact (erf) GELU.</summary>
    Gelu,

    /// <summary>max(0, x).</summary>
    Relu,
}

/// <summary>
/// Every constructor argument of diffusers' <c>UNet2DModel</c> (v0.38), with diffusers' defaults. Reading and writing
/// diffusers' <c>config.json</c> lives in <see cref="Diffusers.DiffusersUNet2DConfig"/>.
/// </summary>
/// <remarks>
/// The defaults are diffusers' signature defaults, so a config.json with keys missing means what it means to diffusers.
/// Note <see cref="AttentionHeadDim"/>: <c>null</c> (one head spanning all channels) differs from the default 8.
/// </remarks>
public sealed record UNet2DConfig
{
    /// <summary>Height and width of samples: one value (square) or [height, width]; informational, <c>null</c> if unknown.</summary>
    public ImmutableArray<int>? SampleSize { get; init; }

    /// <summary>Channels of the input sample.</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Channels of the output.</summary>
    public int OutChannels { get; init; } = 3;

    /// <summary>Map the input from [0, 1] to [-1, 1] (x ← 2x − 1) first.</summary>
    public bool CenterInputSample { get; init; }

    /// <summary>Timestep featurisation.</summary>
    public TimeEmbeddingType TimeEmbeddingType { get; init; } = TimeEmbeddingType.Positional;

    /// <summary>Width of the time embedding; <c>null</c> (or 0) means 4 × <c>BlockOutChannels[0]</c>.</summary>
    public int? TimeEmbeddingDim { get; init; }

    /// <summary>s in the sinusoid frequencies exp(−ln(10⁴)·i / (half − s)).</summary>
    public int FreqShift { get; init; }

    /// <summary>Order the sinusoidal embedding as [cos, sin] instead of [sin, cos].</summary>
    public bool FlipSinToCos { get; init; } = true;

    /// <summary>Encoder blocks, highest resolution first.</summary>
    public ImmutableArray<UNetDownBlockType> DownBlockTypes { get; init; } =
        [UNetDownBlockType.DownBlock2D, UNetDownBlockType.AttnDownBlock2D, UNetDownBlockType.AttnDownBlock2D, UNetDownBlockType.AttnDownBlock2D];

    /// <summary>The bottleneck block, or <c>null</c> for none.</summary>
    public UNetMidBlockType? MidBlockType { get; init; } = UNetMidBlockType.UNetMidBlock2D;

    /// <summary>Decoder blocks, lowest resolution first.</summary>
    public ImmutableArray<UNetUpBlockType> UpBlockTypes { get; init; } =
        [UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.UpBlock2D];

    /// <summary>Channels of each resolution level.</summary>
    public ImmutableArray<int> BlockOutChannels { get; init; } = [224, 448, 672, 896];

    /// <summary>Residual blocks per encoder block (decoder blocks have one more).</summary>
    public int LayersPerBlock { get; init; } = 2;

    /// <summary>The mid block's residual and attention outputs are divided by this.</summary>
    public double MidBlockScaleFactor { get; init; } = 1;

    /// <summary>Padding of the stride-2 downsampling conv; 0 means pad right and bottom by one instead.</summary>
    public int DownsamplePadding { get; init; } = 1;

    /// <summary>Downsampler of attention down blocks (plain down blocks always use a conv).</summary>
    public ResamplingType DownsampleType { get; init; } = ResamplingType.Conv;

    /// <summary>Upsampler of attention up blocks (plain up blocks always use a conv).</summary>
    public ResamplingType UpsampleType { get; init; } = ResamplingType.Conv;

    /// <summary>Dropout probability inside residual blocks.</summary>
    public double Dropout { get; init; }

    /// <summary>Activation inside residual blocks.</summary>
    public ActivationFunction ActFn { get; init; } = ActivationFunction.Silu;

    /// <summary>Channels per attention head; <c>null</c> means one head over all of a block's channels.</summary>
    public int? AttentionHeadDim { get; init; } = 8;

    /// <summary>Groups of every GroupNorm.</summary>
    public int NormNumGroups { get; init; } = 32;

    /// <summary>Groups of the mid block's attention GroupNorm; <c>null</c>: <see cref="NormNumGroups"/>, or none with scale-shift.</summary>
    public int? AttnNormNumGroups { get; init; }

    /// <summary>ε of every GroupNorm.</summary>
    public double NormEps { get; init; } = 1e-5;

    /// <summary>How residual blocks take the time embedding.</summary>
    public ResnetTimeScaleShift ResnetTimeScaleShift { get; init; } = ResnetTimeScaleShift.Default;

    /// <summary>Add attention to the mid block.</summary>
    public bool AddAttention { get; init; } = true;

    /// <summary>Class-embedding kind; <c>null</c> means a lookup table when <see cref="NumClassEmbeds"/> is set, else none.</summary>
    public ClassEmbedType? ClassEmbedType { get; init; }

    /// <summary>Number of classes of the lookup-table class embedding.</summary>
    public int? NumClassEmbeds { get; init; }

    /// <summary>Training timesteps (only used by <see cref="TimeEmbeddingType.Learned"/>).</summary>
    public int? NumTrainTimesteps { get; init; }

    /// <summary>Config keys this library does not interpret (diffusers metadata, newer options), as raw JSON, kept for writing back.</summary>
    public ImmutableSortedDictionary<string, string> ExtraKeys { get; init; } = ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>Width of the time embedding (<see cref="TimeEmbeddingDim"/> or 4 × the first block's channels).</summary>
    public int TimeEmbedDim => TimeEmbeddingDim is > 0 ? TimeEmbeddingDim.Value : BlockOutChannels[0] * 4;

    /// <summary>Whether the model takes class labels.</summary>
    public bool HasClassEmbedding => ClassEmbedType is not null || NumClassEmbeds is not null;

    /// <summary>Attention head dimension used by a block of <paramref name="channels"/> channels.</summary>
    public int HeadDimFor(int channels) => AttentionHeadDim ?? channels;

    /// <summary>
    /// The widths of the up path as diffusers builds it, deepest block first (<c>up_blocks.0</c> runs at the last
    /// level). The model's constructor, <see cref="UNet2DModel.LargestActivationPerSample"/> and the benchmark's FLOP
    /// count all walk the up path through this one description.
    /// </summary>
    public IEnumerable<UpBlockWidths> UpBlocks()
    {
        var ch = BlockOutChannels;
        long output = ch[^1];
        for (int i = 0; i < ch.Length; i++)
        {
            int level = ch.Length - 1 - i;
            long previous = output;
            output = ch[level];
            yield return new UpBlockWidths(i, level, Skip: ch[Math.Max(level - 1, 0)], previous, output, LayersPerBlock + 1);
        }
    }

    /// <summary>
    /// Checks the values that would make diffusers' constructor fail or build a different network; returns the config
    /// key and a reason for the first problem, or <c>null</c> when the config is valid.
    /// </summary>
    public (string Key, string Reason)? FindProblem()
    {
        if (BlockOutChannels.IsDefaultOrEmpty)
            return ("block_out_channels", "must list at least one block");
        if (DownBlockTypes.IsDefault || DownBlockTypes.Length != BlockOutChannels.Length)
            return ("down_block_types", $"must have one entry per block_out_channels entry ({BlockOutChannels.Length})");
        if (UpBlockTypes.IsDefault || UpBlockTypes.Length != DownBlockTypes.Length)
            return ("up_block_types", $"must have as many entries as down_block_types ({DownBlockTypes.Length})");
        if (InChannels <= 0)
            return ("in_channels", "must be positive");
        if (OutChannels <= 0)
            return ("out_channels", "must be positive");
        if (LayersPerBlock <= 0)
            return ("layers_per_block", "must be positive");
        if (NormNumGroups <= 0)
            return ("norm_num_groups", "must be positive");
        foreach (int c in BlockOutChannels)
        {
            if (c <= 0)
                return ("block_out_channels", "channel counts must be positive");
            if (c % NormNumGroups != 0)
                return ("norm_num_groups", $"{NormNumGroups} groups do not divide {c} channels");
            if (HeadDimFor(c) <= 0)
                return ("attention_head_dim", "must be positive");
            if (HeadDimFor(c) > c)
                return ("attention_head_dim", $"head dim {HeadDimFor(c)} exceeds {c} channels (zero heads)");
        }
        if (AttnNormNumGroups is { } g && (g <= 0 || BlockOutChannels[^1] % g != 0))
            return ("attn_norm_num_groups", $"{g} groups do not divide {BlockOutChannels[^1]} channels");
        if (TimeEmbeddingDim is < 0)
            return ("time_embedding_dim", "must not be negative");
        if (TimeEmbeddingType == TimeEmbeddingType.Learned && NumTrainTimesteps is not > 0)
            return ("num_train_timesteps", "a learned time embedding needs a positive num_train_timesteps");
        if (NumClassEmbeds is <= 0)
            return ("num_class_embeds", "must be positive");
        if (!(NormEps > 0) || double.IsInfinity(NormEps))
            return ("norm_eps", "must be a positive finite number");
        if (!(Dropout >= 0 && Dropout <= 1))
            return ("dropout", "must lie in [0, 1]");
        if (!(MidBlockScaleFactor != 0) || !double.IsFinite(MidBlockScaleFactor))
            return ("mid_block_scale_factor", "must be a non-zero finite number");
        if (DownsamplePadding < 0)
            return ("downsample_padding", "must not be negative");
        if (SampleSize is { } s && (s.Length is < 1 or > 2 || s.Any(v => v <= 0)))
            return ("sample_size", "must be a positive size or [height, width]");
        return null;
    }

    /// <summary>
    /// The number of scalar parameters <see cref="UNet2DModel"/> builds from this config, computed without building it
    /// (so a loader can check a config against a checkpoint before allocating anything). Throws
    /// <see cref="OverflowException"/> past <see cref="long.MaxValue"/>.
    /// </summary>
    public long CountParameters()
    {
        Validate();
        checked
        {
            long emb = TimeEmbedDim, c0 = BlockOutChannels[0];
            bool scaleShift = ResnetTimeScaleShift == ResnetTimeScaleShift.ScaleShift;
            long Conv(long cin, long cout, long k) => cout * cin * k * k + cout;
            long Linear(long cin, long cout) => cin * cout + cout;
            long Norm(long c) => 2 * c;
            long Resnet(long cin, long cout) =>
                Norm(cin) + Conv(cin, cout, 3) + Linear(emb, scaleShift ? 2 * cout : cout) + Norm(cout) + Conv(cout, cout, 3)
                + (cin != cout ? Conv(cin, cout, 1) : 0);
            long Attention(long c, bool norm)
            {
                long head = HeadDimFor((int)c), inner = c / head * head;
                return (norm ? Norm(c) : 0) + 3 * Linear(c, inner) + Linear(inner, c);
            }

            long timeIn = TimeEmbeddingType == TimeEmbeddingType.Fourier ? 2 * c0 : c0;
            long total = Conv(InChannels, c0, 3) + Linear(timeIn, emb) + Linear(emb, emb);
            total += TimeEmbeddingType switch
            {
                TimeEmbeddingType.Fourier => c0,                          // the frozen Gaussian projection
                TimeEmbeddingType.Learned => (long)NumTrainTimesteps!.Value * c0,
                _ => 0,
            };
            total += ClassEmbedType switch
            {
                null when NumClassEmbeds is { } n => n * emb,
                Models.ClassEmbedType.Timestep => Linear(timeIn, emb) + Linear(emb, emb),
                _ => 0,
            };
            long levels = BlockOutChannels.Length, layers = LayersPerBlock;
            long output = c0;
            for (int i = 0; i < levels; i++)
            {
                long input = output;
                output = BlockOutChannels[i];
                bool attn = DownBlockTypes[i] == UNetDownBlockType.AttnDownBlock2D;
                total += Resnet(input, output) + (layers - 1) * Resnet(output, output) + (attn ? layers * Attention(output, true) : 0);
                if (i < levels - 1)
                    total += attn && DownsampleType == ResamplingType.Resnet ? Resnet(output, output) : Conv(output, output, 3);
            }
            if (MidBlockType is not null)
            {
                long c = BlockOutChannels[^1];
                bool norm = AttnNormNumGroups is not null || !scaleShift;
                total += 2 * Resnet(c, c) + (AddAttention ? Attention(c, norm) : 0);
            }
            var reversed = BlockOutChannels.Reverse().ToArray();
            output = reversed[0];
            for (int i = 0; i < levels; i++)
            {
                long prev = output;
                output = reversed[i];
                long input = reversed[Math.Min(i + 1, levels - 1)];
                bool attn = UpBlockTypes[i] == UNetUpBlockType.AttnUpBlock2D;
                // layers + 1 residual blocks: the first takes the incoming width, the last the deepest skip.
                total += Resnet(prev + output, output) + (layers - 1) * Resnet(output + output, output) + Resnet(output + input, output);
                total += attn ? (layers + 1) * Attention(output, true) : 0;
                if (i < levels - 1)
                    total += attn && UpsampleType == ResamplingType.Resnet ? Resnet(output, output) : Conv(output, output, 3);
            }
            return total + Norm(c0) + Conv(c0, OutChannels, 3);
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the config key when <see cref="FindProblem"/> finds one.</summary>
    public void Validate()
    {
        if (FindProblem() is { } p)
            throw new ArgumentException($"invalid UNet2DModel config: {p.Key}: {p.Reason}");
    }
}

/// <summary>
/// One up block's widths: it runs at <paramref name="Level"/> (resolution ÷ 2^level) with <paramref name="Output"/>
/// channels and <paramref name="Layers"/> residual blocks (diffusers' layers_per_block + 1). Residual block j takes the
/// hidden state (<paramref name="Previous"/>, the block below's width, for j = 0; <paramref name="Output"/> after)
/// concatenated with a skip connection (<paramref name="Output"/> wide, except the last one's, <paramref name="Skip"/>:
/// the skip from the level above's down block).
/// </summary>
/// <param name="Index">i of <c>up_blocks.i</c>.</param>
/// <param name="Level">The down level whose resolution this block runs at.</param>
/// <param name="Skip">Width of the last residual block's skip connection.</param>
/// <param name="Previous">Width of the incoming hidden state.</param>
/// <param name="Output">This block's width.</param>
/// <param name="Layers">Residual blocks.</param>
public sealed record UpBlockWidths(int Index, int Level, long Skip, long Previous, long Output, int Layers)
{
    /// <summary>Residual block <paramref name="j"/>'s input: the hidden state's and the concatenated skip's channels.</summary>
    public (long Hidden, long Skip) ResnetInput(int j) => (j == 0 ? Previous : Output, j == Layers - 1 ? Skip : Output);
}

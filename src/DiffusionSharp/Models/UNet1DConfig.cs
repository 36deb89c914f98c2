using System.Collections.Immutable;

namespace DiffusionSharp.Models;

/// <summary>An encoder block of diffusers' <c>UNet1DModel</c> (<c>get_down_block</c>).</summary>
public enum UNet1DDownBlockType
{
    /// <summary>Residual temporal blocks (conv k5 → GroupNorm(8) → Mish, time MLP added), then a stride-2 conv k3 (Janner et al. 2022, Diffuser).</summary>
    DownResnetBlock1D,

    /// <summary>Cubic FIR downsampling ×½, then three <c>ResConvBlock</c>s (Dance Diffusion).</summary>
    DownBlock1D,

    /// <summary>As <see cref="DownBlock1D"/>, with 1-D self-attention after each <c>ResConvBlock</c>.</summary>
    AttnDownBlock1D,

    /// <summary>Concatenates the length-repeated time features to its input, then three <c>ResConvBlock</c>s; no resampling.</summary>
    DownBlock1DNoSkip,
}

/// <summary>A decoder block of diffusers' <c>UNet1DModel</c> (<c>get_up_block</c>).</summary>
public enum UNet1DUpBlockType
{
    /// <summary>Residual temporal blocks over [hidden, skip], then a transposed conv k4 ×2.</summary>
    UpResnetBlock1D,

    /// <summary>Three <c>ResConvBlock</c>s over [hidden, skip], then cubic FIR upsampling ×2.</summary>
    UpBlock1D,

    /// <summary>As <see cref="UpBlock1D"/> with self-attention after each <c>ResConvBlock</c>.</summary>
    AttnUpBlock1D,

    /// <summary>Three <c>ResConvBlock</c>s over [hidden, skip], the last without norm and GELU; no resampling.</summary>
    UpBlock1DNoSkip,
}

/// <summary>The bottleneck of diffusers' <c>UNet1DModel</c> (<c>get_mid_block</c>).</summary>
public enum UNet1DMidBlockType
{
    /// <summary>Cubic ↓, six (ResConvBlock, self-attention) pairs, cubic ↑ (Dance Diffusion).</summary>
    UNetMidBlock1D,

    /// <summary>layers_per_block + 1 residual temporal blocks, and a stride-2 conv with <c>downsample_each_block</c>.</summary>
    MidResTemporalBlock1D,

    /// <summary>Two residual temporal blocks halving the channels twice, each followed by a stride-2 conv (value functions).</summary>
    ValueFunctionMidBlock1D,
}

/// <summary>The optional output head of diffusers' <c>UNet1DModel</c> (<c>get_out_block</c>).</summary>
public enum UNet1DOutBlockType
{
    /// <summary>conv k5 → GroupNorm → act_fn → conv 1×1 to out_channels.</summary>
    OutConv1DBlock,

    /// <summary>Flatten, concatenate the time embedding, Linear → act_fn → Linear to one value (config name <c>"ValueFunction"</c>).</summary>
    ValueFunction,
}

/// <summary>
/// Every constructor argument of diffusers' <c>UNet1DModel</c> (v0.38) with diffusers' defaults, plus one documented
/// extension, <see cref="NumClassEmbeds"/>. Reading and writing <c>config.json</c> lives in
/// <see cref="Diffusers.DiffusersUNet1DConfig"/>.
/// </summary>
public sealed partial record UNet1DConfig
{
    /// <summary>Default sample length (informational; any length the resampling chain divides works).</summary>
    public int SampleSize { get; init; } = 65536;

    /// <summary>Audio sample rate in Hz (informational, diffusers stores it), or <c>null</c>.</summary>
    public int? SampleRate { get; init; }

    /// <summary>Channels of the input sample.</summary>
    public int InChannels { get; init; } = 2;

    /// <summary>Channels of the output.</summary>
    public int OutChannels { get; init; } = 2;

    /// <summary>Extra input channels of the first down block (the concatenated time features of <see cref="UNet1DDownBlockType.DownBlock1DNoSkip"/>).</summary>
    public int ExtraInChannels { get; init; }

    /// <summary>Timestep featurisation: Fourier features of t itself (no log) or the sinusoid. <see cref="TimeEmbeddingType.Learned"/> is not a UNet1DModel option.</summary>
    public TimeEmbeddingType TimeEmbeddingType { get; init; } = TimeEmbeddingType.Fourier;

    /// <summary>Fourier feature count (2 × the projection size); <c>null</c> or 0 means 2 × <c>BlockOutChannels[0]</c>. Unused by the sinusoid.</summary>
    public int? TimeEmbeddingDim { get; init; }

    /// <summary>cos before sin in the time features.</summary>
    public bool FlipSinToCos { get; init; } = true;

    /// <summary>Runs the time features through an MLP (<c>time_mlp</c>) to <c>BlockOutChannels[0]</c> channels; else they are repeated along the length.</summary>
    public bool UseTimestepEmbedding { get; init; }

    /// <summary>The sinusoid's frequency shift s in ωᵢ = exp(−ln 10⁴·i/(half − s)).</summary>
    public double FreqShift { get; init; }

    /// <summary>Encoder blocks, shallowest first (one per <see cref="BlockOutChannels"/> entry at most).</summary>
    public ImmutableArray<UNet1DDownBlockType> DownBlockTypes { get; init; } =
        [UNet1DDownBlockType.DownBlock1DNoSkip, UNet1DDownBlockType.DownBlock1D, UNet1DDownBlockType.AttnDownBlock1D];

    /// <summary>Decoder blocks, deepest first; each consumes the skip of the matching encoder block.</summary>
    public ImmutableArray<UNet1DUpBlockType> UpBlockTypes { get; init; } =
        [UNet1DUpBlockType.AttnUpBlock1D, UNet1DUpBlockType.UpBlock1D, UNet1DUpBlockType.UpBlock1DNoSkip];

    /// <summary>The bottleneck block.</summary>
    public UNet1DMidBlockType MidBlockType { get; init; } = UNet1DMidBlockType.UNetMidBlock1D;

    /// <summary>The output head, or <c>null</c> (the last up block then produces <see cref="OutChannels"/>).</summary>
    public UNet1DOutBlockType? OutBlockType { get; init; }

    /// <summary>Channels of each level.</summary>
    public ImmutableArray<int> BlockOutChannels { get; init; } = [32, 32, 64];

    /// <summary>Activation of the time MLP and of the output heads; <c>null</c> where none is used.</summary>
    public ActivationFunction? ActFn { get; init; }

    /// <summary>Groups of the output head's GroupNorm; <c>null</c> means min(<c>BlockOutChannels[0]</c>/4, 32).</summary>
    public int? NormNumGroups { get; init; } = 8;

    /// <summary>Extra residual temporal blocks per ResNet-family block (the ResConv family always has three).</summary>
    public int LayersPerBlock { get; init; } = 1;

    /// <summary>Every down block (the last too) and the ResNet mid block downsample (value-function layouts).</summary>
    public bool DownsampleEachBlock { get; init; }

    /// <summary>
    /// Extension (not a diffusers option; diffusers ignores the key): a class-label table of this many rows named
    /// <c>class_embedding</c>. With <see cref="UseTimestepEmbedding"/> its rows (<c>BlockOutChannels[0]</c> wide) are
    /// added to the MLP's output, as UNet2DModel adds its class embedding; without it, rows as wide as the time
    /// features are added to the time features before they are repeated along the length and concatenated to the
    /// input. Train with one spare row as the null class for classifier-free guidance.
    /// </summary>
    public int? NumClassEmbeds { get; init; }

    /// <summary>Config keys this port does not interpret (e.g. <c>_name_or_path</c>), as raw JSON, written back unchanged.</summary>
    public ImmutableSortedDictionary<string, string> ExtraKeys { get; init; } = ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    /// <summary>Width of the time features <c>time_proj</c> produces.</summary>
    public int TimeProjDim => TimeEmbeddingType == TimeEmbeddingType.Fourier
        ? (TimeEmbeddingDim is > 0 ? TimeEmbeddingDim.Value : 2 * BlockOutChannels[0])
        : BlockOutChannels[0];

    /// <summary>Channels of the time embedding the blocks receive: [B, c₀] after the MLP, else [B, <see cref="TimeProjDim"/>, L].</summary>
    public int TembChannels => UseTimestepEmbedding ? BlockOutChannels[0] : TimeProjDim;

    /// <summary>Groups of the <see cref="UNet1DOutBlockType.OutConv1DBlock"/> GroupNorm.</summary>
    public int OutNormGroups => NormNumGroups ?? Math.Min(BlockOutChannels[0] / 4, 32);

    /// <summary>Whether the model takes class labels.</summary>
    public bool HasClassEmbedding => NumClassEmbeds is not null;

    /// <summary>Width of a class-embedding row (see <see cref="NumClassEmbeds"/>).</summary>
    public int ClassEmbedDim => UseTimestepEmbedding ? BlockOutChannels[0] : TimeProjDim;

    /// <summary>
    /// A preset for 1 s of speech (e.g. spoken digits at 8 or 16 kHz) small enough to train on a 2-core CPU: the ResNet
    /// layout (residual temporal blocks, positional time MLP, Mish) over six levels of widths 16/32/64/96/96/96 (five
    /// stride-2 convs), then Dance Diffusion's <see cref="UNet1DMidBlockType.UNetMidBlock1D"/>: a cubic halving, six
    /// (ResConvBlock, self-attention) pairs and a cubic doubling. Six halvings in all divide the length by 64 (8,000 =
    /// 2⁶·125, 16,000 = 2⁷·125), so the attention sees every position of the clip at once: 125 positions of 8 ms at
    /// 8 kHz. The attention was added because the all-convolutional seven-level net learned the sounds of speech but not
    /// where a word sits in the second (its samples put syllables anywhere; real clips are centred); a 3,000-step run
    /// with it (2026-12-03) did not fix that, so this is not yet a preset known to learn words. The mid block takes
    /// no time embedding (as in Dance Diffusion); the ResNet blocks around it do. Class-conditional with
    /// <paramref name="numClasses"/> + 1 rows (the last is the null class for classifier-free guidance).
    /// </summary>
    public static UNet1DConfig SpokenDigits(int numClasses)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numClasses, 1);
        return new UNet1DConfig
        {
            SampleSize = 16000,
            SampleRate = 16000,
            InChannels = 1,
            OutChannels = 1,
            TimeEmbeddingType = TimeEmbeddingType.Positional,
            UseTimestepEmbedding = true,
            FlipSinToCos = false,
            FreqShift = 1,
            ActFn = ActivationFunction.Mish,
            BlockOutChannels = [16, 32, 64, 96, 96, 96],
            DownBlockTypes = [.. Enumerable.Repeat(UNet1DDownBlockType.DownResnetBlock1D, 6)],
            UpBlockTypes = [.. Enumerable.Repeat(UNet1DUpBlockType.UpResnetBlock1D, 5)],
            MidBlockType = UNet1DMidBlockType.UNetMidBlock1D,
            OutBlockType = UNet1DOutBlockType.OutConv1DBlock,
            LayersPerBlock = 1,
            NormNumGroups = 8,
            NumClassEmbeds = numClasses + 1,
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the config key when <see cref="FindProblem"/> finds one.</summary>
    public void Validate()
    {
        if (FindProblem() is { } p)
            throw new ArgumentException($"invalid UNet1DModel config: {p.Key}: {p.Reason}");
    }
}

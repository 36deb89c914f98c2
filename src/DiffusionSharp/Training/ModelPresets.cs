using System.Collections.Immutable;
using DiffusionSharp.Models;

namespace DiffusionSharp.Training;

/// <summary>
/// Named model sizes for training from scratch: diffusers <c>UNet2DModel</c> layouts for images (<see cref="Create"/>),
/// residual MLPs for points (<see cref="CreateMlp"/>); their parameter counts are printed by <c>diffuse train</c> (and
/// depend on channels and classes).
/// </summary>
public static class ModelPresets
{
    /// <summary>The preset names, smallest first.</summary>
    public static IReadOnlyList<string> Names { get; } = ["tiny", "small", "base"];

    /// <summary>
    /// The U-Net for <paramref name="preset"/> at <paramref name="imageSize"/> with <paramref name="channels"/> channels;
    /// <paramref name="numClasses"/> &gt; 0 adds a class embedding with one extra "null" class for classifier-free guidance.
    /// Three resolution levels (e.g. 28 → 14 → 7); self-attention on the two coarser ones.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown preset, or a size not divisible by 4.</exception>
    public static UNet2DConfig Create(string preset, int imageSize, int channels, int numClasses)
    {
        if (imageSize <= 0 || imageSize % 4 != 0)
            throw new ArgumentException($"image size {imageSize} must be a positive multiple of 4 (two 2× downsamplings)", nameof(imageSize));
        var (widths, layers, groups) = preset switch
        {
            "tiny" => (ImmutableArray.Create(32, 64, 64), 1, 8),
            "small" => (ImmutableArray.Create(64, 128, 128), 1, 16),
            "base" => (ImmutableArray.Create(64, 128, 256), 2, 32),
            _ => throw new ArgumentException($"unknown model preset '{preset}'; allowed: {string.Join(", ", Names)}", nameof(preset)),
        };
        return new UNet2DConfig
        {
            SampleSize = [imageSize, imageSize],
            InChannels = channels,
            OutChannels = channels,
            BlockOutChannels = widths,
            LayersPerBlock = layers,
            DownBlockTypes = [UNetDownBlockType.DownBlock2D, UNetDownBlockType.AttnDownBlock2D, UNetDownBlockType.AttnDownBlock2D],
            UpBlockTypes = [UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.UpBlock2D],
            NormNumGroups = groups,
            AttentionHeadDim = 32,
            NumClassEmbeds = numClasses > 0 ? numClasses + 1 : null,
            NumTrainTimesteps = 1000,
        };
    }

    /// <summary>
    /// The <see cref="MlpDenoiser"/> for <paramref name="preset"/> over points of <paramref name="dimensions"/>
    /// coordinates; <paramref name="numClasses"/> &gt; 0 adds a class embedding with one extra "null" class.
    /// tiny: width 64, 3 blocks (≈ 50k parameters); small: 128, 4 (≈ 250k); base: 256, 4 (≈ 1M).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown preset.</exception>
    public static MlpDenoiserConfig CreateMlp(string preset, int dimensions, int numClasses)
    {
        var (width, blocks) = preset switch
        {
            "tiny" => (64, 3),
            "small" => (128, 4),
            "base" => (256, 4),
            _ => throw new ArgumentException($"unknown model preset '{preset}'; allowed: {string.Join(", ", Names)}", nameof(preset)),
        };
        return new MlpDenoiserConfig { Dimensions = dimensions, Width = width, NumBlocks = blocks, TimeEmbedDim = width, NumClasses = numClasses };
    }

    /// <summary>
    /// The 1-D U-Net for <paramref name="preset"/> over mono clips of <paramref name="length"/> samples at
    /// <paramref name="sampleRate"/> Hz (both recorded in the config); <paramref name="numClasses"/> &gt; 0 adds a class
    /// embedding with one extra "null" class. All three are the ResNet layout of <see cref="UNet1DConfig.SpokenDigits"/>
    /// (six ResNet levels and an attention mid block, six halvings in all), sized for one-second clips: small is that
    /// preset (widths 16/32/64/96/96/96), tiny halves the widths (8/16/32/48/48/48; the attention
    /// needs ≥ 32 channels), base doubles them.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown preset, or a length the six halvings do not divide.</exception>
    public static UNet1DConfig CreateUNet1D(string preset, int length, int sampleRate, int numClasses)
    {
        ImmutableArray<int> widths = preset switch
        {
            "tiny" => [8, 16, 32, 48, 48, 48],
            "small" => UNet1DConfig.SpokenDigits(1).BlockOutChannels,
            "base" => [32, 64, 128, 192, 192, 192],
            _ => throw new ArgumentException($"unknown model preset '{preset}'; allowed: {string.Join(", ", Names)}", nameof(preset)),
        };
        var config = UNet1DConfig.SpokenDigits(1) with
        {
            SampleSize = length,
            SampleRate = sampleRate,
            BlockOutChannels = widths,
            NumClassEmbeds = numClasses > 0 ? numClasses + 1 : null,
        };
        if (length <= 0 || length % config.LengthMultiple != 0 || length < config.MinimumLength)
            throw new ArgumentException($"clips of {length} samples do not fit the 1-D U-Net: it needs a multiple of {config.LengthMultiple} (one second at a sample rate divisible by {config.LengthMultiple}, e.g. 16000)", nameof(length));
        return config;
    }

    /// <summary>
    /// The 1-D U-Net of a spectrogram model (<see cref="Audio.SpectrogramCodec"/>): the codec's mel bands are its
    /// channels and its frames the positions, so it convolves over time as the waveform preset does over samples. Every
    /// level is at least as wide as the codec has channels (rounded up to 8), or the network could not predict the noise
    /// of every channel (a 64-wide first level on 257 linear bins trained to a loss of 0.83, about 1 − 64/257). The
    /// ResNet-temporal layout with six levels (five stride-2 halvings: 128 frames → 4) and its residual mid block. The
    /// depth is for where, not what: convolutions are translation-equivariant and learn absolute position only from the
    /// zero padding at the clip's ends, which every one of the 4 bottom positions touches; with three halvings (16 bottom
    /// positions) the model's x̂₀ from pure noise was the word repeated at several places, and its samples put words
    /// anywhere in the second, as the waveform models (125 bottom positions) did. small is widths 96/96/128/128/128/128,
    /// tiny 32/48/64/64/64/64 (raised to the channel count), base 128/160/192/192/192/192.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown preset, or a frame count the halvings do not divide.</exception>
    public static UNet1DConfig CreateSpectrogramUNet1D(string preset, Audio.SpectrogramCodecOptions codec, int numClasses)
    {
        ArgumentNullException.ThrowIfNull(codec);
        ImmutableArray<int> widths = preset switch
        {
            "tiny" => [32, 48, 64, 64, 64, 64],
            "small" => [96, 96, 128, 128, 128, 128],
            "base" => [128, 160, 192, 192, 192, 192],
            _ => throw new ArgumentException($"unknown model preset '{preset}'; allowed: {string.Join(", ", Names)}", nameof(preset)),
        };
        var config = UNet1DConfig.SpokenDigits(1) with
        {
            SampleSize = codec.Frames,
            SampleRate = codec.SampleRate,
            InChannels = codec.Channels,
            OutChannels = codec.Channels,
            BlockOutChannels = [.. widths.Select(w => Math.Max(w, (codec.Channels + 7) / 8 * 8))],
            DownBlockTypes = [.. Enumerable.Repeat(UNet1DDownBlockType.DownResnetBlock1D, widths.Length)],
            UpBlockTypes = [.. Enumerable.Repeat(UNet1DUpBlockType.UpResnetBlock1D, widths.Length - 1)],
            MidBlockType = UNet1DMidBlockType.MidResTemporalBlock1D,
            NumClassEmbeds = numClasses > 0 ? numClasses + 1 : null,
        };
        if (codec.Frames % config.LengthMultiple != 0 || codec.Frames < config.MinimumLength)
            throw new ArgumentException($"spectrograms of {codec.Frames} frames do not fit the 1-D U-Net: it needs a multiple of {config.LengthMultiple}", nameof(codec));
        return config;
    }
}

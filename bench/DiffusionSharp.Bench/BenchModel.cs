using DiffusionSharp.Models;
using DiffusionSharp.Training;
using TorchSharp;

namespace DiffusionSharp.Bench;

/// <summary>The benchmarked network: the "small" preset at 28×28, one channel, 10 classes (+ the null class).</summary>
internal static class BenchModel
{
    public const int ImageSize = 28;
    public const int Channels = 1;
    public const int Classes = 10;

    public static UNet2DConfig Config(string preset) => ModelPresets.Create(preset, ImageSize, Channels, Classes);

    /// <summary>
    /// Loads the diffusers folder <c>--model DIR</c> (what bench/run exports, so both implementations hold identical
    /// weights), or builds a freshly seeded network from <c>--preset</c> (default "small") and <c>--seed</c>.
    /// </summary>
    public static UNet2DModel Open(BenchArgs args)
    {
        string? dir = args.OptionalString("model");
        string preset = args.String("preset", "small");
        int seed = args.Int("seed", 0);
        if (dir is not null)
            return UNet2DModel.FromPretrained(dir);
        torch.manual_seed(seed);
        return new UNet2DModel(Config(preset));
    }

    /// <summary>Applies <c>--precision fp32|bf16</c> and returns its name.</summary>
    public static string ApplyPrecision(UNet2DModel model, BenchArgs args)
    {
        string precision = args.String("precision", "fp32");
        model.Precision = ComputePrecisionNames.Parse(precision, "--precision");
        return model.Precision.Name();
    }

    /// <summary>
    /// Reads <c>--chunk N</c>: the most samples per forward pass (0, the default: the U-Net's automatic choice,
    /// <see cref="UNet2DModel.AutoChunkSize"/>). Returns the chunk size that <paramref name="batch"/> samples will use.
    /// </summary>
    public static (int Chunk, bool Auto) Chunk(UNet2DModel model, BenchArgs args, long batch)
    {
        int chunk = args.Int("chunk", 0);
        return chunk > 0 ? ((int)Math.Min(chunk, batch), false) : (model.AutoChunkSize(batch, ImageSize, ImageSize), true);
    }

    /// <summary>Applies <c>--threads N</c> (default: all logical CPUs) to libtorch's intra-op pool and returns it.</summary>
    public static int ApplyThreads(BenchArgs args)
    {
        int threads = args.Int("threads", Environment.ProcessorCount, min: 1);
        torch.set_num_threads(threads);
        return threads;
    }
}

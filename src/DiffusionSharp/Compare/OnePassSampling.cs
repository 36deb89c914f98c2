using System.Text.Json;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Training;
using static TorchSharp.torch;

namespace DiffusionSharp.Compare;

/// <summary>
/// A generative model that draws an image in one network pass from a latent z ~ N(0, I): the GAN's generator, the
/// VAE's decoder. Conditional models take a class label per sample.
/// </summary>
public interface IOnePassImageModel : ITrainableModel
{
    /// <summary>Classes the model is conditioned on; 0 for an unconditional model.</summary>
    int NumClasses { get; }

    /// <summary>The latent dimension.</summary>
    int LatentDimension { get; }

    /// <summary>Images [N, 1, H, W] in [−1, 1] from latents [N, <see cref="LatentDimension"/>] (and labels [N] int64 when conditional).</summary>
    Tensor Decode(Tensor z, Tensor? labels);
}

/// <summary>Sampling a <see cref="IOnePassImageModel"/>: per-sample seeded latents, so sample i is the same whatever its batch.</summary>
public static class OnePassSampling
{
    /// <summary>
    /// <paramref name="count"/> samples [N, 1, H, W] on the CPU; sample i uses the latent of seed <paramref name="seed"/> + i
    /// and, for a conditional model, class <paramref name="classLabel"/> or else i mod <see cref="IOnePassImageModel.NumClasses"/>
    /// (the cycle <c>diffuse sample</c> uses for every model).
    /// </summary>
    public static Tensor Generate(IOnePassImageModel model, int count, long seed, int? classLabel = null, int batchSize = 250)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (classLabel is { } k && (model.NumClasses == 0 || k < 0 || k >= model.NumClasses))
            throw new ArgumentException(model.NumClasses == 0 ? "this model is unconditional: it takes no class" : $"class must be in 0..{model.NumClasses - 1}", nameof(classLabel));
        bool wasTraining = model.Module.training;
        model.Module.eval();
        try
        {
            using var mode = inference_mode();
            var parts = new List<Tensor>();
            for (int start = 0; start < count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int n = Math.Min(batchSize, count - start);
                var seeds = Enumerable.Range(start, n).Select(i => seed + i).ToArray();
                var z = PerSampleNoise.InitialNoise(seeds, [model.LatentDimension]);
                Tensor? labels = model.NumClasses == 0 ? null
                    : tensor(Enumerable.Range(start, n).Select(i => (long)(classLabel ?? i % model.NumClasses)).ToArray());
                parts.Add(model.Decode(z, labels).cpu().MoveToOuterDisposeScope());
            }
            var all = cat(parts, 0);
            foreach (var p in parts)
                p.Dispose();
            return all;
        }
        finally
        {
            if (wasTraining)
                model.Module.train();
        }
    }

    /// <summary>True when <paramref name="directory"/>'s config names a one-pass model (a GAN or a VAE).</summary>
    public static bool IsOnePassModel(string directory) =>
        File.Exists(Path.Combine(directory, ModelFolder.ConfigFileName))
        && TrainableModels.ClassNameOf(directory) is GanConfig.ClassName or VaeConfig.ClassName;

    /// <summary>Loads a GAN or VAE folder.</summary>
    public static IOnePassImageModel Load(string directory) =>
        TrainableModels.Load(directory) as IOnePassImageModel
        ?? throw new InvalidDataException($"{directory}: not a GAN or VAE model folder");

    internal static JsonSerializerOptions ConfigJson { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };
}

using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Training;
using static TorchSharp.torch;

namespace DiffusionSharp.Compare;

/// <summary>One model family of the comparison, built for a cell: its network, training options, objective and sampler.</summary>
/// <param name="Family">The family name (<see cref="ComparisonOptions.Families"/>).</param>
/// <param name="Description">What it is, for the report (loss, β and likelihood, sampler).</param>
/// <param name="Create">Builds a freshly initialised model.</param>
/// <param name="Options">The trainer options (wall-clock stopping: a step cap far beyond the budget, a constant rate after warm-up).</param>
/// <param name="Objective">Builds the objective.</param>
internal sealed record CompareModel(string Family, string Description, Func<ITrainableModel> Create, TrainingOptions Options, Func<ITrainingObjective> Objective)
{
    /// <summary>The step cap: training stops on the wall-clock budget long before it.</summary>
    public const int StepCap = 100_000_000;

    /// <summary>Parameters of the network that draws samples: the U-Net, the GAN's generator, the VAE's decoder.</summary>
    public static long SamplerParameters(ITrainableModel model) => model switch
    {
        GanModel gan => gan.GeneratorParameterCount,
        VaeModel vae => vae.DecoderParameterCount,
        _ => model.ParameterCount,
    };

    /// <summary>The family's model for a cell.</summary>
    public static CompareModel For(string family, bool conditional, long seed, ComparisonOptions options)
    {
        int classes = conditional ? 10 : 0;
        bool tiny = options.Size == CompareSize.Tiny;
        var common = new TrainingOptions
        {
            Steps = StepCap,
            BatchSize = options.BatchSize,
            Seed = seed,
            MinLearningRateRatio = 1.0,
            CheckpointEvery = StepCap,
            KeepCheckpoints = 1,
            SampleEvery = 0,
            ClassConditional = conditional,
        };
        switch (family)
        {
            case "diffusion":
            {
                var unet = ModelPresets.Create("tiny", 28, 1, classes);
                if (tiny)
                    unet = unet with { BlockOutChannels = [8, 16, 16], NormNumGroups = 4, AttentionHeadDim = 8 };
                var o = common with { LearningRate = 1e-3, WarmupSteps = tiny ? 0 : 100, LabelDropout = conditional ? 0.1 : 0.0 };
                return new(family, $"U-Net (ModelPresets tiny{(tiny ? ", test widths" : "")}), {o.Prediction} prediction, {o.Weighting} weighting, label dropout {o.LabelDropout}; {SchedulerFactory.CliName(options.Sampler)} {options.SamplingSteps} steps{(conditional ? $", guidance {options.Guidance}" : "")}",
                    () => new UNet2DModel(unet), o, o.CreateObjective);
            }
            case "vae":
            {
                var config = new VaeConfig { NumClasses = classes, Width = tiny ? 8 : 48, LatentDim = tiny ? 4 : 16 };
                var o = common with { LearningRate = 1e-3, WarmupSteps = 0, WeightDecay = 0 };
                return new(family, $"convolutional VAE, latent {config.LatentDim}, Bernoulli decoder likelihood, beta 1; samples are the decoder mean at z ~ N(0, I)",
                    () => new VaeModel(config), o, () => new ElboLoss(1.0));
            }
            case GanVariants.Dcgan or GanVariants.HingeSpectralNorm:
            {
                var config = tiny
                    ? new GanConfig { Variant = family, NumClasses = classes, GeneratorWidth = 8, DiscriminatorWidth = 8, LatentDim = 8, LabelEmbedDim = 4 }
                    : new GanConfig { Variant = family, NumClasses = classes };
                // Radford et al. 2016 §4: Adam, learning rate 2e-4, β₁ = 0.5; the same for both stages and both variants.
                var o = common with { LearningRate = 2e-4, AdamBeta1 = 0.5, AdamBeta2 = 0.999, WarmupSteps = 0, WeightDecay = 0, GradientClip = 0 };
                string what = family == GanVariants.Dcgan
                    ? "DCGAN, non-saturating loss"
                    : "hinge loss, spectrally normalised D";
                return new(family, $"{what}{(conditional ? ", class-conditional GroupNorm gains in G; one-hot class channels and a projection term in D" : "")}; GroupNorm in G instead of BatchNorm; Adam 2e-4, beta1 0.5",
                    () => new GanModel(config), o, () => new AdversarialLoss(family));
            }
            default:
                throw new ArgumentException($"--models: '{family}' is unknown; allowed: {string.Join(", ", ComparisonOptions.Families)}");
        }
    }

    /// <summary>The pipeline metadata of a diffusion cell's model (the one its folder is written with).</summary>
    public static PipelineMetadata DiffusionMetadata(bool conditional, ComparisonOptions options) => conditional
        ? new PipelineMetadata(Data.Mnist.ClassNames, 10, options.Guidance, options.SamplingSteps)
        : new PipelineMetadata(null, null, 1.0, options.SamplingSteps);

    /// <summary>
    /// Draws <paramref name="count"/> samples [N, 1, 28, 28] (CPU, [−1, 1]) from a trained model, sample i seeded
    /// <paramref name="seed"/> + i and, when conditional, of class i mod 10; returns them with their requested labels.
    /// </summary>
    public static (Tensor Samples, Tensor? Labels) Sample(ITrainableModel model, bool conditional, int count, long seed, int steps, ComparisonOptions options)
    {
        Tensor samples;
        if (model is IOnePassImageModel onePass)
            samples = OnePassSampling.Generate(onePass, count, seed);
        else
        {
            bool wasTraining = model.Module.training;
            model.Module.eval();
            using var pipeline = DiffusionPipeline.FromModel(model, DiffusionMetadata(conditional, options), options.Sampler,
                new TrainingOptions().Schedule, new TrainingOptions().Prediction);
            using (var x = pipeline.Generate(new GenerationOptions(count, Steps: steps, Seed: seed, BatchSize: 100)))
                samples = x.cpu().clone();
            if (wasTraining)
                model.Module.train();
        }
        Tensor? labels = conditional ? tensor(Enumerable.Range(0, count).Select(i => (long)(i % 10)).ToArray()) : null;
        return (samples, labels);
    }

    /// <summary>Writes a cell's final model folder: the EMA weights, plus the sampler sidecars for a diffusion model.</summary>
    public static void SaveFolder(ITrainableModel ema, bool conditional, string directory, ComparisonOptions options)
    {
        ema.SavePretrained(directory);
        if (ema is UNet2DModel)
            DiffusionPipeline.WriteSidecars(directory, DiffusionMetadata(conditional, options), options.Sampler,
                new TrainingOptions().Schedule, new TrainingOptions().Prediction);
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using DiffusionSharp.Models;
using DiffusionSharp.Schedules;

namespace DiffusionSharp.Training;

/// <summary>Every knob of a training run. Immutable; written to <c>run.json</c> in the run folder and read back on resume.</summary>
public sealed record TrainingOptions
{
    /// <summary>Optimizer steps to run.</summary>
    public int Steps { get; init; } = 3000;

    /// <summary>Samples per optimizer step (split into <see cref="GradientAccumulation"/> micro-batches).</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Micro-batches whose gradients are summed before each optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;

    /// <summary>
    /// Most images per forward/backward pass within a micro-batch: 0 (the default) picks the U-Net's
    /// <see cref="ITrainableModel.ChunkSizeFor"/> (largest activation ≤ 24 MiB); a positive value caps chunks at
    /// that. Chunking changes speed and memory, not the gradient (see <see cref="ChunkedBackward"/>).
    /// </summary>
    public int ChunkSize { get; init; }

    /// <summary>Peak AdamW learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>AdamW β₁.</summary>
    public double AdamBeta1 { get; init; } = 0.9;

    /// <summary>AdamW β₂.</summary>
    public double AdamBeta2 { get; init; } = 0.999;

    /// <summary>AdamW ε.</summary>
    public double AdamEpsilon { get; init; } = 1e-8;

    /// <summary>AdamW decoupled weight decay (Loshchilov &amp; Hutter 2019).</summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Linear warm-up steps before the cosine decay.</summary>
    public int WarmupSteps { get; init; } = 200;

    /// <summary>The final learning rate as a fraction of the peak.</summary>
    public double MinLearningRateRatio { get; init; } = 0.05;

    /// <summary>Global gradient-norm clip (0 disables).</summary>
    public double GradientClip { get; init; } = 1.0;

    /// <summary>Largest EMA decay.</summary>
    public double EmaMaxDecay { get; init; } = 0.999;

    /// <summary>EMA warm-up power p (see <see cref="ExponentialMovingAverage"/>).</summary>
    public double EmaPower { get; init; } = 2.0 / 3.0;

    /// <summary>What the network predicts.</summary>
    public PredictionType Prediction { get; init; } = PredictionType.Epsilon;

    /// <summary>The training noise schedule.</summary>
    public NoiseScheduleOptions Schedule { get; init; } = new();

    /// <summary>Loss weighting across noise levels.</summary>
    public LossWeighting Weighting { get; init; } = LossWeighting.MinSnr;

    /// <summary>γ of min-SNR-γ.</summary>
    public double SnrGamma { get; init; } = 5.0;

    /// <summary>
    /// How the network becomes a denoiser: <see cref="Training.Preconditioning.None"/> trains the discrete-time objective
    /// over <see cref="Schedule"/> (<see cref="DiffusionLoss"/>), <see cref="Training.Preconditioning.Edm"/> EDM's
    /// log-normal σ and preconditioning (<see cref="EdmLoss"/>; <see cref="Prediction"/> and <see cref="Schedule"/> are then unused).
    /// </summary>
    public Preconditioning Preconditioning { get; init; } = Preconditioning.None;

    /// <summary>EDM's P_mean, the mean of ln σ during training (Karras et al. 2022, Table 1).</summary>
    public double EdmPMean { get; init; } = -1.2;

    /// <summary>EDM's P_std, the standard deviation of ln σ during training.</summary>
    public double EdmPStd { get; init; } = 1.2;

    /// <summary>σ_data, the data standard deviation of EDM's preconditioning and weighting (0.5 for data in [−1, 1]).</summary>
    public double SigmaData { get; init; } = 0.5;

    /// <summary>Condition on class labels (needs a labelled dataset).</summary>
    public bool ClassConditional { get; init; } = true;

    /// <summary>Probability of replacing a label by the null class, so one network also learns the unconditional model
    /// that classifier-free guidance needs (Ho &amp; Salimans 2022).</summary>
    public double LabelDropout { get; init; } = 0.1;

    /// <summary>Randomly mirror images left–right (never for digits).</summary>
    public bool RandomFlip { get; init; }

    /// <summary>Conv/linear/attention precision (<c>"fp32"</c> or <c>"bf16"</c> in run.json); loss and optimizer stay float32.</summary>
    [JsonConverter(typeof(ComputePrecisionJsonConverter))]
    public ComputePrecision Precision { get; init; } = ComputePrecision.Full;

    /// <summary>Seeds the model initialisation, the data order, t, ε and the label dropout.</summary>
    public long Seed { get; init; }

    /// <summary>Write a checkpoint every this many steps (and at the end).</summary>
    public int CheckpointEvery { get; init; } = 500;

    /// <summary>Checkpoints kept on disk (the newest ones).</summary>
    public int KeepCheckpoints { get; init; } = 2;

    /// <summary>Draw a sample grid every this many steps (0: never).</summary>
    public int SampleEvery { get; init; } = 500;

    /// <summary>Checks the options, naming the bad one.</summary>
    public void Validate()
    {
        Positive(Steps, nameof(Steps));
        Positive(BatchSize, nameof(BatchSize));
        Positive(GradientAccumulation, nameof(GradientAccumulation));
        if (BatchSize % GradientAccumulation != 0)
            throw new ArgumentException($"{nameof(BatchSize)} ({BatchSize}) must be a multiple of {nameof(GradientAccumulation)} ({GradientAccumulation})");
        if (ChunkSize < 0)
            throw new ArgumentOutOfRangeException(nameof(ChunkSize), ChunkSize, $"{nameof(ChunkSize)} must be ≥ 0 (0: automatic)");
        if (!(LearningRate > 0))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, $"{nameof(LearningRate)} must be > 0");
        if (WarmupSteps < 0)
            throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, $"{nameof(WarmupSteps)} must be ≥ 0");
        if (LabelDropout is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(LabelDropout), LabelDropout, $"{nameof(LabelDropout)} must be in [0, 1)");
        if (EmaMaxDecay is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(EmaMaxDecay), EmaMaxDecay, $"{nameof(EmaMaxDecay)} must be in [0, 1)");
        Positive(CheckpointEvery, nameof(CheckpointEvery));
        Positive(KeepCheckpoints, nameof(KeepCheckpoints));
        if (SampleEvery < 0)
            throw new ArgumentOutOfRangeException(nameof(SampleEvery), SampleEvery, $"{nameof(SampleEvery)} must be ≥ 0");
        if (!(SnrGamma > 0))
            throw new ArgumentOutOfRangeException(nameof(SnrGamma), SnrGamma, $"{nameof(SnrGamma)} must be > 0");
        if (!(EdmPStd > 0) || !double.IsFinite(EdmPMean))
            throw new ArgumentOutOfRangeException(nameof(EdmPStd), EdmPStd, $"{nameof(EdmPStd)} must be > 0 and {nameof(EdmPMean)} finite");
        if (!(SigmaData > 0))
            throw new ArgumentOutOfRangeException(nameof(SigmaData), SigmaData, $"{nameof(SigmaData)} must be > 0");
    }

    /// <summary>The objective these options describe: <see cref="DiffusionLoss"/> or, with EDM preconditioning, <see cref="EdmLoss"/>.</summary>
    public ITrainingObjective CreateObjective()
    {
        var labels = new LabelConditioning(ClassConditional, ClassConditional ? LabelDropout : 0.0);
        return Preconditioning switch
        {
            Preconditioning.None => new DiffusionLoss(new NoiseSchedule(Schedule), Prediction, Weighting, SnrGamma, SigmaData, labels),
            Preconditioning.Edm => new EdmLoss(EdmPMean, EdmPStd, SigmaData, Weighting, SnrGamma, labels),
            _ => throw new ArgumentOutOfRangeException(nameof(Preconditioning), Preconditioning, $"{nameof(Preconditioning)} is unknown"),
        };
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be > 0");
    }

    /// <summary>JSON settings used for <c>run.json</c> (camelCase, enums as strings, indented).</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };
}

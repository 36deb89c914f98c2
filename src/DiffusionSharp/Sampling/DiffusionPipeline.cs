using System.Text.Json;
using System.Text.Json.Serialization;
using DiffusionSharp.Denoisers;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling;

/// <summary>
/// What DiffusionSharp adds to a diffusers model folder (<c>diffusionsharp.json</c>): class names, the "null" class
/// that classifier-free guidance uses as the unconditional input, and sampling defaults. diffusers ignores the file.
/// </summary>
/// <param name="ClassNames">Class names by label, or null for an unconditional model.</param>
/// <param name="NullClass">The label meaning "no class" (trained with label dropout), or null when the model has none.</param>
/// <param name="DefaultGuidance">The guidance scale used when none is given.</param>
/// <param name="DefaultSteps">The step count used when none is given.</param>
/// <param name="TrainingCommand">The command that trained the model, for the record.</param>
/// <param name="Preconditioning">"edm" when the network is the raw F of EDM's preconditioned denoiser
/// D(x; σ) = c_skip·x + c_out·F(c_in·x; ¼ ln σ) (Karras et al. 2022) and must be wrapped so to sample; null for a
/// discrete-time network over the folder's scheduler config.</param>
/// <param name="SigmaData">σ_data of the EDM preconditioning (with <paramref name="Preconditioning"/> "edm").</param>
/// <param name="Spectrogram">An audio model that diffuses log-magnitude spectrograms: the codec that made them from
/// clips and turns samples back into clips (<see cref="Audio.SpectrogramCodec"/>); null for a waveform model.</param>
public sealed record PipelineMetadata(
    IReadOnlyList<string>? ClassNames = null,
    long? NullClass = null,
    double DefaultGuidance = 1.0,
    int DefaultSteps = 20,
    string? TrainingCommand = null,
    string? Preconditioning = null,
    double? SigmaData = null,
    Audio.SpectrogramCodecOptions? Spectrogram = null)
{
    /// <summary>The <see cref="Preconditioning"/> value of an EDM-preconditioned network.</summary>
    public const string EdmPreconditioning = "edm";

    /// <summary>The file name inside a model folder.</summary>
    public const string FileName = "diffusionsharp.json";

    /// <summary>JSON settings (snake_case, as diffusers' files).</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

/// <summary>How many samples to draw, and how.</summary>
/// <param name="Count">Number of samples.</param>
/// <param name="Sampler">The sampler; null takes the folder's <c>scheduler_config.json</c>.</param>
/// <param name="Steps">Inference steps; null takes the metadata default.</param>
/// <param name="ClassLabel">One class for all samples; null cycles through every class (0, 1, …) for a conditional model.</param>
/// <param name="Guidance">Classifier-free guidance scale; null takes the metadata default; 1 disables it.</param>
/// <param name="Seed">Sample i uses seed <c>Seed + i</c>, whatever the batch it is drawn in.</param>
/// <param name="BatchSize">Samples per network batch.</param>
/// <param name="SigmaSampler">
/// A σ-space sampler (k-diffusion style, over <paramref name="SigmaGrid"/>) in place of the diffusers scheduler: the
/// network is wrapped as a denoiser D(x; σ). Null uses the scheduler, except for EDM-preconditioned networks, which are
/// always sampled in σ-space (Heun, EDM's Algorithm 2, by default).
/// </param>
/// <param name="SigmaGrid">The σ grid of a σ-space sampler.</param>
public sealed record GenerationOptions(
    int Count = 100,
    SamplerKind? Sampler = null,
    int? Steps = null,
    int? ClassLabel = null,
    double? Guidance = null,
    long Seed = 0,
    int BatchSize = 100,
    SigmaSamplerKind? SigmaSampler = null,
    SigmaGridKind SigmaGrid = SigmaGridKind.Karras);

/// <summary>
/// A model folder ready to sample: the network (<c>config.json</c> + safetensors, any discrete-time model
/// <see cref="TrainableModels"/> loads: a U-Net for images, an MLP for points), its scheduler configuration and
/// DiffusionSharp's metadata. Any sampler can replace the folder's own; the noise schedule and prediction type stay those
/// the model was trained with.
/// </summary>
public sealed class DiffusionPipeline : IDisposable
{
    /// <summary>The scheduler file of a diffusers model folder.</summary>
    public const string SchedulerConfigFile = "scheduler_config.json";

    private readonly JsonElement? _schedulerConfig;
    private readonly bool _ownsModel;
    private Audio.SpectrogramCodec? _codec;   // built on the first ToClips of a spectrogram model

    private DiffusionPipeline(string directory, ITrainableModel model, JsonElement? schedulerConfig, PipelineMetadata metadata, bool ownsModel = true)
    {
        Directory = directory;
        Model = model;
        Network = model as IDiffusionNetwork
            ?? throw new InvalidDataException($"{directory}: a {model.ClassName} is not a discrete-time diffusion network");
        _schedulerConfig = schedulerConfig;
        Metadata = metadata;
        _ownsModel = ownsModel;
    }

    /// <summary>
    /// A pipeline over a network in memory (e.g. the EMA weights during training), configured as
    /// <see cref="WriteSidecars"/> would write its folder. The caller keeps ownership of <paramref name="model"/>:
    /// disposing the pipeline leaves it alive. <see cref="Directory"/> is empty.
    /// </summary>
    public static DiffusionPipeline FromModel(ITrainableModel model, PipelineMetadata metadata, SamplerKind kind, NoiseScheduleOptions schedule, PredictionType prediction)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(metadata);
        var config = DiffusersConfig.ParseObject(SchedulerFactory.ToDiffusersConfig(kind, schedule, prediction).ToJsonString());
        return new DiffusionPipeline("", model, config, metadata, ownsModel: false);
    }

    /// <summary>The folder it was loaded from (empty for <see cref="FromModel"/>).</summary>
    public string Directory { get; }

    /// <summary>The model (in eval mode).</summary>
    public ITrainableModel Model { get; }

    /// <summary>The model as the network x_t, t ↦ prediction that the schedulers drive.</summary>
    public IDiffusionNetwork Network { get; }

    /// <summary>The model as a U-Net, for the image-only tools (editing, export).</summary>
    /// <exception cref="NotSupportedException">The folder holds another model (e.g. an MLP over points).</exception>
    public UNet2DModel UNet => Model as UNet2DModel
        ?? throw new NotSupportedException($"{Directory}: holds a {Model.ClassName}; this needs an image model (UNet2DModel)");

    /// <summary>True when samples are images [C, H, W] (a U-Net), false for points [D] or other data.</summary>
    public bool IsImageModel => Model is UNet2DModel;

    /// <summary>True when samples are audio clips [C, L] (a 1-D U-Net); <see cref="SampleRate"/> says at what rate.</summary>
    public bool IsAudioModel => Model is UNet1DModel;

    /// <summary>
    /// Samples per second of an audio model's clips: the config's <c>sample_rate</c> (diffusers stores it), else 16 kHz.
    /// </summary>
    /// <exception cref="NotSupportedException">Not an audio model.</exception>
    public int SampleRate => Model is UNet1DModel u
        ? Metadata.Spectrogram?.SampleRate ?? u.Config.SampleRate ?? Data.SpokenDigits.DefaultSampleRate
        : throw new NotSupportedException($"{Directory}: holds a {Model.ClassName}; only an audio model (UNet1DModel) has a sample rate");

    /// <summary>Samples per clip of an audio model: the spectrogram codec's clip length, else the network's <c>sample_size</c>.</summary>
    /// <exception cref="NotSupportedException">Not an audio model.</exception>
    public int ClipLength => Model is UNet1DModel u
        ? Metadata.Spectrogram?.ClipLength ?? u.Config.SampleSize
        : throw new NotSupportedException($"{Directory}: holds a {Model.ClassName}; only an audio model (UNet1DModel) has clips");

    /// <summary>
    /// An audio model's samples (or x̂₀ frames) as clips [N, C, L]: a spectrogram model's decoded by its codec (fast
    /// Griffin-Lim), a waveform model's as they are (a new tensor either way; the caller disposes both).
    /// </summary>
    /// <exception cref="NotSupportedException">Not an audio model.</exception>
    public Tensor ToClips(Tensor samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (!IsAudioModel)
            throw new NotSupportedException($"{Directory}: holds a {Model.ClassName}; only an audio model (UNet1DModel) has clips");
        if (Metadata.Spectrogram is not { } options)
            return samples.alias();
        _codec ??= new Audio.SpectrogramCodec(options);
        return _codec.Decode(samples);
    }

    /// <summary>The shape of one sample: [C, H, W] for a U-Net, [D] for an MLP, [C, L] for a 1-D U-Net.</summary>
    /// <exception cref="InvalidDataException">The config does not fix the size of a sample.</exception>
    public long[] SampleShape => Model switch
    {
        UNet2DModel u => u.Config.SampleSize is { } size
            ? [u.Config.InChannels, size[0], size.Length > 1 ? size[1] : size[0]]
            : throw new InvalidDataException($"{Directory}: config.json has no sample_size"),
        MlpDenoiser m => [m.Config.Dimensions],
        UNet1DModel u => [u.Config.InChannels, u.Config.SampleSize],
        _ => throw new NotSupportedException($"{Directory}: cannot tell the sample shape of a {Model.ClassName}"),
    };

    /// <summary>Where the network runs and samples are drawn: the device of the model's parameters. The initial noise is
    /// drawn on the CPU (one seeded generator per sample) and moved, so a sample does not depend on the device's RNG.</summary>
    public Device Device => Model.Module.parameters().FirstOrDefault()?.device ?? CPU;

    /// <summary>The folder's metadata (defaults when the folder has no <c>diffusionsharp.json</c>).</summary>
    public PipelineMetadata Metadata { get; }

    /// <summary>The training noise schedule, from the scheduler config (diffusers' defaults when there is none).</summary>
    public NoiseScheduleOptions Schedule =>
        _schedulerConfig is { } c ? DiffusersConfig.ReadSchedule(c, new NoiseScheduleOptions()) : new NoiseScheduleOptions();

    /// <summary>The prediction type, from the scheduler config.</summary>
    public PredictionType Prediction =>
        _schedulerConfig is { } c
            ? DiffusersNames.ParsePredictionType(DiffusersConfig.GetString(c, "prediction_type", "epsilon"))
            : PredictionType.Epsilon;

    /// <summary>The folder's own sampler (DDPM when the folder has no scheduler config).</summary>
    public SamplerKind DefaultSampler =>
        _schedulerConfig is { } c && DiffusersConfig.ClassName(c) is { } name ? SchedulerFactory.KindOfClassName(name) : SamplerKind.Ddpm;

    /// <summary>Number of real classes (excluding the null class), 0 for an unconditional model.</summary>
    public int NumClasses =>
        Metadata.ClassNames?.Count ?? (Model.NullClassLabel is { } last ? (int)last + (Metadata.NullClass is null ? 1 : 0) : 0);

    /// <summary>Loads a model folder onto <paramref name="device"/> (default CPU; see <c>TorchRuntime.ResolveDevice</c>).</summary>
    /// <exception cref="InvalidDataException">A missing or malformed file, named in the message.</exception>
    public static DiffusionPipeline Load(string directory, Device? device = null)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new InvalidDataException($"{directory}: model folder not found");
        JsonElement? schedulerConfig = null;
        string schedulerPath = Path.Combine(directory, SchedulerConfigFile);
        if (File.Exists(schedulerPath))
        {
            try
            {
                schedulerConfig = DiffusersConfig.ParseObject(File.ReadAllText(schedulerPath));
            }
            catch (Exception e) when (e is JsonException or ArgumentException)
            {
                throw new InvalidDataException($"{schedulerPath}: {e.Message}", e);
            }
        }
        var metadata = new PipelineMetadata();
        string metaPath = Path.Combine(directory, PipelineMetadata.FileName);
        if (File.Exists(metaPath))
        {
            try
            {
                metadata = JsonSerializer.Deserialize<PipelineMetadata>(File.ReadAllText(metaPath), PipelineMetadata.Json) ?? metadata;
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{metaPath}: malformed ({e.Message})", e);
            }
        }
        var model = LoadModel(directory);
        try
        {
            if (device is not null && device.type != DeviceType.CPU)
                model.Module.to(device);
            model.Module.eval();
            if (metadata.NullClass is { } nc && (model.NullClassLabel is not { } last || nc < 0 || nc > last))
                throw new InvalidDataException($"{metaPath}: null_class {nc} is outside the model's {(model.NullClassLabel ?? -1) + 1} class embeddings");
            return new DiffusionPipeline(directory, model, schedulerConfig, metadata);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The folder's model by its <c>_class_name</c>; a folder that names none (diffusers does not require it) or whose
    /// config does not parse is read as a U-Net, whose loader reports the problem key by key.
    /// </summary>
    private static ITrainableModel LoadModel(string directory)
    {
        try
        {
            TrainableModels.ClassNameOf(directory);
        }
        catch (InvalidDataException)
        {
            return UNet2DModel.FromPretrained(directory);
        }
        return TrainableModels.Load(directory);
    }

    /// <summary>Writes the metadata and a scheduler config for <paramref name="kind"/> next to a saved model.</summary>
    public static void WriteSidecars(string directory, PipelineMetadata metadata, SamplerKind kind, NoiseScheduleOptions schedule, PredictionType prediction)
    {
        AtomicFile.WriteAllText(Path.Combine(directory, PipelineMetadata.FileName), JsonSerializer.Serialize(metadata, PipelineMetadata.Json));
        AtomicFile.WriteAllText(Path.Combine(directory, SchedulerConfigFile),
            SchedulerFactory.ToDiffusersConfig(kind, schedule, prediction).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>A scheduler: <paramref name="kind"/> over the model's schedule, or the folder's own when null.</summary>
    public IScheduler CreateScheduler(SamplerKind? kind)
    {
        if (kind is null && _schedulerConfig is { } c)
            return SchedulerFactory.FromConfig(c);
        return SchedulerFactory.Create(kind ?? DefaultSampler, Schedule, Prediction);
    }

    /// <summary>The class each sample is conditioned on (null for an unconditional model).</summary>
    public long[]? LabelsFor(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (NumClasses == 0)
        {
            if (options.ClassLabel is not null)
                throw new ArgumentException("this model is unconditional: it takes no class", nameof(options));
            return null;
        }
        if (options.ClassLabel is { } k && (k < 0 || k >= NumClasses))
            throw new ArgumentOutOfRangeException(nameof(options), k, $"class must be in 0..{NumClasses - 1} or 'all'");
        return Enumerable.Range(0, options.Count).Select(i => (long)(options.ClassLabel ?? i % NumClasses)).ToArray();
    }

    /// <summary>
    /// Draws <see cref="GenerationOptions.Count"/> samples [N, …<see cref="SampleShape"/>] on <see cref="Device"/> (the caller owns the tensor). <paramref name="onStep"/>
    /// receives (batch start index, step index, x, x̂₀) after every scheduler step.
    /// </summary>
    public Tensor Generate(GenerationOptions options, Action<int, int, Tensor, Tensor?>? onStep = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Count <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.Count, "count must be > 0");
        if (options.BatchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "batch size must be > 0");
        bool edm = Metadata.Preconditioning is { } pre && IsEdm(pre);
        if (edm && options.Sampler is not null)
            throw new ArgumentException($"{Directory}: the network is EDM-preconditioned (diffusionsharp.json); sample it with a σ-space sampler ({SigmaSamplers.AllowedNames}), not the scheduler '{SchedulerFactory.CliName(options.Sampler.Value)}'", nameof(options));
        double guidance = options.Guidance ?? Metadata.DefaultGuidance;
        if (guidance != 1.0 && Metadata.NullClass is null)
            throw new ArgumentException("guidance needs a model trained with a null class (label dropout); use --guidance 1", nameof(options));
        int steps = options.Steps ?? Metadata.DefaultSteps;
        long[]? labels = LabelsFor(options);
        IDiffusionNetwork network = guidance != 1.0 && labels is not null
            ? new ClassifierFreeGuidance(Network, guidance, Metadata.NullClass!.Value)
            : Network;
        long[] shape = SampleShape;
        var chunks = new List<Tensor>();
        try
        {
            for (int start = 0; start < options.Count; start += options.BatchSize)
            {
                int n = Math.Min(options.BatchSize, options.Count - start);
                var seeds = Enumerable.Range(start, n).Select(i => options.Seed + i).ToArray();
                if (edm || options.SigmaSampler is not null)
                {
                    using var sigmaLabels = labels is null ? null : tensor(labels.AsSpan(start, n).ToArray());
                    int first = start;
                    chunks.Add(SampleSigmaSpace(options, edm, guidance, seeds, shape, steps, sigmaLabels,
                        onStep is null ? null : (i, x, x0) => onStep(first, i, x, x0), cancellationToken));
                    continue;
                }
                var scheduler = CreateScheduler(options.Sampler);
                try
                {
                    using var batchLabels = labels is null ? null : tensor(labels.AsSpan(start, n).ToArray());
                    int batchStart = start;
                    chunks.Add(new DiffusionSampler(scheduler, network).Sample(seeds, shape, steps, batchLabels,
                        onStep is null ? null : (i, x, x0) => onStep(batchStart, i, x, x0), device: Device, cancellationToken: cancellationToken));
                }
                finally
                {
                    (scheduler as IDisposable)?.Dispose();
                }
            }
            return cat(chunks, 0);
        }
        finally
        {
            foreach (var c in chunks)
                c.Dispose();
        }
    }

    /// <summary>
    /// EDM's σ range for data of standard deviation <paramref name="sigmaData"/>: Karras et al. 2022, Table 1 give
    /// σ_min = 0.002 and σ_max = 80 for σ_data = 0.5, and the preconditioning is written in units of σ_data, so the range
    /// scales with it (the same signal-to-noise ratios at both ends). Speech at σ_data 0.063 starts from σ = 10 instead of
    /// spending a third of a Karras grid's steps above σ = 10, where its model sees only noise.
    /// </summary>
    public static (double Min, double Max) EdmSigmaRange(double sigmaData) =>
        sigmaData > 0 && double.IsFinite(sigmaData)
            ? (0.002 * sigmaData / 0.5, 80.0 * sigmaData / 0.5)
            : throw new ArgumentOutOfRangeException(nameof(sigmaData), sigmaData, "σ_data must be a positive number");

    private static bool IsEdm(string preconditioning) =>
        preconditioning.Equals(PipelineMetadata.EdmPreconditioning, StringComparison.OrdinalIgnoreCase)
            ? true
            : throw new InvalidDataException($"diffusionsharp.json: unknown preconditioning '{preconditioning}'; known: {PipelineMetadata.EdmPreconditioning}");

    /// <summary>
    /// One batch through a σ-space sampler: the network as a denoiser (EDM's preconditioning around the raw network, or
    /// <see cref="DiscreteTimeDenoiser"/> around a discrete-time one), guidance on x̂₀ (<see cref="GuidedDenoiser"/>), a σ
    /// grid over the denoiser's range, and per-sample seeded noise (<see cref="SigmaSampling"/>).
    /// </summary>
    private Tensor SampleSigmaSpace(GenerationOptions options, bool edm, double guidance, long[] seeds, long[] shape, int steps,
        Tensor? labels, Action<int, Tensor, Tensor?>? onStep, CancellationToken cancellationToken)
    {
        var schedule = new NoiseSchedule(Schedule);
        IDenoiser denoiser;
        double sigmaMin, sigmaMax;
        if (edm)
        {
            double sigmaData = Metadata.SigmaData ?? 0.5;
            denoiser = new EdmPreconditioning(Network, sigmaData);
            (sigmaMin, sigmaMax) = EdmSigmaRange(sigmaData);
        }
        else
        {
            var discrete = new DiscreteTimeDenoiser(Network, schedule, Prediction);
            (denoiser, sigmaMin, sigmaMax) = (discrete, discrete.SigmaMin, discrete.SigmaMax);
        }
        if (guidance != 1.0 && labels is not null)
            denoiser = new GuidedDenoiser(denoiser, guidance, Metadata.NullClass!.Value);
        var sigmas = SigmaGrid.Create(options.SigmaGrid, steps, sigmaMin, sigmaMax, schedule);
        var sampler = SigmaSamplers.Create(options.SigmaSampler ?? SigmaSamplerKind.Heun);
        SamplerStepHook? hook = onStep is null ? null : step =>
        {
            onStep(step.Index, step.X, step.Denoised);
            return null;
        };
        return SigmaSampling.Sample(sampler, denoiser, seeds, shape, sigmas, labels, hook, Device, cancellationToken: cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _codec?.Dispose();
        if (_ownsModel)
            Model.Dispose();
    }
}

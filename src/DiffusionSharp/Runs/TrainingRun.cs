using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionSharp.Data;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Imaging;
using DiffusionSharp.Models;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Training;
using static TorchSharp.torch;

namespace DiffusionSharp.Runs;

/// <summary>A new run: where, with which options, model preset and data.</summary>
/// <param name="RunDirectory">The run folder (must not hold a run).</param>
/// <param name="Options">The training options.</param>
/// <param name="Preset">The model preset.</param>
/// <param name="Data">The data spec.</param>
/// <param name="Guidance">The guidance scale recorded with the model (used when it has a null class).</param>
/// <param name="Cache">The data cache (null: the default).</param>
/// <param name="Device">Where to train (null: CPU).</param>
/// <param name="Command">The command line, recorded with the model.</param>
/// <param name="Model">The model family (<see cref="TrainingRun.ModelFamilies"/>); null chooses by the data: a U-Net for
/// images, a 1-D U-Net (<c>unet1d</c>) for audio clips, an MLP for points, the masked-diffusion transformer (<c>text</c>) for
/// text; <c>text-ar</c> is its causal twin.</param>
/// <param name="InitFrom">A model folder whose weights the new model (and its EMA copy) start from instead of a random
/// initialisation: fine-tuning or continuing a trained model with a fresh optimizer and schedule. It must be the same
/// architecture as the preset builds for the data (null: random).</param>
public sealed record NewRun(string RunDirectory, TrainingOptions Options, string Preset, DataSpec Data, double Guidance = 2.0,
    string? Cache = null, Device? Device = null, string? Command = null, string? Model = null, string? InitFrom = null);

/// <summary>
/// A resumed run: the options stored in its folder, changed only by <paramref name="Override"/> (the options given
/// explicitly). <paramref name="Preset"/>, <paramref name="Data"/> and <paramref name="ImageSize"/> may be repeated but not changed.
/// </summary>
/// <param name="RunDirectory">The run folder.</param>
/// <param name="Override">Applies the explicitly given options to the stored ones (null: none).</param>
/// <param name="Preset">A preset given again (refused when it differs from the run's).</param>
/// <param name="Data">A data source given again (refused when it differs from the run's).</param>
/// <param name="ImageSize">An image size given again (refused when it differs from the run's).</param>
/// <param name="Guidance">A new guidance scale for the model folder (null: the stored one).</param>
/// <param name="Cache">The data cache (null: the default).</param>
/// <param name="Device">Where to train (null: CPU).</param>
/// <param name="Command">The command line, recorded with the model.</param>
/// <param name="SampleRate">An audio sample rate given again (refused when it differs from the run's).</param>
/// <param name="Representation">An audio representation given again (refused when it differs from the run's).</param>
public sealed record ResumeRun(string RunDirectory, Func<TrainingOptions, TrainingOptions>? Override = null, string? Preset = null,
    string? Data = null, int? ImageSize = null, double? Guidance = null, string? Cache = null, Device? Device = null, string? Command = null,
    int? SampleRate = null, string? Representation = null);

/// <summary>
/// The training run service: assembles a run folder (<c>run.json</c> with options, model and data description), trains
/// with in-training sample grids and a loss history from the trainer's progress events, and writes the final model folder
/// with its sidecars and default sampler. The CLI (and any other front end) only parses, calls this and renders.
/// </summary>
public sealed class TrainingRun : IDisposable
{
    /// <summary>The sampler a trained model folder gets, and its in-training grids use: DPM-Solver++ 2M.</summary>
    public const SamplerKind DefaultSampler = SamplerKind.DpmSolverMultistep;

    /// <summary>Steps the model folder's sampler defaults to.</summary>
    public const int DefaultSteps = 20;

    /// <summary>The options (their <c>run.json</c> names) that define the objective and cannot change mid-run.</summary>
    public static IReadOnlyList<string> FixedOptions { get; } =
        ["prediction", "schedule", "weighting", "snrGamma", "classConditional", "preconditioning", "edmPMean", "edmPStd", "sigmaData", "seed"];

    /// <summary>The model families <see cref="NewRun.Model"/> takes.</summary>
    public static IReadOnlyList<string> ModelFamilies { get; } = ["unet", "unet1d", "mlp", "text", "text-ar"];

    private readonly List<(int Step, double Loss)> _losses;

    private TrainingRun(Trainer trainer, SampleDataset data, RunDescription description, IReadOnlyList<OptionOverride> overrides, string? command, List<(int, double)> losses)
    {
        Trainer = trainer;
        Data = data;
        Description = description;
        Overrides = overrides;
        _losses = losses;
        var classes = trainer.Model.NullClassLabel is not null && trainer.Options.ClassConditional ? data.ClassNames : null;
        bool withNull = classes is not null && trainer.Options.LabelDropout > 0;
        bool edm = trainer.Options.Preconditioning == Preconditioning.Edm;
        Metadata = new PipelineMetadata(classes, withNull ? trainer.NullClass : null, withNull ? description.Guidance : 1.0, DefaultSteps, command,
            edm ? PipelineMetadata.EdmPreconditioning : null, edm ? trainer.Options.SigmaData : null,
            (data as Audio.AudioSpectrograms)?.Codec);
        trainer.Progress += p => _losses.Add((p.Step, p.Loss));
        trainer.SampleRequested += (step, ema) => SamplePicture(ema, Path.Combine(trainer.RunDirectory, "samples", $"step-{step:D8}.png"));
    }

    /// <summary>The trainer (subscribe to its <see cref="Trainer.Progress"/> to render progress).</summary>
    public Trainer Trainer { get; }

    /// <summary>The data, loaded from the run's spec (images [N, C, H, W] or points [N, D]).</summary>
    public SampleDataset Data { get; }

    /// <summary>The run's description (as stored in <c>run.json</c>).</summary>
    public RunDescription Description { get; }

    /// <summary>The options this resume changed (empty for a new run or a plain resume).</summary>
    public IReadOnlyList<OptionOverride> Overrides { get; }

    /// <summary>What the final model folder's <c>diffusionsharp.json</c> will hold.</summary>
    public PipelineMetadata Metadata { get; }

    /// <summary>(step, loss) of every step so far, this session's from the progress events, earlier ones read once from log.csv.</summary>
    public IReadOnlyList<(int Step, double Loss)> LossHistory => _losses;

    /// <summary>The model folder <see cref="Finish"/> writes.</summary>
    public string ModelDirectory => Path.Combine(Trainer.RunDirectory, "model");

    /// <summary>The loss curve <see cref="Finish"/> writes.</summary>
    public string LossPlotPath => Path.Combine(Trainer.RunDirectory, "loss.png");

    /// <summary>
    /// Starts a new run: loads the data, builds the preset's model for it (a U-Net for images, an MLP for points), writes
    /// <c>run.json</c>. Data with a single class train unconditionally (<see cref="TrainingOptions.ClassConditional"/> off).
    /// </summary>
    /// <exception cref="InvalidDataException">The data cannot be used; nothing is written then.</exception>
    public static TrainingRun Create(NewRun request, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Options.Validate();
        var data = LoadData(request.Data, request.Cache, log);
        try
        {
            var options = request.Options.ClassConditional && data.ClassNames.Count == 1 ? request.Options with { ClassConditional = false } : request.Options;
            var (className, configJson, create) = ModelFor(request.Preset, request.Model, data, options.ClassConditional ? data.ClassNames.Count : 0);
            var description = new RunDescription(request.Preset, request.Data, className, JsonNode.Parse(configJson), request.Guidance,
                InitFrom: request.InitFrom is { } dir ? Path.GetFullPath(dir) : null);
            if (request.InitFrom is { } from)
            {
                CheckInit(from, className, configJson);
                create = () => TrainableModels.Load(from);   // as a resume loads its checkpoint's model and EMA
            }
            var trainer = Trainer.Create(request.RunDirectory, options, create, data,
                new TrainerSetup(ObjectiveFor(description), request.Device, JsonSerializer.SerializeToNode(description, TrainingOptions.Json)));
            return new TrainingRun(trainer, data, description, [], request.Command, []);
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Resumes a run with the options, preset and data stored in its folder. Options given explicitly override the stored
    /// ones; each change is returned in <see cref="Overrides"/>, reported to <paramref name="log"/> and recorded in
    /// <c>run.json</c>. A changed preset, data spec or objective option (<see cref="FixedOptions"/>) is refused.
    /// </summary>
    /// <exception cref="ArgumentException">An option that cannot change mid-run was changed (the message names it).</exception>
    /// <exception cref="InvalidDataException">No run, no checkpoint, or a run.json without a description.</exception>
    public static TrainingRun Resume(ResumeRun request, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (stored, node) = Trainer.ReadRunFile(request.RunDirectory);
        var description = node?.Deserialize<RunDescription>(TrainingOptions.Json)
            ?? throw new InvalidDataException($"{Path.Combine(request.RunDirectory, Trainer.RunFile)}: has no description (made by an older version); start a new run");
        if (request.Preset is { } preset && preset != description.Preset)
            throw new ArgumentException($"preset cannot change when resuming: the run was created with '{description.Preset}', not '{preset}'");
        if ((request.Data is { } source && source != description.Data.Source) || (request.ImageSize is { } size && size != description.Data.ImageSize)
            || (request.SampleRate is { } rate && rate != (description.Data.SampleRate ?? SpokenDigits.DefaultSampleRate))
            || (request.Representation is { } r && r != (description.Data.Representation ?? DataSpec.Waveform)))
            throw new ArgumentException($"data cannot change when resuming: the run was created with '{description.Data}', not '{new DataSpec(request.Data ?? description.Data.Source, request.ImageSize ?? description.Data.ImageSize, request.SampleRate ?? description.Data.SampleRate, request.Representation ?? description.Data.Representation)}'");
        var options = request.Override?.Invoke(stored) ?? stored;
        int step = LatestStep(request.RunDirectory);
        var overrides = Differences(stored, options, step);
        if (request.Guidance is { } g && g != description.Guidance)
            overrides.Add(new OptionOverride(step, "guidance", Json(description.Guidance), Json(g)));
        foreach (var o in overrides)
            log?.Invoke(o.ToString());
        if (overrides.Count > 0)
            description = description with { Guidance = request.Guidance ?? description.Guidance, Overrides = [.. description.Overrides ?? [], .. overrides] };
        var data = LoadData(description.Data, request.Cache, log);
        try
        {
            var setup = new TrainerSetup(ObjectiveFor(description), request.Device,
                overrides.Count > 0 ? JsonSerializer.SerializeToNode(description, TrainingOptions.Json) : null);
            var trainer = Trainer.Resume(request.RunDirectory, data, overrides.Count > 0 ? options : null, setup);
            return new TrainingRun(trainer, data, description, overrides, request.Command, ReadLosses(request.RunDirectory, trainer.Step));
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>Trains to the end (or until cancelled, with a checkpoint), drawing grids every SampleEvery steps.</summary>
    public void Train(CancellationToken cancellationToken = default) => Trainer.Run(cancellationToken);

    /// <summary>Writes the EMA model folder with its sidecars (metadata, the default sampler's config) and the loss curve; returns the folder.</summary>
    public string Finish()
    {
        Trainer.EmaModel.SavePretrained(ModelDirectory);
        if (Trainer.EmaModel is not IDiffusionNetwork)
        {
            LossPlot.Save(_losses.Select(l => l.Loss).ToList(), LossPlotPath, steps: _losses.Select(l => (double)l.Step).ToList());
            return ModelDirectory;
        }
        DiffusionPipeline.WriteSidecars(ModelDirectory, Metadata, DefaultSampler, Trainer.Options.Schedule, Trainer.Options.Prediction);
        LossPlot.Save(_losses.Select(l => l.Loss).ToList(), LossPlotPath, steps: _losses.Select(l => (double)l.Step).ToList());
        return ModelDirectory;
    }

    /// <summary>
    /// Checks that the model folder a new run starts from holds the model the run builds: the same class and the same
    /// config, key by key (its own <c>ConfigJson</c>, so a folder written elsewhere compares in the project's form).
    /// </summary>
    private static void CheckInit(string directory, string className, string configJson)
    {
        if (!Directory.Exists(directory))
            throw new InvalidDataException($"--init {directory}: no such folder");
        string found = TrainableModels.ClassNameOf(directory);
        if (found != className)
            throw new InvalidDataException($"--init {directory}: holds a {found}; this run builds a {className}");
        JsonObject theirs;
        using (var model = TrainableModels.Load(directory))
            theirs = JsonNode.Parse(model.ConfigJson())!.AsObject();
        var ours = JsonNode.Parse(configJson)!.AsObject();
        if (ours.Select(p => p.Key).Concat(theirs.Select(p => p.Key)).Distinct(StringComparer.Ordinal)
                .FirstOrDefault(k => !k.StartsWith('_') && !JsonNode.DeepEquals(theirs[k], ours[k])) is { } differs)
            throw new InvalidDataException($"--init {directory}: its config has {differs} = {theirs[differs]?.ToJsonString() ?? "nothing"}, this run's model {ours[differs]?.ToJsonString() ?? "nothing"}; start from a model of the same preset and data");
    }

    /// <summary>The model of <paramref name="preset"/> for the data's sample shape: its class name, config and factory.</summary>
    private static (string ClassName, string ConfigJson, Func<ITrainableModel> Create) ModelFor(string preset, string? family, SampleDataset data, int classes)
    {
        if (family is not null && !ModelFamilies.Contains(family))
            throw new ArgumentException($"--model '{family}' is unknown; allowed: {string.Join(", ", ModelFamilies)}");
        string wanted = data switch
        {
            Text.TextDataset => "text",
            Audio.AudioClips or Audio.AudioSpectrograms => "unet1d",
            ImageDataset => "unet",
            _ => "mlp",
        };
        if (family is not null && family != wanted && !(family == "text-ar" && wanted == "text"))
            throw new ArgumentException($"--model {family} does not fit {data.Name} (samples [{string.Join(", ", data.SampleShape)}]); it takes --model {(wanted == "text" ? "text or text-ar" : wanted)}");
        if (data is Text.TextDataset text)
        {
            var config = Text.TextTransformerConfig.ForPreset(preset, text.Vocabulary, text.Length, causal: family == "text-ar");
            return (Text.TextTransformerConfig.ModelClassName, config.ToJson(), () => new Text.TextTransformer(config));
        }
        if (data is Audio.AudioClips clips)
        {
            var unet1d = ModelPresets.CreateUNet1D(preset, clips.Length, clips.SampleRate, classes);
            return (Models.Diffusers.DiffusersUNet1DConfig.ClassName, Models.Diffusers.DiffusersUNet1DConfig.ToJson(unet1d), () => new UNet1DModel(unet1d));
        }
        if (data is Audio.AudioSpectrograms spectrograms)
        {
            var unet1d = ModelPresets.CreateSpectrogramUNet1D(preset, spectrograms.Codec, classes);
            return (Models.Diffusers.DiffusersUNet1DConfig.ClassName, Models.Diffusers.DiffusersUNet1DConfig.ToJson(unet1d), () => new UNet1DModel(unet1d));
        }
        if (data is ImageDataset images)
        {
            var unet = ModelPresets.Create(preset, images.Height, images.Channels, classes);
            return (Models.Diffusers.DiffusersUNet2DConfig.ClassName, Models.Diffusers.DiffusersUNet2DConfig.ToJson(unet), () => new UNet2DModel(unet));
        }
        if (data.SampleShape.Length != 1)
            throw new InvalidDataException($"{data.Name}: samples of shape [{string.Join(", ", data.SampleShape)}]; training takes images [C, H, W] or points [D]");
        var mlp = ModelPresets.CreateMlp(preset, data.Channels, classes);
        return (MlpDenoiserConfig.ClassName, mlp.ToJson(), () => new MlpDenoiser(mlp));
    }

    /// <summary>
    /// The in-training picture: the EMA network through the same pipeline the saved model folder will have
    /// (<see cref="DefaultSampler"/>, <see cref="DefaultSteps"/>, the run's guidance), seeds 0…n−1 so pictures of different
    /// steps compare. Images: a grid of two samples per class (or 16). Audio: the log-mel spectrograms of two clips per
    /// class (or 8), one row per class. 2-D points: a point cloud of 1000 samples.
    /// An EDM-preconditioned run samples with the pipeline's σ-space default (Heun over its σ range). Skipped for other data.
    /// </summary>
    private void SamplePicture(ITrainableModel ema, string path)
    {
        if (!(ema is UNet2DModel || ema is UNet1DModel || (ema is MlpDenoiser m && m.Config.Dimensions == 2)))
            return;
        using var pipeline = DiffusionPipeline.FromModel(ema, Metadata, DefaultSampler, Trainer.Options.Schedule, Trainer.Options.Prediction);
        int classes = pipeline.NumClasses;
        int count = pipeline.IsImageModel ? (classes > 0 ? classes * 2 : 16) : pipeline.IsAudioModel ? (classes > 0 ? classes * 2 : 8) : 1000;
        var options = new GenerationOptions(count, BatchSize: count);
        using var x = pipeline.Generate(options);
        using var onCpu = x.cpu();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (pipeline.IsAudioModel)
        {
            using var clips = pipeline.ToClips(onCpu);
            Audio.AudioSampleWriter.SaveGrid(clips, pipeline.LabelsFor(options), classes, pipeline.SampleRate, path);
            return;
        }
        if (pipeline.IsImageModel)
        {
            ImageWriter.SaveGrid(onCpu, path, new GridOptions(Columns: classes > 0 ? classes : 4));
            return;
        }
        using var labels = pipeline.LabelsFor(options) is { } l ? tensor(l) : null;
        PointCloudPlot.Save([PointCloudPanel.FromTensor($"{count} samples", onCpu, labels)], path,
            new PointCloudPlotOptions(Extent: 3.0, Title: Path.GetFileNameWithoutExtension(path)));
    }

    /// <summary>The objective of a run: the text model's by its config (causal: autoregressive), else null (the options').</summary>
    private static ITrainingObjective? ObjectiveFor(RunDescription description)
    {
        if (description.ModelClass != Text.TextTransformerConfig.ModelClassName)
            return null;
        var config = description.ModelConfig?.Deserialize<Text.TextTransformerConfig>(new JsonSerializerOptions(JsonSerializerDefaults.Web))
            ?? throw new InvalidDataException("run.json: the text model's description has no config");
        return Text.TextObjectiveSupport.For(config);
    }

    private static SampleDataset LoadData(DataSpec spec, string? cache, Action<string>? log)
    {
        var data = DataSources.LoadSamples(spec.Source, spec.ImageSize, cache, log ?? (_ => { }), spec.SampleRate);
        if (spec.Representation is { } representation && representation != DataSpec.Waveform)
        {
            if (data is not Audio.AudioClips clips || representation != DataSpec.Spectrogram)
            {
                data.Dispose();
                throw new InvalidDataException($"--representation {representation}: takes '{DataSpec.Waveform}' or '{DataSpec.Spectrogram}', for audio data only");
            }
            using (clips)
                return Audio.AudioSpectrograms.Encode(clips);
        }
        if (data is ImageDataset images && images.Height != images.Width)
        {
            data.Dispose();
            throw new InvalidDataException($"{spec.Source}: images are {images.Width}×{images.Height}; training needs square images (use an image size)");
        }
        return data;
    }

    private static int LatestStep(string runDir) =>
        Trainer.LatestCheckpoint(runDir) is { } c && int.TryParse(Path.GetFileName(c).AsSpan("step-".Length), NumberStyles.None, CultureInfo.InvariantCulture, out int s) ? s : 0;

    private static List<OptionOverride> Differences(TrainingOptions stored, TrainingOptions given, int step)
    {
        var a = JsonSerializer.SerializeToNode(stored, TrainingOptions.Json)!.AsObject();
        var b = JsonSerializer.SerializeToNode(given, TrainingOptions.Json)!.AsObject();
        var changes = new List<OptionOverride>();
        foreach (var (name, value) in b)
        {
            var old = a[name];
            if (JsonNode.DeepEquals(old, value))
                continue;
            if (FixedOptions.Contains(name))
                throw new ArgumentException($"{name} cannot change when resuming: the run has {Json(old)}, not {Json(value)}");
            changes.Add(new OptionOverride(step, name, Json(old), Json(value)));
        }
        return changes;
    }

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, TrainingOptions.Json).ReplaceLineEndings(" ");

    /// <summary>The (step, loss) lines of log.csv up to <paramref name="upTo"/> (a killed run may have logged steps past its checkpoint).</summary>
    private static List<(int, double)> ReadLosses(string runDir, int upTo) => [.. TrainingLog.Column(runDir, "loss", upTo)];

    /// <inheritdoc />
    public void Dispose()
    {
        Trainer.Dispose();
        Data.Dispose();
    }
}

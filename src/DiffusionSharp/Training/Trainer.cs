using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionSharp.Data;
using DiffusionSharp.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusionSharp.Training;

/// <summary>One optimizer step's figures, reported to the caller (the CLI draws its progress bar from these).</summary>
/// <param name="Step">Optimizer steps completed.</param>
/// <param name="TotalSteps">Steps of the whole run.</param>
/// <param name="Loss">This step's loss (mean over micro-batches).</param>
/// <param name="LearningRate">The rate used for this step.</param>
/// <param name="GradientNorm">The global gradient norm before clipping.</param>
/// <param name="StepSeconds">Wall time of this step.</param>
public sealed record TrainingProgress(int Step, int TotalSteps, double Loss, double LearningRate, double GradientNorm, double StepSeconds);

/// <summary>Raised when the loss stops being finite; the last good checkpoint is left untouched.</summary>
public sealed class TrainingDivergedException(int step, double loss)
    : Exception($"loss became {loss.ToString(CultureInfo.InvariantCulture)} at step {step}; stopped without saving (the last good checkpoint is intact)")
{
    /// <summary>The step whose loss was not finite (1-based).</summary>
    public int Step { get; } = step;
}

/// <summary>What a trainer runs with besides its options: the objective, the device and the run's description.</summary>
/// <param name="Objective">The objective; null builds it from the options (<see cref="TrainingOptions.CreateObjective"/>).
/// The trainer owns and disposes it.</param>
/// <param name="Device">Where the model, the batches and the training generator live (default CPU).</param>
/// <param name="Description">What the caller records in <c>run.json</c> beside the options (model, data, …); on resume,
/// null keeps the stored one.</param>
public sealed record TrainerSetup(ITrainingObjective? Objective = null, Device? Device = null, JsonNode? Description = null);

/// <summary>
/// The training loop over any <see cref="ITrainableModel"/> and <see cref="ITrainingObjective"/>: AdamW (one per objective
/// stage) with warm-up + cosine decay, gradient accumulation and clipping, an EMA copy of the model, chunked
/// forward/backward, bf16, atomic checkpoints (model folders + optimizer, EMA and RNG state), exact resumption, a
/// checkpoint on cancellation (Ctrl-C) and <c>log.csv</c>.
/// </summary>
/// <remarks>
/// Run folder layout: <c>run.json</c> (options, plus the caller's <see cref="Description"/> under <c>description</c>),
/// <c>log.csv</c> (one line per step: <c>step,loss,lr,grad_norm,step_seconds</c> of the first stage, then
/// <c>loss_NAME,grad_norm_NAME</c> for every further stage, so a GAN's generator loss sits beside its discriminator's), <c>checkpoints/step-NNNNNNNN/</c> holding <c>model/</c> and <c>ema/</c> (each a
/// folder <see cref="TrainableModels.Load"/> reopens), <c>optimizer.bin</c> (<c>optimizer-NAME.bin</c> per stage when the
/// objective has several) and <c>training_state.json</c>, and <c>checkpoints/latest</c> naming the newest complete one. A checkpoint is written into a
/// temporary folder and renamed into place before <c>latest</c> is replaced (atomically), so a kill at any moment leaves the
/// previous checkpoint current and intact.
/// </remarks>
public sealed class Trainer : IDisposable
{
    /// <summary>The file under <c>checkpoints/</c> that names the newest complete checkpoint.</summary>
    public const string LatestFile = "latest";

    /// <summary>The run's options file.</summary>
    public const string RunFile = "run.json";

    private const string DescriptionKey = "description";

    private readonly Data.DataLoader _loader;
    private IEnumerator<Batch>? _batches;
    private readonly ITrainingObjective _objective;
    private readonly IReadOnlyList<ObjectiveStage> _stages;
    private readonly AdamW[] _optimizers;
    private readonly ExponentialMovingAverage _ema;
    private readonly Generator _generator;
    private readonly StreamWriter _log;

    private Trainer(string runDir, TrainingOptions options, ITrainableModel model, ITrainableModel ema, SampleDataset data, TrainerSetup setup, JsonNode? description)
    {
        RunDirectory = runDir;
        Options = options;
        Device = setup.Device ?? CPU;
        Description = description;
        model.Module.to(Device);
        ema.Module.to(Device);
        Model = model;
        EmaModel = ema;
        int microBatch = options.BatchSize / options.GradientAccumulation;
        _loader = new Data.DataLoader(data, new DataLoaderOptions(microBatch, options.Seed, RandomHorizontalFlip: options.RandomFlip));
        ChunkSize = options.ChunkSize > 0 ? Math.Min(options.ChunkSize, microBatch) : model.ChunkSizeFor(microBatch, data.SampleShape);
        _objective = setup.Objective ?? options.CreateObjective();
        _stages = _objective.Stages(model);
        if (_stages.Count == 0 || _stages.Select(s => s.Name).Distinct(StringComparer.Ordinal).Count() != _stages.Count)
            throw new ArgumentException("an objective needs at least one stage, with distinct names", nameof(setup));
        _optimizers = _stages.Select(s => torch.optim.AdamW(s.Parameters, options.LearningRate, options.AdamBeta1, options.AdamBeta2, options.AdamEpsilon, options.WeightDecay)).ToArray();
        _ema = new ExponentialMovingAverage(ema.Module, model.Module, options.EmaMaxDecay, power: options.EmaPower);
        _generator = new Generator(unchecked((ulong)options.Seed * 2862933555777941757UL + 3037000493UL), Device);
        _log = new StreamWriter(new FileStream(TrainingLog.PathOf(runDir), FileMode.Append, FileAccess.Write, FileShare.Read));
        if (_log.BaseStream.Position == 0)
            _log.WriteLine(TrainingLog.Header(_stages.Select(st => st.Name)));
    }

    /// <summary>The run folder.</summary>
    public string RunDirectory { get; }

    /// <summary>The run's options.</summary>
    public TrainingOptions Options { get; }

    /// <summary>Where the model and the batches live.</summary>
    public Device Device { get; }

    /// <summary>What the caller stored in <c>run.json</c> beside the options (null if nothing).</summary>
    public JsonNode? Description { get; }

    /// <summary>The objective being minimised.</summary>
    public ITrainingObjective Objective => _objective;

    /// <summary>
    /// Samples per forward/backward pass: <see cref="TrainingOptions.ChunkSize"/>, or the model's automatic choice for
    /// this data when that is 0.
    /// </summary>
    public int ChunkSize { get; }

    /// <summary>The model being trained.</summary>
    public ITrainableModel Model { get; }

    /// <summary>The EMA copy of <see cref="Model"/>.</summary>
    public ITrainableModel EmaModel { get; }

    /// <summary>Optimizer steps completed.</summary>
    public int Step { get; private set; }

    /// <summary>Called after every optimizer step.</summary>
    public event Action<TrainingProgress>? Progress;

    /// <summary>Called every <see cref="TrainingOptions.SampleEvery"/> steps with the EMA model (e.g. to draw a grid).</summary>
    public event Action<int, ITrainableModel>? SampleRequested;

    /// <summary>Called after each checkpoint with its folder.</summary>
    public event Action<string>? CheckpointSaved;

    /// <summary>Test hook: runs between writing a checkpoint's files and publishing it (a throw simulates a kill mid-save).</summary>
    internal Action<string>? BeforeCheckpointPublish { get; set; }

    /// <summary>
    /// Starts a new run in <paramref name="runDir"/> (which must not hold a run already). <paramref name="createModel"/>
    /// is called twice after seeding torch with <see cref="TrainingOptions.Seed"/>: the model, then its EMA copy; the
    /// trainer owns both.
    /// </summary>
    public static Trainer Create(string runDir, TrainingOptions options, Func<ITrainableModel> createModel, SampleDataset data, TrainerSetup? setup = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(createModel);
        ArgumentNullException.ThrowIfNull(data);
        options.Validate();
        setup ??= new TrainerSetup();
        Directory.CreateDirectory(runDir);
        if (File.Exists(Path.Combine(runDir, RunFile)))
            throw new InvalidOperationException($"{runDir}: already holds a run; resume it or choose another folder");
        torch.manual_seed(options.Seed);
        var model = createModel();
        var ema = createModel();
        ema.Module.eval();
        model.Precision = options.Precision;
        WriteRunFile(runDir, options, setup.Description);
        return new Trainer(runDir, options, model, ema, data, setup, setup.Description);
    }

    /// <summary>The options and description stored in a run's <c>run.json</c>.</summary>
    /// <exception cref="InvalidDataException">No run, or a malformed file.</exception>
    public static (TrainingOptions Options, JsonNode? Description) ReadRunFile(string runDir)
    {
        string runJson = Path.Combine(runDir, RunFile);
        if (!File.Exists(runJson))
            throw new InvalidDataException($"{runJson}: no run to resume");
        try
        {
            string text = File.ReadAllText(runJson);
            var options = JsonSerializer.Deserialize<TrainingOptions>(text, TrainingOptions.Json)
                ?? throw new InvalidDataException($"{runJson}: empty");
            var description = JsonNode.Parse(text)?[DescriptionKey]?.DeepClone();
            return (options, description);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{runJson}: malformed ({e.Message})", e);
        }
    }

    private static void WriteRunFile(string runDir, TrainingOptions options, JsonNode? description)
    {
        var node = JsonSerializer.SerializeToNode(options, TrainingOptions.Json)!.AsObject();
        if (description is not null)
            node[DescriptionKey] = description.DeepClone();
        string text = node.ToJsonString(TrainingOptions.Json);
        string path = Path.Combine(runDir, RunFile);
        if (!File.Exists(path) || File.ReadAllText(path) != text)
            AtomicFile.WriteAllText(path, text);
    }

    /// <summary>
    /// Reopens the run in <paramref name="runDir"/> at its latest complete checkpoint, with its stored options, or with
    /// <paramref name="options"/> when given (validated and written to <c>run.json</c> when they differ).
    /// </summary>
    /// <exception cref="InvalidDataException">No run, or no complete checkpoint.</exception>
    public static Trainer Resume(string runDir, SampleDataset data, TrainingOptions? options = null, TrainerSetup? setup = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        setup ??= new TrainerSetup();
        var (stored, storedDescription) = ReadRunFile(runDir);
        var description = setup.Description ?? storedDescription;
        string checkpoint = LatestCheckpoint(runDir)
            ?? throw new InvalidDataException($"{runDir}: has no complete checkpoint to resume from");
        options ??= stored;
        options.Validate();
        WriteRunFile(runDir, options, description);
        var model = TrainableModels.Load(Path.Combine(checkpoint, "model"));
        var ema = TrainableModels.Load(Path.Combine(checkpoint, "ema"));
        ema.Module.eval();
        model.Precision = options.Precision;
        var trainer = new Trainer(runDir, options, model, ema, data, setup, description);
        trainer.LoadState(checkpoint);
        return trainer;
    }

    /// <summary>The newest complete checkpoint folder of a run, or null.</summary>
    public static string? LatestCheckpoint(string runDir)
    {
        string latest = Path.Combine(runDir, "checkpoints", LatestFile);
        if (!File.Exists(latest))
            return null;
        string dir = Path.Combine(runDir, "checkpoints", File.ReadAllText(latest).Trim());
        return Directory.Exists(dir) ? dir : null;
    }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.Steps"/> (or <paramref name="stopAfter"/> more steps), checkpointing on the way
    /// and at the end. Cancellation saves a checkpoint at the current step and returns.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    public void Run(CancellationToken cancellationToken = default, int? stopAfter = null)
    {
        int target = stopAfter is { } n ? Math.Min(Options.Steps, Step + n) : Options.Steps;
        Model.Module.train();
        while (Step < target)
        {
            if (cancellationToken.IsCancellationRequested)
                break;
            TrainStep();
            if (Step % Options.CheckpointEvery == 0 || Step == Options.Steps)
                SaveCheckpoint();
            if (Options.SampleEvery > 0 && Step % Options.SampleEvery == 0)
                SampleRequested?.Invoke(Step, EmaModel);
        }
        if (LatestCheckpoint(RunDirectory) is not { } last || !last.EndsWith(CheckpointName(Step), StringComparison.Ordinal))
            SaveCheckpoint();
        _log.Flush();
    }

    private void TrainStep()
    {
        var watch = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        double lr = LearningRateSchedule.At(Step, Options.LearningRate, Options.WarmupSteps, Options.Steps, Options.MinLearningRateRatio);
        // Every stage sees the same micro-batches (a GAN's discriminator and generator steps train on one batch).
        var micro = new List<Batch>(Options.GradientAccumulation);
        try
        {
            var losses = new double[_stages.Count];
            var norms = new double[_stages.Count];
            for (int s = 0; s < _stages.Count; s++)
            {
                var optimizer = _optimizers[s];
                foreach (var group in optimizer.ParamGroups)
                    group.LearningRate = lr;
                optimizer.zero_grad();
                double lossSum = 0;
                for (int a = 0; a < Options.GradientAccumulation; a++)
                {
                    using var microScope = NewDisposeScope();
                    if (micro.Count <= a)
                        micro.Add(NextBatch());
                    double value = _objective.Backward(Model, OnDevice(micro[a]), s, _generator, ChunkSize, 1.0 / Options.GradientAccumulation);
                    if (!double.IsFinite(value))
                        throw new TrainingDivergedException(Step + 1, value);   // before the optimizer step: the weights stay as they were
                    lossSum += value;
                }
                double norm = Options.GradientClip > 0
                    ? nn.utils.clip_grad_norm_(_stages[s].Parameters, Options.GradientClip)
                    : double.NaN;
                optimizer.step();
                (losses[s], norms[s]) = (lossSum / Options.GradientAccumulation, norm);
            }
            _ema.Update();
            Step++;
            double seconds = watch.Elapsed.TotalSeconds;
            _log.WriteLine(TrainingLog.Line(Step, losses, lr, norms, seconds));
            _log.Flush(); // a line per step: cheap next to the step, and the log survives a kill
            Progress?.Invoke(new TrainingProgress(Step, Options.Steps, losses[0], lr, norms[0], seconds));
        }
        finally
        {
            foreach (var b in micro)
                b.Dispose();
        }
    }

    private Batch NextBatch()
    {
        _batches ??= _loader.Batches((long)Step * Options.GradientAccumulation).GetEnumerator();
        _batches.MoveNext();
        return _batches.Current;
    }

    /// <summary>The batch on <see cref="Device"/> (the batch itself on the CPU; else copies owned by the current scope).</summary>
    private Batch OnDevice(Batch batch) =>
        Device.type == DeviceType.CPU ? batch : batch with { Samples = batch.Samples.to(Device), Labels = batch.Labels.to(Device) };

    /// <summary>The label that stands for "no class" (classifier-free guidance's unconditional input), −1 when none.</summary>
    public long NullClass => Model.NullClassLabel ?? -1;

    /// <summary>Writes a checkpoint for the current step and publishes it; returns its folder.</summary>
    public string SaveCheckpoint()
    {
        _log.Flush();
        string root = Path.Combine(RunDirectory, "checkpoints");
        Directory.CreateDirectory(root);
        string name = CheckpointName(Step);
        string final = Path.Combine(root, name);
        string temp = Path.Combine(root, $".tmp-{name}-{Environment.ProcessId}");
        if (Directory.Exists(temp))
            Directory.Delete(temp, true);
        Directory.CreateDirectory(temp);
        Model.SavePretrained(Path.Combine(temp, "model"));
        EmaModel.SavePretrained(Path.Combine(temp, "ema"));
        for (int s = 0; s < _stages.Count; s++)
        {
            var optimizer = _optimizers[s];
            AtomicFile.Write(Path.Combine(temp, OptimizerFile(s)), stream =>
            {
                using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
                optimizer.save_state_dict(writer);
            });
        }
        var state = new TrainingState(Step, _ema.Updates, Options.Seed, Convert.ToBase64String(GeneratorState()));
        AtomicFile.WriteAllText(Path.Combine(temp, "training_state.json"), JsonSerializer.Serialize(state, TrainingOptions.Json));
        BeforeCheckpointPublish?.Invoke(temp);
        if (Directory.Exists(final))
            Directory.Delete(final, true);
        Directory.Move(temp, final);
        AtomicFile.WriteAllText(Path.Combine(root, LatestFile), name);
        PruneCheckpoints(root, name);
        CheckpointSaved?.Invoke(final);
        return final;
    }

    /// <summary>optimizer.bin for a one-stage objective (the layout of every earlier run), optimizer-NAME.bin per stage otherwise.</summary>
    private string OptimizerFile(int stage) => _stages.Count == 1 ? "optimizer.bin" : $"optimizer-{_stages[stage].Name}.bin";

    private void PruneCheckpoints(string root, string keep)
    {
        var old = Directory.GetDirectories(root, "step-*")
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => n != keep)
            .OrderByDescending(n => n, StringComparer.Ordinal)
            .Skip(Options.KeepCheckpoints - 1);
        foreach (var n in old)
            Directory.Delete(Path.Combine(root, n), true);
    }

    private byte[] GeneratorState()
    {
        using var state = _generator.get_state();
        return state.bytes.ToArray();
    }

    private void LoadState(string checkpoint)
    {
        string statePath = Path.Combine(checkpoint, "training_state.json");
        TrainingState state;
        try
        {
            state = JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(statePath), TrainingOptions.Json)
                ?? throw new InvalidDataException($"{statePath}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{statePath}: malformed ({e.Message})", e);
        }
        Step = state.Step;
        _ema.Updates = state.EmaUpdates;
        for (int s = 0; s < _stages.Count; s++)
        {
            using var reader = new BinaryReader(File.OpenRead(Path.Combine(checkpoint, OptimizerFile(s))));
            _optimizers[s].load_state_dict(reader);
        }
        var bytes = Convert.FromBase64String(state.RngState);
        using var rng = torch.tensor(bytes, dtype: ScalarType.Byte);
        _generator.set_state(rng);
    }

    private static string CheckpointName(int step) => $"step-{step:D8}";


    /// <inheritdoc />
    public void Dispose()
    {
        _batches?.Dispose();
        _log.Dispose();
        foreach (var optimizer in _optimizers)
            optimizer.Dispose();
        _generator.Dispose();
        _objective.Dispose();
        Model.Dispose();
        EmaModel.Dispose();
    }

    private sealed record TrainingState(int Step, long EmaUpdates, long Seed, string RngState);
}

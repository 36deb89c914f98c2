using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DiffusionSharp.Data;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Schedules;
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

/// <summary>
/// The training loop: AdamW with warm-up + cosine decay, gradient accumulation and clipping, an EMA copy of the network,
/// atomic checkpoints (diffusers folders + optimizer, EMA and RNG state) and exact resumption.
/// </summary>
/// <remarks>
/// Run folder layout: <c>run.json</c> (options), <c>log.csv</c> (one line per step), <c>checkpoints/step-NNNNNNNN/</c>
/// holding <c>model/</c> and <c>ema/</c> (each a diffusers UNet2DModel folder), <c>optimizer.bin</c> and
/// <c>training_state.json</c>, and <c>checkpoints/latest</c> naming the newest complete one. A checkpoint is written into a
/// temporary folder and renamed into place before <c>latest</c> is replaced (atomically), so a kill at any moment leaves the
/// previous checkpoint current and intact.
/// </remarks>
public sealed class Trainer : IDisposable
{
    /// <summary>The file under <c>checkpoints/</c> that names the newest complete checkpoint.</summary>
    public const string LatestFile = "latest";

    private readonly Data.DataLoader _loader;
    private IEnumerator<Batch>? _batches;
    private readonly DiffusionLoss _loss;
    private readonly AdamW _optimizer;
    private readonly ExponentialMovingAverage _ema;
    private readonly Generator _generator;
    private readonly StreamWriter _log;

    private Trainer(string runDir, TrainingOptions options, UNet2DModel model, UNet2DModel ema, ImageDataset data)
    {
        RunDirectory = runDir;
        Options = options;
        Model = model;
        EmaModel = ema;
        int microBatch = options.BatchSize / options.GradientAccumulation;
        _loader = new Data.DataLoader(data, new DataLoaderOptions(microBatch, options.Seed, RandomHorizontalFlip: options.RandomFlip));
        ChunkSize = options.ChunkSize > 0 ? Math.Min(options.ChunkSize, microBatch) : model.AutoChunkSize(microBatch, data.Height, data.Width);
        _loss = new DiffusionLoss(new NoiseSchedule(options.Schedule), options.Prediction, options.Weighting, options.SnrGamma);
        _optimizer = torch.optim.AdamW(model.parameters(), options.LearningRate, options.AdamBeta1, options.AdamBeta2, options.AdamEpsilon, options.WeightDecay);
        _ema = new ExponentialMovingAverage(ema, model, options.EmaMaxDecay, power: options.EmaPower);
        _generator = new Generator(unchecked((ulong)options.Seed * 2862933555777941757UL + 3037000493UL));
        _log = new StreamWriter(new FileStream(Path.Combine(runDir, "log.csv"), FileMode.Append, FileAccess.Write, FileShare.Read));
        if (_log.BaseStream.Position == 0)
            _log.WriteLine("step,loss,lr,grad_norm,step_seconds");
    }

    /// <summary>The run folder.</summary>
    public string RunDirectory { get; }

    /// <summary>The run's options.</summary>
    public TrainingOptions Options { get; }

    /// <summary>
    /// Images per forward/backward pass: <see cref="TrainingOptions.ChunkSize"/>, or the U-Net's automatic choice for
    /// this data when that is 0.
    /// </summary>
    public int ChunkSize { get; }

    /// <summary>The network being trained.</summary>
    public UNet2DModel Model { get; }

    /// <summary>The EMA copy of <see cref="Model"/>.</summary>
    public UNet2DModel EmaModel { get; }

    /// <summary>Optimizer steps completed.</summary>
    public int Step { get; private set; }

    /// <summary>Called after every optimizer step.</summary>
    public event Action<TrainingProgress>? Progress;

    /// <summary>Called every <see cref="TrainingOptions.SampleEvery"/> steps with the EMA model (e.g. to draw a grid).</summary>
    public event Action<int, UNet2DModel>? SampleRequested;

    /// <summary>Called after each checkpoint with its folder.</summary>
    public event Action<string>? CheckpointSaved;

    /// <summary>Test hook: runs between writing a checkpoint's files and publishing it (a throw simulates a kill mid-save).</summary>
    internal Action<string>? BeforeCheckpointPublish { get; set; }

    /// <summary>Starts a new run in <paramref name="runDir"/> (which must not hold a run already).</summary>
    public static Trainer Create(string runDir, TrainingOptions options, UNet2DConfig modelConfig, ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Directory.CreateDirectory(runDir);
        if (File.Exists(Path.Combine(runDir, "run.json")))
            throw new InvalidOperationException($"{runDir}: already holds a run; resume it or choose another folder");
        AtomicFile.WriteAllText(Path.Combine(runDir, "run.json"), JsonSerializer.Serialize(options, TrainingOptions.Json));
        torch.manual_seed(options.Seed);
        var model = new UNet2DModel(modelConfig);
        var ema = new UNet2DModel(modelConfig);
        ema.eval();
        model.Precision = options.Precision;
        return new Trainer(runDir, options, model, ema, data);
    }

    /// <summary>Reopens the run in <paramref name="runDir"/> at its latest complete checkpoint.</summary>
    /// <exception cref="InvalidDataException">No run, or no complete checkpoint.</exception>
    public static Trainer Resume(string runDir, ImageDataset data, int? steps = null)
    {
        string runJson = Path.Combine(runDir, "run.json");
        if (!File.Exists(runJson))
            throw new InvalidDataException($"{runJson}: no run to resume");
        TrainingOptions options;
        try
        {
            options = JsonSerializer.Deserialize<TrainingOptions>(File.ReadAllText(runJson), TrainingOptions.Json)
                ?? throw new InvalidDataException($"{runJson}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{runJson}: malformed ({e.Message})", e);
        }
        if (steps is { } s && s != options.Steps)
        {
            options = options with { Steps = s };
            AtomicFile.WriteAllText(runJson, JsonSerializer.Serialize(options, TrainingOptions.Json));
        }
        string checkpoint = LatestCheckpoint(runDir)
            ?? throw new InvalidDataException($"{runDir}: has no complete checkpoint to resume from");
        var model = UNet2DModel.FromPretrained(Path.Combine(checkpoint, "model"));
        var ema = UNet2DModel.FromPretrained(Path.Combine(checkpoint, "ema"));
        ema.eval();
        model.Precision = options.Precision;
        var trainer = new Trainer(runDir, options, model, ema, data);
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
        Model.train();
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
        foreach (var group in _optimizer.ParamGroups)
            group.LearningRate = lr;
        _optimizer.zero_grad();
        double lossSum = 0;
        for (int a = 0; a < Options.GradientAccumulation; a++)
        {
            using var microScope = NewDisposeScope();
            _batches ??= _loader.Batches((long)Step * Options.GradientAccumulation).GetEnumerator();
            _batches.MoveNext();
            using var batch = _batches.Current;
            var (x0, labels) = (batch.Images, batch.Labels);
            double value = _loss.Backward(Model, x0, Options.ClassConditional ? labels : null, _generator,
                Options.ClassConditional ? Options.LabelDropout : 0.0, NullClass, ChunkSize, 1.0 / Options.GradientAccumulation);
            if (!double.IsFinite(value))
                throw new TrainingDivergedException(Step + 1, value);   // before the optimizer step: the weights stay as they were
            lossSum += value;
        }
        double norm = Options.GradientClip > 0
            ? nn.utils.clip_grad_norm_(Model.parameters(), Options.GradientClip)
            : double.NaN;
        _optimizer.step();
        _ema.Update();
        Step++;
        double meanLoss = lossSum / Options.GradientAccumulation;
        double seconds = watch.Elapsed.TotalSeconds;
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Step},{meanLoss:G6},{lr:G6},{norm:G6},{seconds:F4}"));
        _log.Flush(); // a line per step: cheap next to the step, and the log survives a kill
        Progress?.Invoke(new TrainingProgress(Step, Options.Steps, meanLoss, lr, norm, seconds));
    }

    /// <summary>The label that stands for "no class" (classifier-free guidance's unconditional input).</summary>
    public long NullClass => Model.Config.NumClassEmbeds is { } n ? n - 1 : -1;

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
        AtomicFile.Write(Path.Combine(temp, "optimizer.bin"), s =>
        {
            using var writer = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true);
            _optimizer.save_state_dict(writer);
        });
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
        using (var reader = new BinaryReader(File.OpenRead(Path.Combine(checkpoint, "optimizer.bin"))))
            _optimizer.load_state_dict(reader);
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
        _optimizer.Dispose();
        _generator.Dispose();
        _loss.Dispose();
        Model.Dispose();
        EmaModel.Dispose();
    }

    private sealed record TrainingState(int Step, long EmaUpdates, long Seed, string RngState);
}

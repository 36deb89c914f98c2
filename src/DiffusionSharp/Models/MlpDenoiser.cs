using DiffusionSharp.Denoisers;
using DiffusionSharp.IO;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Training;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models;

/// <summary>
/// A residual MLP that predicts ε (or x₀, v) for D-dimensional points: the network of the 2-D toy experiments
/// (e.g. Sohl-Dickstein et al. 2015's Swiss roll), built from the same time embedding as <see cref="UNet2DModel"/>.
/// </summary>
/// <remarks>
/// <para>Forward: t → time_proj (sinusoid, flip_sin_to_cos, shift 0, as diffusers' UNet2DModel) → time_embedding MLP
/// (+ class embedding) = emb; x [B, D] → input_proj → <see cref="MlpDenoiserConfig.NumBlocks"/> ×
/// <see cref="MlpResidualBlock"/>(·, emb) → output_proj → [B, D].</para>
/// <para>The read-out is linear in the residual stream, with no final norm: the stream holds input_proj(x) unnormalised,
/// so ε̂ can grow with |x| as the true ε̂ ≈ x_t/σ_t does at high noise. A LayerNorm before the read-out makes ε̂ scale-free
/// in x; the network then under-predicts ε in the tails of N(0, I), x̂₀ overshoots, and deterministic samplers
/// (DDIM, DPM-Solver++) were measured to throw a few points out to |x| ≈ 75.</para>
/// <para>A class-conditional network (<see cref="MlpDenoiserConfig.NumClasses"/> &gt; 0) has one extra embedding row,
/// the null class <see cref="MlpDenoiserConfig.NullClassId"/>, for classifier-free guidance; no labels means that class.</para>
/// <para>Checkpoints are a folder with <c>config.json</c> and <c>model.safetensors</c> (<see cref="SavePretrained"/>).</para>
/// </remarks>
public sealed class MlpDenoiser : nn.Module<Tensor, Tensor, Tensor?, Tensor>, IDiffusionNetwork, ITrainableModel
{
    /// <summary>The config file name of a saved model.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file name of a saved model.</summary>
    public const string WeightsFileName = "model.safetensors";

    [ComponentName(Name = "time_proj")] private readonly Timesteps _timeProj;
    [ComponentName(Name = "time_embedding")] private readonly TimestepEmbedding _timeEmbedding;
    [ComponentName(Name = "class_embedding")] private readonly ClassEmbeddingTable? _classEmbedding;
    [ComponentName(Name = "input_proj")] private readonly Linear _inputProj;
    [ComponentName(Name = "blocks")] private readonly ModuleList<MlpResidualBlock> _blocks;
    [ComponentName(Name = "output_proj")] private readonly Linear _outputProj;

    private readonly LayerContext _ctx = new();

    /// <summary>Builds a freshly initialised network (PyTorch's default init; LayerNorm weight 1, bias 0).</summary>
    /// <exception cref="ArgumentException">The config is invalid (the message names the key).</exception>
    public MlpDenoiser(MlpDenoiserConfig config) : base(nameof(MlpDenoiser))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        _timeProj = new Timesteps(config.Width, flipSinToCos: true, freqShift: 0);
        _timeEmbedding = new TimestepEmbedding(_ctx, config.Width, config.TimeEmbedDim, "time_embedding");
        if (config.NumClasses > 0)
            _classEmbedding = new ClassEmbeddingTable(config.NumClasses + 1, config.TimeEmbedDim);
        _inputProj = nn.Linear(config.Dimensions, config.Width);
        _blocks = new ModuleList<MlpResidualBlock>();
        for (int i = 0; i < config.NumBlocks; i++)
            _blocks.Add(new MlpResidualBlock(_ctx, config.Width, config.TimeEmbedDim, config.NormEps));
        _outputProj = nn.Linear(config.Width, config.Dimensions);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public MlpDenoiserConfig Config { get; }

    /// <summary>Arithmetic of the linear layers (default <see cref="ComputePrecision.Full"/>); norms and residuals stay float32.</summary>
    public ComputePrecision Precision
    {
        get => _ctx.Precision;
        set => _ctx.Precision = value;
    }

    /// <summary>Number of scalar parameters.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>
    /// Predicts from <paramref name="sample"/> [B, D] at <paramref name="timesteps"/> (a scalar, [1] or [B], float or
    /// int64) with optional <paramref name="classLabels"/> ([B] int64 in [0, NumClasses], NumClasses being the null
    /// class; null means the null class). Returns [B, D].
    /// </summary>
    /// <exception cref="ArgumentException">A shape, dtype or label does not fit the model.</exception>
    public override Tensor forward(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(timesteps);
        if (sample.dim() != 2 || sample.shape[1] != Config.Dimensions || !sample.is_floating_point())
            throw new ArgumentException($"sample must be floating point [B, {Config.Dimensions}], got {sample.dtype} [{string.Join(", ", sample.shape)}]", nameof(sample));
        using var scope = NewDisposeScope();
        long batch = sample.shape[0];
        var dtype = _inputProj.weight.dtype;
        var t = timesteps.dim() == 0 ? timesteps.unsqueeze(0) : timesteps;
        if (t.dim() != 1 || (t.shape[0] != batch && t.shape[0] != 1))
            throw new ArgumentException($"timesteps must be a scalar, [1] or [{batch}], got [{string.Join(", ", timesteps.shape)}]", nameof(timesteps));
        t = t.to(sample.device).expand(batch);
        var emb = _timeEmbedding.call(_timeProj.call(t).to(dtype));
        if (_classEmbedding is not null)
            emb = emb + _classEmbedding.call(Labels(classLabels, batch, sample.device)).to(dtype);
        else if (classLabels is not null)
            throw new ArgumentException("this model has no class embedding: pass no class labels", nameof(classLabels));

        var h = Ops.Linear(_ctx, _inputProj, sample.to(dtype));
        foreach (var block in _blocks)
            h = block.call(h, emb);
        return Ops.Linear(_ctx, _outputProj, h).to(sample.dtype).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels) => call(sample, timesteps, classLabels);

    /// <inheritdoc/>
    nn.Module ITrainableModel.Module => this;

    /// <inheritdoc/>
    string ITrainableModel.ClassName => MlpDenoiserConfig.ClassName;

    /// <inheritdoc/>
    public long? NullClassLabel => Config.NullClassId;

    /// <inheritdoc/>
    public string ConfigJson() => Config.ToJson();

    /// <inheritdoc/>
    /// <remarks>The largest activation of a point is a block's hidden state (width floats, a few alive at once).</remarks>
    /// <exception cref="ArgumentException">The sample shape is not [D].</exception>
    public int ChunkSizeFor(long batch, IReadOnlyList<long> sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (sampleShape.Count != 1 || sampleShape[0] != Config.Dimensions)
            throw new ArgumentException($"an MlpDenoiser takes samples [{Config.Dimensions}], not [{string.Join(", ", sampleShape)}]", nameof(sampleShape));
        return BatchChunking.ChunkSize(batch, 4L * Math.Max(Config.Width, Config.TimeEmbedDim));
    }

    /// <summary>Writes <c>config.json</c> and <c>model.safetensors</c> (metadata <c>{"format": "pt"}</c>) to <paramref name="directory"/> (created if needed), each atomically.</summary>
    public void SavePretrained(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        using (var scope = NewDisposeScope())
        {
            var tensors = state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach(), StringComparer.Ordinal);
            SafeTensors.Save(Path.Combine(directory, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFileName), Config.ToJson());
    }

    /// <summary>Loads a folder written by <see cref="SavePretrained"/>.</summary>
    /// <exception cref="InvalidDataException">A file is missing or malformed, or a tensor does not fit; the message names the file and key.</exception>
    public static MlpDenoiser FromPretrained(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string configPath = Path.Combine(directory, ConfigFileName);
        string weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(configPath))
            throw new InvalidDataException($"{configPath}: not found (an MlpDenoiser folder holds {ConfigFileName} and {WeightsFileName})");
        if (!File.Exists(weightsPath))
            throw new InvalidDataException($"{weightsPath}: not found");
        string json;
        try
        {
            if (new FileInfo(configPath).Length > 1 << 20)
                throw new InvalidDataException($"{configPath}: too large for a config (limit 1 MiB)");
            json = File.ReadAllText(configPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{configPath}: cannot read ({e.Message})", e);
        }
        var config = MlpDenoiserConfig.Parse(json, configPath);

        // Check the header against the config before building the model or reading any tensor data.
        var (infos, _, _) = SafeTensors.ReadHeader(weightsPath);
        long stored = infos.Sum(i => i.Shape.Aggregate(1L, (a, d) => a * d));
        if (config.CountParameters() != stored)
            throw new InvalidDataException($"{weightsPath}: holds {stored} parameters, the config ({configPath}) needs {config.CountParameters()}");
        var model = new MlpDenoiser(config);
        try
        {
            SafeTensors.LoadInto(model, weightsPath, infos);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    private Tensor Labels(Tensor? classLabels, long batch, Device device)
    {
        long nullClass = Config.NullClassId!.Value;
        if (classLabels is null)
            return full(batch, nullClass, dtype: ScalarType.Int64, device: device);
        if (classLabels.dim() != 1 || classLabels.shape[0] != batch || classLabels.is_floating_point())
            throw new ArgumentException($"class labels must be [{batch}] integers, got {classLabels.dtype} [{string.Join(", ", classLabels.shape)}]", nameof(classLabels));
        var labels = classLabels.to(ScalarType.Int64, device);
        if (batch > 0 && (labels.min().item<long>() < 0 || labels.max().item<long>() > nullClass))
            throw new ArgumentException($"class labels must lie in [0, {nullClass}] ({nullClass} is the null class)", nameof(classLabels));
        return labels;
    }
}

using DiffusionSharp.Denoisers;
using DiffusionSharp.Models.Diffusers;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Models.Layers1D;
using DiffusionSharp.Training;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace DiffusionSharp.Models;

/// <summary>
/// diffusers' <c>UNet1DModel</c> (v0.38) with its module tree, so <c>state_dict()</c> keys are exactly diffusers'.
/// Both block families: the Dance Diffusion layout (Fourier features of continuous t concatenated to the input,
/// ResConvBlocks, 1-D self-attention, cubic FIR resampling; after k-diffusion's audio U-Net) and the ResNet layout of
/// Diffuser (Janner et al. 2022: sinusoidal t → MLP, residual temporal blocks, strided conv down / transposed conv up),
/// plus the value-function head.
/// </summary>
/// <remarks>
/// <para>Forward: t → time_proj (→ time_mlp) = temb; the ResConv family sees temb only through
/// <c>DownBlock1DNoSkip</c>, which concatenates it (repeated along the length) to the input; the ResNet family adds
/// W·mish(temb) inside every residual block. x → down blocks (one skip each) → mid block → up blocks (each consuming
/// the newest skip) → optional out block. Unlike UNet2DModel there is no division by σ for Fourier features.</para>
/// <para>Extension: <see cref="UNet1DConfig.NumClassEmbeds"/> adds a class table (see there for where it is added);
/// configs without it build diffusers' network exactly. Parameters are float32; <see cref="Precision"/> selects
/// bfloat16 products. Every convolution goes through <see cref="CpuConvolution"/>.</para>
/// </remarks>
public sealed class UNet1DModel : nn.Module<Tensor, Tensor, Tensor?, Tensor>, IDiffusionNetwork, ITrainableModel
{
    [ComponentName(Name = "time_proj")] private readonly nn.Module<Tensor, Tensor> _timeProj;
    [ComponentName(Name = "time_mlp")] private readonly TimestepEmbedding? _timeMlp;
    [ComponentName(Name = "class_embedding")] private readonly ClassEmbeddingTable? _classEmbedding;
    [ComponentName(Name = "down_blocks")] private readonly ModuleList<UNet1DDownBlock> _downBlocks = [];
    [ComponentName(Name = "up_blocks")] private readonly ModuleList<UNet1DUpBlock> _upBlocks = [];
    [ComponentName(Name = "mid_block")] private readonly UNet1DMidBlock _midBlock;
    [ComponentName(Name = "out_block")] private readonly nn.Module? _outBlock;

    private readonly LayerContext _ctx = new();
    private int _chunkSize;

    /// <summary>Builds a freshly initialised network (PyTorch's default init; GroupNorm weight 1, bias 0).</summary>
    /// <exception cref="ArgumentException">The config is invalid (the message names the key).</exception>
    public UNet1DModel(UNet1DConfig config) : base(nameof(UNet1DModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int c0 = config.BlockOutChannels[0];
        _timeProj = config.TimeEmbeddingType == TimeEmbeddingType.Fourier
            ? new GaussianFourierProjection(config.TimeProjDim / 2, 1.0, log: false, config.FlipSinToCos)
            : new Timesteps(c0, config.FlipSinToCos, config.FreqShift);
        if (config.UseTimestepEmbedding)
            _timeMlp = new TimestepEmbedding(_ctx, config.TimeProjDim, 4 * c0, "time_mlp", config.ActFn!.Value, c0);
        if (config.NumClassEmbeds is { } n)
            _classEmbedding = new ClassEmbeddingTable(n, config.ClassEmbedDim);
        foreach (var b in config.DownBlocks())
            _downBlocks.Add(new UNet1DDownBlock(_ctx, $"down_blocks.{b.Index}", config.DownBlockTypes[b.Index], b, config.LayersPerBlock, c0));
        _midBlock = new UNet1DMidBlock(_ctx, "mid_block", config.MidBlockType, config.BlockOutChannels[^1], config.LayersPerBlock, c0, config.DownsampleEachBlock);
        foreach (var b in config.UpBlocks())
            _upBlocks.Add(new UNet1DUpBlock(_ctx, $"up_blocks.{b.Index}", config.UpBlockTypes[b.Index], b, config.LayersPerBlock, c0));
        if (config.OutBlockType == UNet1DOutBlockType.OutConv1DBlock)
            _outBlock = new OutConv1DBlock(_ctx, "out_block", config.OutNormGroups, c0, config.OutChannels, config.ActFn!.Value);
        else if (config.OutBlockType == UNet1DOutBlockType.ValueFunction)
            _outBlock = new OutValueFunctionBlock(_ctx, "out_block", config.BlockOutChannels[^1] / 4, c0, config.ActFn!.Value);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public UNet1DConfig Config { get; }

    /// <summary>Arithmetic of convs, linears and attention products (default <see cref="ComputePrecision.Full"/>).</summary>
    public ComputePrecision Precision
    {
        get => _ctx.Precision;
        set => _ctx.Precision = value;
    }

    /// <summary>Number of scalar parameters (buffers excluded), as diffusers' <c>num_parameters()</c>.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Receives every traced module output under its diffusers module path during a forward pass (parity tests, debugging).</summary>
    internal Action<string, Tensor>? Trace
    {
        get => _ctx.Trace;
        set => _ctx.Trace = value;
    }

    /// <summary>
    /// Predicts from <paramref name="sample"/> [B, C, L] at <paramref name="timesteps"/> (a scalar, [1] or [B]; float
    /// or int64) with <paramref name="classLabels"/> [B] int64 when the config has <see cref="UNet1DConfig.NumClassEmbeds"/>.
    /// Returns [B, out_channels, L] ([B, 1] for the value-function head).
    /// </summary>
    public override Tensor forward(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(timesteps);
        CheckInput(sample);
        using var scope = NewDisposeScope();
        var dtype = sample.dtype;
        long batch = sample.shape[0], length = sample.shape[2];
        var t = UNet2DModel.BroadcastTimesteps(timesteps.to(sample.device), batch);
        var features = _timeProj.call(t);
        _ctx.Emit("time_proj", features);
        var classEmb = ClassEmbedding(classLabels, batch, sample.device);
        Tensor temb;
        if (_timeMlp is not null)
        {
            temb = _timeMlp.call(features.to(dtype));
            _ctx.Emit("time_mlp", temb);
            if (classEmb is not null)
                temb = temb + classEmb.to(dtype);
        }
        else
        {
            if (classEmb is not null)
                features = features + classEmb.to(features.dtype);
            temb = features.to(sample.dtype).unsqueeze(2).expand(batch, features.shape[1], length);
        }

        var h = sample;
        var skips = new Stack<Tensor>();
        foreach (var down in _downBlocks)
        {
            var (hidden, skip) = down.call(h, temb);
            h = hidden;
            skips.Push(skip);
        }
        h = _midBlock.call(h, temb);
        foreach (var up in _upBlocks)
            h = up.call(h, skips.Pop(), temb);
        if (_outBlock is OutConv1DBlock outConv)
            h = outConv.call(h);
        else if (_outBlock is OutValueFunctionBlock valueHead)
            h = valueHead.call(h, temb);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Most samples per forward pass when gradients are off: 0 (the default) chooses <see cref="AutoChunkSize"/>; a
    /// positive value caps the chunk at that. <see cref="Predict"/> runs larger batches as consecutive chunks.
    /// </summary>
    public int ChunkSize
    {
        get => _chunkSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _chunkSize = value;
        }
    }

    /// <summary>Elements of the widest activation one sample of <paramref name="length"/> produces (a block's input and output, or an up block's concatenation).</summary>
    public long LargestActivationPerSample(long length)
    {
        int level = 0;
        long largest = Config.InChannels * length;
        foreach (var b in Config.DownBlocks())
        {
            var type = Config.DownBlockTypes[b.Index];
            if (type is UNet1DDownBlockType.DownBlock1D or UNet1DDownBlockType.AttnDownBlock1D)
                level++;
            largest = Math.Max(largest, 2L * Math.Max(b.In, b.Out) * (length >> level));
            if (type == UNet1DDownBlockType.DownResnetBlock1D && b.AddResample)
                level++;
        }
        foreach (var b in Config.UpBlocks())
        {
            largest = Math.Max(largest, 2L * Math.Max(b.In, b.Out) * (length >> level));
            var type = Config.UpBlockTypes[b.Index];
            if (type is UNet1DUpBlockType.UpBlock1D or UNet1DUpBlockType.AttnUpBlock1D || (type == UNet1DUpBlockType.UpResnetBlock1D && b.AddResample))
                level = Math.Max(level - 1, 0);
        }
        return Math.Max(1, largest);
    }

    /// <summary>The chunk size <see cref="BatchChunking.ChunkSize"/> picks for <paramref name="batch"/> samples of <paramref name="length"/>.</summary>
    public int AutoChunkSize(long batch, long length) => BatchChunking.ChunkSize(batch, LargestActivationPerSample(length));

    /// <inheritdoc/>
    /// <remarks>With gradients off, a batch larger than the chunk size (<see cref="ChunkSize"/>) runs as chunks.</remarks>
    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(timesteps);
        if (is_grad_enabled() || sample.dim() != 3)
            return call(sample, timesteps, classLabels);
        long batch = sample.shape[0];
        int chunk = _chunkSize > 0 ? _chunkSize : AutoChunkSize(batch, sample.shape[2]);
        return BatchChunking.Predict(call, sample, timesteps, classLabels, chunk);
    }

    /// <inheritdoc/>
    nn.Module ITrainableModel.Module => this;

    /// <inheritdoc/>
    string ITrainableModel.ClassName => DiffusersUNet1DConfig.ClassName;

    /// <inheritdoc/>
    /// <remarks>The last class embedding when the model has them (trained with label dropout, it means "no class").</remarks>
    public long? NullClassLabel => Config.NumClassEmbeds is { } n ? n - 1 : null;

    /// <inheritdoc/>
    public string ConfigJson() => DiffusersUNet1DConfig.ToJson(Config);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The sample shape is not [C, L].</exception>
    public int ChunkSizeFor(long batch, IReadOnlyList<long> sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (sampleShape.Count != 2)
            throw new ArgumentException($"a UNet1DModel takes samples [C, L], not [{string.Join(", ", sampleShape)}]", nameof(sampleShape));
        return AutoChunkSize(batch, sampleShape[1]);
    }

    /// <summary>Loads a diffusers <c>UNet1DModel</c> folder (<c>config.json</c> + <c>diffusion_pytorch_model.safetensors</c>).</summary>
    /// <exception cref="InvalidDataException">A file is missing or malformed, or a tensor does not fit; the message names file and tensor/key.</exception>
    public static UNet1DModel FromPretrained(string directory) => DiffusersUNet1DCheckpoint.Load(directory);

    /// <summary>Writes a folder diffusers' <c>UNet1DModel.from_pretrained</c> loads unchanged (config.json + safetensors, buffers included).</summary>
    public void SavePretrained(string directory) => DiffusersUNet1DCheckpoint.Save(this, directory);

    private void CheckInput(Tensor sample)
    {
        if (sample.dim() != 3)
            throw new ArgumentException($"sample must be [B, C, L], got [{string.Join(", ", sample.shape)}]", nameof(sample));
        if (sample.shape[1] != Config.InChannels)
            throw new ArgumentException($"sample has {sample.shape[1]} channels, the model takes {Config.InChannels}", nameof(sample));
        if (!sample.is_floating_point())
            throw new ArgumentException($"sample must be floating point, got {sample.dtype}", nameof(sample));
        long length = sample.shape[2];
        bool valueHead = Config.OutBlockType == UNet1DOutBlockType.ValueFunction;
        if ((!valueHead && length % Config.LengthMultiple != 0) || length < Config.MinimumLength)
            throw new ArgumentException($"sample length must be a multiple of {Config.LengthMultiple} and at least {Config.MinimumLength}, got {length}", nameof(sample));
    }

    private Tensor? ClassEmbedding(Tensor? labels, long batch, Device device)
    {
        if (_classEmbedding is null)
        {
            return labels is null ? null
                : throw new ArgumentException("this model has no class embedding (num_class_embeds): pass no class labels", nameof(labels));
        }
        if (labels is null)
            throw new ArgumentException("this model is class-conditional (num_class_embeds): class labels are required", nameof(labels));
        if (labels.dim() != 1 || labels.shape[0] != batch)
            throw new ArgumentException($"class labels must be [{batch}], got [{string.Join(", ", labels.shape)}]", nameof(labels));
        UNet2DModel.CheckIndices(labels, _classEmbedding.NumClasses, nameof(labels));
        var emb = _classEmbedding.call(labels.to(device).to(ScalarType.Int64));
        _ctx.Emit("class_embedding", emb);
        return emb;
    }
}

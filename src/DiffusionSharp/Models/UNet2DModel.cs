using DiffusionSharp.Denoisers;
using DiffusionSharp.Models.Diffusers;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Training;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace DiffusionSharp.Models;

/// <summary>
/// The U-Net of DDPM (Ho et al. 2020, App. B) as diffusers' <c>UNet2DModel</c> (v0.38) builds it, with diffusers'
/// module tree, so that <c>state_dict()</c> keys are exactly diffusers' and checkpoints load in either library.
/// </summary>
/// <remarks>
/// <para>Forward: t → time_proj (sinusoid / Fourier / table) → time_embedding MLP (+ class embedding) = emb;
/// x → conv_in → down blocks (saving skips) → mid block → up blocks (consuming skips) → GroupNorm → SiLU → conv_out.
/// With Fourier features the output is divided by σ = t.</para>
/// <para>Parameters are float32; <see cref="Precision"/> chooses bfloat16 products. Convolutions go through
/// <see cref="CpuConvolution"/>, which avoids libtorch's wrong oneDNN CPU kernels.</para>
/// </remarks>
public sealed class UNet2DModel : nn.Module<Tensor, Tensor, Tensor?, Tensor>, IDiffusionNetwork, ITrainableModel
{
    // Registration order = state_dict order = diffusers' order. diffusers registers the (empty) up_blocks list
    // before it assigns the mid block, so mid_block's keys follow up_blocks'.
    [ComponentName(Name = "conv_in")] private readonly Conv2d _convIn;
    [ComponentName(Name = "time_proj")] private readonly nn.Module<Tensor, Tensor> _timeProj;
    [ComponentName(Name = "time_embedding")] private readonly TimestepEmbedding _timeEmbedding;
    [ComponentName(Name = "class_embedding")] private readonly nn.Module<Tensor, Tensor>? _classEmbedding;
    [ComponentName(Name = "down_blocks")] private readonly ModuleList<UNetDownBlock2D> _downBlocks;
    [ComponentName(Name = "up_blocks")] private readonly ModuleList<UNetUpBlock2D> _upBlocks;
    [ComponentName(Name = "mid_block")] private readonly UNetMidBlock2D? _midBlock;
    [ComponentName(Name = "conv_norm_out")] private readonly GroupNorm _convNormOut;
    [ComponentName(Name = "conv_act")] private readonly SiLU _convAct;
    [ComponentName(Name = "conv_out")] private readonly Conv2d _convOut;

    private readonly LayerContext _ctx = new();

    /// <summary>Builds a freshly initialised network (PyTorch's default init; GroupNorm weight 1, bias 0).</summary>
    /// <exception cref="ArgumentException">The config is invalid (the message names the key).</exception>
    public UNet2DModel(UNet2DConfig config) : base(nameof(UNet2DModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        var ch = config.BlockOutChannels;
        long embDim = config.TimeEmbedDim;
        long c0 = ch[0];

        _convIn = nn.Conv2d(config.InChannels, c0, 3, padding: 1);
        long timeInputDim;
        switch (config.TimeEmbeddingType)
        {
            case TimeEmbeddingType.Fourier:
                _timeProj = new GaussianFourierProjection(c0, scale: 16);
                timeInputDim = 2 * c0;
                break;
            case TimeEmbeddingType.Learned:
                _timeProj = new LearnedTimesteps(config.NumTrainTimesteps!.Value, c0);
                timeInputDim = c0;
                break;
            default:
                _timeProj = new Timesteps(c0, config.FlipSinToCos, config.FreqShift);
                timeInputDim = c0;
                break;
        }
        _timeEmbedding = new TimestepEmbedding(_ctx, timeInputDim, embDim, "time_embedding");
        _classEmbedding = config.ClassEmbedType switch
        {
            null when config.NumClassEmbeds is { } n => new ClassEmbeddingTable(n, embDim),
            Models.ClassEmbedType.Timestep => new TimestepEmbedding(_ctx, timeInputDim, embDim, "class_embedding"),
            Models.ClassEmbedType.Identity => nn.Identity(),
            _ => null,
        };

        var rs = new ResnetSettings(embDim, config.NormNumGroups, config.NormEps, config.Dropout, config.ActFn, config.ResnetTimeScaleShift);
        _downBlocks = new ModuleList<UNetDownBlock2D>();
        long output = c0;
        for (int i = 0; i < ch.Length; i++)
        {
            long input = output;
            output = ch[i];
            _downBlocks.Add(new UNetDownBlock2D(_ctx, $"down_blocks.{i}", config.DownBlockTypes[i], config.LayersPerBlock, input, output, rs,
                addDownsample: i < ch.Length - 1, config.DownsampleType, config.DownsamplePadding, config.HeadDimFor(ch[i])));
        }
        if (config.MidBlockType is not null)
        {
            _midBlock = new UNetMidBlock2D(_ctx, "mid_block", ch[^1], rs, config.MidBlockScaleFactor, config.AddAttention,
                config.HeadDimFor(ch[^1]), config.AttnNormNumGroups);
        }
        _upBlocks = new ModuleList<UNetUpBlock2D>();
        foreach (var up in config.UpBlocks())
        {
            _upBlocks.Add(new UNetUpBlock2D(_ctx, $"up_blocks.{up.Index}", config.UpBlockTypes[up.Index], up, rs,
                addUpsample: up.Level > 0, config.UpsampleType, config.HeadDimFor((int)up.Output)));
        }
        _convNormOut = Ops.NewGroupNorm(config.NormNumGroups, c0, config.NormEps);
        _convAct = nn.SiLU();
        _convOut = nn.Conv2d(c0, config.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public UNet2DConfig Config { get; }

    /// <summary>Arithmetic of convs, linears and attention products (default <see cref="ComputePrecision.Full"/>).</summary>
    public ComputePrecision Precision
    {
        get => _ctx.Precision;
        set => _ctx.Precision = value;
    }

    /// <summary>Number of scalar parameters (trainable or not), as diffusers' <c>num_parameters()</c>.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>
    /// Receives every traced module output under its diffusers module path (<c>time_proj</c>, <c>conv_in</c>,
    /// <c>down_blocks.0.resnets.1</c>, <c>mid_block</c>, …) during a forward pass; for parity tests and debugging.
    /// The tensor is owned by the forward pass: clone it to keep it.
    /// </summary>
    internal Action<string, Tensor>? Trace
    {
        get => _ctx.Trace;
        set => _ctx.Trace = value;
    }

    /// <summary>
    /// Predicts from <paramref name="sample"/> [B, C, H, W] at <paramref name="timesteps"/> (a scalar or [B] / [1],
    /// float or int64; a single value is broadcast over the batch) with optional <paramref name="classLabels"/>
    /// ([B] int64, or [B, D] embeddings for the identity class embedding).
    /// </summary>
    public override Tensor forward(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(timesteps);
        CheckInput(sample);
        using var scope = NewDisposeScope();
        var dtype = _convIn.weight.dtype;
        var x = sample;
        if (Config.CenterInputSample)
            x = x * 2 - 1.0;

        long batch = x.shape[0];
        var t = BroadcastTimesteps(timesteps.to(x.device), batch);
        if (Config.TimeEmbeddingType == TimeEmbeddingType.Learned)
            CheckIndices(t, Config.NumTrainTimesteps!.Value, nameof(timesteps));
        var tFeatures = _timeProj.call(t);
        _ctx.Emit("time_proj", tFeatures);
        var emb = _timeEmbedding.call(tFeatures.to(dtype));
        _ctx.Emit("time_embedding", emb);

        if (_classEmbedding is not null)
        {
            if (classLabels is null)
                throw new ArgumentException("this model is class-conditional: class labels are required", nameof(classLabels));
            var classEmb = ClassEmbedding(classLabels.to(x.device), batch, dtype);
            _ctx.Emit("class_embedding", classEmb);
            emb = emb + classEmb;
        }
        else if (classLabels is not null)
        {
            throw new ArgumentException("this model has no class embedding: pass no class labels", nameof(classLabels));
        }

        // At bf16 the residual stream between the layers is bfloat16, as under torch.autocast: each product then needs
        // no casts of its activations, and norms and activations read and write half the bytes (their statistics and
        // arithmetic still run in float32 inside libtorch's kernels). The output returns in the sample's dtype.
        if (_ctx.Precision == ComputePrecision.BFloat16 && x.dtype == ScalarType.Float32)
            x = x.to(ScalarType.BFloat16);
        var h = Ops.Conv2d(_ctx, _convIn, x, 1, 1);
        _ctx.Emit("conv_in", h);
        var skips = new List<Tensor> { h };
        foreach (var down in _downBlocks)
        {
            var (output, blockSkips) = down.call(h, emb);
            h = output;
            skips.AddRange(blockSkips);
        }
        if (_midBlock is not null)
            h = _midBlock.call(h, emb);
        foreach (var up in _upBlocks)
        {
            int n = up.NumSkips;
            var blockSkips = skips.GetRange(skips.Count - n, n).ToArray();
            skips.RemoveRange(skips.Count - n, n);
            h = up.call(h, blockSkips, emb);
        }
        h = Ops.GroupNorm(_convNormOut, Config.NormNumGroups, Config.NormEps, h);
        _ctx.Emit("conv_norm_out", h);
        h = _convAct.call(h);
        _ctx.Emit("conv_act", h);
        h = Ops.Conv2d(_ctx, _convOut, h, 1, 1).to(sample.dtype);
        _ctx.Emit("conv_out", h);
        if (Config.TimeEmbeddingType == TimeEmbeddingType.Fourier)
            h = h / t.to(h.dtype).reshape(batch, 1, 1, 1);   // the network predicts σ·ε; divide by σ
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Most samples per forward pass when gradients are off (sampling, evaluation): 0 (the default) chooses
    /// <see cref="AutoChunkSize"/>; a positive value caps the chunk at that; <see cref="int.MaxValue"/> never splits.
    /// <see cref="Predict"/> runs larger batches as consecutive chunks and concatenates the outputs — each sample's
    /// output is its own either way (see <see cref="BatchChunking"/> for why this is faster on the CPU).
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

    private int _chunkSize;

    /// <summary>
    /// Elements of the largest activation one sample of <paramref name="height"/>×<paramref name="width"/> produces:
    /// the widest tensor of any level, which is the concatenation of hidden state and skip connection that an up
    /// block's residual block takes (e.g. 192 channels at full resolution in the <c>small</c> preset).
    /// </summary>
    public long LargestActivationPerSample(long height, long width)
    {
        var ch = Config.BlockOutChannels;
        int levels = ch.Length;
        long largest = 0;
        for (int level = 0; level < levels; level++)
            largest = Math.Max(largest, ch[level] * (height >> level) * (width >> level));
        foreach (var up in Config.UpBlocks())
        {
            long pixels = (height >> up.Level) * (width >> up.Level);
            for (int j = 0; j < up.Layers; j++)
            {
                var (hidden, skip) = up.ResnetInput(j);
                largest = Math.Max(largest, (hidden + skip) * pixels);
            }
        }
        return largest;
    }

    /// <summary>
    /// The chunk size <see cref="BatchChunking.ChunkSize"/> picks for <paramref name="batch"/> samples of this size:
    /// the fewest near-equal chunks whose largest float32 activation stays within
    /// <see cref="BatchChunking.DefaultBudgetBytes"/>. The trainer uses it for its forward/backward chunks, and
    /// <see cref="Predict"/> for inference when <see cref="ChunkSize"/> is 0.
    /// </summary>
    public int AutoChunkSize(long batch, long height, long width) =>
        BatchChunking.ChunkSize(batch, LargestActivationPerSample(height, width));

    /// <inheritdoc/>
    /// <remarks>With gradients off, a batch larger than the chunk size (<see cref="ChunkSize"/>) runs as chunks.</remarks>
    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(timesteps);
        if (is_grad_enabled() || sample.dim() != 4)
            return call(sample, timesteps, classLabels);
        long batch = sample.shape[0];
        int chunk = _chunkSize > 0 ? _chunkSize : AutoChunkSize(batch, sample.shape[2], sample.shape[3]);
        return BatchChunking.Predict(call, sample, timesteps, classLabels, chunk);
    }

    /// <inheritdoc/>
    nn.Module ITrainableModel.Module => this;

    /// <inheritdoc/>
    string ITrainableModel.ClassName => DiffusersUNet2DConfig.ClassName;

    /// <inheritdoc/>
    /// <remarks>The last class embedding when the model has them (trained with label dropout, it means "no class").</remarks>
    public long? NullClassLabel => Config.NumClassEmbeds is { } n ? n - 1 : null;

    /// <inheritdoc/>
    public string ConfigJson() => DiffusersUNet2DConfig.ToJson(Config);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The sample shape is not [C, H, W].</exception>
    public int ChunkSizeFor(long batch, IReadOnlyList<long> sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (sampleShape.Count != 3)
            throw new ArgumentException($"a UNet2DModel takes samples [C, H, W], not [{string.Join(", ", sampleShape)}]", nameof(sampleShape));
        return AutoChunkSize(batch, sampleShape[1], sampleShape[2]);
    }

    /// <summary>Loads a diffusers folder (<c>config.json</c> + <c>diffusion_pytorch_model.safetensors</c>).</summary>
    /// <exception cref="InvalidDataException">A file is missing or malformed, or a tensor does not fit; the message names file and tensor/key.</exception>
    public static UNet2DModel FromPretrained(string directory) => DiffusersUNet2DCheckpoint.Load(directory);

    /// <summary>
    /// Writes a folder diffusers' <c>UNet2DModel.from_pretrained</c> loads unchanged: <c>config.json</c> and
    /// <c>diffusion_pytorch_model.safetensors</c> (metadata <c>{"format": "pt"}</c>), each written atomically.
    /// </summary>
    public void SavePretrained(string directory) => DiffusersUNet2DCheckpoint.Save(this, directory);

    private void CheckInput(Tensor sample)
    {
        if (sample.dim() != 4)
            throw new ArgumentException($"sample must be [B, C, H, W], got [{string.Join(", ", sample.shape)}]", nameof(sample));
        if (sample.shape[1] != Config.InChannels)
            throw new ArgumentException($"sample has {sample.shape[1]} channels, the model takes {Config.InChannels}", nameof(sample));
        if (!sample.is_floating_point())
            throw new ArgumentException($"sample must be floating point, got {sample.dtype}", nameof(sample));
        // Every downsampler must halve exactly, or the decoder's skip connections will not line up.
        long factor = 1L << (Config.BlockOutChannels.Length - 1);
        if (sample.shape[2] % factor != 0 || sample.shape[3] % factor != 0)
            throw new ArgumentException($"sample height and width must be multiples of {factor}, got {sample.shape[2]}×{sample.shape[3]}", nameof(sample));
    }

    internal static Tensor BroadcastTimesteps(Tensor timesteps, long batch)
    {
        var t = timesteps.dim() == 0 ? timesteps.unsqueeze(0) : timesteps;
        if (t.dim() != 1 || (t.shape[0] != batch && t.shape[0] != 1))
            throw new ArgumentException($"timesteps must be a scalar, [1] or [{batch}], got [{string.Join(", ", timesteps.shape)}]", nameof(timesteps));
        return t.shape[0] == batch ? t : t.expand(batch);
    }

    /// <summary>Table lookups need integer values in [0, <paramref name="count"/>).</summary>
    internal static void CheckIndices(Tensor values, long count, string name)
    {
        var asLong = values.to(ScalarType.Int64);
        if (values.is_floating_point() && !asLong.to(values.dtype).eq(values).all().item<bool>())
            throw new ArgumentException($"{name} must be integers", name);
        if (values.numel() > 0 && (asLong.min().item<long>() < 0 || asLong.max().item<long>() >= count))
            throw new ArgumentException($"{name} must lie in [0, {count})", name);
    }

    private Tensor ClassEmbedding(Tensor labels, long batch, ScalarType dtype)
    {
        switch (_classEmbedding)
        {
            case ClassEmbeddingTable table:
            {
                if (labels.dim() != 1 || labels.shape[0] != batch)
                    throw new ArgumentException($"class labels must be [{batch}], got [{string.Join(", ", labels.shape)}]", nameof(labels));
                CheckIndices(labels, table.NumClasses, nameof(labels));
                return table.call(labels.to(ScalarType.Int64)).to(dtype);
            }
            case TimestepEmbedding mlp:
                return mlp.call(_timeProj.call(BroadcastTimesteps(labels, batch)).to(dtype));
            default:   // identity: the labels are the embedding
                if (labels.dim() != 2 || labels.shape[0] != batch || labels.shape[1] != Config.TimeEmbedDim)
                    throw new ArgumentException($"identity class embedding takes [{batch}, {Config.TimeEmbedDim}] vectors", nameof(labels));
                return labels.to(dtype);
        }
    }
}

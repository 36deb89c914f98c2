using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Compare;

/// <summary>The architecture of <see cref="VaeModel"/> (<c>"_class_name": "VaeModel"</c>, snake_case keys).</summary>
public sealed record VaeConfig
{
    /// <summary>The value of <c>_class_name</c>.</summary>
    public const string ClassName = "VaeModel";

    /// <summary>Dimension of the latent z.</summary>
    public int LatentDim { get; init; } = 16;

    /// <summary>Channels of the encoder's first and the decoder's last hidden layer (×2 and ×4 in between).</summary>
    public int Width { get; init; } = 48;

    /// <summary>Classes (0: unconditional). A conditional VAE (Sohn et al. 2015) gives the one-hot label to the encoder and the decoder.</summary>
    public int NumClasses { get; init; }

    /// <summary>Image side (a multiple of 4). Images have one channel.</summary>
    public int ImageSize { get; init; } = 28;

    /// <summary>GroupNorm groups of the decoder.</summary>
    public int NormGroups { get; init; } = 8;

    /// <summary>Checks every value; the message names the key.</summary>
    public void Validate()
    {
        GanConfig.Check(LatentDim is >= 1 and <= 4096, "latent_dim", LatentDim);
        GanConfig.Check(Width >= 1 && Width % NormGroups == 0, "width", Width);
        GanConfig.Check(NumClasses is >= 0 and <= 10_000, "num_classes", NumClasses);
        GanConfig.Check(ImageSize >= 4 && ImageSize % 4 == 0, "image_size", ImageSize);
        GanConfig.Check(NormGroups >= 1, "norm_groups", NormGroups);
    }

    /// <summary>The config as JSON with its <c>_class_name</c>.</summary>
    public string ToJson()
    {
        var o = new JsonObject { ["_class_name"] = ClassName };
        foreach (var (k, v) in JsonSerializer.SerializeToNode(this, OnePassSampling.ConfigJson)!.AsObject())
            o[k] = v?.DeepClone();
        return o.ToJsonString(OnePassSampling.ConfigJson) + "\n";
    }

    /// <summary>Reads a config written by <see cref="ToJson"/>; <paramref name="path"/> names the file in errors.</summary>
    public static VaeConfig Parse(string json, string path)
    {
        try
        {
            var config = JsonSerializer.Deserialize<VaeConfig>(json, OnePassSampling.ConfigJson) ?? throw new InvalidDataException($"{path}: empty");
            config.Validate();
            return config;
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }
}

/// <summary>
/// A convolutional variational auto-encoder (Kingma &amp; Welling 2014) with a Bernoulli decoder over pixel intensities
/// in [0, 1] (their MNIST experiments, Appendix C.1). Encoder: 3×3 convs 1 → w (stride 2) → 2w (stride 2) → 4w, ReLU,
/// linear → (μ, log σ²). Decoder: linear → [4w, s/4, s/4] → GroupNorm, ReLU → two <see cref="UpBlock"/>s → 3×3 conv →
/// logits. Samples are the decoder mean p = sigmoid(logits) mapped to [−1, 1]; <see cref="ElboLoss"/> trains it.
/// </summary>
public sealed class VaeModel : nn.Module, IOnePassImageModel
{
    private readonly ModuleList<ConvLayer> encoder;
    private readonly LinearLayer posterior;
    private readonly LinearLayer project;
    private readonly GroupNorm project_norm;
    private readonly ModuleList<UpBlock> up;
    private readonly ConvLayer conv_out;
    private readonly LayerContext _ctx = new();

    /// <summary>A freshly initialised VAE.</summary>
    public VaeModel(VaeConfig config) : base(nameof(VaeModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        long w = config.Width, s = config.ImageSize / 4, c = config.NumClasses;
        encoder = new ModuleList<ConvLayer>(
            new ConvLayer(_ctx, 1, w, 3, 2, false, 0), new ConvLayer(_ctx, w, 2 * w, 3, 2, false, 0), new ConvLayer(_ctx, 2 * w, 4 * w, 3, 1, false, 0));
        posterior = new LinearLayer(_ctx, 4 * w * s * s + c, 2L * config.LatentDim, false, 0);
        project = new LinearLayer(_ctx, config.LatentDim + c, 4 * w * s * s, false, 0);
        project_norm = Ops.NewGroupNorm(config.NormGroups, 4 * w, 1e-5);
        up = new ModuleList<UpBlock>(new UpBlock(_ctx, 4 * w, 2 * w, config.NormGroups), new UpBlock(_ctx, 2 * w, w, config.NormGroups));
        conv_out = new ConvLayer(_ctx, w, 1, 3, 1, false, 0);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public VaeConfig Config { get; }

    /// <summary>Parameters of the decoder, the network that draws samples.</summary>
    public long DecoderParameterCount =>
        project.parameters().Concat(project_norm.parameters()).Concat(up.parameters()).Concat(conv_out.parameters()).Sum(p => p.numel());

    /// <inheritdoc/>
    public int NumClasses => Config.NumClasses;

    /// <inheritdoc/>
    public int LatentDimension => Config.LatentDim;

    /// <summary>q(z | x, y) = N(μ, diag σ²): returns (μ, log σ²), each [N, latent], for images [N, 1, H, W] in [−1, 1].</summary>
    public (Tensor Mean, Tensor LogVariance) Encode(Tensor x, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var conv in encoder)
            h = F.relu(conv.call(h));
        h = h.flatten(1);
        if (Config.NumClasses > 0)
            h = cat([h, OneHot(labels, x.shape[0], h.dtype)], 1);
        var stats = posterior.call(h).chunk(2, 1);
        return (stats[0].MoveToOuterDisposeScope(), stats[1].MoveToOuterDisposeScope());
    }

    /// <summary>The Bernoulli logits [N, 1, H, W] of p(x | z, y).</summary>
    public Tensor DecoderLogits(Tensor z, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        long s = Config.ImageSize / 4;
        var input = Config.NumClasses > 0 ? cat([z, OneHot(labels, z.shape[0], z.dtype)], 1) : z;
        var h = project.call(input).reshape(z.shape[0], 4 * Config.Width, s, s);
        h = F.relu(Ops.GroupNorm(project_norm, Config.NormGroups, 1e-5, h));
        foreach (var block in up)
            h = block.call(h, null);
        return conv_out.call(h).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    /// <remarks>The decoder mean E[x | z] = sigmoid(logits), mapped from [0, 1] to [−1, 1].</remarks>
    public Tensor Decode(Tensor z, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        return (sigmoid(DecoderLogits(z, labels)) * 2 - 1).MoveToOuterDisposeScope();
    }

    private Tensor OneHot(Tensor? labels, long batch, ScalarType dtype) =>
        F.one_hot(Labels.Check(labels, batch, Config.NumClasses), Config.NumClasses).to(dtype);

    /// <inheritdoc/>
    nn.Module ITrainableModel.Module => this;

    /// <inheritdoc/>
    public string ClassName => VaeConfig.ClassName;

    /// <inheritdoc/>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Always <see cref="ComputePrecision.Full"/>: bf16 is refused (<see cref="ModelFolder.Fp32Only"/>).</summary>
    public ComputePrecision Precision { get => _ctx.Precision; set => _ctx.Precision = ModelFolder.Fp32Only(value, "VAE"); }

    /// <inheritdoc/>
    public long? NullClassLabel => null;

    /// <inheritdoc/>
    public string ConfigJson() => Config.ToJson();

    /// <inheritdoc/>
    public void SavePretrained(string directory) => ModelFolder.Save(this, Config.ToJson(), directory);

    /// <inheritdoc/>
    public int ChunkSizeFor(long batch, IReadOnlyList<long> sampleShape) =>
        BatchChunking.ChunkSize(batch, 4L * Config.Width * Config.ImageSize * Config.ImageSize);

    /// <summary>Loads a folder written by <see cref="SavePretrained"/>.</summary>
    public static VaeModel FromPretrained(string directory)
    {
        var config = VaeConfig.Parse(ModelFolder.ReadConfig(directory), Path.Combine(directory, ModelFolder.ConfigFileName));
        var model = new VaeModel(config);
        try
        {
            ModelFolder.LoadInto(model, directory);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}

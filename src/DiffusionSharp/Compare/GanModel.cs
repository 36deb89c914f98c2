using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Compare;

/// <summary>
/// The GAN generator: DCGAN's layout (Radford et al. 2016, §3 and Fig. 1) at MNIST size. z (+ label embedding with
/// <see cref="GanLabelConditioning.Input"/>) → linear → [4w, s/4, s/4] → GroupNorm (class-conditional with
/// <see cref="GanLabelConditioning.Norm"/>), ReLU → two <see cref="UpBlock"/>s (4w → 2w → w) → 3×3 conv → tanh.
/// </summary>
internal sealed class GanGenerator : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly Embedding? label_embedding;
    private readonly LinearLayer project;
    private readonly ClassConditionalNorm project_norm;
    private readonly ModuleList<UpBlock> up;
    private readonly ConvLayer conv_out;
    private readonly GanConfig _config;
    private readonly bool _concat;

    public GanGenerator(LayerContext ctx, GanConfig config) : base(nameof(GanGenerator))
    {
        _config = config;
        long w = config.GeneratorWidth, s = config.ImageSize / 4;
        _concat = config.NumClasses > 0 && config.LabelConditioning == GanLabelConditioning.Input;
        long normEmbed = config.NumClasses > 0 && !_concat ? config.LabelEmbedDim : 0;
        long input = config.LatentDim + (_concat ? config.LabelEmbedDim : 0);
        if (config.NumClasses > 0)
            label_embedding = nn.Embedding(config.NumClasses, config.LabelEmbedDim);
        project = new LinearLayer(ctx, input, 4 * w * s * s, spectralNorm: false, seed: 0);
        project_norm = new ClassConditionalNorm(config.NormGroups, 4 * w, normEmbed);
        up = new ModuleList<UpBlock>(new UpBlock(ctx, 4 * w, 2 * w, config.NormGroups, normEmbed), new UpBlock(ctx, 2 * w, w, config.NormGroups, normEmbed));
        conv_out = new ConvLayer(ctx, w, 1, 3, 1, spectralNorm: false, seed: 0);
        RegisterComponents();
    }

    public override Tensor forward(Tensor z, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        long s = _config.ImageSize / 4;
        var e = label_embedding?.call(Labels.Check(labels, z.shape[0], _config.NumClasses));
        var input = _concat ? cat([z, e!], 1) : z;
        var normLabels = _concat ? null : e;
        var h = project.call(input).reshape(z.shape[0], 4 * _config.GeneratorWidth, s, s);
        h = F.relu(project_norm.call(h, normLabels));
        foreach (var block in up)
            h = block.call(h, normLabels);
        return tanh(conv_out.call(h)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The discriminator: DCGAN's all-convolutional stack (3×3 conv w, stride-2 convs to 2w and 4w, LeakyReLU 0.2, no
/// pooling) with a linear read-out. A conditional D sees the class twice: as one-hot channels stacked on the image
/// (the conditional GAN of Mirza &amp; Osindero 2014, as conditional DCGANs feed it) and through the projection term
/// ⟨embed(y), mean_spatial h⟩ of Miyato &amp; Koyama 2018 (eq. 3). Every weight is spectrally normalised in the
/// hinge-sn variant.
/// </summary>
/// <remarks>
/// <para>With the projection alone, a 3-minute run (1,087 steps) of the class-conditional-norm generator reached a
/// conditional accuracy of 13.8 %: D barely told the classes apart, so G had no reason to. With the one-hot channels as
/// well, the same run reached 74.4 % (FID 133 against 171). The 1 + 10 input channels cost nothing extra here: the
/// first convolution is padded to 32 input channels anyway (<see cref="CpuConvolution"/>).</para>
/// <para>The projection pools by the spatial mean (the paper sums) and its table starts Xavier-uniform (as the authors' code
/// does), not nn.Embedding's N(0, 1): with a sum over 7×7 positions and unit-variance rows, an untrained unnormalised D
/// gave logits of ±20, its loss fell to 1e-4 within 15 steps and the DCGAN generator never left all-black.</para>
/// </remarks>
internal sealed class GanDiscriminator : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly ModuleList<ConvLayer> convs;
    private readonly LinearLayer read_out;
    private readonly Embedding? projection;
    private readonly SpectralNorm? projection_sn;
    private readonly GanConfig _config;

    public GanDiscriminator(LayerContext ctx, GanConfig config) : base(nameof(GanDiscriminator))
    {
        _config = config;
        long w = config.DiscriminatorWidth, s = config.ImageSize / 4;
        bool sn = config.SpectralNorm;
        convs = new ModuleList<ConvLayer>(
            new ConvLayer(ctx, 1 + config.NumClasses, w, 3, 1, sn, seed: 101),
            new ConvLayer(ctx, w, 2 * w, 3, 2, sn, seed: 102),
            new ConvLayer(ctx, 2 * w, 4 * w, 3, 2, sn, seed: 103));
        read_out = new LinearLayer(ctx, 4 * w * s * s, 1, sn, seed: 104);
        if (config.NumClasses > 0)
        {
            projection = nn.Embedding(config.NumClasses, 4 * w);
            using (no_grad())
                nn.init.xavier_uniform_(projection.weight!);
            if (sn)
                projection_sn = new SpectralNorm(config.NumClasses, seed: 105);
        }
        RegisterComponents();
    }

    /// <summary>D(x, y), one logit per image [N].</summary>
    public override Tensor forward(Tensor x, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        var y = _config.NumClasses > 0 ? Labels.Check(labels, x.shape[0], _config.NumClasses) : null;
        var h = y is null ? x : cat([x, F.one_hot(y, _config.NumClasses).to(x.dtype)[.., .., TensorIndex.None, TensorIndex.None].expand(-1, -1, x.shape[2], x.shape[3])], 1);
        foreach (var conv in convs)
            h = F.leaky_relu(conv.call(h), 0.2);
        var logit = read_out.call(h.flatten(1)).squeeze(1);
        if (projection is not null)
        {
            var table = projection_sn is null ? projection.weight! : projection_sn.Normalize(projection.weight!);
            var e = table.index_select(0, y!);
            logit = logit + (e * h.mean([2, 3])).sum(1);
        }
        return logit.MoveToOuterDisposeScope();
    }
}

/// <summary>Checks class labels at the models' boundary.</summary>
internal static class Labels
{
    public static Tensor Check(Tensor? labels, long batch, int classes)
    {
        if (labels is null || labels.dim() != 1 || labels.shape[0] != batch || labels.is_floating_point())
            throw new ArgumentException($"a conditional model needs [{batch}] integer class labels", nameof(labels));
        return labels.to(ScalarType.Int64);
    }
}

/// <summary>
/// A GAN as one trainable model: the generator G and the discriminator D as submodules (<c>generator.*</c>,
/// <c>discriminator.*</c>), one folder, one EMA, one checkpoint; <see cref="AdversarialLoss"/> trains D and G as two
/// optimizer stages. Sampling uses G only.
/// </summary>
public sealed class GanModel : nn.Module, IOnePassImageModel
{
    private readonly GanGenerator generator;
    private readonly GanDiscriminator discriminator;
    private readonly LayerContext _ctx = new();

    /// <summary>A freshly initialised GAN (PyTorch's default init; GroupNorm weight 1, bias 0).</summary>
    public GanModel(GanConfig config) : base(nameof(GanModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        generator = new GanGenerator(_ctx, config);
        discriminator = new GanDiscriminator(_ctx, config);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public GanConfig Config { get; }

    /// <summary>G's parameters (the generator stage).</summary>
    public IReadOnlyList<Parameter> GeneratorParameters => generator.parameters().ToArray();

    /// <summary>D's parameters (the discriminator stage).</summary>
    public IReadOnlyList<Parameter> DiscriminatorParameters => discriminator.parameters().ToArray();

    /// <summary>Parameters of G, the network that draws samples.</summary>
    public long GeneratorParameterCount => generator.parameters().Sum(p => p.numel());

    /// <inheritdoc/>
    public int NumClasses => Config.NumClasses;

    /// <inheritdoc/>
    public int LatentDimension => Config.LatentDim;

    /// <inheritdoc/>
    public Tensor Decode(Tensor z, Tensor? labels) => generator.call(z, labels);

    /// <summary>D's logits [N] for images [N, 1, H, W].</summary>
    public Tensor Discriminate(Tensor x, Tensor? labels) => discriminator.call(x, labels);

    /// <inheritdoc/>
    nn.Module ITrainableModel.Module => this;

    /// <inheritdoc/>
    public string ClassName => GanConfig.ClassName;

    /// <inheritdoc/>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Always <see cref="ComputePrecision.Full"/>: bf16 is refused (<see cref="ModelFolder.Fp32Only"/>).</summary>
    public ComputePrecision Precision { get => _ctx.Precision; set => _ctx.Precision = ModelFolder.Fp32Only(value, "GAN"); }

    /// <inheritdoc/>
    public long? NullClassLabel => null;

    /// <inheritdoc/>
    public string ConfigJson() => Config.ToJson();

    /// <inheritdoc/>
    public void SavePretrained(string directory) => ModelFolder.Save(this, Config.ToJson(), directory);

    /// <inheritdoc/>
    /// <remarks>The largest activation of an image is D's first feature map, w × H × W floats (several alive at once).</remarks>
    public int ChunkSizeFor(long batch, IReadOnlyList<long> sampleShape) =>
        BatchChunking.ChunkSize(batch, 4L * Math.Max(Config.DiscriminatorWidth, Config.GeneratorWidth) * Config.ImageSize * Config.ImageSize);

    /// <summary>Loads a folder written by <see cref="SavePretrained"/>.</summary>
    public static GanModel FromPretrained(string directory)
    {
        var config = GanConfig.Parse(ModelFolder.ReadConfig(directory), Path.Combine(directory, ModelFolder.ConfigFileName));
        var model = new GanModel(config);
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

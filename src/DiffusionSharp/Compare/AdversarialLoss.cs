using DiffusionSharp.Data;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Compare;

/// <summary>
/// The two-stage adversarial objective of a <see cref="GanModel"/>, run by the one <see cref="Trainer"/>: stage 0
/// (<c>discriminator</c>) steps D's parameters, stage 1 (<c>generator</c>) G's, on the same real batch.
/// </summary>
/// <remarks>
/// <para>dcgan, the non-saturating loss (Goodfellow et al. 2014, §3; as DCGAN trains): L_D = softplus(−D(x)) +
/// softplus(D(G(z))), L_G = softplus(−D(G(z))).</para>
/// <para>hinge-sn, the hinge loss (Lim &amp; Ye 2017; Miyato et al. 2018, eq. 17): L_D = max(0, 1 − D(x)) + max(0, 1 + D(G(z))),
/// L_G = −D(G(z)).</para>
/// <para>Each stage draws its own z for the whole batch from the training generator before any chunk runs (so resume and
/// chunking change nothing). A conditional GAN gives its fakes the real batch's labels. The D stage detaches G(z).</para>
/// </remarks>
public sealed class AdversarialLoss : ITrainingObjective
{
    /// <summary>An objective for GANs of <paramref name="variant"/> (<see cref="GanVariants"/>).</summary>
    public AdversarialLoss(string variant)
    {
        if (!GanVariants.All.Contains(variant))
            throw new ArgumentException($"GAN variant '{variant}' is unknown; allowed: {string.Join(", ", GanVariants.All)}", nameof(variant));
        Variant = variant;
    }

    /// <summary>The loss family.</summary>
    public string Variant { get; }

    /// <inheritdoc/>
    public string Description => Variant == GanVariants.Dcgan ? "non-saturating GAN loss (DCGAN)" : "hinge GAN loss, spectrally normalised D";

    /// <summary>The first stage's name: D steps first, its loss is log.csv's <c>loss</c> column.</summary>
    public const string DiscriminatorStage = "discriminator";

    /// <summary>The second stage's name: G's loss is log.csv's <c>loss_generator</c> column.</summary>
    public const string GeneratorStage = "generator";

    /// <inheritdoc/>
    public IReadOnlyList<ObjectiveStage> Stages(ITrainableModel model)
    {
        var gan = Gan(model);
        return [new ObjectiveStage(DiscriminatorStage, gan.DiscriminatorParameters), new ObjectiveStage(GeneratorStage, gan.GeneratorParameters)];
    }

    /// <inheritdoc/>
    public double Backward(ITrainableModel model, Batch batch, int stage, Generator generator, int chunkSize, double scale)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)stage, 1u, nameof(stage));
        var gan = Gan(model);
        using var scope = NewDisposeScope();
        var x = batch.Samples;
        long n = x.shape[0];
        var labels = gan.NumClasses > 0 ? batch.Labels.to(ScalarType.Int64, x.device) : null;
        var z = randn([n, gan.LatentDimension], dtype: x.dtype, device: x.device, generator: generator);
        bool hinge = Variant == GanVariants.HingeSpectralNorm;
        if (stage == 0)
        {
            Tensor fake;
            using (no_grad())
                fake = gan.Decode(z, labels).detach();
            return ChunkedBackward.Run(n, chunkSize, scale, (start, length) =>
            {
                var y = labels?.narrow(0, start, length);
                var real = gan.Discriminate(x.narrow(0, start, length), y);
                var fakeLogit = gan.Discriminate(fake.narrow(0, start, length), y);
                return hinge ? F.relu(1 - real) + F.relu(1 + fakeLogit) : F.softplus(-real) + F.softplus(fakeLogit);
            });
        }
        return ChunkedBackward.Run(n, chunkSize, scale, (start, length) =>
        {
            var y = labels?.narrow(0, start, length);
            var logit = gan.Discriminate(gan.Decode(z.narrow(0, start, length), y), y);
            return hinge ? -logit : F.softplus(-logit);
        });
    }

    private static GanModel Gan(ITrainableModel model) =>
        model as GanModel ?? throw new ArgumentException($"{model.ClassName} is not a GanModel", nameof(model));

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}

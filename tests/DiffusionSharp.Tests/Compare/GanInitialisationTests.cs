using DiffusionSharp.Compare;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Compare;

/// <summary>
/// An untrained discriminator must start undecided. The first comparison run's conditional D summed its projection
/// over 7×7 positions with N(0, 1) label rows: logits of ±20 at step 1, a D loss of 1e-4 by step 15, and a DCGAN
/// generator that stayed all-black for 5 minutes of training.
/// </summary>
[Collection("Exclusive")]   // seeds the process-wide generator the layers initialise from
public sealed class GanInitialisationTests
{
    [Theory]
    [InlineData(GanVariants.Dcgan, 10)]
    [InlineData(GanVariants.Dcgan, 0)]
    [InlineData(GanVariants.HingeSpectralNorm, 10)]
    public void AnUntrainedDiscriminatorGivesLogitsOfOrderOne(string variant, int classes)
    {
        manual_seed(3);
        var config = new GanConfig { Variant = variant, NumClasses = classes };   // the defaults: DCGAN's MNIST layout, the comparison's size
        using var gan = new GanModel(config);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var labels = classes > 0 ? arange(64, dtype: ScalarType.Int64) % classes : null;
        var real = rand(64, 1, 28, 28) * 2 - 1;
        var fake = gan.Decode(randn(64, config.LatentDim), labels);
        foreach (var x in new[] { real, fake })
        {
            double largest = gan.Discriminate(x, labels).abs().max().item<float>();
            Assert.InRange(largest, 0.0, 2.0);
        }
    }
}

using DiffusionSharp.Compare;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Compare;

/// <summary>The discriminator's minibatch standard-deviation channel (Karras et al. 2018 §3) and its config key.</summary>
[Collection("Exclusive")]   // seeds the process-wide generator the GAN's weights are drawn from
public sealed class MinibatchStdDevTests
{
    [Fact]
    public void TheChannelIsTheMeanSpreadOfEachGroup()
    {
        using var scope = NewDisposeScope();
        using var layer = new MinibatchStdDev(4);
        var h = randn(8, 3, 2, 2, generator: new TorchSharp.torch.Generator(1));
        h[TensorIndex.Slice(4, 8)] = h[4].unsqueeze(0).expand(4, 3, 2, 2);   // the second group: one image four times
        var y = layer.call(h);
        Assert.Equal(new long[] { 8, 4, 2, 2 }, y.shape);
        Assert.True(y.narrow(1, 0, 3).equal(h).all().item<bool>(), "the features pass through");
        double expected = (h.narrow(0, 0, 4).to(ScalarType.Float64).var(0, unbiased: false) + 1e-8).sqrt().mean().item<double>();
        Assert.Equal(expected, y[0, 3, 1, 0].item<float>(), 5);
        Assert.Equal(expected, y[3, 3, 0, 1].item<float>(), 5);
        Assert.Equal(1e-4, y[5, 3, 0, 0].item<float>(), 6);              // a collapsed group: √(0 + 10⁻⁸)
        Assert.Equal(3, layer.GroupFor(6));
        Assert.Equal(1, layer.GroupFor(7));
        Assert.Equal(2, layer.GroupFor(2));
    }

    [Fact]
    public void ChunksOfWholeGroupsGiveTheDiscriminatorTheSameLogits()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var gan = new GanModel(new GanConfig { NumClasses = 10 });
        gan.eval();
        using var _ = no_grad();
        var x = rand(16, 1, 28, 28, generator: new TorchSharp.torch.Generator(2)) * 2 - 1;
        var labels = arange(16, dtype: ScalarType.Int64) % 10;
        var whole = gan.Discriminate(x, labels);
        var chunked = cat([gan.Discriminate(x.narrow(0, 0, 8), labels.narrow(0, 0, 8)), gan.Discriminate(x.narrow(0, 8, 8), labels.narrow(0, 8, 8))], 0);
        Assert.True((whole - chunked).abs().max().item<float>() < 1e-5);
        // The automatic chunk of a split batch is a whole number of groups.
        Assert.Equal(0, gan.ChunkSizeFor(1000, [1, 28, 28]) % 4);
    }

    [Fact]
    public void AConfigWithoutTheKeyIsAnOlderGanWithoutTheChannel()
    {
        var config = new GanConfig { NumClasses = 10 };
        Assert.Equal(4, GanConfig.Parse(config.ToJson(), "config.json").MinibatchStdGroup);
        string older = config.ToJson().Replace("\"minibatch_std_group\": 4,", "", StringComparison.Ordinal);
        Assert.DoesNotContain("minibatch_std_group", older, StringComparison.Ordinal);
        Assert.Equal(0, GanConfig.Parse(older, "config.json").MinibatchStdGroup);
        using var gan = new GanModel(GanConfig.Parse(older, "config.json"));
        using var current = new GanModel(config);
        Assert.Equal(current.ParameterCount - 7 * 7, gan.ParameterCount);   // the read-out loses the one channel's 7×7 weights
        var e = Assert.Throws<InvalidDataException>(() => GanConfig.Parse(config.ToJson().Replace("\"minibatch_std_group\": 4", "\"minibatch_std_group\": -1", StringComparison.Ordinal), "m/config.json"));
        Assert.Contains("m/config.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("minibatch_std_group", e.Message, StringComparison.Ordinal);
    }
}

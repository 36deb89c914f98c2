using DiffusionSharp.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Text;

/// <summary>
/// The causal model's key/value cache: reading a sequence a prompt and then one token at a time gives the logits of a
/// pass over the whole sequence, and the autoregressive sampler draws the same text with and without it.
/// </summary>
public sealed class KeyValueCacheTests
{
    /// <summary>A tiny causal model with weights drawn from its own generator (never the global one).</summary>
    private static TextTransformer SeededModel(bool time = false, long seed = 3)
    {
        var model = new TextTransformer(TextTransformerTests.Tiny(causal: true, time: time));
        using var g = new Generator((ulong)seed);
        using (no_grad())
        {
            foreach (var p in model.parameters())
                p.copy_(randn(p.shape, generator: g) * 0.4);
        }
        return model;
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 5)]
    [InlineData(true, 3)]
    public void CachedLogitsEqualAWholeSequencePass(bool time, int prompt)
    {
        using var scope = NewDisposeScope();
        using var model = SeededModel(time);
        using var mode = inference_mode();
        var tokens = randint(0, model.VocabularySize - 1, [2, 12], generator: new Generator(4));
        var t = tensor(new float[] { 0.25f, 0.75f });
        var whole = model.call(tokens, t);
        using var cache = model.NewCache(2);
        var pieces = new List<Tensor> { model.ExtendLogits(tokens.narrow(1, 0, prompt), t, cache) };
        for (long p = prompt; p < 12; p++)
            pieces.Add(model.ExtendLogits(tokens.narrow(1, p, 1), t, cache));
        Assert.Equal(12, cache.Length);
        var cached = cat(pieces, 1);
        double err = (cached - whole).abs().max().item<float>();
        Assert.True(err < 1e-5, $"cached logits differ from the whole pass by {err:E2}");
    }

    [Fact]
    public void SamplerDrawsTheSameTextWithAndWithoutTheCache()
    {
        using var scope = NewDisposeScope();
        using var model = SeededModel();
        long mask = model.MaskId;
        var open = full(3, 12, mask);
        var prompted = open.clone();
        prompted.narrow(1, 0, 4).copy_(tensor(new long[] { 1, 2, 3, 4 }));
        var gap = open.clone();
        gap.narrow(1, 6, 2).copy_(tensor(new long[] { 5, 6 })); // a fixed span after the prefix
        foreach (var template in new[] { open, prompted, gap })
        {
            var (withCache, cachedCalls) = AutoregressiveSampler.Sample(model, template, [11, 12, 13]);
            var (without, plainCalls) = AutoregressiveSampler.Sample(model, template, [11, 12, 13], useCache: false);
            Assert.Equal(without.data<long>().ToArray(), withCache.data<long>().ToArray());
            Assert.False(withCache.eq(mask).any().item<bool>());
            if (ReferenceEquals(template, gap))
                Assert.Equal(new long[] { 5, 6 }, withCache[0].narrow(0, 6, 2).data<long>().ToArray());
            long prefix = ReferenceEquals(template, prompted) ? 4 : 0;
            Assert.Equal(12 - prefix, cachedCalls); // one call per position from the first open one
            Assert.Equal(ReferenceEquals(template, gap) ? 10 : 12 - prefix, plainCalls); // only positions it draws
        }
    }

    [Fact]
    public void CacheMisuseIsRefused()
    {
        using var scope = NewDisposeScope();
        using (var bidirectional = new TextTransformer(TextTransformerTests.Tiny()))
            Assert.Throws<InvalidOperationException>(() => bidirectional.NewCache(1));
        using var model = SeededModel();
        using var mode = inference_mode();
        var t = zeros(1);
        using var cache = model.NewCache(1, capacity: 4);
        model.ExtendLogits(full(1, 3, 1L), t, cache);
        var twoMore = Assert.Throws<ArgumentException>(() => model.ExtendLogits(full(1, 2, 1L), t, cache));
        Assert.Contains("only an empty cache", twoMore.Message, StringComparison.Ordinal);
        model.ExtendLogits(full(1, 1, 1L), t, cache);
        var past = Assert.Throws<ArgumentException>(() => model.ExtendLogits(full(1, 1, 1L), t, cache));
        Assert.Contains("capacity of 4", past.Message, StringComparison.Ordinal);
    }
}

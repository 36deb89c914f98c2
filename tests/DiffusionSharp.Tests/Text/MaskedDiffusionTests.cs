using DiffusionSharp.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Text;

/// <summary>
/// A denoiser whose logits are the same fixed vector at every position and time (the [MASK] entry included, which SUBS
/// must remove); it counts its calls.
/// </summary>
internal sealed class FixedDistributionDenoiser(double[] logits, bool timeConditioned = false) : ITokenDenoiser
{
    public int Calls { get; private set; }

    public int VocabularySize => logits.Length;

    public long MaskId => logits.Length - 1;

    public bool IsTimeConditioned => timeConditioned;

    public Tensor Logits(Tensor tokens, Tensor t)
    {
        Calls++;
        return tensor(logits.Select(v => (float)v).ToArray()).expand(tokens.shape[0], tokens.shape[1], logits.Length).clone();
    }
}

/// <summary>A denoiser that is surer of later positions: position j puts logit j on character 0 and 0 on the others.</summary>
internal sealed class LaterIsSurerDenoiser(int characters) : ITokenDenoiser
{
    public int VocabularySize => characters + 1;

    public long MaskId => characters;

    public bool IsTimeConditioned => false;

    public Tensor Logits(Tensor tokens, Tensor t)
    {
        long b = tokens.shape[0], l = tokens.shape[1];
        var logits = zeros(b, l, VocabularySize);
        logits.select(2, 0).copy_(arange(l, ScalarType.Float32).mul(2).expand(b, l));
        return logits;
    }
}

public sealed class MaskedDiffusionTests
{
    [Fact]
    public void ConfidenceOrderWritesTheSurestPositionsFirstAtTheScheduledRate()
    {
        using var scope = NewDisposeScope();
        var model = new LaterIsSurerDenoiser(3);
        var sampler = new MaskedDiffusionSampler(steps: 4, order: UnmaskingOrder.Confidence);
        var written = new List<long[]>();
        var template = full(1, 8, model.MaskId);
        template[0, 0] = tensor(2L);                                   // a given token: never rewritten
        var x = sampler.Sample(model, template, [3], (k, z) => written.Add(z.ne(model.MaskId)[0].nonzero().reshape(-1).data<long>().ToArray()));
        // 7 masked positions: ⌊7(k+1)/4⌋ written after step k, the surest (last) ones first, position 0 kept as given.
        Assert.Equal([new long[] { 0, 7 }, [0, 5, 6, 7], [0, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]], written);
        Assert.Equal(2L, x[0, 0].item<long>());
    }

    [Fact]
    public void ConfidenceOrderKeepsGivenTokensAndDependsOnTheSeedNotTheBatch()
    {
        using var scope = NewDisposeScope();
        using var model = new TextTransformer(TextTransformerTests.Tiny());
        var sampler = new MaskedDiffusionSampler(steps: 5, order: UnmaskingOrder.Confidence, choiceTemperature: 2);
        var infill = TextPrompt.Infill(model.Vocabulary, "ha", 5, "gfed\n");
        var batch = sampler.Sample(model, infill.expand(3, -1).clone(), [7, 42, 9]);
        Assert.False(batch.eq(model.MaskId).any().item<bool>());
        var given = infill.ne(model.MaskId).expand(3, -1);
        Assert.True(batch.masked_select(given).eq(infill.expand(3, -1).masked_select(given)).all().item<bool>());
        var alone = sampler.Sample(model, infill, [42]);
        Assert.True(alone[0].eq(batch[1]).all().item<bool>());
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskedDiffusionSampler(4, order: UnmaskingOrder.Confidence, choiceTemperature: -1));
    }

    [Fact]
    public void AntitheticTimesFillEveryStratum()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(4);
        var t = MaskedDiffusion.AntitheticTimes(8, g, 0).data<double>().ToArray();
        Assert.All(t, v => Assert.InRange(v, double.Epsilon, 1.0));
        var strata = t.Select(v => (int)Math.Floor((1 - v) * 8)).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, 8).ToArray(), strata);
        var clamped = MaskedDiffusion.AntitheticTimes(1000, g, 0.25).data<double>().ToArray();
        Assert.InRange(clamped.Min(), 0.25, 0.2508);
    }

    [Fact]
    public void SubsNeverPredictsMaskAndCopiesUnmaskedTokens()
    {
        using var scope = NewDisposeScope();
        var logits = randn(2, 5, 4, generator: new Generator(1));
        var xt = tensor(new long[] { 3, 0, 3, 2, 1, 3, 3, 3, 3, 0 }, [2, 5]);
        var logp = MaskedDiffusion.SubsLogProbabilities(logits, xt, 3);
        Assert.True(logp.select(2, 3).eq(double.NegativeInfinity).all().item<bool>());
        var p = logp.exp();
        Assert.True(p.sum(2).sub(1).abs().max().item<float>() < 1e-6);
        Assert.Equal(1f, p[0, 1, 0].item<float>());
        Assert.Equal(1f, p[0, 3, 2].item<float>());
        Assert.Equal(1f, p[1, 4, 0].item<float>());
    }

    [Fact]
    public void UniformModelsBoundIsLogOfTheCharacterCount()
    {
        // A model uniform over C characters scores −log p = log C at every masked position, and E[#masked / t] = L, so
        // its NELBO is exactly L·log C: the estimate (16 antithetic t per window) must find log₂ C, and so must the AR NLL.
        using var scope = NewDisposeScope();
        var model = new FixedDistributionDenoiser([0, 0, 0, 0, 0, 0, 0, 5]);
        var windows = randint(0, 7, [64, 32], generator: new Generator(9));
        var diffusion = TextEvaluation.DiffusionBitsPerCharacter(model, windows, timeSamples: 16, seed: 1);
        Assert.InRange(diffusion.BitsPerCharacter, Math.Log2(7) * 0.98, Math.Log2(7) * 1.02);
        Assert.True(diffusion.IsUpperBound);
        Assert.Equal(16, diffusion.TimeSamples);
        var ar = TextEvaluation.AutoregressiveBitsPerCharacter(model, windows);
        Assert.Equal(Math.Log2(7), ar.BitsPerCharacter, 1e-5);
        Assert.Contains("16 antithetic t samples", diffusion.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void LossIsRepeatableFromTheGeneratorAndDifferentiable()
    {
        using var scope = NewDisposeScope();
        using var model = new TextTransformer(TextTransformerTests.Tiny());
        var x0 = randint(0, 9, [4, 12], generator: new Generator(3));
        var loss = new MaskedDiffusionLoss();
        using var g1 = new Generator(11);
        using var g2 = new Generator(11);
        var a = loss.Compute(model, x0, g1);
        var b = loss.Compute(model, x0, g2);
        Assert.Equal(a.item<float>(), b.item<float>());
        Assert.NotEqual(a.item<float>(), loss.Compute(model, x0, g1).item<float>());
        a.backward();
        Assert.All(model.parameters(), p => Assert.NotNull(p.grad));
        Assert.Throws<ArgumentException>(() => loss.Compute(model, full(2, 3, model.MaskId), g1));
        var e = Assert.Throws<ArgumentException>(() => new AutoregressiveLoss().Compute(model, x0, g1));
        Assert.Contains("causal", e.Message, StringComparison.Ordinal);
        using var causal = new TextTransformer(TextTransformerTests.Tiny(causal: true));
        Assert.Throws<ArgumentException>(() => new AutoregressiveLoss().Compute(causal, full(2, 3, 99L), g1));
    }

    [Fact]
    public void SamplerKeepsGivenTokensAndFillsEveryMask()
    {
        using var scope = NewDisposeScope();
        using var model = new TextTransformer(TextTransformerTests.Tiny());
        var vocab = model.Vocabulary;
        var prefix = TextPrompt.Prefix(vocab, "abc", 12);
        var infill = TextPrompt.Infill(vocab, "ha", 5, "gfed\n");
        var sampler = new MaskedDiffusionSampler(steps: 7);
        foreach (var template in new[] { prefix, infill })
        {
            var x = sampler.Sample(model, template.expand(3, -1).clone(), [1, 2, 3]);
            Assert.False(x.eq(model.MaskId).any().item<bool>());
            var given = template.ne(model.MaskId).expand(3, -1);
            Assert.True(x.masked_select(given).eq(template.expand(3, -1).masked_select(given)).all().item<bool>());
        }
        var decoded = vocab.Decode(sampler.Sample(model, infill, [5]).data<long>().ToArray());
        Assert.StartsWith("ha", decoded, StringComparison.Ordinal);
        Assert.EndsWith("gfed\n", decoded, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => TextPrompt.Prefix(vocab, "abz", 12));
        Assert.Throws<ArgumentException>(() => TextPrompt.Prefix(vocab, new string('a', 13), 12));
    }

    [Fact]
    public void SamplesDependOnTheirSeedNotTheBatch()
    {
        using var scope = NewDisposeScope();
        using var model = new TextTransformer(TextTransformerTests.Tiny());
        var sampler = new MaskedDiffusionSampler(steps: 5);
        var template = TextPrompt.Unconditional(model.Vocabulary, 12);
        var alone = sampler.Sample(model, template, [42]);
        var batch = sampler.Sample(model, template.expand(3, -1).clone(), [7, 42, 9]);
        Assert.True(alone[0].eq(batch[1]).all().item<bool>());
        Assert.False(batch[0].eq(batch[2]).all().item<bool>());
    }

    [Fact]
    public void SampleFrequenciesMatchTheModelsDistribution()
    {
        using var scope = NewDisposeScope();
        double[] p = [0.5, 0.3, 0.15, 0.05];
        var model = new FixedDistributionDenoiser([.. p.Select(v => Math.Log(v)), 3.0]);
        var sampler = new MaskedDiffusionSampler(steps: 4);
        var x = sampler.Sample(model, full(8, 500, model.MaskId), [.. Enumerable.Range(0, 8).Select(i => (long)i)]);
        var counts = bincount(x.reshape(-1), minlength: 5).to(ScalarType.Float64) / x.numel();
        for (int i = 0; i < 4; i++)
        {
            double sd = Math.Sqrt(p[i] * (1 - p[i]) / x.numel());
            Assert.InRange(counts[i].item<double>(), p[i] - 5 * sd, p[i] + 5 * sd);
        }
        Assert.Equal(0, counts[4].item<double>());
    }

    [Fact]
    public void CachingSkipsTheNetworkWhenNothingChanged()
    {
        using var scope = NewDisposeScope();
        double[] logits = [0, 0, 0, 9];
        var cached = new FixedDistributionDenoiser(logits);
        var sampler = new MaskedDiffusionSampler(steps: 1000);
        sampler.Sample(cached, full(2, 8, cached.MaskId), [1, 2]);
        // 16 masked tokens: at most 16 steps change something, so at most 17 calls out of 1,000 steps.
        Assert.Equal(cached.Calls, sampler.NetworkCalls);
        Assert.InRange(sampler.NetworkCalls, 2, 17);
        var timed = new FixedDistributionDenoiser(logits, timeConditioned: true);
        sampler.Sample(timed, full(2, 8, timed.MaskId), [1, 2]);
        Assert.Equal(1000, timed.Calls);
        Assert.Equal(1000, sampler.NetworkCalls);
    }

    [Fact]
    public void SamplingLeaksNoTensors()
    {
        using var model = new TextTransformer(TextTransformerTests.Tiny());
        var sampler = new MaskedDiffusionSampler(steps: 6);
        using var template = TextPrompt.Prefix(model.Vocabulary, "ab", 12);
        sampler.Sample(model, template, [1]).Dispose();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 5; i++)
            sampler.Sample(model, template, [i]).Dispose();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}

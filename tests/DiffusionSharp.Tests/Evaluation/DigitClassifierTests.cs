using DiffusionSharp.Data;
using DiffusionSharp.Evaluation;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Evaluation;

/// <summary>The cached MNIST splits and the cached evaluation classifier, made once for the tests that need them.</summary>
public sealed class DigitsFixture : IDisposable
{
    private readonly Lazy<DigitEvaluator> _evaluator;

    public DigitsFixture()
    {
        Train = Mnist.LoadCached(MnistSplit.Train, TestCache.Root);
        Test = Mnist.LoadCached(MnistSplit.Test, TestCache.Root);
        _evaluator = new(() => DigitEvaluator.Create(Train, Test, TestCache.Root));
    }

    public ImageDataset Train { get; }

    public ImageDataset Test { get; }

    /// <summary>Trains the full classifier on first use (then it comes from the cache).</summary>
    public DigitEvaluator Evaluator => _evaluator.Value;

    public void Dispose()
    {
        if (_evaluator.IsValueCreated)
            _evaluator.Value.Dispose();
        Train.Dispose();
        Test.Dispose();
    }
}

// Runs alone: DigitClassifier.Train changes libtorch's process-wide thread count while it trains. (One CI run of the
// suite saw Adam.step fail inside libtorch while other test classes trained in parallel: the TorchSharp finalizer
// race that build/TorchSharpKeepAlive closes, Adam's update passing fresh Scalars to libtorch.)
[CollectionDefinition("digits", DisableParallelization = true)]
public sealed class DigitsCollection : ICollectionFixture<DigitsFixture>;

[Collection("digits")]
public sealed class DigitClassifierTests(DigitsFixture digits)
{
    [Fact]
    public void ShortTrainingOnASliceIsFarAboveChance()
    {
        using var slice = digits.Train.RandomSubset(2000, seed: 11);
        using var classifier = DigitClassifier.Train(slice, new DigitClassifierOptions(Epochs: 2));
        Assert.InRange(classifier.Accuracy(digits.Test), 0.85, 1.0);
    }

    [Fact]
    public void TrainingIsDeterministicForASeed()
    {
        using var slice = digits.Train.RandomSubset(300, seed: 2);
        using var scope = NewDisposeScope();
        var probe = digits.Test.Images[..20];
        Tensor Run(long seed)
        {
            using var c = DigitClassifier.Train(slice, new DigitClassifierOptions(Epochs: 1, Seed: seed));
            return c.Logits(probe);
        }
        var a = Run(5);
        Assert.True(a.equal(Run(5)).all().item<bool>(), "same seed, different network");
        Assert.False(a.allclose(Run(6)), "different seeds, same network");
    }

    [Fact]
    public void SavedWeightsReloadExactlyAndForeignFilesAreRejected()
    {
        using var dir = new TempFolder();
        using var slice = digits.Train.RandomSubset(200, seed: 3);
        using var scope = NewDisposeScope();
        using var trained = DigitClassifier.Train(slice, new DigitClassifierOptions(Epochs: 1));
        var path = dir.File("c.safetensors");
        trained.Save(path);
        using var loaded = DigitClassifier.Load(path);
        var probe = digits.Test.Images[..50];
        Assert.True(trained.Logits(probe).equal(loaded.Logits(probe)).all().item<bool>());
        Assert.Equal(new long[] { 50, DigitClassifier.FeatureDimension }, loaded.Features(probe).shape);

        var other = dir.File("other.safetensors");
        DiffusionSharp.IO.SafeTensors.Save(other, new Dictionary<string, Tensor> { ["conv1.weight"] = zeros(3, 3) });
        var e = Assert.Throws<InvalidDataException>(() => DigitClassifier.Load(other));
        Assert.Contains(other, e.Message);
        Assert.Throws<ArgumentException>(() => loaded.Logits(zeros(2, 3, 28, 28)));
    }

    [Fact]
    public void CachedClassifierReachesNinetySevenPercent()
    {
        var evaluator = digits.Evaluator;
        Assert.InRange(evaluator.ClassifierTestAccuracy, 0.97, 1.0);
        Assert.Single(Directory.GetFiles(Path.Combine(TestCache.Root, "evaluation"), "digit-classifier-*.safetensors"));
    }
}

[Collection("digits")]
public sealed class DigitEvaluatorTests(DigitsFixture digits, ITestOutputHelper output)
{
    [Fact]
    public void RealDigitsScoreNearTheFloorAndNoiseFarAboveIt()
    {
        var evaluator = digits.Evaluator;
        using var scope = NewDisposeScope();
        // Real held-in digits as "samples": about as far from the test split as the floor's training subset.
        using var real = digits.Train.RandomSubset(500, seed: 99);
        var good = evaluator.Evaluate(real.Images, real.Labels, seed: 1);
        output.WriteLine(good.ToText());
        Assert.Equal(500, good.SampleCount);
        Assert.Equal(1000, good.TestCount);
        Assert.InRange(good.FidSamplesVsTest, 0, 3 * good.FidFloorTrainVsTest + 1e-6);
        Assert.InRange(good.ConditionalAccuracy!.Value, 0.95, 1.0);
        Assert.InRange(good.KlFromUniform, 0, 0.05);
        Assert.Equal(500, good.ClassHistogram.Sum());

        using var g = new Generator(4, CPU);
        var noise = rand(500, 1, 28, 28, generator: g) * 2 - 1;
        var bad = evaluator.Evaluate(noise, seed: 1);
        output.WriteLine(bad.ToText());
        Assert.Null(bad.ConditionalAccuracy);
        Assert.True(bad.FidSamplesVsTest > 10 * good.FidFloorTrainVsTest, $"noise FID {bad.FidSamplesVsTest} vs floor {good.FidFloorTrainVsTest}");
        // The floor depends only on the count and seed, not on the samples.
        Assert.Equal(good.FidFloorTrainVsTest, bad.FidFloorTrainVsTest, 12);

        // Only ones: one class, KL = ln 10, and asking for other digits fails the labels.
        var ones = digits.Test.Images[digits.Test.Labels.eq(1)];
        var allOnes = evaluator.Evaluate(ones, full(ones.shape[0], 7L));
        Assert.InRange(allOnes.KlFromUniform, Math.Log(10) - 0.1, Math.Log(10));
        Assert.InRange(allOnes.ConditionalAccuracy!.Value, 0, 0.05);
        Assert.Contains("not Inception", allOnes.FeatureSpace);
    }
}

public sealed class DigitClassifierNetworkTests
{
    [Fact]
    public void Im2colConv1EqualsLibtorchConvolution()
    {
        using var scope = NewDisposeScope();
        using var network = new DigitClassifier.Network();
        network.Initialise(seed: 4);
        using var g = new Generator(2, CPU);
        var x = rand(3, 1, 28, 28, generator: g) * 2 - 1;
        var fast = network.Conv1(x);
        var reference = network.Conv1Reference(x);
        Assert.Equal(reference.shape, fast.shape);
        Assert.True(fast.allclose(reference, rtol: 1e-5, atol: 1e-6), $"max difference {(fast - reference).abs().max().item<float>()}");
    }
}

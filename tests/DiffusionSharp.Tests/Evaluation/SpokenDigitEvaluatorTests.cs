using DiffusionSharp.Audio;
using DiffusionSharp.Data;
using DiffusionSharp.Evaluation;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Evaluation;

/// <summary>
/// The spoken-digit classifier and evaluator on the tiny espeak-ng set (2 + 1 clips per digit, as the SpokenDigits tests
/// use): it learns its training clips, is cached as a folder and reloaded unchanged, and the evaluator's figures behave
/// as they must on real clips.
/// </summary>
public sealed class SpokenDigitEvaluatorTests : IDisposable
{
    private static readonly SpokenDigitClassifierOptions s_quick = new(Epochs: 40, BatchSize: 8, LearningRate: 3e-3, MaxShiftFrames: 2);

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ClassifierLearnsItsClipsIsCachedAsAFolderAndReloadsToTheSameLogits()
    {
        using var train = SpokenDigits.LoadCached(SpokenDigitsSplit.Train, SpokenDigitsOptions.Tiny, TestCache.Root);
        using var heldOut = SpokenDigits.LoadCached(SpokenDigitsSplit.HeldOut, SpokenDigitsOptions.Tiny, TestCache.Root);
        var lines = new List<string>();
        using var trained = SpokenDigitClassifier.LoadOrTrain(train, heldOut, _dir.Path, s_quick, lines.Add);
        Assert.Contains(lines, l => l.StartsWith("training the spoken-digit classifier", StringComparison.Ordinal));
        Assert.True(trained.Accuracy(train) >= 0.9, $"training accuracy {trained.Accuracy(train):P0}");
        Assert.NotNull(trained.HeldOutAccuracy);
        string folder = Assert.Single(Directory.GetDirectories(Path.Combine(_dir.Path, "evaluation")));
        Assert.True(File.Exists(Path.Combine(folder, SpokenDigitClassifier.WeightsFile)) && File.Exists(Path.Combine(folder, SpokenDigitClassifier.InfoFile)));

        lines.Clear();
        using var cached = SpokenDigitClassifier.LoadOrTrain(train, heldOut, _dir.Path, s_quick, lines.Add);
        Assert.Empty(lines);   // loaded, not trained again
        Assert.Equal(trained.HeldOutAccuracy, cached.HeldOutAccuracy);
        using var a = trained.Logits(heldOut.Samples);
        using var b = cached.Logits(heldOut.Samples);
        Assert.True(a.allclose(b), "the cached classifier gives other logits");
        using (var features = cached.Features(heldOut.Samples))
            Assert.Equal([10L, SpokenDigitClassifier.FeatureDimension], features.shape);
        long live = Sampling.LiveTensors.Count;
        for (int i = 0; i < 3; i++)
            cached.Features(heldOut.Samples).Dispose();
        Assert.Equal(live, Sampling.LiveTensors.Count);

        // Other options train another classifier; clips of another length are refused with their shape.
        using var other = SpokenDigitClassifier.LoadOrTrain(train, heldOut, _dir.Path, s_quick with { Epochs = 1 });
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(_dir.Path, "evaluation")).Length);
        using var short_ = zeros(2, 1, 8000);
        var e = Assert.Throws<ArgumentException>(() => cached.Logits(short_));
        Assert.Contains("[2, 1, 8000]", e.Message);
    }

    [Fact]
    public void HeldOutClipsScoredAsSamplesHaveZeroFidAndTheClassifiersOwnAccuracyAtAnyRate()
    {
        using var train = SpokenDigits.LoadCached(SpokenDigitsSplit.Train, SpokenDigitsOptions.Tiny, TestCache.Root);
        using var heldOut = SpokenDigits.LoadCached(SpokenDigitsSplit.HeldOut, SpokenDigitsOptions.Tiny, TestCache.Root);
        using var evaluator = SpokenDigitEvaluator.Create(train, heldOut, _dir.Path, s_quick);

        var report = evaluator.Evaluate(heldOut.Samples, SpokenDigits.DefaultSampleRate, heldOut.Labels, seed: 3);
        Assert.Equal(10, report.SampleCount);
        Assert.Equal(10, report.TestCount);
        Assert.Equal(10, report.ClassHistogram.Sum());
        Assert.Equal(evaluator.Classifier.HeldOutAccuracy, report.ConditionalAccuracy);
        Assert.Equal(evaluator.Classifier.HeldOutAccuracy, report.ClassifierTestAccuracy);
        // The held-out clips against themselves: the same Gaussian, FID 0; real training clips are some distance away.
        Assert.True(report.FidSamplesVsTest < 1e-6 * Math.Max(1, report.FidFloorTrainVsTest), $"FID of the held-out set against itself: {report.FidSamplesVsTest}");
        Assert.True(report.FidFloorTrainVsTest > 0, "the real-data floor is 0");
        Assert.Equal(SpokenDigitEvaluator.FeatureSpaceDescription, report.FeatureSpace);
        Assert.EndsWith(SpokenDigitEvaluator.NotPublishedFid + Environment.NewLine, report.ToText());
        Assert.DoesNotContain("MNIST", report.ToText());

        // Clips at another rate are resampled to 16 kHz first: the 8 kHz copies come back as one-second clips close to the
        // originals (speech is mostly below 4 kHz), and the floor, which depends only on real clips, is unchanged.
        var eight = new float[10][];
        for (int i = 0; i < 10; i++)
            eight[i] = AudioResampler.Resample(heldOut.Clip(i), SpokenDigits.DefaultSampleRate, 8000);
        using var at8k = AudioClips.FromArrays("8k", eight, heldOut.Labels.data<long>().ToArray(), heldOut.ClassNames, 8000);
        using var back = SpokenDigitEvaluator.ToClassifierClips(at8k.Samples, 8000);
        Assert.Equal([10L, 1, 16000], back.shape);
        for (int i = 0; i < 10; i++)
        {
            using var x = heldOut.Samples[i].flatten();
            using var y = back[i].flatten();
            double correlation = (x * y).sum().item<float>() / Math.Sqrt((x * x).sum().item<float>() * (y * y).sum().item<float>());
            Assert.True(correlation > 0.8, $"clip {i}: correlation {correlation:F3} after 16 → 8 → 16 kHz");
        }
        var resampled = evaluator.Evaluate(at8k.Samples, 8000, at8k.Labels, seed: 3);
        Assert.Equal(report.FidFloorTrainVsTest, resampled.FidFloorTrainVsTest, 9);
        // Unconditional samples have no conditional accuracy; more samples than training clips are refused.
        Assert.Null(evaluator.Evaluate(heldOut.Samples, SpokenDigits.DefaultSampleRate).ConditionalAccuracy);
        using var many = zeros(21, 1, 16000);
        Assert.Throws<ArgumentException>(() => evaluator.Evaluate(many, SpokenDigits.DefaultSampleRate));
    }
}

using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>
/// Evaluates generated digits against MNIST: FID in the feature space of the project's <see cref="DigitClassifier"/>
/// (not the Inception FID) between samples and the test split, the real-data floor (a training subset of the same
/// size vs the test split), the predicted-class histogram and its KL from uniform, and for class-conditional
/// samples the accuracy of the label.
/// </summary>
/// <remarks>The test features are computed once, when the evaluator is created. The evaluator borrows the
/// datasets (they must outlive it) and owns the classifier.</remarks>
public sealed class DigitEvaluator : IDisposable
{
    /// <summary>The feature space, as reports state it.</summary>
    public const string FeatureSpaceDescription =
        "penultimate layer (128-d) of the project's MNIST CNN classifier (DigitClassifier), not Inception-v3";

    private readonly ImageDataset _train;
    private readonly FeatureStatistics _testStatistics;
    private readonly int _testCount;

    private DigitEvaluator(DigitClassifier classifier, ImageDataset train, ImageDataset test)
    {
        Classifier = classifier;
        _train = train;
        _testCount = (int)test.Count;
        using var scope = NewDisposeScope();
        _testStatistics = FeatureStatistics.FromFeatures(classifier.Features(test.Images));
    }

    /// <summary>The classifier behind the features and class predictions.</summary>
    public DigitClassifier Classifier { get; }

    /// <summary>The classifier's accuracy on the test split.</summary>
    public double ClassifierTestAccuracy => Classifier.TestAccuracy ?? double.NaN;

    /// <summary>
    /// Builds an evaluator: the classifier comes from the cache or is trained on <paramref name="train"/> (see
    /// <see cref="DigitClassifier.LoadOrTrain"/>), and its accuracy on <paramref name="test"/> is measured.
    /// </summary>
    public static DigitEvaluator Create(ImageDataset train, ImageDataset test, string? cacheRoot = null,
        DigitClassifierOptions? options = null, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        if (test.Count < 2)
            throw new ArgumentException("the test split needs at least 2 images", nameof(test));
        var classifier = DigitClassifier.LoadOrTrain(train, test, cacheRoot, options, log, cancellationToken);
        try
        {
            return new DigitEvaluator(classifier, train, test);
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    /// <summary>Builds an evaluator around an existing classifier (which it then owns).</summary>
    public static DigitEvaluator Create(DigitClassifier classifier, ImageDataset train, ImageDataset test)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        if (test.Count < 2)
            throw new ArgumentException("the test split needs at least 2 images", nameof(test));
        return new DigitEvaluator(classifier, train, test);
    }

    /// <summary>Evaluates N×1×28×28 samples in [-1, 1] (values outside are clamped, as in a PNG).</summary>
    /// <param name="samples">The generated digits (N ≥ 2, at most the training split's size).</param>
    /// <param name="requestedLabels">For class-conditional samples, the N requested classes (int64); else null.</param>
    /// <param name="seed">Seeds the choice of the training subset of the real-data floor.</param>
    public EvaluationReport Evaluate(Tensor samples, Tensor? requestedLabels = null, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(samples);
        long n = samples.dim() == 4 ? samples.shape[0] : -1;
        if (n < 2 || n > _train.Count)
            throw new ArgumentException($"need 2 to {_train.Count} samples shaped N×1×28×28, not [{string.Join(", ", samples.shape)}]", nameof(samples));
        if (requestedLabels is not null && requestedLabels.numel() != n)
            throw new ArgumentException($"{requestedLabels.numel()} requested labels for {n} samples", nameof(requestedLabels));

        using var scope = NewDisposeScope();
        var logits = Classifier.Logits(samples);
        var predicted = logits.argmax(1);
        using var floorSubset = _train.RandomSubset((int)n, seed);
        return EvaluationReport.FromFeatures(FeatureSpaceDescription, ClassifierTestAccuracy, _testStatistics, _testCount,
            Classifier.Features(samples), Classifier.Features(floorSubset.Images), predicted, _train.ClassNames, requestedLabels);
    }

    /// <summary>Releases the classifier and the test statistics.</summary>
    public void Dispose()
    {
        _testStatistics.Dispose();
        Classifier.Dispose();
    }
}

using System.Globalization;
using System.Text;

namespace DiffusionSharp.Evaluation;

/// <summary>
/// Every figure of one evaluation of generated digits (see <see cref="DigitEvaluator"/>); serialises to JSON as is.
/// </summary>
/// <param name="FeatureSpace">What the FIDs are computed on, stated plainly.</param>
/// <param name="ClassifierTestAccuracy">The evaluation classifier's accuracy on the test split.</param>
/// <param name="SampleCount">Generated samples evaluated.</param>
/// <param name="TestCount">Test images the FIDs compare against.</param>
/// <param name="FidSamplesVsTest">FID between the samples and the test split, in the classifier's feature space.</param>
/// <param name="FidFloorTrainVsTest">FID between a seeded random subset of the training split of
/// <paramref name="SampleCount"/> real images and the test split: what a perfect generator would score at this
/// sample count (FID is biased upward at small N).</param>
/// <param name="ClassNames">The class names, indexing <paramref name="ClassHistogram"/>.</param>
/// <param name="ClassHistogram">Samples per predicted class.</param>
/// <param name="KlFromUniform">KL(predicted-class distribution ‖ uniform) in nats: 0 is perfectly balanced, ln 10 ≈ 2.30
/// a single class.</param>
/// <param name="ConditionalAccuracy">For class-conditional samples, the fraction classified as the requested class;
/// null for unconditional samples.</param>
/// <param name="Caveat">What the FID is not, for this feature space; null for the MNIST classifier's <see cref="NotInceptionFid"/>.</param>
public sealed record EvaluationReport(
    string FeatureSpace,
    double ClassifierTestAccuracy,
    int SampleCount,
    int TestCount,
    double FidSamplesVsTest,
    double FidFloorTrainVsTest,
    IReadOnlyList<string> ClassNames,
    IReadOnlyList<long> ClassHistogram,
    double KlFromUniform,
    double? ConditionalAccuracy,
    string? Caveat = null)
{
    /// <summary>
    /// The report of a classifier-scored evaluation from its parts: classifier-FID of the samples' and of the real
    /// floor subset's features against the reference statistics, and the class coverage of the predictions.
    /// </summary>
    /// <param name="featureSpace">What the features are.</param>
    /// <param name="classifierAccuracy">The classifier's accuracy on the reference split.</param>
    /// <param name="reference">Feature statistics of the reference split (test or held-out).</param>
    /// <param name="referenceCount">Samples in the reference split.</param>
    /// <param name="sampleFeatures">Features of the N samples.</param>
    /// <param name="floorFeatures">Features of N real training samples (the real-data floor).</param>
    /// <param name="predicted">The N predicted classes.</param>
    /// <param name="classNames">The class names.</param>
    /// <param name="requestedLabels">The N requested classes of class-conditional samples, or null.</param>
    /// <param name="caveat">What the FID is not (null: <see cref="NotInceptionFid"/>).</param>
    public static EvaluationReport FromFeatures(string featureSpace, double classifierAccuracy, FeatureStatistics reference, int referenceCount,
        TorchSharp.torch.Tensor sampleFeatures, TorchSharp.torch.Tensor floorFeatures, TorchSharp.torch.Tensor predicted,
        IReadOnlyList<string> classNames, TorchSharp.torch.Tensor? requestedLabels, string? caveat = null)
    {
        using var sampleStatistics = FeatureStatistics.FromFeatures(sampleFeatures);
        using var floorStatistics = FeatureStatistics.FromFeatures(floorFeatures);
        var histogram = ClassCoverage.Histogram(predicted, classNames.Count);
        return new EvaluationReport(
            FeatureSpace: featureSpace,
            ClassifierTestAccuracy: classifierAccuracy,
            SampleCount: (int)sampleFeatures.shape[0],
            TestCount: referenceCount,
            FidSamplesVsTest: FrechetDistance.Compute(sampleStatistics, reference),
            FidFloorTrainVsTest: FrechetDistance.Compute(floorStatistics, reference),
            ClassNames: classNames,
            ClassHistogram: histogram,
            KlFromUniform: ClassCoverage.KlFromUniform(histogram),
            ConditionalAccuracy: requestedLabels is null ? null : ClassCoverage.ConditionalAccuracy(predicted, requestedLabels),
            Caveat: caveat);
    }

    /// <summary>The caveat every report carries.</summary>
    public const string NotInceptionFid =
        "This FID is computed in the feature space of the project's own MNIST classifier, not Inception-v3: it is NOT the Inception FID and cannot be compared with published FID values.";

    /// <summary>A plain-text rendering, one figure per line, ending with the caveat.</summary>
    public string ToText()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"feature space:              {FeatureSpace}");
        sb.AppendLine(c, $"classifier test accuracy:   {ClassifierTestAccuracy:P2}");
        sb.AppendLine(c, $"FID samples vs test:        {FidSamplesVsTest:F3}  ({SampleCount} samples vs {TestCount} test images)");
        sb.AppendLine(c, $"FID floor train vs test:    {FidFloorTrainVsTest:F3}  ({SampleCount} real training images)");
        sb.AppendLine(c, $"class histogram:            {string.Join(" ", ClassNames.Zip(ClassHistogram, (n, k) => $"{n}:{k}"))}");
        sb.AppendLine(c, $"KL(classes ‖ uniform):      {KlFromUniform:F4} nats");
        if (ConditionalAccuracy is double acc)
            sb.AppendLine(c, $"conditional accuracy:       {acc:P2}");
        sb.AppendLine(Caveat ?? NotInceptionFid);
        return sb.ToString();
    }
}

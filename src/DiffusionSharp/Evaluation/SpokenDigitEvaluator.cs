using DiffusionSharp.Audio;
using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>
/// Evaluates generated spoken digits against the spoken-digit set, as <see cref="DigitEvaluator"/> does images: FID in
/// the feature space of the project's <see cref="SpokenDigitClassifier"/> between the samples and the held-out clips
/// (voices never heard in training), the real-data floor (a training subset of the same size vs the held-out clips),
/// the predicted-class histogram and its KL from uniform, and for class-conditional samples the accuracy of the label.
/// </summary>
/// <remarks>
/// Samples at another rate or length are resampled to 16 kHz and centred in one second first
/// (<see cref="ToClassifierClips"/>). The held-out features are computed once. The evaluator borrows the datasets
/// (they must outlive it) and owns the classifier.
/// </remarks>
public sealed class SpokenDigitEvaluator : IDisposable
{
    /// <summary>The feature space, as reports state it.</summary>
    public const string FeatureSpaceDescription =
        "penultimate layer (128-d) of the project's spoken-digit log-mel CNN (SpokenDigitClassifier), not a published audio network";

    /// <summary>The caveat every audio report carries.</summary>
    public const string NotPublishedFid =
        "This FID is computed in the feature space of the project's own spoken-digit classifier: it is not the FAD or FID of published audio work and cannot be compared with published values.";

    private readonly AudioClips _train;
    private readonly FeatureStatistics _heldOutStatistics;
    private readonly int _heldOutCount;

    private SpokenDigitEvaluator(SpokenDigitClassifier classifier, AudioClips train, AudioClips heldOut)
    {
        if (heldOut.Count < 2)
            throw new ArgumentException("the held-out split needs at least 2 clips", nameof(heldOut));
        Classifier = classifier;
        _train = train;
        _heldOutCount = (int)heldOut.Count;
        using var scope = NewDisposeScope();
        _heldOutStatistics = FeatureStatistics.FromFeatures(classifier.Features(heldOut.Samples));
    }

    /// <summary>The classifier behind the features and class predictions.</summary>
    public SpokenDigitClassifier Classifier { get; }

    /// <summary>
    /// Builds an evaluator: the classifier comes from the cache or is trained on <paramref name="train"/> (see
    /// <see cref="SpokenDigitClassifier.LoadOrTrain"/>), and its accuracy on <paramref name="heldOut"/> is measured.
    /// </summary>
    public static SpokenDigitEvaluator Create(AudioClips train, AudioClips heldOut, string? cacheRoot = null,
        SpokenDigitClassifierOptions? options = null, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(heldOut);
        var classifier = SpokenDigitClassifier.LoadOrTrain(train, heldOut, cacheRoot, options, log, cancellationToken);
        try
        {
            return new SpokenDigitEvaluator(classifier, train, heldOut);
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    /// <summary>Builds an evaluator around an existing classifier (which it then owns).</summary>
    public static SpokenDigitEvaluator Create(SpokenDigitClassifier classifier, AudioClips train, AudioClips heldOut)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(heldOut);
        return new SpokenDigitEvaluator(classifier, train, heldOut);
    }

    /// <summary>
    /// Clips [N, 1, L] at <paramref name="sampleRate"/> (any device) as the classifier takes them: N×1×16000 float32 on
    /// the CPU, resampled (<see cref="AudioResampler"/>) and centred or centre-cropped like <see cref="AudioFolder"/> does.
    /// </summary>
    public static Tensor ToClassifierClips(Tensor samples, int sampleRate)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.dim() != 3 || samples.shape[1] != 1)
            throw new ArgumentException($"expected mono clips [N, 1, L], not [{string.Join(", ", samples.shape)}]", nameof(samples));
        using var scope = NewDisposeScope();
        var cpu = samples.detach().to(ScalarType.Float32, CPU);
        if (sampleRate == SpokenDigitClassifier.SampleRate && samples.shape[2] == SpokenDigitClassifier.Length)
            return cpu.clone().MoveToOuterDisposeScope();
        int n = (int)samples.shape[0], length = (int)samples.shape[2];
        float[] values = cpu.contiguous().data<float>().ToArray();
        var result = new float[n * SpokenDigitClassifier.Length];
        for (int i = 0; i < n; i++)
        {
            var clip = AudioFolder.Prepare(new MonoAudio(values.AsSpan(i * length, length).ToArray(), sampleRate),
                SpokenDigitClassifier.SampleRate, SpokenDigitClassifier.Length);
            clip.CopyTo(result, i * SpokenDigitClassifier.Length);
        }
        return tensor(result, [n, 1, SpokenDigitClassifier.Length]).MoveToOuterDisposeScope();
    }

    /// <summary>Evaluates N generated clips [N, 1, L] at <paramref name="sampleRate"/> Hz.</summary>
    /// <param name="samples">The generated clips (2 ≤ N ≤ the training split's size).</param>
    /// <param name="sampleRate">Their rate.</param>
    /// <param name="requestedLabels">For class-conditional samples, the N requested digits (int64); else null.</param>
    /// <param name="seed">Seeds the choice of the training subset of the real-data floor.</param>
    public EvaluationReport Evaluate(Tensor samples, int sampleRate, Tensor? requestedLabels = null, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(samples);
        long n = samples.dim() == 3 ? samples.shape[0] : -1;
        if (n < 2 || n > _train.Count)
            throw new ArgumentException($"need 2 to {_train.Count} clips shaped N×1×L, not [{string.Join(", ", samples.shape)}]", nameof(samples));
        if (requestedLabels is not null && requestedLabels.numel() != n)
            throw new ArgumentException($"{requestedLabels.numel()} requested labels for {n} samples", nameof(requestedLabels));

        using var scope = NewDisposeScope();
        var clips = ToClassifierClips(samples, sampleRate);
        var predicted = Classifier.Predict(clips);
        long[] subset = SeededShuffle.Permutation(_train.Count, seed).Take((int)n).ToArray();
        var floorClips = _train.Samples.index_select(0, tensor(subset));
        return EvaluationReport.FromFeatures(FeatureSpaceDescription, Classifier.HeldOutAccuracy ?? double.NaN, _heldOutStatistics, _heldOutCount,
            Classifier.Features(clips), Classifier.Features(floorClips), predicted, _train.ClassNames, requestedLabels, NotPublishedFid);
    }

    /// <summary>Releases the classifier and the held-out statistics.</summary>
    public void Dispose()
    {
        _heldOutStatistics.Dispose();
        Classifier.Dispose();
    }
}

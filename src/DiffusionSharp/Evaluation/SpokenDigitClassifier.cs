using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using DiffusionSharp.Audio;
using DiffusionSharp.Data;
using DiffusionSharp.IO;
using DiffusionSharp.Models.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>How the spoken-digit classifier is trained. Part of the cache key: other options train another network.</summary>
/// <param name="Epochs">Passes over the training split.</param>
/// <param name="BatchSize">Clips per Adam step.</param>
/// <param name="LearningRate">Adam's peak step size; it decays to 0 along a half cosine.</param>
/// <param name="MaxShiftFrames">Augmentation: each training spectrogram is moved in time by up to this many 10 ms frames
/// (silence filled in), so a word that a model places off-centre is still recognised.</param>
/// <param name="Seed">Seeds the initial weights, the batch order and the shifts.</param>
public sealed record SpokenDigitClassifierOptions(int Epochs = 10, int BatchSize = 64, double LearningRate = 2e-3, int MaxShiftFrames = 10, long Seed = 0);

/// <summary>
/// A small log-mel CNN that tells the ten spoken digits apart, trained by the project on the spoken-digit training split
/// (<see cref="SpokenDigits"/>); its 128-d penultimate layer is the feature space of the audio classifier-FID. Like
/// <see cref="DigitClassifier"/> for MNIST it is the project's own yardstick, not a published audio network.
/// </summary>
/// <remarks>
/// Input: N×1×16000 clips (one second at 16 kHz) → the 64-band log-mel spectrogram of <see cref="LogMelSpectrogram"/>
/// (25 ms / 10 ms, 101 frames) → levels relative to the clip's loudest bin, clamped at −80 dB and mapped to [−1, 1]
/// (so the clip's gain does not matter). Network: 1-D convolutions over time with the mel bands as channels
/// (64→64 k3, 64→128 k3 stride 2, 128→128 k3 stride 2, 128→128 k3 stride 2, ReLU after each; 13 frames left) →
/// linear 1664→128, ReLU (the features) → linear 128→10. Every width is a multiple of 32, so
/// <see cref="CpuConvolution"/> adds no padding. Deterministic for a seed: weights from a private generator
/// (PyTorch's default bound 1/√fan_in), batches and shifts from <see cref="SeededShuffle"/>, one intra-op thread,
/// no dropout. The classifier always runs on the CPU.
/// </remarks>
public sealed class SpokenDigitClassifier : IDisposable
{
    /// <summary>The length of a feature vector.</summary>
    public const int FeatureDimension = 128;

    /// <summary>The rate the network takes; <see cref="SpokenDigitEvaluator"/> resamples other rates to it.</summary>
    public const int SampleRate = SpokenDigits.DefaultSampleRate;

    /// <summary>Samples per clip (one second).</summary>
    public const int Length = SpokenDigits.DefaultSampleRate;

    /// <summary>The weights in a saved classifier's folder.</summary>
    public const string WeightsFile = "classifier.safetensors";

    /// <summary>How the saved classifier was made (options, data, held-out accuracy, training time) in its folder.</summary>
    public const string InfoFile = "classifier.json";

    /// <summary>Bumped whenever the architecture, front end or training changes, so stale cached weights are not reused.</summary>
    internal const int Version = 1;

    /// <summary>80 dB in natural-log power units: 80 / (10 / ln 10).</summary>
    private const float DynamicRange = 18.420681f;

    private static readonly Lock s_trainGate = new();

    private readonly Network _network;
    private readonly LogMelSpectrogram _mel = new();

    private SpokenDigitClassifier(Network network)
    {
        _network = network;
        _network.eval();
    }

    /// <summary>The accuracy on the held-out split (voices never heard in training) measured when the classifier was made or loaded.</summary>
    public double? HeldOutAccuracy { get; private set; }

    /// <summary>Seconds its training took, when this process trained it or its folder records it.</summary>
    public double? TrainingSeconds { get; private set; }

    /// <summary>Trains a classifier on <paramref name="train"/> (N×1×16000 clips at 16 kHz, labels 0–9).</summary>
    public static SpokenDigitClassifier Train(AudioClips train, SpokenDigitClassifierOptions? options = null, Action<string>? log = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        options ??= new SpokenDigitClassifierOptions();
        CheckClips(train, nameof(train));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Epochs, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BatchSize, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxShiftFrames, nameof(options));
        var network = new Network();
        var classifier = new SpokenDigitClassifier(network);
        int threads = get_num_threads();
        try
        {
            // One intra-op thread, as DigitClassifier: small layers, a busy 2-core host, the same weights everywhere.
            set_num_threads(1);
            var watch = Stopwatch.StartNew();
            using var inputs = classifier.Inputs(train.Samples).DetachFromDisposeScope();  // N × 64 × 101, computed once
            network.Initialise(options.Seed);
            ClassifierTraining.Run(network, inputs, train.Labels, options.Epochs, options.BatchSize, options.LearningRate, options.Seed,
                (Tensor batch, ref SeededShuffle.SplitMix64 rng) => Shift(batch, options.MaxShiftFrames, ref rng), "spoken-digit classifier", watch, log, cancellationToken);
            network.eval();
            classifier.TrainingSeconds = watch.Elapsed.TotalSeconds;
            return classifier;
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    /// <summary>
    /// The classifier for <paramref name="train"/> and <paramref name="options"/> from the cache
    /// (<c>&lt;cache&gt;/evaluation/spoken-digit-classifier-&lt;key&gt;/</c>, the key hashing the options, the version
    /// and the training clips and labels), training and caching it when absent. <see cref="HeldOutAccuracy"/> is
    /// measured on <paramref name="heldOut"/>.
    /// </summary>
    public static SpokenDigitClassifier LoadOrTrain(AudioClips train, AudioClips heldOut, string? cacheRoot = null,
        SpokenDigitClassifierOptions? options = null, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(heldOut);
        options ??= new SpokenDigitClassifierOptions();
        CheckClips(train, nameof(train));
        CheckClips(heldOut, nameof(heldOut));
        string folder = Path.Combine(DataCache.Resolve(cacheRoot), "evaluation", $"spoken-digit-classifier-{CacheKey(train, options)}");
        // Callers in one process wait for one training; processes race harmlessly (atomic writes, same weights).
        lock (s_trainGate)
        {
            bool cached = File.Exists(Path.Combine(folder, InfoFile));
            if (!cached)
                log?.Invoke($"training the spoken-digit classifier on {train.Name} ({train.Count} clips); it is cached in {folder}");
            var classifier = cached ? Load(folder) : Train(train, options, log, cancellationToken);
            try
            {
                classifier.HeldOutAccuracy = classifier.Accuracy(heldOut);
                if (!cached)
                {
                    classifier.Save(folder, options, train.Name, heldOut.Name);
                    log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                        $"spoken-digit classifier: {classifier.HeldOutAccuracy:P2} on {heldOut.Name} ({heldOut.Count} clips) after {classifier.TrainingSeconds:F0} s of training"));
                }
                return classifier;
            }
            catch
            {
                classifier.Dispose();
                throw;
            }
        }
    }

    /// <summary>Loads a folder written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">A file is missing or malformed, or holds another network's weights.</exception>
    public static SpokenDigitClassifier Load(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string path = Path.Combine(folder, WeightsFile);
        if (!File.Exists(path))
            throw new InvalidDataException($"{path}: not found");
        var network = new Network();
        try
        {
            SafeTensors.LoadInto(network, path);
            var classifier = new SpokenDigitClassifier(network);
            string info = Path.Combine(folder, InfoFile);
            if (File.Exists(info))
            {
                try
                {
                    using var doc = JsonDocument.Parse(File.ReadAllText(info));
                    if (doc.RootElement.TryGetProperty("training_seconds", out var s) && s.ValueKind == JsonValueKind.Number)
                        classifier.TrainingSeconds = s.GetDouble();
                }
                catch (JsonException e)
                {
                    throw new InvalidDataException($"{info}: malformed ({e.Message})", e);
                }
            }
            return classifier;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Writes the weights and <see cref="InfoFile"/> (last, so its presence marks a complete folder).</summary>
    public void Save(string folder, SpokenDigitClassifierOptions options, string trainName, string heldOutName)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(options);
        Directory.CreateDirectory(folder);
        SafeTensors.Save(Path.Combine(folder, WeightsFile), _network.state_dict(), new Dictionary<string, string> { ["version"] = Version.ToString(CultureInfo.InvariantCulture) });
        var info = new Dictionary<string, object?>
        {
            ["version"] = Version,
            ["options"] = options,
            ["train"] = trainName,
            ["held_out"] = heldOutName,
            ["held_out_accuracy"] = HeldOutAccuracy,
            ["training_seconds"] = TrainingSeconds is { } s ? Math.Round(s, 1) : null,
        };
        AtomicFile.WriteAllText(Path.Combine(folder, InfoFile), JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The N×128 float32 penultimate-layer features of N×1×16000 clips (CPU), in batches.</summary>
    public Tensor Features(Tensor clips, int batchSize = 250) => Run(clips, batchSize, features: true);

    /// <summary>The N×10 class logits of N×1×16000 clips (CPU).</summary>
    public Tensor Logits(Tensor clips, int batchSize = 250) => Run(clips, batchSize, features: false);

    /// <summary>The predicted digit (int64) of each clip.</summary>
    public Tensor Predict(Tensor clips, int batchSize = 250)
    {
        using var scope = NewDisposeScope();
        return Logits(clips, batchSize).argmax(1).MoveToOuterDisposeScope();
    }

    /// <summary>The fraction of <paramref name="data"/> classified as labelled.</summary>
    public double Accuracy(AudioClips data)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckClips(data, nameof(data));
        using var scope = NewDisposeScope();
        return Predict(data.Samples).eq(data.Labels).to(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>Releases the network and the front end.</summary>
    public void Dispose()
    {
        _network.Dispose();
        _mel.Dispose();
    }

    /// <summary>The network's input: log-mel levels relative to each clip's loudest bin, −80…0 dB mapped to [−1, 1].</summary>
    internal Tensor Inputs(Tensor clips)
    {
        using var scope = NewDisposeScope();
        var logMel = _mel.Compute(clips.to(ScalarType.Float32, CPU).clamp(-1f, 1f));
        // A silent clip has no loudest bin: the reference is at least 20 dB above the spectrogram's floor, so it stays dark.
        var reference = logMel.amax([1, 2], keepdim: true).clamp_min((float)Math.Log(_mel.Options.Floor) + DynamicRange / 4);
        var relative = (logMel - reference).clamp_min(-DynamicRange);
        return (relative / (DynamicRange / 2) + 1).MoveToOuterDisposeScope();
    }

    private Tensor Run(Tensor clips, int batchSize, bool features)
    {
        ArgumentNullException.ThrowIfNull(clips);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (clips.dim() != 3 || clips.shape[1] != 1 || clips.shape[2] != Length)
            throw new ArgumentException($"the spoken-digit classifier takes N×1×{Length} clips at {SampleRate} Hz, not [{string.Join(", ", clips.shape)}]", nameof(clips));
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var outputs = new List<Tensor>();
        for (long start = 0; start < clips.shape[0]; start += batchSize)
        {
            var x = Inputs(clips.narrow(0, start, Math.Min(batchSize, clips.shape[0] - start)));
            outputs.Add(features ? _network.Features(x) : _network.call(x));
        }
        return outputs.Count == 0
            ? zeros(0, features ? FeatureDimension : SpokenDigits.ClassNames.Count).MoveToOuterDisposeScope()
            : cat(outputs, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Moves each N×mels×frames input by an integer number of frames in [−s, s] drawn from <paramref name="rng"/>, filling with silence (−1).</summary>
    private static Tensor Shift(Tensor batch, int maxShift, ref SeededShuffle.SplitMix64 rng)
    {
        if (maxShift == 0)
            return batch;
        long frames = batch.shape[2];
        var padded = nn.functional.pad(batch, [maxShift, maxShift], value: -1.0);
        var rows = new Tensor[batch.shape[0]];
        for (int i = 0; i < rows.Length; i++)
            rows[i] = padded[i].narrow(1, (long)rng.NextBelow((ulong)(2 * maxShift + 1)), frames);
        return stack(rows);
    }

    private static void CheckClips(AudioClips data, string name)
    {
        if (data.SampleRate != SampleRate || data.Length != Length || data.ClassNames.Count != SpokenDigits.ClassNames.Count)
            throw new ArgumentException($"{data.Name}: the spoken-digit classifier needs 1-s clips at {SampleRate} Hz in 10 classes, not {data.Length} samples at {data.SampleRate} Hz in {data.ClassNames.Count}", name);
    }

    /// <summary>SHA-256 over the version, the options and the training tensors' bytes (first 16 hex digits).</summary>
    private static string CacheKey(AudioClips train, SpokenDigitClassifierOptions options)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(JsonSerializer.SerializeToUtf8Bytes(new { Version, options }));
        using (var scope = NewDisposeScope())
        {
            hash.AppendData(train.Samples.contiguous().bytes);
            hash.AppendData(train.Labels.contiguous().bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }

    /// <summary>The network; field names are the checkpoint keys. Convolutions go through <see cref="CpuConvolution"/>.</summary>
    private sealed class Network : nn.Module<Tensor, Tensor>
    {
        private const int Mels = 64, Frames = 101, LastFrames = 13, Width = 128;

        private readonly Conv1d conv1 = nn.Conv1d(Mels, 64, 3, padding: 1);
        private readonly Conv1d conv2 = nn.Conv1d(64, Width, 3, stride: 2, padding: 1);
        private readonly Conv1d conv3 = nn.Conv1d(Width, Width, 3, stride: 2, padding: 1);
        private readonly Conv1d conv4 = nn.Conv1d(Width, Width, 3, stride: 2, padding: 1);
        private readonly Linear fc1 = nn.Linear(Width * LastFrames, FeatureDimension);
        private readonly Linear fc2 = nn.Linear(FeatureDimension, 10);

        public Network() : base(nameof(SpokenDigitClassifier)) => RegisterComponents();

        /// <summary>U(−1/√fan_in, 1/√fan_in) for every weight and bias, from a private generator.</summary>
        public void Initialise(long seed)
        {
            using var generator = new Generator(unchecked((ulong)seed), CPU);
            using var noGrad = no_grad();
            foreach (var (layer, fanIn) in new (nn.Module, long)[] { (conv1, Mels * 3), (conv2, 64 * 3), (conv3, Width * 3), (conv4, Width * 3), (fc1, Width * LastFrames), (fc2, FeatureDimension) })
            {
                double bound = 1 / Math.Sqrt(fanIn);
                foreach (var p in layer.parameters())
                {
                    using var u = rand(p.shape, generator: generator);
                    p.copy_(u.mul_(2 * bound).sub_(bound));
                }
            }
        }

        public Tensor Features(Tensor x)
        {
            if (x.shape[1] != Mels || x.shape[2] != Frames)
                throw new ArgumentException($"expected N×{Mels}×{Frames} log-mel inputs, not [{string.Join(", ", x.shape)}]", nameof(x));
            x = nn.functional.relu(Conv(conv1, x, 1, 1));
            x = nn.functional.relu(Conv(conv2, x, 2, 1));
            x = nn.functional.relu(Conv(conv3, x, 2, 1));
            x = nn.functional.relu(Conv(conv4, x, 2, 1));
            return nn.functional.relu(fc1.call(x.flatten(1)));
        }

        public override Tensor forward(Tensor x) => fc2.call(Features(x));

        private static Tensor Conv(Conv1d conv, Tensor x, long stride, long padding) =>
            CpuConvolution.Conv1d(x, conv.weight!, conv.bias, stride, padding);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using DiffusionSharp.Data;
using DiffusionSharp.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>How the evaluation classifier is trained. Part of the cache key: other options train another network.</summary>
/// <param name="Epochs">Passes over the training split.</param>
/// <param name="BatchSize">Images per Adam step.</param>
/// <param name="LearningRate">Adam's peak step size; it decays to 0 along a half cosine.</param>
/// <param name="MaxShift">Augmentation: each training image is translated by up to this many pixels in x and y
/// (background filled in). No flips: a mirrored digit is not a digit.</param>
/// <param name="Seed">Seeds the initial weights, the batch order and the shifts.</param>
public sealed record DigitClassifierOptions(int Epochs = 10, int BatchSize = 64, double LearningRate = 2e-3, int MaxShift = 2, long Seed = 0);

/// <summary>
/// A small CNN that classifies 28×28 digits, trained by the project on its own MNIST training split; its
/// 128-d penultimate layer is the feature space of the project's FID (see <see cref="FrechetDistance"/>).
/// That FID is <b>not</b> the Inception FID of Heusel et al. and its values are not comparable with published ones.
/// </summary>
/// <remarks>
/// Architecture: conv 3×3 stride 2 1→16, ReLU → conv 3×3 16→32, ReLU, max-pool 2 → conv 3×3 32→64, ReLU →
/// linear 3136→128, ReLU (the features) → linear 128→10 (no max-pool at 28×28: on libtorch 2.10's CPU it cost more
/// than the rest of the network). Trained with the defaults it reaches 98.8% on the 1,000-image test split of
/// <see cref="MnistNpmPackage"/> in ~40 s of one CPU core. Inputs are N×1×28×28 in [-1, 1]; they are clamped to [-1, 1] first, as a PNG
/// would be. Training is deterministic for a seed: the weights are drawn from a private generator (PyTorch's default
/// bound 1/√fan_in), batches and shifts from <see cref="SeededShuffle"/>, and there is no dropout.
/// </remarks>
public sealed class DigitClassifier : IDisposable
{
    /// <summary>The length of a feature vector.</summary>
    public const int FeatureDimension = 128;

    /// <summary>The image side the network takes.</summary>
    public const int Side = 28;

    /// <summary>Bumped whenever the architecture or training changes, so stale cached weights are not reused.</summary>
    internal const int Version = 1;

    private static readonly Lock s_trainGate = new();

    private readonly Network _network;

    private DigitClassifier(Network network)
    {
        _network = network;
        _network.eval();
    }

    /// <summary>The accuracy on the training set's held-out split measured when the network was made or loaded, if known.</summary>
    public double? TestAccuracy { get; private set; }

    /// <summary>Trains a classifier on <paramref name="train"/> (1×28×28 images, labels 0–9).</summary>
    /// <param name="train">The training split.</param>
    /// <param name="options">Training options; null for the defaults.</param>
    /// <param name="log">Receives one line per epoch.</param>
    /// <param name="cancellationToken">Stops training between steps.</param>
    public static DigitClassifier Train(ImageDataset train, DigitClassifierOptions? options = null, Action<string>? log = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        options ??= new DigitClassifierOptions();
        CheckDigits(train, nameof(train));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Epochs, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BatchSize, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxShift, nameof(options));

        var network = new Network();
        int threads = get_num_threads();
        try
        {
            // One intra-op thread: the layers are too small to gain from more, a busy machine makes more threads
            // much slower (measured: 6 epochs took 25 s with 1 thread and 443 s with 2 on a loaded 2-core host),
            // and a fixed count gives the same weights on every machine.
            set_num_threads(1);
            network.Initialise(options.Seed);
            var watch = Stopwatch.StartNew();
            ClassifierTraining.Run(network, train.Images, train.Labels, options.Epochs, options.BatchSize, options.LearningRate, options.Seed,
                (Tensor batch, ref SeededShuffle.SplitMix64 rng) => Shift(batch, options.MaxShift, ref rng), "digit classifier", watch, log, cancellationToken);
            return new DigitClassifier(network);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    /// <summary>
    /// The classifier for <paramref name="train"/> and <paramref name="options"/> from the cache
    /// (<c>&lt;cache&gt;/evaluation/digit-classifier-&lt;key&gt;.safetensors</c>, the key hashing the options, the
    /// network version and the training images and labels), training and caching it when absent.
    /// <see cref="TestAccuracy"/> is measured on <paramref name="test"/>.
    /// </summary>
    public static DigitClassifier LoadOrTrain(ImageDataset train, ImageDataset test, string? cacheRoot = null,
        DigitClassifierOptions? options = null, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        options ??= new DigitClassifierOptions();
        CheckDigits(train, nameof(train));
        CheckDigits(test, nameof(test));
        string path = Path.Combine(DataCache.Resolve(cacheRoot), "evaluation", $"digit-classifier-{CacheKey(train, options)}.safetensors");
        DigitClassifier classifier;
        // Callers in one process wait for one training; processes race harmlessly (atomic writes, same weights).
        lock (s_trainGate)
            classifier = File.Exists(path) ? Load(path) : TrainAndCache(train, options, path, log, cancellationToken);
        try
        {
            classifier.TestAccuracy = classifier.Accuracy(test);
            return classifier;
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    private static DigitClassifier TrainAndCache(ImageDataset train, DigitClassifierOptions options, string path,
        Action<string>? log, CancellationToken cancellationToken)
    {
        log?.Invoke($"training the evaluation digit classifier on {train.Name} ({train.Count} images); it is cached in {path}");
        var classifier = Train(train, options, log, cancellationToken);
        try
        {
            classifier.Save(path, new Dictionary<string, string>
            {
                ["options"] = JsonSerializer.Serialize(options),
                ["train"] = train.Name,
                ["version"] = Version.ToString(CultureInfo.InvariantCulture),
            });
            return classifier;
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    /// <summary>Loads weights written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The file is malformed or holds another network's weights.</exception>
    public static DigitClassifier Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var network = new Network();
        try
        {
            SafeTensors.LoadInto(network, path);
            return new DigitClassifier(network);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Writes the weights as safetensors (atomically).</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        SafeTensors.Save(path, _network.state_dict(), metadata);
    }

    /// <summary>The N×128 float32 penultimate-layer features of N×1×28×28 images (CPU), computed in batches.</summary>
    public Tensor Features(Tensor images, int batchSize = 500) => Run(images, batchSize, features: true);

    /// <summary>The N×10 class logits of N×1×28×28 images (CPU).</summary>
    public Tensor Logits(Tensor images, int batchSize = 500) => Run(images, batchSize, features: false);

    /// <summary>The predicted digit (int64) of each of N×1×28×28 images.</summary>
    public Tensor Predict(Tensor images, int batchSize = 500)
    {
        using var scope = NewDisposeScope();
        return Logits(images, batchSize).argmax(1).MoveToOuterDisposeScope();
    }

    /// <summary>The fraction of <paramref name="data"/> classified as labelled.</summary>
    public double Accuracy(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckDigits(data, nameof(data));
        using var scope = NewDisposeScope();
        return Predict(data.Images).eq(data.Labels).to(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>Releases the network.</summary>
    public void Dispose() => _network.Dispose();

    private Tensor Run(Tensor images, int batchSize, bool features)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (images.dim() != 4 || images.shape[1] != 1 || images.shape[2] != Side || images.shape[3] != Side)
            throw new ArgumentException($"the digit classifier takes N×1×{Side}×{Side} images, not [{string.Join(", ", images.shape)}]", nameof(images));
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var outputs = new List<Tensor>();
        for (long start = 0; start < images.shape[0]; start += batchSize)
        {
            var x = images.narrow(0, start, Math.Min(batchSize, images.shape[0] - start))
                .to(ScalarType.Float32, CPU).clamp(-1f, 1f);
            outputs.Add(features ? _network.Features(x) : _network.call(x));
        }
        return outputs.Count == 0
            ? zeros(0, features ? FeatureDimension : 10).MoveToOuterDisposeScope()
            : cat(outputs, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Translates each image by an integer offset in [−s, s]² drawn from <paramref name="rng"/>, filling with −1.</summary>
    private static Tensor Shift(Tensor batch, int maxShift, ref SeededShuffle.SplitMix64 rng)
    {
        if (maxShift == 0)
            return batch;
        var padded = nn.functional.pad(batch, [maxShift, maxShift, maxShift, maxShift], value: -1.0);
        var rows = new Tensor[batch.shape[0]];
        for (int i = 0; i < rows.Length; i++)
        {
            long dy = (long)rng.NextBelow((ulong)(2 * maxShift + 1)), dx = (long)rng.NextBelow((ulong)(2 * maxShift + 1));
            rows[i] = padded[i].narrow(1, dy, Side).narrow(2, dx, Side);
        }
        return stack(rows);
    }

    private static void CheckDigits(ImageDataset data, string name)
    {
        if (data.Channels != 1 || data.Height != Side || data.Width != Side || data.ClassNames.Count != 10)
            throw new ArgumentException($"{data.Name}: the digit classifier needs 1×{Side}×{Side} images in 10 classes, not {data.Channels}×{data.Height}×{data.Width} in {data.ClassNames.Count}", name);
    }

    /// <summary>SHA-256 over the version, the options and the training tensors' bytes (first 16 hex digits).</summary>
    private static string CacheKey(ImageDataset train, DigitClassifierOptions options)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(JsonSerializer.SerializeToUtf8Bytes(new { Version, options }));
        using (var scope = NewDisposeScope())
        {
            hash.AppendData(train.Images.contiguous().bytes);
            hash.AppendData(train.Labels.contiguous().bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }

    /// <summary>The network; field names are the checkpoint keys.</summary>
    internal sealed class Network : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1 = nn.Conv2d(1, 16, 3, stride: 2, padding: 1);
        private readonly Conv2d conv2 = nn.Conv2d(16, 32, 3, padding: 1);
        private readonly Conv2d conv3 = nn.Conv2d(32, 64, 3, padding: 1);
        private readonly Linear fc1 = nn.Linear(64 * 7 * 7, FeatureDimension);
        private readonly Linear fc2 = nn.Linear(FeatureDimension, 10);

        public Network() : base(nameof(DigitClassifier)) => RegisterComponents();

        /// <summary>U(−1/√fan_in, 1/√fan_in) for every weight and bias (PyTorch's default bound), from a private generator.</summary>
        public void Initialise(long seed)
        {
            using var generator = new Generator(unchecked((ulong)seed), CPU);
            using var noGrad = no_grad();
            foreach (var (layer, fanIn) in new (nn.Module, long)[] { (conv1, 1 * 9), (conv2, 16 * 9), (conv3, 32 * 9), (fc1, 64 * 7 * 7), (fc2, FeatureDimension) })
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
            x = nn.functional.relu(Conv1(x));
            x = nn.functional.max_pool2d(nn.functional.relu(conv2.call(x)), 2);
            x = nn.functional.relu(conv3.call(x));
            return nn.functional.relu(fc1.call(x.flatten(1)));
        }

        public override Tensor forward(Tensor x) => fc2.call(Features(x));

        /// <summary>
        /// conv1 as im2col + matmul: y[n, o, p] = Σ_k W[o, k] · unfold(x)[n, k, p] + b[o]. The same function as
        /// <c>conv1.call(x)</c>, but libtorch 2.10's CPU convolution with one input channel at stride 1 took ~20 ms
        /// per 64 images here (forward), against ~1 ms for this.
        /// </summary>
        internal Tensor Conv1(Tensor x)
        {
            long n = x.shape[0], outChannels = conv1.weight!.shape[0];
            var columns = nn.functional.unfold(x, 3, padding: 1, stride: 2);
            var y = conv1.weight.view(outChannels, 9).matmul(columns) + conv1.bias!.view(1, outChannels, 1);
            return y.view(n, outChannels, Side / 2, Side / 2);
        }

        /// <summary>conv1 through libtorch's convolution, to check <see cref="Conv1"/> against.</summary>
        internal Tensor Conv1Reference(Tensor x) => conv1.call(x);
    }
}

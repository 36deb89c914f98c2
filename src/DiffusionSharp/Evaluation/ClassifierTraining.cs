using System.Diagnostics;
using System.Globalization;
using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>Moves each sample of a training batch by a random amount drawn from <paramref name="rng"/> (the augmentation).</summary>
internal delegate Tensor BatchAugmentation(Tensor batch, ref SeededShuffle.SplitMix64 rng);

/// <summary>
/// The training loop of the project's small evaluation classifiers (<see cref="DigitClassifier"/>,
/// <see cref="SpokenDigitClassifier"/>): Adam with a half-cosine decay from the peak rate to 0 over all steps,
/// cross-entropy, each epoch's order from <see cref="SeededShuffle.Permutation"/> and its augmentation draws from a
/// <see cref="SeededShuffle.SplitMix64"/> of (seed, epoch), so the weights depend on the seed alone.
/// </summary>
internal static class ClassifierTraining
{
    /// <summary>
    /// Trains <paramref name="network"/> (already initialised) on <paramref name="inputs"/> [N, …] and
    /// <paramref name="labels"/> [N]; logs one line per epoch, named <paramref name="name"/>, with the time on
    /// <paramref name="watch"/>. Leaves the network in training mode.
    /// </summary>
    public static void Run(TorchSharp.torch.nn.Module<Tensor, Tensor> network, Tensor inputs, Tensor labels, int epochs, int batchSize,
        double learningRate, long seed, BatchAugmentation augment, string name, Stopwatch watch, Action<string>? log, CancellationToken cancellationToken)
    {
        network.train();
        using var optimizer = optim.Adam(network.parameters(), learningRate);
        long n = inputs.shape[0];
        int batches = (int)((n + batchSize - 1) / batchSize);
        long totalSteps = (long)batches * epochs, step = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            long[] order = SeededShuffle.Permutation(n, SeededShuffle.Mix(seed, epoch));
            var shifts = new SeededShuffle.SplitMix64(SeededShuffle.Mix(seed, epoch, 0x7368696674));
            double lossSum = 0;
            for (int b = 0; b < batches; b++, step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                int start = b * batchSize, size = (int)Math.Min(batchSize, n - start);
                var idx = tensor(order.AsSpan(start, size).ToArray(), [size]);
                var x = augment(inputs.index_select(0, idx), ref shifts);
                var y = labels.index_select(0, idx);
                double lr = learningRate * 0.5 * (1 + Math.Cos(Math.PI * step / totalSteps));
                foreach (var group in optimizer.ParamGroups)
                    group.LearningRate = lr;
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(network.call(x), y);
                loss.backward();
                optimizer.step();
                lossSum += loss.item<float>() * size;
            }
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"{name} epoch {epoch + 1}/{epochs}: loss {lossSum / n:F4} ({watch.Elapsed.TotalSeconds:F0} s)"));
        }
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>A held-out bits-per-character figure and how it was obtained.</summary>
/// <param name="BitsPerCharacter">Nats per character / ln 2.</param>
/// <param name="Sequences">Held-out windows scored.</param>
/// <param name="Characters">Characters scored (Sequences × window length).</param>
/// <param name="TimeSamples">t samples per window for the diffusion bound (antithetic); 0 for the exact AR figure.</param>
/// <param name="IsUpperBound">True for the diffusion NELBO (an upper bound on the model's NLL), false for the exact AR NLL.</param>
public sealed record TextEvaluationResult(double BitsPerCharacter, long Sequences, long Characters, int TimeSamples, bool IsUpperBound)
{
    /// <summary>One line, e.g. <c>≤ 2.31 bits/char (diffusion NELBO, 16 antithetic t samples per window, 1,555 windows)</c>.</summary>
    public override string ToString() => IsUpperBound
        ? FormattableString.Invariant($"≤ {BitsPerCharacter:F3} bits/char (masked-diffusion NELBO, {TimeSamples} antithetic t samples per window, {Sequences:N0} windows, {Characters:N0} characters)")
        : FormattableString.Invariant($"{BitsPerCharacter:F3} bits/char (autoregressive, exact, {Sequences:N0} windows, {Characters:N0} characters)");
}

/// <summary>Held-out bits per character of the masked-diffusion model (its NELBO) and of the autoregressive twin (exact).</summary>
public static class TextEvaluation
{
    /// <summary>
    /// The diffusion NELBO per character, in bits: each window gets <paramref name="timeSamples"/> times t_k = 1 − ((u + k/K)
    /// mod 1) ∈ (0, 1] (one u per window; ε = 0, so the whole interval is covered and the estimate is unbiased for the
    /// bound) and one masking per time; the mean over windows and times, over characters, / ln 2. The estimate's
    /// randomness is fixed by <paramref name="seed"/>.
    /// </summary>
    public static TextEvaluationResult DiffusionBitsPerCharacter(ITokenDenoiser model, Tensor windows, int timeSamples = 16, long seed = 0, int batchSize = 64)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeSamples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        Check(windows);
        using var generator = new Generator((ulong)seed);
        long n = windows.shape[0], l = windows.shape[1];
        long perBatch = Math.Max(1, batchSize / timeSamples);
        double totalNats = 0;
        using (inference_mode())
        {
            for (long start = 0; start < n; start += perBatch)
            {
                using var scope = NewDisposeScope();
                long count = Math.Min(perBatch, n - start);
                var x0 = windows.narrow(0, start, count).repeat_interleave(timeSamples, 0);
                var t = cat(Enumerable.Range(0, (int)count).Select(_ => MaskedDiffusion.AntitheticTimes(timeSamples, generator, 0)).ToArray());
                totalNats += MaskedDiffusion.SequenceNelbo(model, x0, t, generator).to(ScalarType.Float64).sum().item<double>();
            }
        }
        double natsPerChar = totalNats / timeSamples / (n * l);
        return new TextEvaluationResult(natsPerChar / Math.Log(2), n, n * l, timeSamples, IsUpperBound: true);
    }

    /// <summary>The autoregressive twin's exact NLL per character, in bits (<see cref="AutoregressiveLoss.SequenceNll"/>).</summary>
    public static TextEvaluationResult AutoregressiveBitsPerCharacter(ITokenDenoiser model, Tensor windows, int batchSize = 64)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        Check(windows);
        long n = windows.shape[0], l = windows.shape[1];
        double totalNats = 0;
        using (inference_mode())
        {
            for (long start = 0; start < n; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var x0 = windows.narrow(0, start, Math.Min(batchSize, n - start));
                totalNats += AutoregressiveLoss.SequenceNll(model, x0).to(ScalarType.Float64).sum().item<double>();
            }
        }
        return new TextEvaluationResult(totalNats / (n * l) / Math.Log(2), n, n * l, 0, IsUpperBound: false);
    }

    private static void Check(Tensor windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        if (windows.dim() != 2 || windows.shape[0] == 0)
            throw new ArgumentException($"held-out windows must be a non-empty [N, L] tensor, not [{string.Join(", ", windows.shape)}]", nameof(windows));
    }
}

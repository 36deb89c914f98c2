using DiffusionSharp.Data;
using DiffusionSharp.Models;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>
/// MDLM's objective (<see cref="MaskedDiffusion"/>: SUBS, log-linear schedule, antithetic t, weight 1/t) as a
/// <see cref="ITrainingObjective"/>, so the text model trains in the one <see cref="Trainer"/>: the whole batch's times
/// and masks are drawn first, then each chunk back-propagates its share of the mean NELBO per token.
/// </summary>
/// <param name="SamplingEps">The smallest time (MDLM's <c>sampling_eps</c>, 10⁻³).</param>
public sealed record MaskedDiffusionObjective(double SamplingEps = 1e-3) : ITrainingObjective
{
    /// <inheritdoc/>
    public string Description => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"masked diffusion (MDLM): SUBS, log-linear α = 1 − t, antithetic t ≥ {SamplingEps:G3}, weight 1/t; loss = NELBO nats/char");

    /// <inheritdoc/>
    public IReadOnlyList<ObjectiveStage> Stages(ITrainableModel model) => ObjectiveSupport.SingleStage(model);

    /// <inheritdoc/>
    public double Backward(ITrainableModel model, Batch batch, int stage, Generator generator, int chunkSize, double scale)
    {
        var denoiser = TextObjectiveSupport.Denoiser(model);
        using var scope = NewDisposeScope();
        var x0 = batch.Samples;
        MaskedDiffusion.CheckTokens(x0, denoiser.VocabularySize, denoiser.MaskId);
        var t = MaskedDiffusion.AntitheticTimes(x0.shape[0], generator, SamplingEps, x0.device);
        var masked = MaskedDiffusion.DrawMasks(x0, t, generator);
        double perToken = 1.0 / x0.numel();
        return TextObjectiveSupport.ChunkedBackward(x0.shape[0], chunkSize, scale, (start, length) =>
            MaskedDiffusion.SequenceNelbo(denoiser, x0.narrow(0, start, length), t.narrow(0, start, length), masked.narrow(0, start, length)).sum() * perToken);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}

/// <summary>The autoregressive twin's objective (<see cref="AutoregressiveLoss"/>: exact next-character NLL) in the one trainer.</summary>
public sealed record AutoregressiveObjective : ITrainingObjective
{
    /// <inheritdoc/>
    public string Description => "autoregressive: next-character cross-entropy, causal attention; loss = NLL nats/char";

    /// <inheritdoc/>
    public IReadOnlyList<ObjectiveStage> Stages(ITrainableModel model) => ObjectiveSupport.SingleStage(model);

    /// <inheritdoc/>
    public double Backward(ITrainableModel model, Batch batch, int stage, Generator generator, int chunkSize, double scale)
    {
        var denoiser = TextObjectiveSupport.Denoiser(model);
        using var scope = NewDisposeScope();
        var x0 = batch.Samples;
        double perToken = 1.0 / x0.numel();
        return TextObjectiveSupport.ChunkedBackward(x0.shape[0], chunkSize, scale, (start, length) =>
            AutoregressiveLoss.SequenceNll(denoiser, x0.narrow(0, start, length)).sum() * perToken);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}

/// <summary>What the two text objectives share.</summary>
public static class TextObjectiveSupport
{
    /// <summary>The objective a text model trains with: <see cref="AutoregressiveObjective"/> for a causal one, else <see cref="MaskedDiffusionObjective"/>.</summary>
    public static ITrainingObjective For(TextTransformerConfig config) =>
        config.Causal ? new AutoregressiveObjective() : new MaskedDiffusionObjective();

    internal static ITokenDenoiser Denoiser(ITrainableModel model) =>
        model as ITokenDenoiser ?? throw new ArgumentException($"{model.ClassName} is not a token model (ITokenDenoiser)", nameof(model));

    /// <summary>
    /// Calls <paramref name="chunkLoss"/> (a chunk's share of the batch loss) per chunk, back-propagates scale × it, and
    /// returns the summed, unscaled loss (NaN or infinite when it is not finite).
    /// </summary>
    internal static double ChunkedBackward(long batch, int chunkSize, double scale, Func<long, long, Tensor> chunkLoss)
    {
        double total = 0;
        foreach (var (start, length) in BatchChunking.Ranges(batch, chunkSize))
        {
            using var scope = NewDisposeScope();
            var loss = chunkLoss(start, length);
            total += loss.item<float>();
            (loss * scale).backward();
        }
        return total;
    }
}

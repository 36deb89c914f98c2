using DiffusionSharp.Data;
using DiffusionSharp.Denoisers;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Training;

/// <summary>One optimizer of a training step: a name (used for its checkpoint file) and the parameters it steps.</summary>
/// <param name="Name">Short name, e.g. <c>model</c>, <c>generator</c>, <c>discriminator</c>.</param>
/// <param name="Parameters">The parameters this stage's optimizer updates (and whose gradients it clears and clips).</param>
public sealed record ObjectiveStage(string Name, IReadOnlyList<TorchSharp.Modules.Parameter> Parameters);

/// <summary>
/// What a <see cref="Trainer"/> minimises: the loss over a batch, back-propagated in chunks. The trainer owns the
/// loop (learning-rate schedule, accumulation, clipping, AdamW, EMA, checkpoints, resume, logging); the objective owns
/// its random draws and its loss.
/// </summary>
/// <remarks>
/// <para>Every step runs the <see cref="Stages"/> in order; for each, the trainer clears that stage's gradients, calls
/// <see cref="Backward"/> once per micro-batch (the same micro-batches for every stage), clips and steps that stage's own
/// AdamW. A diffusion objective has one stage over all parameters.</para>
/// <para>Adversarial training fits without a second loop: the model is one <see cref="ITrainableModel"/> holding the
/// generator G and the discriminator D as submodules, and the objective declares two stages,
/// <c>discriminator</c> (D's parameters: Backward computes the D loss on real samples and on G's samples, detached) and
/// <c>generator</c> (G's parameters: Backward computes the G loss through D). Each stage gets its own optimizer state in
/// the checkpoint (<c>optimizer-NAME.bin</c>), and the generator draws stay in the one training generator, so resume
/// stays exact.</para>
/// <para>Masked discrete diffusion for text (Sahoo et al. 2024, MDLM) is a one-stage objective over int64 token batches
/// [B, L]: draw t, mask each token with probability 1 − α_t, and weight the cross-entropy on the masked tokens.</para>
/// </remarks>
public interface ITrainingObjective : IDisposable
{
    /// <summary>A one-line description for reports (e.g. "epsilon, linear schedule, MinSnr weighting").</summary>
    string Description { get; }

    /// <summary>The optimizer stages of a step, in the order they run, for <paramref name="model"/>.</summary>
    IReadOnlyList<ObjectiveStage> Stages(ITrainableModel model);

    /// <summary>
    /// Back-propagates <paramref name="scale"/> × the loss of stage <paramref name="stage"/> over <paramref name="batch"/>
    /// (on the model's device) in chunks of at most <paramref name="chunkSize"/> samples, drawing every random number for
    /// the whole batch first from <paramref name="generator"/> (so the chunk size changes neither the draws nor the
    /// gradient beyond float summation order). Returns the unscaled loss; NaN or infinite when it is not finite.
    /// </summary>
    double Backward(ITrainableModel model, Batch batch, int stage, Generator generator, int chunkSize, double scale);
}

/// <summary>How an objective treats class labels: drop them (unconditional) or keep them with label dropout.</summary>
/// <param name="Enabled">Condition on labels.</param>
/// <param name="Dropout">Probability of replacing a label by the model's null class (classifier-free guidance).</param>
public sealed record LabelConditioning(bool Enabled, double Dropout)
{
    /// <summary>No labels.</summary>
    public static LabelConditioning None { get; } = new(false, 0.0);
}

/// <summary>Helpers every objective over one network shares.</summary>
public static class ObjectiveSupport
{
    /// <summary>One stage, named <c>model</c>, over every parameter of <paramref name="model"/>.</summary>
    public static IReadOnlyList<ObjectiveStage> SingleStage(ITrainableModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [new ObjectiveStage("model", model.Module.parameters().ToArray())];
    }

    /// <summary>The model as a discrete-time network, or a one-line error naming its class.</summary>
    public static IDiffusionNetwork Network(ITrainableModel model) =>
        model as IDiffusionNetwork ?? throw new ArgumentException($"{model.ClassName} is not a diffusion network (IDiffusionNetwork)", nameof(model));

    /// <summary>
    /// The labels the network sees: null without conditioning; else <paramref name="labels"/> with each replaced by the
    /// null class with probability <see cref="LabelConditioning.Dropout"/> (one uniform draw per row from
    /// <paramref name="generator"/>, made only when the dropout is positive).
    /// </summary>
    public static Tensor? DropLabels(Tensor labels, LabelConditioning conditioning, long nullClass, Generator generator)
    {
        if (!conditioning.Enabled)
            return null;
        if (conditioning.Dropout <= 0)
            return labels;
        var drop = torch.rand([labels.shape[0]], generator: generator, device: labels.device).lt(conditioning.Dropout);
        return torch.where(drop, torch.full_like(labels, nullClass), labels);
    }
}

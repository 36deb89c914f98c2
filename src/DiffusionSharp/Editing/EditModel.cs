using DiffusionSharp.Denoisers;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Editing;

/// <summary>
/// What every edit samples with: a σ-space denoiser, the σ range it was trained on, the image shape, and the class the
/// edit is conditioned on (null: unconditional). <see cref="FromPipeline"/> builds one from a model folder.
/// </summary>
/// <param name="Denoiser">D(x; σ) → x̂₀ (borrowed: the model behind it belongs to the caller).</param>
/// <param name="SigmaMin">The smallest training σ.</param>
/// <param name="SigmaMax">The largest training σ, where sampling starts.</param>
/// <param name="SampleShape">[C, H, W] of one image.</param>
/// <param name="ClassLabel">The label given to every row, or null for none.</param>
public sealed record EditModel(IDenoiser Denoiser, double SigmaMin, double SigmaMax, long[] SampleShape, long? ClassLabel = null)
{
    /// <summary>
    /// The pipeline's network as a denoiser: conditioned on <paramref name="classLabel"/> with classifier-free guidance
    /// <paramref name="guidance"/> (null: the model's default), wrapped BEFORE <see cref="DiscreteTimeDenoiser"/> so that
    /// guidance mixes the ε predictions as <c>diffuse sample</c> does. Without a class, a model with a null class is
    /// given that class at guidance 1 (its unconditional prediction); another model gets no label.
    /// </summary>
    /// <exception cref="ArgumentException">A class for an unconditional model, a class out of range, or guidance ≠ 1
    /// without a class or without a null class.</exception>
    public static EditModel FromPipeline(DiffusionPipeline pipeline, int? classLabel = null, double? guidance = null)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        long? nullClass = pipeline.Metadata.NullClass;
        long? label = classLabel;
        if (classLabel is { } k && (pipeline.NumClasses == 0 || k < 0 || k >= pipeline.NumClasses))
            throw new ArgumentException(pipeline.NumClasses == 0
                ? "class: this model is unconditional; it takes no class"
                : $"class must be in 0..{pipeline.NumClasses - 1}, not {k}", nameof(classLabel));
        double w = classLabel is null ? 1.0 : guidance ?? pipeline.Metadata.DefaultGuidance;
        if (classLabel is null && guidance is { } g && g != 1.0)
            throw new ArgumentException("guidance needs a class to guide towards; give a class or guidance 1", nameof(guidance));
        if (w != 1.0 && nullClass is null)
            throw new ArgumentException("guidance needs a model trained with a null class (label dropout); use guidance 1", nameof(guidance));
        label ??= nullClass;
        IDiffusionNetwork network = w != 1.0 ? new ClassifierFreeGuidance(pipeline.UNet, w, nullClass!.Value) : pipeline.UNet;
        var denoiser = new DiscreteTimeDenoiser(network, new NoiseSchedule(pipeline.Schedule), pipeline.Prediction);
        var config = pipeline.UNet.Config;
        var size = config.SampleSize ?? throw new InvalidDataException($"{pipeline.Directory}: config.json has no sample_size");
        long[] shape = [config.InChannels, size[0], size.Length > 1 ? size[1] : size[0]];
        return new EditModel(denoiser, denoiser.SigmaMin, denoiser.SigmaMax, shape, label);
    }

    /// <summary>
    /// The sampling grid of <paramref name="steps"/> steps: Karras et al. 2022 eq. 5 (ρ = 7) from σ_max down to σ_min,
    /// then 0 — <paramref name="steps"/> + 1 values.
    /// </summary>
    public double[] SamplingSigmas(int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        return [.. SigmaGrid.Karras(SigmaMin, SigmaMax, steps), 0.0];
    }

    /// <summary>The inversion grid of <paramref name="steps"/> steps: eq. 5 from σ_max down to σ_min (no 0), steps + 1 values.</summary>
    public double[] InversionSigmas(int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        return SigmaGrid.Karras(SigmaMin, SigmaMax, steps + 1);
    }

    /// <summary>[<paramref name="batch"/>] int64 labels (the caller owns them), or null when the edit has no class.</summary>
    public Tensor? Labels(long batch) => ClassLabel is { } k ? full(batch, k, dtype: ScalarType.Int64) : null;
}

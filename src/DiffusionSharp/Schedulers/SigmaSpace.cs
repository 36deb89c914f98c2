using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>Helpers shared by the σ-space schedulers (Euler, Euler-ancestral, Heun).</summary>
internal static class SigmaSpace
{
    /// <summary>x = x₀ + σ ε per row, σ looked up by each row's timestep in the rollout (diffusers' add_noise, begin index unset).</summary>
    public static Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps, float[]? scheduleTimesteps, float[]? sigmas)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        if (scheduleTimesteps is null || sigmas is null)
            throw new InvalidOperationException("Call SetTimesteps first.");
        if (!originalSamples.shape.SequenceEqual(noise.shape))
            throw new ArgumentException("noise must have the shape of originalSamples.", nameof(noise));
        using var scope = NewDisposeScope();
        var rows = timesteps.detach().to(ScalarType.Float32, CPU).flatten().data<float>().ToArray();
        if (rows.Length != originalSamples.shape[0])
            throw new ArgumentException($"{rows.Length} timesteps for a batch of {originalSamples.shape[0]}; give one per row.", nameof(timesteps));
        var rowSigmas = rows.Select(t => sigmas[SchedulerGuards.IndexForTimestep(scheduleTimesteps, t)]).ToArray();
        var shape = Enumerable.Repeat(1L, (int)originalSamples.dim()).ToArray();
        shape[0] = rowSigmas.Length;
        var sigma = tensor(rowSigmas).reshape(shape).to(originalSamples.dtype, originalSamples.device);
        return (originalSamples + noise * sigma).MoveToOuterDisposeScope();
    }
}

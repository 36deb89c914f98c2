using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>The result of one <see cref="IScheduler.Step"/>.</summary>
/// <param name="PrevSample">x at the next (less noisy) timestep.</param>
/// <param name="PredOriginalSample">The step's estimate of x₀, where the algorithm forms one.</param>
public sealed record SchedulerStepOutput(Tensor PrevSample, Tensor? PredOriginalSample);

/// <summary>
/// The diffusers scheduler contract (<c>set_timesteps</c>, <c>timesteps</c>, <c>scale_model_input</c>, <c>step</c>,
/// <c>add_noise</c>), so that a rollout here gives diffusers' numbers step for step. The scheduler knows nothing of the
/// network: it receives the network's raw output in the configured prediction type.
/// </summary>
/// <remarks>
/// Multistep solvers keep the previous model outputs between <see cref="Step"/> calls (as diffusers does, since
/// diffusers calls the model once per step); <see cref="SetTimesteps"/> resets that state.
/// A scheduler owns native tensors (its <see cref="Timesteps"/>, multistep history): whoever creates one disposes it
/// (<c>using var scheduler = SchedulerFactory.Create(…)</c>); <see cref="Timesteps"/> is borrowed and dies with it.
/// </remarks>
public interface IScheduler : IDisposable
{
    /// <summary>The training-time noise schedule length.</summary>
    int NumTrainTimesteps { get; }

    /// <summary>The timesteps of the current rollout, in the order they are visited (float64 on the CPU).</summary>
    Tensor Timesteps { get; }

    /// <summary>The standard deviation of the initial noise (1 for variance-preserving samplers, σ_max-ish for σ-space ones).</summary>
    double InitNoiseSigma { get; }

    /// <summary>Model calls per step in diffusers' accounting (Heun: 2).</summary>
    int Order { get; }

    /// <summary>Prepares a rollout of <paramref name="numInferenceSteps"/> steps; resets multistep state.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero, negative, or more steps than the schedule allows.</exception>
    void SetTimesteps(int numInferenceSteps);

    /// <summary>Scales the sample before the network sees it (σ-space samplers divide by √(σ²+1)).</summary>
    Tensor ScaleModelInput(Tensor sample, double timestep);

    /// <summary>
    /// Advances <paramref name="sample"/> from <paramref name="timestep"/> to the next timestep of the rollout.
    /// Stochastic samplers draw their noise from <paramref name="noise"/> (required for them, ignored otherwise).
    /// </summary>
    SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null);

    /// <summary>q(x_t | x₀): noises <paramref name="originalSamples"/> to per-row <paramref name="timesteps"/>.</summary>
    Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps);
}

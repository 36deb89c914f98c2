using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>Options of <see cref="EulerAncestralDiscreteScheduler"/>; defaults are diffusers' <c>EulerAncestralDiscreteScheduler</c> defaults.</summary>
public sealed record EulerAncestralDiscreteSchedulerOptions
{
    /// <summary>The training noise schedule.</summary>
    public NoiseScheduleOptions Schedule { get; init; } = new();

    /// <summary>What the network predicts.</summary>
    [DiffusersKey("prediction_type")]
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary>How inference timesteps are spaced.</summary>
    [DiffusersKey("timestep_spacing")]
    public TimestepSpacing TimestepSpacing { get; init; } = TimestepSpacing.Linspace;

    /// <summary>Added to every timestep with <see cref="TimestepSpacing.Leading"/>.</summary>
    [DiffusersKey("steps_offset")]
    public int StepsOffset { get; init; }

    /// <summary>Reads diffusers' <c>scheduler_config.json</c>; missing keys take diffusers' defaults.</summary>
    /// <exception cref="ArgumentException">A key of the wrong type or an unknown name.</exception>
    public static EulerAncestralDiscreteSchedulerOptions FromDiffusersConfig(JsonElement config) => DiffusersKeys.Read<EulerAncestralDiscreteSchedulerOptions>(config);

    /// <summary>The diffusers <c>scheduler_config.json</c> content for these options.</summary>
    public JsonObject ToDiffusersConfig() => DiffusersKeys.Write(this, EulerAncestralDiscreteScheduler.DiffusersClassName);
}

/// <summary>
/// Euler-ancestral sampling in σ space (k-diffusion's <c>sample_euler_ancestral</c>; the ancestral split follows
/// Song et al. 2021, "Score-Based Generative Modeling through SDEs", and Karras et al. 2022, §4): each step from σ to σ'
/// goes deterministically down to σ_↓ = √(σ'² − σ_↑²) with σ_↑ = √(σ'²(σ² − σ'²)/σ²), then adds fresh noise σ_↑·z,
/// which reproduces the DDPM posterior's variance in σ space.
/// </summary>
/// <remarks>Matches diffusers' <c>EulerAncestralDiscreteScheduler</c>; it draws noise at every step, the last included.</remarks>
public sealed class EulerAncestralDiscreteScheduler : SigmaSpaceScheduler
{
    /// <summary>diffusers' class name, <c>_class_name</c> in <c>scheduler_config.json</c>.</summary>
    public const string DiffusersClassName = "EulerAncestralDiscreteScheduler";

    /// <summary>Builds the scheduler.</summary>
    /// <exception cref="ArgumentException">An invalid option (the message names the diffusers key).</exception>
    public EulerAncestralDiscreteScheduler(EulerAncestralDiscreteSchedulerOptions options)
        : base(new NoiseSchedule(Validated(options).Schedule), options.TimestepSpacing, finiteTerminalSnr: true)   // as Euler
    {
        Options = options;
    }

    /// <summary>The options.</summary>
    public EulerAncestralDiscreteSchedulerOptions Options { get; }

    /// <inheritdoc/>
    public override int Order => 1;

    /// <inheritdoc/>
    public override void SetTimesteps(int numInferenceSteps)
    {
        var (timesteps, sigmas) = DiscreteSigmaSchedule.Build(_alphasCumprod, Options.TimestepSpacing, numInferenceSteps, Options.StepsOffset);
        UseGrid(timesteps, sigmas);
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException">No noise source (every step draws noise).</exception>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null)
    {
        SchedulerGuards.CheckStepInputs(modelOutput, sample);
        var sigmas = _sigmas ?? throw new InvalidOperationException("Call SetTimesteps first.");
        var source = SchedulerGuards.RequireNoise(noise, nameof(EulerAncestralDiscreteScheduler));
        int i = EnsureStepIndex(timestep);
        if (i + 1 >= sigmas.Length)
            throw new InvalidOperationException("The rollout is over; call SetTimesteps to start another.");
        float sigma = sigmas[i];
        float sigmaTo = sigmas[i + 1];

        using var scope = NewDisposeScope();
        var x = sample.dtype == ScalarType.Float64 ? sample.alias() : sample.to(ScalarType.Float32);
        var x0 = SchedulerGuards.SigmaSpaceSample(Options.PredictionType, modelOutput, x, sigma);
        // The ancestral split of the step σ → σ': σ_↑ of fresh noise, σ_↓ deterministic, σ_↓² + σ_↑² = σ'².
        float sigmaUp = MathF.Sqrt(sigmaTo * sigmaTo * (sigma * sigma - sigmaTo * sigmaTo) / (sigma * sigma));
        float sigmaDown = MathF.Sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);
        var derivative = (x - x0) / sigma;
        float dt = sigmaDown - sigma;
        var prev = x + derivative * dt;
        var z = source.Next(modelOutput);
        prev = (prev + z * sigmaUp).to(modelOutput.dtype);
        _stepIndex = i + 1;
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), x0.MoveToOuterDisposeScope());
    }

    private static EulerAncestralDiscreteSchedulerOptions Validated(EulerAncestralDiscreteSchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SchedulerGuards.CheckDefined(options.PredictionType, "prediction_type");
        SchedulerGuards.CheckDefined(options.TimestepSpacing, "timestep_spacing");
        ArgumentOutOfRangeException.ThrowIfNegative(options.StepsOffset, "steps_offset");
        return options;
    }
}

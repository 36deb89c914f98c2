using System.Text.Json.Serialization;

namespace DiffusionSharp.Schedules;

/// <summary>How σ-space samplers map their inference timesteps to σ (diffusers' <c>interpolation_type</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SigmaInterpolation>))]
public enum SigmaInterpolation
{
    /// <summary>σ(t) linearly interpolated in t between the training σ_t. JSON <c>"linear"</c>.</summary>
    [JsonStringEnumMemberName("linear")]
    Linear,

    /// <summary>N+1 values evenly spaced in log σ from σ_max to σ_min (ignores the timesteps). JSON <c>"log_linear"</c>.</summary>
    [JsonStringEnumMemberName("log_linear")]
    LogLinear,
}

/// <summary>The σ a σ-space rollout ends at (diffusers' <c>final_sigmas_type</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FinalSigmaType>))]
public enum FinalSigmaType
{
    /// <summary>σ = 0: the last step lands on x̂₀. JSON <c>"zero"</c>.</summary>
    [JsonStringEnumMemberName("zero")]
    Zero,

    /// <summary>σ = σ_0 of the training schedule, √((1 − ᾱ_0)/ᾱ_0). JSON <c>"sigma_min"</c>.</summary>
    [JsonStringEnumMemberName("sigma_min")]
    SigmaMin,
}

/// <summary>
/// Which σ grid a σ-space sampler walks (diffusers' <c>use_karras_sigmas</c> / <c>use_exponential_sigmas</c>); built by
/// <see cref="SigmaGrid.Create"/> for the σ samplers and by <see cref="DiscreteSigmaSchedule.Build"/> for the schedulers.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<SigmaGridKind>))]
public enum SigmaGridKind
{
    /// <summary>The training schedule's own σ: σ of the spaced timesteps (see <see cref="SigmaInterpolation"/>, <see cref="SigmaGrid.Schedule"/>). Name <c>"schedule"</c>.</summary>
    [JsonStringEnumMemberName("schedule")]
    Timesteps,

    /// <summary><see cref="SigmaGrid.Karras"/> between the timesteps' σ_min and σ_max, ρ = 7, timesteps recovered by σ→t. Name <c>"karras"</c>.</summary>
    [JsonStringEnumMemberName("karras")]
    Karras,

    /// <summary><see cref="SigmaGrid.Exponential"/> between the same ends, timesteps recovered by σ→t. Name <c>"exponential"</c>.</summary>
    [JsonStringEnumMemberName("exponential")]
    Exponential,
}

/// <summary>
/// The σ grid of a discrete VP model viewed in σ space (Karras et al. 2022, Table 1, "VP" with σ_t = √((1−ᾱ_t)/ᾱ_t)),
/// as diffusers' Euler, Euler-ancestral and Heun schedulers build it: spaced timesteps, their σ (interpolated, or a
/// Karras/exponential grid with fractional timesteps recovered by log-σ interpolation), then the final σ appended.
/// </summary>
public static class DiscreteSigmaSchedule
{
    /// <summary>
    /// Builds (timesteps, σ) with σ one longer than the timesteps (N+1; N+2 for <see cref="SigmaInterpolation.LogLinear"/>,
    /// as diffusers), both float32. <paramref name="alphasCumprod"/> is the ᾱ the scheduler uses (Euler's zero-SNR
    /// variant has already replaced ᾱ_T = 0 by 2⁻²⁴).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">N outside [1, T] or a timestep outside [0, T).</exception>
    /// <exception cref="ArgumentException">An undefined enum value.</exception>
    public static (float[] Timesteps, float[] Sigmas) Build(
        IReadOnlyList<float> alphasCumprod,
        TimestepSpacing spacing,
        int numInferenceSteps,
        int stepsOffset = 0,
        SigmaInterpolation interpolation = SigmaInterpolation.Linear,
        SigmaGridKind grid = SigmaGridKind.Timesteps,
        FinalSigmaType finalSigma = FinalSigmaType.Zero,
        double? sigmaMin = null,
        double? sigmaMax = null)
    {
        ArgumentNullException.ThrowIfNull(alphasCumprod);
        var ac = alphasCumprod.ToArray();
        int T = ac.Length;
        var timesteps = TimestepGrid.Float32(spacing, T, numInferenceSteps, stepsOffset);
        var trainSigmas = SigmaGrid.SigmasFromAlphasCumprod(ac);
        var logSigmas = SigmaGrid.LogSigmas(trainSigmas);

        double[] sigmas;
        switch (interpolation)
        {
            case SigmaInterpolation.Linear:
                sigmas = timesteps.Select(t => SigmaGrid.InterpolateAtIndex(t, trainSigmas)).ToArray();
                break;
            case SigmaInterpolation.LogLinear:
                // torch.linspace(log σ_max, log σ_min, N + 1).exp() in float32.
                sigmas = TorchLinspace.Float32(logSigmas[^1], logSigmas[0], numInferenceSteps + 1)
                    .Select(l => (double)MathF.Exp(l)).ToArray();
                break;
            default:
                throw new ArgumentException($"Unknown interpolation_type {(int)interpolation}; allowed values: 'linear', 'log_linear'.", nameof(interpolation));
        }

        if (grid != SigmaGridKind.Timesteps)
        {
            // The ends default to the interpolated grid's, in float64 as diffusers reads them (.item()).
            double lo = sigmaMin ?? sigmas[^1];
            double hi = sigmaMax ?? sigmas[0];
            sigmas = grid switch
            {
                SigmaGridKind.Karras => SigmaGrid.Karras(lo, hi, numInferenceSteps),
                SigmaGridKind.Exponential => SigmaGrid.Exponential(lo, hi, numInferenceSteps),
                _ => throw new ArgumentException($"Unknown sigma grid {(int)grid}.", nameof(grid)),
            };
            timesteps = sigmas.Select(s => (float)SigmaGrid.SigmaToT(s, logSigmas)).ToArray();
        }

        float last = finalSigma switch
        {
            FinalSigmaType.Zero => 0f,
            FinalSigmaType.SigmaMin => MathF.Sqrt((1f - ac[0]) / ac[0]),
            _ => throw new ArgumentException($"Unknown final_sigmas_type {(int)finalSigma}; allowed values: 'zero', 'sigma_min'.", nameof(finalSigma)),
        };
        var result = new float[sigmas.Length + 1];
        for (int i = 0; i < sigmas.Length; i++)
            result[i] = (float)sigmas[i];
        result[^1] = last;
        return (timesteps, result);
    }

    /// <summary>
    /// The standard deviation of x_T for a σ-space rollout: σ_max for linspace/trailing spacing, √(σ_max² + 1) for
    /// leading (diffusers' <c>init_noise_sigma</c>), in float32.
    /// </summary>
    public static float InitNoiseSigma(ReadOnlySpan<float> sigmas, TimestepSpacing spacing)
    {
        float max = 0f;
        foreach (var s in sigmas)
            max = MathF.Max(max, s);
        return spacing is TimestepSpacing.Linspace or TimestepSpacing.Trailing ? max : MathF.Sqrt(max * max + 1f);
    }
}

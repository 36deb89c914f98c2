namespace DiffusionSharp.Schedules;

/// <summary>
/// The training noise schedule β_1..β_T (diffusers' <c>num_train_timesteps</c>, <c>beta_start</c>, <c>beta_end</c>,
/// <c>beta_schedule</c>, <c>rescale_betas_zero_snr</c>, <c>trained_betas</c>). Defaults are DDPM's (Ho et al. 2020).
/// </summary>
public sealed record NoiseScheduleOptions
{
    /// <summary>T, the number of training timesteps.</summary>
    public int NumTrainTimesteps { get; init; } = 1000;

    /// <summary>β_1 (for <see cref="BetaSchedule.ScaledLinear"/>, √β_1 is interpolated).</summary>
    public double BetaStart { get; init; } = 0.0001;

    /// <summary>β_T.</summary>
    public double BetaEnd { get; init; } = 0.02;

    /// <summary>The layout of the betas between <see cref="BetaStart"/> and <see cref="BetaEnd"/>.</summary>
    public BetaSchedule BetaSchedule { get; init; } = BetaSchedule.Linear;

    /// <summary>Rescale to zero terminal SNR (ᾱ_T = 0; Lin et al. 2023, Algorithm 1).</summary>
    public bool RescaleBetasZeroSnr { get; init; }

    /// <summary>Explicit betas (length <see cref="NumTrainTimesteps"/>); when set they replace the schedule.</summary>
    public double[]? TrainedBetas { get; init; }

    /// <summary>Value equality, comparing <see cref="TrainedBetas"/> element by element.</summary>
    public bool Equals(NoiseScheduleOptions? other) =>
        other is not null
        && NumTrainTimesteps == other.NumTrainTimesteps
        && BetaStart.Equals(other.BetaStart)
        && BetaEnd.Equals(other.BetaEnd)
        && BetaSchedule == other.BetaSchedule
        && RescaleBetasZeroSnr == other.RescaleBetasZeroSnr
        && (TrainedBetas is null ? other.TrainedBetas is null : other.TrainedBetas is not null && TrainedBetas.AsSpan().SequenceEqual(other.TrainedBetas));

    /// <summary>Hash consistent with <see cref="Equals(NoiseScheduleOptions?)"/>.</summary>
    public override int GetHashCode() =>
        HashCode.Combine(NumTrainTimesteps, BetaStart, BetaEnd, BetaSchedule, RescaleBetasZeroSnr, TrainedBetas?.Length ?? -1);
}

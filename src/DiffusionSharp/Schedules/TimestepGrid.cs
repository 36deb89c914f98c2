namespace DiffusionSharp.Schedules;

/// <summary>
/// Picks N inference timesteps out of T training timesteps by <see cref="TimestepSpacing"/> (Lin et al. 2023, Table 2),
/// exactly as diffusers does (NumPy float64 arithmetic, round-half-to-even), largest first.
/// </summary>
public static class TimestepGrid
{
    /// <summary>
    /// Integer timesteps (DDPM, DDIM): linspace → round(linspace(0, T−1, N)); leading → i·⌊T/N⌋ + offset;
    /// trailing → round(arange(T, 0, −T/N)) − 1.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">N outside [1, T], a negative offset, or a timestep outside [0, T).</exception>
    public static long[] Discrete(TimestepSpacing spacing, int numTrainTimesteps, int numInferenceSteps, int stepsOffset = 0)
    {
        var values = Fractional(spacing, numTrainTimesteps, numInferenceSteps, stepsOffset, roundLinspace: true);
        return values.Select(v => (long)v).ToArray();
    }

    /// <summary>
    /// The σ-space schedulers' float32 timesteps: as <see cref="Discrete"/> except that linspace is not rounded
    /// (Euler's 999, 888, ... are exact, fractional values appear for other N).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">N outside [1, T], a negative offset, or a timestep outside [0, T).</exception>
    public static float[] Float32(TimestepSpacing spacing, int numTrainTimesteps, int numInferenceSteps, int stepsOffset = 0)
    {
        var values = Fractional(spacing, numTrainTimesteps, numInferenceSteps, stepsOffset, roundLinspace: false);
        return values.Select(v => (float)v).ToArray();
    }

    /// <summary>
    /// NumPy's <c>arange(start, stop, step)</c> in float64: ⌈(stop − start)/step⌉ values; the first two are start and
    /// start + step, the rest start + i·δ with δ their difference (NumPy's fill rule).
    /// </summary>
    public static double[] NumpyArange(double start, double stop, double step)
    {
        if (step == 0 || !double.IsFinite(step))
            throw new ArgumentOutOfRangeException(nameof(step), step, "step must be finite and non-zero.");
        double count = Math.Ceiling((stop - start) / step);
        int n = count > 0 ? checked((int)count) : 0;
        var y = new double[n];
        if (n == 0)
            return y;
        y[0] = start;
        if (n == 1)
            return y;
        y[1] = start + step;
        double delta = y[1] - y[0];
        for (int i = 2; i < n; i++)
            y[i] = start + i * delta;
        return y;
    }

    private static double[] Fractional(TimestepSpacing spacing, int T, int N, int stepsOffset, bool roundLinspace)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(T, 1);
        if (N < 1 || N > T)
            throw new ArgumentOutOfRangeException("numInferenceSteps", N,
                $"num_inference_steps must be between 1 and num_train_timesteps ({T}).");
        ArgumentOutOfRangeException.ThrowIfNegative(stepsOffset);
        double[] t;
        switch (spacing)
        {
            case TimestepSpacing.Linspace:
                t = SigmaGrid.Linspace(0, T - 1, N);
                if (roundLinspace)
                    t = t.Select(v => Math.Round(v, MidpointRounding.ToEven)).ToArray();
                break;
            case TimestepSpacing.Leading:
            {
                int ratio = T / N;
                t = Enumerable.Range(0, N).Select(i => (double)(i * ratio) + stepsOffset).ToArray();
                break;
            }
            case TimestepSpacing.Trailing:
            {
                double ratio = (double)T / N;
                t = NumpyArange(T, 0, -ratio).Select(v => Math.Round(v, MidpointRounding.ToEven) - 1).ToArray();
                Array.Reverse(t); // reversed back below with the others
                break;
            }
            default:
                throw new ArgumentException(
                    $"Unknown timestep_spacing {(int)spacing}; allowed values: {DiffusersNames.AllowedValues<TimestepSpacing>()}.", nameof(spacing));
        }
        Array.Reverse(t);
        foreach (var v in t)
        {
            if (v < 0 || v > T - 1)
                throw new ArgumentOutOfRangeException("numInferenceSteps", N,
                    $"With timestep_spacing '{DiffusersNames.ToName(spacing)}' and steps_offset {stepsOffset}, {N} steps reach timestep {v}, outside [0, {T - 1}].");
        }
        return t;
    }
}

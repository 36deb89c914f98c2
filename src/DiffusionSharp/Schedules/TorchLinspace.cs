namespace DiffusionSharp.Schedules;

/// <summary>
/// <c>torch.linspace(start, end, steps, dtype=float32)</c> on the CPU, value for value as the PyTorch that wrote the
/// diffusers fixtures computes it, so that schedules built from it (betas, log-linear σ) match diffusers bit for bit.
/// </summary>
/// <remarks>
/// PyTorch's CPU kernel works in float32 with step = (end − start)/(steps − 1) and fills the first half from
/// <c>start</c> and the second half from <c>end</c>. It writes 16 values at a time as two 8-wide vectors, each
/// vector from a base b = fma(step, idx, start) (or fma(−step, steps − idx − 1, end) past the midpoint) plus
/// round(i·step), i = 0..7; the tail that does not fill 16 values is written one at a time from the same bases.
/// libtorch 2.x computes the bases without the fused multiply-add, which moves about a sixth of the values by one
/// ulp; diffusers parity needs this form (verified against the fixtures' <c>betas</c>: 0 of 1000 values differ).
/// </remarks>
public static class TorchLinspace
{
    private const int VectorWidth = 8;

    /// <summary>The float32 values of <c>torch.linspace(start, end, steps)</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is negative.</exception>
    public static float[] Float32(double start, double end, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        var result = new float[steps];
        float a = (float)start, b = (float)end;
        if (steps == 0)
            return result;
        if (steps == 1)
        {
            result[0] = a;
            return result;
        }
        float step = (b - a) / (steps - 1);
        int halfway = steps / 2;
        float Base(int idx) => idx < halfway
            ? MathF.FusedMultiplyAdd(step, idx, a)
            : MathF.FusedMultiplyAdd(-step, steps - idx - 1, b);

        int i = 0;
        for (; i <= steps - 2 * VectorWidth; i += VectorWidth)
        {
            float baseValue = Base(i);
            for (int k = 0; k < VectorWidth; k++)
                result[i + k] = baseValue + k * step;
        }
        for (; i < steps; i++)
            result[i] = Base(i);
        return result;
    }
}

namespace DiffusionSharp.Schedules;

/// <summary>
/// Natural log of a float32 as NumPy's vectorised float32 <c>np.log</c> computes it on x86-64 with AVX2/FMA3 or
/// AVX-512 (the path diffusers' <c>log_sigmas</c> go through). Its result can differ from a correctly rounded log by a
/// few ulps; reproducing it makes σ→t timesteps (Karras/exponential grids) equal to diffusers' bit for bit, so that
/// timesteps handed over from diffusers are found by exact comparison.
/// </summary>
/// <remarks>
/// Algorithm (NumPy's SIMD log): write x = m·2^e with m ∈ [½, 1); if m ≤ √½ use 2m and e − 1; with y = m − 1,
/// log x = P(y)/Q(y) + e·ln 2, where P and Q are degree-5 minimax polynomials evaluated by Horner's rule with fused
/// multiply-adds, and the final e·ln 2 + P/Q is one more fused multiply-add. Inputs here are positive normal numbers;
/// anything else is delegated to <see cref="MathF.Log(float)"/>.
/// </remarks>
public static class NumpyLog
{
    // Minimax coefficients of log(1 + y) ≈ P(y)/Q(y), as float32.
    private const float P1 = 9.999999999999998702752e-01f;
    private const float P2 = 2.112677543073053063722e+00f;
    private const float P3 = 1.480000633576506585156e+00f;
    private const float P4 = 3.808837741388407920751e-01f;
    private const float P5 = 2.589979117907922693523e-02f;
    private const float Q1 = 2.612677543073109236779e+00f;
    private const float Q2 = 2.453006071784736363091e+00f;
    private const float Q3 = 9.864942958519418960339e-01f;
    private const float Q4 = 1.546476374983906719538e-01f;
    private const float Q5 = 5.875095403124574342950e-03f;
    private const float Ln2 = 0.693147180559945309417232121458176568f;
    private const float Sqrt1Over2 = 0.707106781186547524400844362104849039f;

    /// <summary>ln x, float32, as NumPy's SIMD float32 log.</summary>
    public static float Float32(float x)
    {
        if (!(x >= float.MinValue) || x < 1.17549435e-38f || float.IsPositiveInfinity(x))
            return MathF.Log(x);
        int bits = BitConverter.SingleToInt32Bits(x);
        float exponent = (bits >>> 23) - 126;
        float m = BitConverter.Int32BitsToSingle((bits & 0x7FFFFF) | (126 << 23));
        if (m <= Sqrt1Over2)
        {
            m += m;
            exponent -= 1f;
        }
        float y = m - 1f;
        float num = MathF.FusedMultiplyAdd(P5, y, P4);
        num = MathF.FusedMultiplyAdd(num, y, P3);
        num = MathF.FusedMultiplyAdd(num, y, P2);
        num = MathF.FusedMultiplyAdd(num, y, P1);
        num = MathF.FusedMultiplyAdd(num, y, 0f);
        float den = MathF.FusedMultiplyAdd(Q5, y, Q4);
        den = MathF.FusedMultiplyAdd(den, y, Q3);
        den = MathF.FusedMultiplyAdd(den, y, Q2);
        den = MathF.FusedMultiplyAdd(den, y, Q1);
        den = MathF.FusedMultiplyAdd(den, y, 1f);
        return MathF.FusedMultiplyAdd(exponent, Ln2, num / den);
    }
}

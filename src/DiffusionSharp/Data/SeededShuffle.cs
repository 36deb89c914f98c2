namespace DiffusionSharp.Data;

/// <summary>
/// Seeded permutations and coin flips that are the same on every platform and .NET version: SplitMix64
/// (Steele, Lea &amp; Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014) rather than
/// <see cref="Random"/>, whose seeded sequence is an implementation detail.
/// </summary>
public static class SeededShuffle
{
    /// <summary>A Fisher–Yates permutation of 0..n−1 drawn from <paramref name="seed"/>.</summary>
    public static long[] Permutation(long n, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var perm = new long[n];
        for (long i = 0; i < n; i++)
            perm[i] = i;
        var rng = new SplitMix64(seed);
        for (long i = n - 1; i > 0; i--)
        {
            long j = (long)rng.NextBelow((ulong)i + 1);
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
        return perm;
    }

    /// <summary>Mixes several integers into one seed (each through a SplitMix64 step, so nearby inputs differ).</summary>
    public static long Mix(params long[] parts)
    {
        ulong h = 0x9E3779B97F4A7C15;
        foreach (long p in parts)
            h = SplitMix64.Finalise(h ^ (ulong)p) + 0x9E3779B97F4A7C15;
        return (long)h;
    }

    /// <summary>SplitMix64: state += γ, output = finalise(state).</summary>
    internal struct SplitMix64(long seed)
    {
        private ulong _state = (ulong)seed;

        public ulong Next()
        {
            _state += 0x9E3779B97F4A7C15;
            return Finalise(_state);
        }

        /// <summary>Uniform in [0, bound) by rejection, so no value is favoured.</summary>
        public ulong NextBelow(ulong bound)
        {
            ulong limit = ulong.MaxValue - ulong.MaxValue % bound;
            ulong r;
            do r = Next(); while (r >= limit);
            return r % bound;
        }

        public bool NextBool() => (Next() >> 63) != 0;

        public static ulong Finalise(ulong z)
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            return z ^ (z >> 31);
        }
    }
}

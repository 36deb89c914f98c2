using TorchSharp;
using Xunit.Abstractions;

namespace DiffusionSharp.Tests.Sampling;

/// <summary>The memory check every sampling loop gets: the live-tensor count does not grow with the number of steps.</summary>
internal static class LiveTensors
{
    /// <summary>This thread's live tensors (STYLE.md rule 7).</summary>
    public static long Count => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    /// <summary>
    /// Runs <paramref name="run"/> at 3 steps (warm-up), then 5 and 40, and asserts the live count after each equals the
    /// count after the warm-up. Returns that count.
    /// </summary>
    public static long AssertFlatOverSteps(Action<int> run, ITestOutputHelper output, string label)
    {
        run(3);
        long before = Count;
        run(5);
        long afterShort = Count;
        run(40);
        long afterLong = Count;
        output.WriteLine($"{label}: live tensors {before} → {afterShort} → {afterLong}");
        Assert.Equal(before, afterShort);
        Assert.Equal(before, afterLong);
        return before;
    }
}

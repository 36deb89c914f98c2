using DiffusionSharp.Training;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Training;

/// <summary>Runs alone, so that the process-wide live-tensor count belongs to this test only.</summary>
[CollectionDefinition("Exclusive", DisableParallelization = true)]
public sealed class ExclusiveCollection;

[Collection("Exclusive")]
public sealed class TrainingMemoryTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-mem-");

    public void Dispose() => _dir.Delete(true);

    [Fact]
    public void LiveTensorsAndRssStayFlatOverManySteps()
    {
        using var data = TrainerTests.SmallDigits();
        using var t = Trainer.Create(Path.Combine(_dir.FullName, "flat"), TrainerTests.Options(200) with { CheckpointEvery = 1000 }, TrainerTests.MicroConfig(), data);
        t.Run(stopAfter: 10);
        long liveMid = LiveTensors();
        long rssMid = ResidentBytes();
        t.Run(stopAfter: 20);
        long liveEnd = LiveTensors();
        long rssEnd = ResidentBytes();
        // Every tensor in the process, whichever thread made it (the loader assembles batches in the background):
        // 20 more steps leave exactly as many alive as before them.
        Assert.Equal(liveMid, liveEnd);
        // Allocator caches may settle a little; a graph's worth of activations leaked per step would exceed this.
        Assert.True(rssEnd - rssMid < 64L << 20, $"RSS grew by {(rssEnd - rssMid) >> 20} MiB over 20 steps");
    }

    /// <summary>Tensors alive in the process once anything unreachable has been finalised and the loader is idle.</summary>
    private static long LiveTensors()
    {
        Thread.Sleep(200); // let the loader finish assembling the batch it prefetches
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return Tensor.TotalCount;
    }

    private static long ResidentBytes()
    {
        if (!OperatingSystem.IsLinux())
            return Environment.WorkingSet;
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}

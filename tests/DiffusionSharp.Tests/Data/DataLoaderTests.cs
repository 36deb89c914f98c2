using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Data;

public sealed class DataLoaderTests
{
    /// <summary>n ≤ 255 1×2×3 images; image i holds i in its left column and 255 in the others, label i % 3.</summary>
    private static ImageDataset Toy(int n)
    {
        var px = new byte[n * 6];
        var labels = new long[n];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < 6; k++)
                px[i * 6 + k] = (byte)(k % 3 == 0 ? i : 255);
            labels[i] = i % 3;
        }
        return ImageDataset.FromBytes("toy", px, n, 1, 2, 3, labels, ["a", "b", "c"]);
    }

    private static List<long> Ids(Batch b) =>
        b.Images[.., 0, 0, 0].data<float>().ToArray().Select(v => (long)Math.Round((v + 1) * 127.5)).ToList();

    [Fact]
    public void EachEpochVisitsEveryImageOnceInASeededOrder()
    {
        using var ds = Toy(23);
        var loader = new DataLoader(ds, new DataLoaderOptions(BatchSize: 5, Seed: 42));
        Assert.Equal(4, loader.BatchesPerEpoch);
        List<long> Epoch(DataLoader l, int e)
        {
            var ids = new List<long>();
            foreach (var b in l.Epoch(e))
                using (b)
                {
                    Assert.Equal(5, b.Images.shape[0]);
                    var batchIds = Ids(b);
                    Assert.Equal(batchIds.Select(i => i % 3), b.Labels.data<long>().ToArray());
                    ids.AddRange(batchIds);
                }
            return ids;
        }
        var e0 = Epoch(loader, 0);
        var e1 = Epoch(loader, 1);
        Assert.Equal(20, e0.Distinct().Count());
        Assert.NotEqual(e0, e1);
        Assert.NotEqual(Enumerable.Range(0, 20).Select(i => (long)i), e0);
        Assert.Equal(e0, Epoch(new DataLoader(ds, new DataLoaderOptions(5, Seed: 42)), 0));
        Assert.NotEqual(e0, Epoch(new DataLoader(ds, new DataLoaderOptions(5, Seed: 43)), 0));
    }

    [Fact]
    public void WithoutShuffleAndDropLastTheOrderIsTheDatasetOrder()
    {
        using var ds = Toy(7);
        var loader = new DataLoader(ds, new DataLoaderOptions(3, Shuffle: false, DropLast: false));
        var batches = loader.Epoch(0).ToList();
        Assert.Equal([3L, 3, 1], batches.Select(b => b.Images.shape[0]));
        Assert.Equal(Enumerable.Range(0, 7).Select(i => (long)i), batches.SelectMany(Ids));
        batches.ForEach(b => b.Dispose());
    }

    [Fact]
    public void ResumingAtAStepGivesTheSameBatches()
    {
        using var ds = Toy(20);
        var options = new DataLoaderOptions(4, Seed: 7, RandomHorizontalFlip: true);
        var all = new DataLoader(ds, options).Batches().Take(13).Select(b => { using (b) return b.Images.data<float>().ToArray(); }).ToList();
        var resumed = new DataLoader(ds, options).Batches(startStep: 9).Take(4).Select(b => { using (b) return b.Images.data<float>().ToArray(); }).ToList();
        for (int i = 0; i < 4; i++)
            Assert.Equal(all[9 + i], resumed[i]);
        using var direct = new DataLoader(ds, options).GetBatch(epoch: 2, index: 1);
        Assert.Equal(all[11], direct.Images.data<float>().ToArray());
    }

    [Fact]
    public void FlipIsOffByDefaultAndMirrorsAboutHalfWhenOn()
    {
        using var ds = Toy(200);
        using (var b = new DataLoader(ds, new DataLoaderOptions(200)).GetBatch(0, 0))
            Assert.True(b.Images[.., .., .., 1..].eq(1f).all().item<bool>(), "an image was flipped by default");
        using var flipped = new DataLoader(ds, new DataLoaderOptions(200, Seed: 3, RandomHorizontalFlip: true)).GetBatch(0, 0);
        using var plain = new DataLoader(ds, new DataLoaderOptions(200, Seed: 3)).GetBatch(0, 0);
        // Same order with or without flips; a flipped image has its marked column on the right.
        Assert.Equal(plain.Labels.data<long>().ToArray(), flipped.Labels.data<long>().ToArray());
        var same = flipped.Images.eq(plain.Images).flatten(1).all(1);
        var mirrored = flipped.Images.eq(plain.Images.flip(3)).flatten(1).all(1);
        Assert.True(same.logical_or(mirrored).all().item<bool>());
        long nFlipped = mirrored.logical_and(same.logical_not()).sum().item<long>();
        Assert.InRange(nFlipped, 70, 130);
    }

    [Fact]
    public void BreakingOutOfTheEndlessStreamStopsIt()
    {
        using var ds = Toy(50);
        var loader = new DataLoader(ds, new DataLoaderOptions(10, Seed: 1));
        int seen = 0;
        foreach (var b in loader.Batches())
        {
            Assert.Equal((seen / 5, seen % 5), (b.Epoch, b.Index));
            b.Dispose();
            if (++seen == 12)
                break;
        }
        Assert.Equal(12, seen);
        Assert.Throws<ArgumentException>(() => new DataLoader(ds, new DataLoaderOptions(51)));
    }
}

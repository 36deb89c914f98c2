using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Data;

public sealed class MnistNpmPackageTests
{
    [Fact]
    public void CachedDigitsHaveTheDocumentedSplitAndLookLikeDigits()
    {
        var files = Mnist.EnsureCached(TestCache.Root);
        using var train = Mnist.Load(files.TrainImages, files.TrainLabels);
        using var test = Mnist.Load(files.TestImages, files.TestLabels);
        Assert.Equal(9000, train.Count);
        Assert.Equal(1000, test.Count);
        Assert.Equal(new long[] { 1, 28, 28 }, train.Images.shape[1..]);
        Assert.All(test.ClassCounts(), c => Assert.Equal(100, c));
        var trainCounts = train.ClassCounts();
        for (int d = 0; d < 10; d++)
            Assert.InRange(trainCounts[d] + 100, 863, 1127);
        Assert.Equal(10_000, trainCounts.Sum() + 1000);

        foreach (var ds in new[] { train, test })
        {
            using var scope = NewDisposeScope();
            Assert.Equal(-1f, ds.Images.min().item<float>());
            Assert.Equal(1f, ds.Images.max().item<float>());
            // MNIST ink covers ~13% of the pixel mass in [0, 1] (mean 0.1307 on the full set): −0.74 in [−1, 1].
            double mean = ds.Images.mean().item<float>();
            Assert.InRange(mean, -0.78, -0.70);
            // Digits have ink in the centre and none in the corners.
            var centre = ds.Images[.., .., 10..18, 10..18].mean().item<float>();
            var corner = ds.Images[.., .., 0..4, 0..4].max().item<float>();
            Assert.True(centre > -0.5, $"centre mean {centre}");
            Assert.Equal(-1f, corner);
        }
    }

    [Fact]
    public void SecondCallUsesTheCache()
    {
        var first = Mnist.EnsureCached(TestCache.Root);
        var stamp = File.GetLastWriteTimeUtc(first.TrainImages);
        var log = new List<string>();
        var second = Mnist.EnsureCached(TestCache.Root, log.Add);
        Assert.Equal(first, second);
        Assert.Empty(log);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(second.TrainImages));
    }

    [Fact]
    public void SplitTakesTheLastHundredOfEachDigit()
    {
        using var dir = new TempFolder();
        const int px = 28 * 28;
        // Digit d has 101 + d samples; sample k is filled with the byte k, so positions are visible in the output.
        var digits = Enumerable.Range(0, 10).Select(d =>
        {
            var bytes = new byte[(101 + d) * px];
            for (int k = 0; k < 101 + d; k++)
                bytes.AsSpan(k * px, px).Fill((byte)k);
            return bytes;
        }).ToArray();
        var files = MnistNpmPackage.WriteSplits(dir.Path, digits);
        var trainImages = IdxFile.Read(files.TrainImages, 3);
        var trainLabels = IdxFile.Read(files.TrainLabels, 1);
        var testImages = IdxFile.Read(files.TestImages, 3);
        var testLabels = IdxFile.Read(files.TestLabels, 1);
        Assert.Equal(Enumerable.Range(1, 10).Sum(), trainLabels.Data.Length);
        Assert.Equal(1000, testLabels.Data.Length);
        int trainAt = 0;
        for (int d = 0; d < 10; d++)
        {
            for (int k = 0; k < 1 + d; k++, trainAt++)
            {
                Assert.Equal(d, trainLabels.Data[trainAt]);
                Assert.Equal(k, trainImages.Data[trainAt * px]);
            }
            for (int k = 0; k < 100; k++)
            {
                Assert.Equal(d, testLabels.Data[d * 100 + k]);
                Assert.Equal(1 + d + k, testImages.Data[(d * 100 + k) * px + px - 1]);
            }
        }
        Assert.Equal(files, Mnist.FindInFolder(dir.Path));
    }

    [Fact]
    public void ArchiveWithWrongChecksumIsRejected()
    {
        var e = Assert.Throws<InvalidDataException>(() => MnistNpmPackage.ReadDigits(new MemoryStream([1, 2, 3]), "fake.tgz"));
        Assert.Contains("fake.tgz", e.Message);
        Assert.Contains("SHA-1", e.Message);
    }
}

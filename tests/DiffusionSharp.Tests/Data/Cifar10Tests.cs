using DiffusionSharp.Data;

namespace DiffusionSharp.Tests.Data;

public sealed class Cifar10Tests
{
    private static byte[] Record(byte label, Func<int, int, byte> pixel)
    {
        var r = new byte[Cifar10.RecordBytes];
        r[0] = label;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++)
                r[1 + c * 1024 + p] = pixel(c, p);
        return r;
    }

    [Fact]
    public void ReadsRecordsAsPlanarRgb()
    {
        using var dir = new TempFolder();
        var sub = Directory.CreateDirectory(Path.Combine(dir.Path, "cifar-10-batches-bin")).FullName;
        File.WriteAllBytes(Path.Combine(sub, "data_batch_1.bin"), [.. Record(3, (c, p) => (byte)(c * 100)), .. Record(9, (c, p) => (byte)(p % 256))]);
        File.WriteAllBytes(Path.Combine(sub, "data_batch_2.bin"), Record(0, (c, p) => 255));
        File.WriteAllBytes(Path.Combine(sub, "test_batch.bin"), Record(1, (c, p) => 0));
        using var train = Cifar10.Load(dir.Path, train: true);
        using var test = Cifar10.Load(dir.Path, train: false);
        Assert.Equal(new long[] { 3, 3, 32, 32 }, train.Images.shape);
        Assert.Equal(new long[] { 3, 9, 0 }, train.Labels.data<long>().ToArray());
        Assert.Equal(1, test.Count);
        Assert.Equal("cat", train.ClassNames[3]);
        Assert.Equal(-1f, train.Images[0, 0, 5, 5].item<float>());
        Assert.Equal(100 / 127.5f - 1, train.Images[0, 1, 5, 5].item<float>(), 1e-6f);
        Assert.Equal(200 / 127.5f - 1, train.Images[0, 2, 31, 31].item<float>(), 1e-6f);
        // Pixel p of a plane is row p / 32, column p % 32.
        Assert.Equal(37 / 127.5f - 1, train.Images[1, 0, 1, 5].item<float>(), 1e-6f);
        Assert.Equal(1f, train.Images[2].min().item<float>());
    }

    [Fact]
    public void PartialRecordIsAnError()
    {
        using var dir = new TempFolder();
        var path = dir.File("data_batch_1.bin");
        File.WriteAllBytes(path, Record(1, (c, p) => 0)[..^1]);
        var e = Assert.Throws<InvalidDataException>(() => Cifar10.Load(dir.Path, train: true));
        Assert.Contains(path, e.Message);
        Assert.Contains("3073", e.Message);
    }

    [Fact]
    public void BadLabelAndMissingFilesAreErrors()
    {
        using var dir = new TempFolder();
        Assert.Throws<InvalidDataException>(() => Cifar10.Load(dir.Path, train: false));
        var path = dir.File("test_batch.bin");
        File.WriteAllBytes(path, Record(10, (c, p) => 0));
        var e = Assert.Throws<InvalidDataException>(() => Cifar10.Load(dir.Path, train: false));
        Assert.Contains("label 10", e.Message);
    }
}

using System.IO.Compression;
using DiffusionSharp.Data;

namespace DiffusionSharp.Tests.Data;

public sealed class IdxFileTests
{
    private static IdxArray Images(int n, int h, int w)
    {
        var data = new byte[n * h * w];
        for (int i = 0; i < data.Length; i++)
            data[i] = (byte)(i * 7 % 256);
        return new IdxArray([n, h, w], data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripsPlainAndGzipped(bool gzip)
    {
        using var dir = new TempFolder();
        var path = dir.File("x-idx3-ubyte");
        var written = Images(5, 4, 3);
        IdxFile.Write(path, written, gzip);
        var raw = File.ReadAllBytes(path);
        Assert.Equal(gzip, raw[0] == 0x1f && raw[1] == 0x8b);
        if (!gzip)
            Assert.Equal(new byte[] { 0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 3 }, raw[..16]);
        var read = IdxFile.Read(path, expectedDimensions: 3);
        Assert.Equal(written.Dimensions, read.Dimensions);
        Assert.Equal(written.Data, read.Data);
    }

    [Fact]
    public void WrongMagicNamesFile()
    {
        using var dir = new TempFolder();
        var path = dir.File("bad");
        File.WriteAllBytes(path, [0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 7]);
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("magic", e.Message);
    }

    [Fact]
    public void UnsupportedElementTypeIsRejected()
    {
        using var dir = new TempFolder();
        var path = dir.File("float");
        File.WriteAllBytes(path, [0, 0, 0x0D, 0x01, 0, 0, 0, 1, 0, 0, 0, 0]);
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));
        Assert.Contains("0x0D", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedFileNamesFileAndSizes(bool gzip)
    {
        using var dir = new TempFolder();
        var path = dir.File("t");
        IdxFile.Write(path, Images(3, 2, 2));
        var bytes = File.ReadAllBytes(path)[..^5];
        if (gzip)
        {
            using var ms = new MemoryStream();
            using (var z = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
                z.Write(bytes);
            bytes = ms.ToArray();
        }
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("12 bytes", e.Message);
    }

    [Fact]
    public void TruncatedGzipStreamIsAnError()
    {
        using var dir = new TempFolder();
        var path = dir.File("t.gz");
        IdxFile.Write(path, Images(50, 8, 8), gzip: true);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TrailingBytesAreAnError()
    {
        using var dir = new TempFolder();
        var path = dir.File("long");
        IdxFile.Write(path, Images(2, 2, 2));
        File.AppendAllText(path, "xx");
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));
        Assert.Contains("2 bytes beyond", e.Message);
    }

    [Fact]
    public void DimensionMismatchIsAnError()
    {
        using var dir = new TempFolder();
        var labels = dir.File("labels");
        IdxFile.Write(labels, new IdxArray([4], [1, 2, 3, 4]));
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(labels, expectedDimensions: 3));
        Assert.Contains(labels, e.Message);
        Assert.Contains("1 dimensions where 3 were expected", e.Message);
    }

    [Fact]
    public void WriterChecksLength()
    {
        using var dir = new TempFolder();
        Assert.Throws<ArgumentException>(() => IdxFile.Write(dir.File("x"), new IdxArray([2, 3], new byte[5])));
    }

    [Fact]
    public void MnistLoaderChecksCountsAndLabels()
    {
        using var dir = new TempFolder();
        string images = dir.File("i"), labels = dir.File("l");
        IdxFile.Write(images, Images(3, 2, 2));
        IdxFile.Write(labels, new IdxArray([2], [1, 2]));
        var e = Assert.Throws<InvalidDataException>(() => Mnist.Load(images, labels));
        Assert.Contains(labels, e.Message);
        Assert.Contains("2 labels for the 3 images", e.Message);

        IdxFile.Write(labels, new IdxArray([3], [1, 2, 10]));
        e = Assert.Throws<InvalidDataException>(() => Mnist.Load(images, labels));
        Assert.Contains("label 10", e.Message);

        // Swapped arguments: the label file is not a 3-D image file.
        e = Assert.Throws<InvalidDataException>(() => Mnist.Load(labels, images));
        Assert.Contains(labels, e.Message);
    }

    [Fact]
    public void MnistLoaderNormalisesToMinusOneOne()
    {
        using var dir = new TempFolder();
        string images = dir.File("i.gz"), labels = dir.File("l");
        IdxFile.Write(images, new IdxArray([2, 1, 3], [0, 255, 51, 102, 204, 0]), gzip: true);
        IdxFile.Write(labels, new IdxArray([2], [7, 3]));
        using var ds = Mnist.Load(images, labels);
        Assert.Equal(new long[] { 2, 1, 1, 3 }, ds.Images.shape);
        var px = ds.Images.data<float>().ToArray();
        float[] expected = [-1f, 1f, 51 / 127.5f - 1, 102 / 127.5f - 1, 204 / 127.5f - 1, -1f];
        for (int i = 0; i < 6; i++)
            Assert.Equal(expected[i], px[i], 1e-6f);
        Assert.Equal(new long[] { 7, 3 }, ds.Labels.data<long>().ToArray());
        Assert.Equal("7", ds.ClassNames[7]);
    }
}

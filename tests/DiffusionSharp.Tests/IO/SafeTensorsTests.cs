using DiffusionSharp.IO;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.IO;

public sealed class SafeTensorsTests
{
    [Fact]
    public void ReadsSchedulerFixture()
    {
        var path = Path.Combine(TestPaths.Schedulers, "ddim_lin_eps_n10.safetensors");
        var tensors = SafeTensors.Load(path);
        try
        {
            Assert.Equal(new long[] { 1000 }, tensors["alphas_cumprod"].shape);
            Assert.Equal(ScalarType.Float32, tensors["x_T"].dtype);
            Assert.Equal(new long[] { 2, 1, 8, 8 }, tensors["x_T"].shape);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void RoundTripsBitExactly()
    {
        using var scope = NewDisposeScope();
        var dir = Directory.CreateTempSubdirectory();
        var path = Path.Combine(dir.FullName, "t.safetensors");
        var a = randn(3, 4);
        var b = arange(10, dtype: ScalarType.Int64);
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["b"] = b, ["a"] = a }, new Dictionary<string, string> { ["format"] = "pt" });
        var back = SafeTensors.Load(path);
        Assert.True(back["a"].equal(a).all().item<bool>());
        Assert.True(back["b"].equal(b).all().item<bool>());
        Assert.Equal("pt", SafeTensors.ReadHeader(path).Metadata["format"]);
        dir.Delete(true);
    }

    [Fact]
    public void HeaderLengthBeyondFileNamesTheFile()
    {
        var dir = Directory.CreateTempSubdirectory();
        var path = Path.Combine(dir.FullName, "bad.safetensors");
        File.WriteAllBytes(path, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, (byte)'{', (byte)'}']);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("exceeds", e.Message);
        dir.Delete(true);
    }

    public static TheoryData<byte[], string> FuzzerFindings => new()
    {
        // A name holding a lone UTF-16 surrogate encoded as UTF-8 (ED A0 80): not valid UTF-8.
        { [.. "{\""u8, 0xED, 0xA0, 0x80, .. "\":1}"u8], "not valid UTF-8" },
        // data_offsets holding an array where a number belongs.
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[[],4]}}"u8.ToArray(), "invalid data_offsets" },
    };

    [Theory]
    [MemberData(nameof(FuzzerFindings))]
    public void HeadersTheFuzzerBrokeAreInvalidData(byte[] header, string expected)
    {
        // Found by tests/DiffusionSharp.Tests/Models/CheckpointFuzzTests.cs: both used to escape as InvalidOperationException.
        var dir = Directory.CreateTempSubdirectory();
        var path = Path.Combine(dir.FullName, "bad.safetensors");
        var bytes = new byte[8 + header.Length + 4];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        dir.Delete(true);
    }
}

using DiffusionSharp.Text;

namespace DiffusionSharp.Tests.Text;

/// <summary>A text model folder's generation_config.json: read, written back, and refused with the file and key named.</summary>
public sealed class TextSamplingDefaultsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-gencfg-");

    public void Dispose() => _dir.Delete(true);

    private string File_ => Path.Combine(_dir.FullName, TextSamplingDefaults.FileName);

    [Fact]
    public void AFolderWithoutTheFileSamplesWithTheBuiltInDefaults()
    {
        var d = TextSamplingDefaults.Load(_dir.FullName);
        Assert.Equal(new TextSamplingDefaults(UnmaskingOrder.Random, 0, 1.0, null), d);
        Assert.Equal("ancestral (random order), top-p 1", d.ToString());
    }

    [Fact]
    public void WhatIsSavedIsWhatIsLoaded()
    {
        var d = new TextSamplingDefaults(UnmaskingOrder.Confidence, 2.5, 0.95, 128);
        d.Save(_dir.FullName);
        Assert.Equal(d, TextSamplingDefaults.Load(_dir.FullName));
        Assert.Equal("confidence order, τ 2.5, top-p 0.95, 128 steps", d.ToString());
        File.WriteAllText(File_, """{ "_comment": "ignored", "top_p": 0.5 }""");
        Assert.Equal(TextSamplingDefaults.BuiltIn with { TopP = 0.5 }, TextSamplingDefaults.Load(_dir.FullName));
    }

    [Theory]
    [InlineData("""{ "temperature": 1 }""", "unknown key \"temperature\"")]
    [InlineData("""{ "top_p": 0 }""", "\"top_p\" is 0; it takes a number in [0 (exclusive), 1]")]
    [InlineData("""{ "choice_temperature": -1 }""", "\"choice_temperature\" is -1")]
    [InlineData("""{ "steps": 2.5 }""", "\"steps\" is 2.5; it takes an integer")]
    [InlineData("""{ "order": 1 }""", "\"order\" must be a string")]
    [InlineData("""[1, 2]""", "expected a JSON object")]
    [InlineData("""{ "order": """, "not valid JSON")]
    public void ABadFileIsRefusedNamingTheFileAndTheKey(string json, string expected)
    {
        File.WriteAllText(File_, json);
        var e = Assert.Throws<InvalidDataException>(() => TextSamplingDefaults.Load(_dir.FullName));
        Assert.StartsWith(File_ + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}

using DiffusionSharp.Evaluation;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Evaluation;

public sealed class ClassCoverageTests
{
    [Fact]
    public void KlFromUniformOnHandMadeHistograms()
    {
        Assert.Equal(0, ClassCoverage.KlFromUniform([5, 5, 5, 5]), 12);
        Assert.Equal(Math.Log(10), ClassCoverage.KlFromUniform([0, 0, 7, 0, 0, 0, 0, 0, 0, 0]), 12);
        // p = (¾, ¼): ¾ ln(2·¾) + ¼ ln(2·¼).
        Assert.Equal(0.75 * Math.Log(1.5) + 0.25 * Math.Log(0.5), ClassCoverage.KlFromUniform([3, 1]), 12);
        // Half the classes empty, the rest balanced: ln 2.
        Assert.Equal(Math.Log(2), ClassCoverage.KlFromUniform([4, 0, 4, 0]), 12);
        Assert.Throws<ArgumentException>(() => ClassCoverage.KlFromUniform([0, 0]));
    }

    [Fact]
    public void HistogramCountsPredictions()
    {
        using var scope = NewDisposeScope();
        Assert.Equal(new long[] { 1, 0, 3, 1 }, ClassCoverage.Histogram(tensor(new long[] { 2, 0, 2, 3, 2 }), 4));
        Assert.Throws<ArgumentException>(() => ClassCoverage.Histogram(tensor(new long[] { 4 }), 4));
    }

    [Fact]
    public void ConditionalAccuracyIsTheFractionMatchingTheRequest()
    {
        using var scope = NewDisposeScope();
        Assert.Equal(0.75, ClassCoverage.ConditionalAccuracy(tensor(new long[] { 1, 2, 3, 4 }), tensor(new long[] { 1, 2, 0, 4 })), 12);
        Assert.Throws<ArgumentException>(() => ClassCoverage.ConditionalAccuracy(tensor(new long[] { 1 }), tensor(new long[] { 1, 2 })));
    }

    [Fact]
    public void ReportSaysItIsNotTheInceptionFid()
    {
        var report = new EvaluationReport("features", 0.99, 100, 1000, 1.5, 0.5, ["0", "1"], [60, 40], 0.02, 0.9);
        string text = report.ToText();
        Assert.Contains("NOT the Inception FID", text);
        Assert.Contains("0:60 1:40", text);
        Assert.Contains("conditional accuracy", text);
        var json = System.Text.Json.JsonSerializer.Serialize(report);
        var back = System.Text.Json.JsonSerializer.Deserialize<EvaluationReport>(json)!;
        Assert.Equal(report.FidSamplesVsTest, back.FidSamplesVsTest);
        Assert.Equal(report.ClassHistogram, back.ClassHistogram);
    }
}

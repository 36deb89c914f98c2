using System.Globalization;
using System.Text.Json;
using DiffusionSharp.Evaluation;
using DiffusionSharp.IO;
using Spectre.Console;

namespace DiffusionSharp.Cli.Commands;

/// <summary>The table (and optional JSON file) of a classifier-scored evaluation, the same for digit images and spoken digits.</summary>
internal static class ClassifierReportTable
{
    /// <param name="report">The figures.</param>
    /// <param name="model">The model folder.</param>
    /// <param name="samples">How the samples were drawn (one line).</param>
    /// <param name="real">What the real reference split is called ("test", "held-out").</param>
    /// <param name="caveat">The note under the table (which FID this is).</param>
    /// <param name="reportPath">Where to write the report as JSON (null: nowhere).</param>
    public static void Write(EvaluationReport report, string model, string samples, string real, string caveat, string? reportPath)
    {
        var c = CultureInfo.InvariantCulture;
        var table = new Table().AddColumns("figure", "value");
        table.AddRow("model", Markup.Escape(model));
        table.AddRow("samples", Markup.Escape(samples));
        table.AddRow($"classifier {real} accuracy", report.ClassifierTestAccuracy.ToString("P2", c));
        table.AddRow($"classifier-FID samples vs {real}", report.FidSamplesVsTest.ToString("F3", c));
        table.AddRow($"classifier-FID floor train vs {real}", report.FidFloorTrainVsTest.ToString("F3", c));
        table.AddRow("FID / floor", (report.FidSamplesVsTest / report.FidFloorTrainVsTest).ToString("F2", c));
        table.AddRow("class histogram", string.Join(" ", report.ClassNames.Zip(report.ClassHistogram, (n, k) => $"{n}:{k}")));
        table.AddRow("KL(classes ‖ uniform)", report.KlFromUniform.ToString("F4", c) + " nats");
        if (report.ConditionalAccuracy is double acc)
            table.AddRow("conditional accuracy", acc.ToString("P2", c));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(caveat)}[/]");
        if (reportPath is not null)
            AtomicFile.WriteAllText(reportPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
    }
}

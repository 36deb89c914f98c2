using System.Diagnostics;
using System.Globalization;
using DiffusionSharp.Compare;
using DiffusionSharp.Imaging;
using Spectre.Console;

namespace DiffusionSharp.Cli.Commands;

/// <summary><c>diffuse sample</c> on a GAN or VAE folder (<c>GanModel</c>, <c>VaeModel</c>): one generator pass per image.</summary>
internal static class OnePassSamples
{
    public static int Run(SampleCommand.Settings settings)
    {
        var watch = Stopwatch.StartNew();
        using var model = OnePassSampling.Load(settings.ModelDirectory);
        model.Precision = CliPrecision.Parse(settings.Precision);
        int count = settings.Count ?? 100;
        int? classLabel = settings.Class.Equals("all", StringComparison.OrdinalIgnoreCase)
            ? null
            : int.TryParse(settings.Class, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k)
                ? k
                : throw new ArgumentException($"--class must be a class index or 'all', not '{settings.Class}'");
        using var samples = OnePassSampling.Generate(model, count, settings.Seed, classLabel, settings.BatchSize);
        Directory.CreateDirectory(settings.Out);
        int columns = model.NumClasses is > 0 and <= 16 && classLabel is null ? model.NumClasses : (int)Math.Ceiling(Math.Sqrt(count));
        string grid = Path.Combine(settings.Out, "grid.png");
        ImageWriter.SaveGrid(samples, grid, new GridOptions(Columns: columns));
        for (int i = 0; i < count; i++)
        {
            using var one = samples[i];
            ImageWriter.SavePng(one, Path.Combine(settings.Out, $"{i:D5}.png"));
        }
        var table = new Table().AddColumns("", "");
        table.AddRow("model", $"{Markup.Escape(settings.ModelDirectory)} ({model.ClassName}, one pass per image)");
        table.AddRow("samples", $"{count} → {Markup.Escape(grid)}");
        table.AddRow("time", $"{watch.Elapsed.TotalSeconds:F1} s");
        AnsiConsole.Write(table);
        return 0;
    }
}

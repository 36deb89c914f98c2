using DiffusionSharp.Imaging;
using DiffusionSharp.IO;
using DiffusionSharp.Training;
using ScottPlot;
using static TorchSharp.torch;

namespace DiffusionSharp.Compare;

/// <summary>The comparison's figures: FID against training time, precision/recall/coverage bars (ScottPlot), and the models' samples side by side.</summary>
internal static class ComparisonPlots
{
    /// <summary>One line per model × conditioning × seed at <paramref name="fraction"/>: classifier-FID (log scale) of the curve's evaluations against training seconds.</summary>
    public static void FidVersusTime(IReadOnlyList<CellResult> cells, double fraction, string path)
    {
        using var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var groups = cells.Where(c => c.Fraction == fraction).GroupBy(c => (c.Model, c.Conditional)).ToList();
        for (int g = 0; g < groups.Count; g++)
        {
            foreach (var cell in groups[g].OrderBy(c => c.Seed))
            {
                var points = cell.Curve.Where(p => p.Fid > 0 && double.IsFinite(p.Fid)).ToArray();
                if (points.Length == 0)
                    continue;
                var line = plot.Add.ScatterLine(points.Select(p => p.TrainSeconds).ToArray(), points.Select(p => Math.Log10(p.Fid)).ToArray());
                line.Color = palette.GetColor(g);
                line.LinePattern = groups[g].Key.Conditional ? LinePattern.Solid : LinePattern.Dashed;
                line.MarkerSize = 5;
                if (cell.Seed == groups[g].Min(c => c.Seed))
                    line.LegendText = $"{groups[g].Key.Model} {(groups[g].Key.Conditional ? "cond" : "uncond")}";
            }
        }
        plot.Title($"classifier-FID vs training time ({fraction:P0} of the digits)");
        plot.XLabel("training seconds (step time)");
        plot.YLabel("log10 classifier-FID");
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, path);
    }

    /// <summary>The most steps a loss curve is averaged over (single GAN steps swing too widely to read); a short run, a tenth of its steps.</summary>
    public const int LossWindow = 25;

    /// <summary>
    /// The training losses of <paramref name="runDirs"/> (one run per seed and conditioning of one model) against the step,
    /// each loss column of <c>log.csv</c> a colour (a GAN's discriminator and generator), conditioning the line pattern,
    /// a moving average of up to <see cref="LossWindow"/> steps. <paramref name="firstStage"/> names the <c>loss</c> column.
    /// </summary>
    public static void TrainingLosses(IReadOnlyList<(string RunDir, bool Conditional, int Seed)> runDirs, string title, string firstStage, string path)
    {
        using var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var columns = runDirs.SelectMany(r => TrainingLog.LossColumns(r.RunDir)).Distinct().ToList();
        var labelled = new HashSet<string>();
        foreach (var (runDir, conditional, seed) in runDirs)
        {
            foreach (string column in TrainingLog.LossColumns(runDir))
            {
                var rows = TrainingLog.Column(runDir, column);
                if (rows.Count == 0)
                    continue;
                var (steps, values) = MovingAverage(rows, Math.Clamp(rows.Count / 10, 1, LossWindow));
                var line = plot.Add.ScatterLine(steps, values);
                line.Color = palette.GetColor(columns.IndexOf(column));
                line.LinePattern = conditional ? LinePattern.Solid : LinePattern.Dashed;
                line.MarkerSize = 0;
                string label = $"{(column == "loss" ? firstStage : column["loss_".Length..])} {(conditional ? "cond" : "uncond")}";
                if (labelled.Add(label))
                    line.LegendText = label;
            }
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel($"loss (moving average of ≤ {LossWindow} steps)");
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, path);
    }

    /// <summary>The mean of each full window of <paramref name="window"/> consecutive rows, at the window's last step.</summary>
    internal static (double[] Steps, double[] Values) MovingAverage(IReadOnlyList<(int Step, double Value)> rows, int window)
    {
        int n = rows.Count - window + 1;
        var steps = new double[n];
        var values = new double[n];
        double sum = 0;
        for (int i = 0; i < rows.Count; i++)
        {
            sum += rows[i].Value;
            if (i >= window)
                sum -= rows[i - window].Value;
            if (i >= window - 1)
                (steps[i - window + 1], values[i - window + 1]) = (rows[i].Step, sum / window);
        }
        return (steps, values);
    }

    /// <summary>Grouped bars of precision, recall, density and coverage (seed means) per model × conditioning at <paramref name="fraction"/>.</summary>
    public static void PrecisionRecallCoverage(IReadOnlyList<CellResult> cells, double fraction, string path)
    {
        using var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var groups = cells.Where(c => c.Fraction == fraction).GroupBy(c => (c.Model, c.Conditional)).ToList();
        string[] metrics = ["precision", "recall", "density", "coverage"];
        var bars = new List<Bar>();
        for (int g = 0; g < groups.Count; g++)
        {
            double[] values =
            [
                groups[g].Average(c => c.PrecisionRecall.Precision), groups[g].Average(c => c.PrecisionRecall.Recall),
                groups[g].Average(c => c.DensityCoverage.Density), groups[g].Average(c => c.DensityCoverage.Coverage),
            ];
            for (int m = 0; m < metrics.Length; m++)
                bars.Add(new Bar { Position = m * (groups.Count + 1) + g, Value = values[m], FillColor = palette.GetColor(g) });
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"{groups[g].Key.Model} {(groups[g].Key.Conditional ? "cond" : "uncond")}", FillColor = palette.GetColor(g) });
        }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks(metrics.Select((_, m) => m * (groups.Count + 1) + (groups.Count - 1) / 2.0).ToArray(), metrics);
        plot.Title($"precision, recall (k = 3), density, coverage (k = 5) at {fraction:P0} of the digits");
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, path);
    }

    /// <summary>The first 100 samples (or fewer, whole rows of 10) of each listed cell (10 per row, class per column when conditional) side by side, a blank column between models.</summary>
    public static void SideBySide(IReadOnlyList<string> sampleFolders, string path)
    {
        using var scope = NewDisposeScope();
        var models = sampleFolders.Select(folder => cat(Enumerable.Range(0, 100).Select(i => Path.Combine(folder, $"{i:D5}.png")).Where(File.Exists)
            .Select(p => Editing.EditImages.LoadImage(p, 1, 28, 28)).ToList(), 0)).ToList();
        int rows = models.Count == 0 ? 0 : (int)(models.Min(t => t.shape[0]) / 10);
        if (rows == 0)
            return;
        var blank = ones(1, 1, 28, 28);
        var tiles = new List<Tensor>();
        for (int row = 0; row < rows; row++)
        {
            for (int m = 0; m < models.Count; m++)
            {
                tiles.Add(models[m].narrow(0, row * 10, 10));
                if (m < models.Count - 1)
                    tiles.Add(blank);
            }
        }
        ImageWriter.SaveGrid(cat(tiles, 0), path, new GridOptions(Columns: 10 * models.Count + models.Count - 1, Scale: 1));
    }

    private static void Save(Plot plot, string path)
    {
        byte[] png = plot.GetImageBytes(1000, 550, ImageFormat.Png);
        AtomicFile.Write(path, s => s.Write(png));
    }
}

using System.Globalization;
using DiffusionSharp.IO;
using ScottPlot;

namespace DiffusionSharp.Imaging;

/// <summary>Options of <see cref="LossPlot.Save"/>.</summary>
/// <param name="Width">Image width in pixels.</param>
/// <param name="Height">Image height in pixels.</param>
/// <param name="Smoothing">β of the debiased exponential moving average drawn over the raw curve (0 draws none).</param>
/// <param name="Title">The plot's title.</param>
/// <param name="LogY">Logarithmic loss axis (diffusion losses fall over decades).</param>
public sealed record LossPlotOptions(int Width = 900, int Height = 500, double Smoothing = 0.98, string Title = "training loss", bool LogY = true);

/// <summary>Draws a training-loss curve (raw and smoothed) to a PNG with ScottPlot.</summary>
public static class LossPlot
{
    /// <summary>
    /// The debiased exponential moving average m̂_t = m_t / (1 − β^t) with m_t = β m_{t−1} + (1 − β) x_t, m_0 = 0
    /// (the bias correction of Adam, Kingma &amp; Ba 2015, Algorithm 1), so the first values are not pulled to 0.
    /// Non-finite inputs are skipped (their output repeats the previous average, NaN before any finite value).
    /// </summary>
    public static double[] Smooth(IReadOnlyList<double> values, double beta)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (!(beta >= 0 && beta < 1))
            throw new ArgumentOutOfRangeException(nameof(beta), beta, "β must lie in [0, 1)");
        var result = new double[values.Count];
        double m = 0, betaPower = 1;
        for (int i = 0; i < values.Count; i++)
        {
            if (double.IsFinite(values[i]))
            {
                m = beta * m + (1 - beta) * values[i];
                betaPower *= beta;
            }
            result[i] = betaPower == 1 ? double.NaN : m / (1 - betaPower);
        }
        return result;
    }

    /// <summary>
    /// Writes the loss curve to <paramref name="path"/> (PNG, atomically). With a log axis, non-positive and
    /// non-finite losses cannot be drawn and are left out.
    /// </summary>
    /// <param name="losses">One loss per logged step.</param>
    /// <param name="path">The PNG file.</param>
    /// <param name="options">Size, smoothing, title, axis.</param>
    /// <param name="steps">The step of each loss; null for 1, 2, 3, ….</param>
    public static void Save(IReadOnlyList<double> losses, string path, LossPlotOptions? options = null, IReadOnlyList<double>? steps = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] png = Render(losses, options, steps);
        AtomicFile.Write(path, s => s.Write(png));
    }

    /// <summary>Renders the loss curve as PNG bytes (see <see cref="Save"/>).</summary>
    public static byte[] Render(IReadOnlyList<double> losses, LossPlotOptions? options = null, IReadOnlyList<double>? steps = null)
    {
        ArgumentNullException.ThrowIfNull(losses);
        options ??= new LossPlotOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Width, 100, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Height, 100, nameof(options));
        if (steps is not null && steps.Count != losses.Count)
            throw new ArgumentException($"{steps.Count} steps for {losses.Count} losses", nameof(steps));
        var x = steps?.ToArray() ?? Enumerable.Range(1, losses.Count).Select(i => (double)i).ToArray();
        var smoothed = options.Smoothing > 0 ? Smooth(losses, options.Smoothing) : null;

        using var plot = new Plot();
        bool drawable(double v) => double.IsFinite(v) && (!options.LogY || v > 0);
        double transform(double v) => options.LogY ? Math.Log10(v) : v;
        (double[] X, double[] Y) series(IReadOnlyList<double> ys)
        {
            var keep = Enumerable.Range(0, ys.Count).Where(i => drawable(ys[i])).ToArray();
            return (keep.Select(i => x[i]).ToArray(), keep.Select(i => transform(ys[i])).ToArray());
        }

        var raw = series(losses);
        if (raw.X.Length > 0)
        {
            var line = plot.Add.ScatterLine(raw.X, raw.Y);
            line.Color = Colors.SteelBlue.WithAlpha(smoothed is null ? 1.0 : 0.35);
            line.LineWidth = 1;
            line.LegendText = "loss";
        }
        if (smoothed is not null)
        {
            var avg = series(smoothed);
            if (avg.X.Length > 0)
            {
                var line = plot.Add.ScatterLine(avg.X, avg.Y);
                line.Color = Colors.DarkOrange;
                line.LineWidth = 2;
                line.LegendText = $"EMA β = {options.Smoothing.ToString(CultureInfo.InvariantCulture)}";
            }
        }
        if (options.LogY)
            UseLogTicks(plot, raw.Y);
        plot.Title(options.Title);
        plot.XLabel("step");
        plot.YLabel(options.LogY ? "loss (log scale)" : "loss");
        plot.ShowLegend(Alignment.UpperRight);
        if (raw.X.Length == 0)
            plot.Add.Annotation("no finite loss to draw");
        return plot.GetImageBytes(options.Width, options.Height, ImageFormat.Png);
    }

    /// <summary>
    /// The data are log10(loss); ticks are placed on that axis and labelled with the loss itself. Over two or more
    /// decades, major ticks sit on powers of ten with minor ticks at 2…9 × 10^k; over less, at round log values.
    /// </summary>
    private static void UseLogTicks(Plot plot, double[] logValues)
    {
        double span = logValues.Length == 0 ? 0 : logValues.Max() - logValues.Min();
        var ticks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = v => Math.Pow(10, v).ToString("g3", CultureInfo.InvariantCulture),
        };
        if (span >= 2)
        {
            ticks.IntegerTicksOnly = true;
            ticks.MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator();
        }
        plot.Axes.Left.TickGenerator = ticks;
    }
}

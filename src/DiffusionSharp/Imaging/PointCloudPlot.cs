using DiffusionSharp.IO;
using ScottPlot;
using SkiaSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Imaging;

/// <summary>One panel of <see cref="PointCloudPlot"/>: a titled 2-D point cloud, optionally coloured by class.</summary>
/// <param name="Title">The panel's title (e.g. <c>σ = 14.6 (step 0)</c>).</param>
/// <param name="X">First coordinates.</param>
/// <param name="Y">Second coordinates (as many as <paramref name="X"/>).</param>
/// <param name="Labels">Optional class per point (colours); null draws every point in one colour.</param>
public sealed record PointCloudPanel(string Title, double[] X, double[] Y, int[]? Labels = null)
{
    /// <summary>A panel from the first two columns of <paramref name="points"/> [N, ≥2] and optional [N] integer labels.</summary>
    /// <exception cref="ArgumentException"><paramref name="points"/> is not [N, ≥2], or the labels are not [N].</exception>
    public static PointCloudPanel FromTensor(string title, Tensor points, Tensor? labels = null)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.dim() != 2 || points.shape[1] < 2)
            throw new ArgumentException($"points must be [N, 2], got [{string.Join(", ", points.shape)}]", nameof(points));
        if (labels is not null && (labels.dim() != 1 || labels.shape[0] != points.shape[0]))
            throw new ArgumentException($"labels must be [{points.shape[0]}], got [{string.Join(", ", labels.shape)}]", nameof(labels));
        using var scope = NewDisposeScope();
        var p = points.detach().to(ScalarType.Float64, CPU);
        return new PointCloudPanel(title,
            p.select(1, 0).contiguous().data<double>().ToArray(),
            p.select(1, 1).contiguous().data<double>().ToArray(),
            labels?.to(ScalarType.Int32, CPU).contiguous().data<int>().ToArray());
    }
}

/// <summary>Options of <see cref="PointCloudPlot.Render"/>.</summary>
/// <param name="PanelSize">Width and height of one panel in pixels.</param>
/// <param name="Extent">Half-width of the square axis range [−e, e] shared by every panel; null fits the last panel (the data) with a margin.</param>
/// <param name="MarkerSize">Point diameter in pixels.</param>
/// <param name="Title">A title over the row of panels (null for none).</param>
/// <param name="Columns">Panels per row (0: all in one row).</param>
public sealed record PointCloudPlotOptions(int PanelSize = 260, double? Extent = null, float MarkerSize = 2.5f, string? Title = null, int Columns = 0);

/// <summary>
/// Draws point clouds side by side with ScottPlot, every panel on the same square axes — the picture of a reverse
/// diffusion process on 2-D data: Gaussian noise at σ_max on the left flowing into the data shape, with the real data
/// as the last panel for comparison.
/// </summary>
public static class PointCloudPlot
{
    private static readonly Color[] s_palette =
    [
        Colors.SteelBlue, Colors.DarkOrange, Colors.SeaGreen, Colors.Crimson,
        Colors.MediumPurple, Colors.SaddleBrown, Colors.HotPink, Colors.Gray,
    ];

    /// <summary>Writes the panels to <paramref name="path"/> as one PNG (atomically).</summary>
    public static void Save(IReadOnlyList<PointCloudPanel> panels, string path, PointCloudPlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] png = Render(panels, options);
        AtomicFile.Write(path, s => s.Write(png));
    }

    /// <summary>Renders the panels, left to right (wrapping after <see cref="PointCloudPlotOptions.Columns"/>), as PNG bytes.</summary>
    /// <exception cref="ArgumentException">No panels, a panel whose X, Y and labels differ in length, or a bad option.</exception>
    public static byte[] Render(IReadOnlyList<PointCloudPanel> panels, PointCloudPlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(panels);
        options ??= new PointCloudPlotOptions();
        if (panels.Count == 0)
            throw new ArgumentException("at least one panel is needed", nameof(panels));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PanelSize, 100, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.Columns, nameof(options));
        if (options.Extent is { } given && !(double.IsFinite(given) && given > 0))
            throw new ArgumentException($"extent must be finite and positive, got {given}", nameof(options));
        foreach (var p in panels)
        {
            if (p.X.Length != p.Y.Length || (p.Labels is not null && p.Labels.Length != p.X.Length))
                throw new ArgumentException($"panel '{p.Title}': {p.X.Length} x, {p.Y.Length} y and {p.Labels?.Length} labels differ", nameof(panels));
        }
        double extent = options.Extent ?? FitExtent(panels[^1]);

        int columns = options.Columns == 0 ? panels.Count : Math.Min(options.Columns, panels.Count);
        int rows = (panels.Count + columns - 1) / columns;
        int size = options.PanelSize;
        int titleHeight = options.Title is null ? 0 : 36;
        using var surface = SKSurface.Create(new SKImageInfo(columns * size, rows * size + titleHeight));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        if (options.Title is not null)
        {
            using var font = new SKFont(SKTypeface.Default, 20);
            using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            canvas.DrawText(options.Title, columns * size / 2f, 26, SKTextAlign.Center, font, paint);
        }
        for (int i = 0; i < panels.Count; i++)
        {
            // Each panel is rendered on its own: ScottPlot's Render(canvas, rect) clears the whole canvas first.
            using var plot = Panel(panels[i], extent, options.MarkerSize);
            using var panelImage = SKImage.FromEncodedData(plot.GetImageBytes(size, size, ImageFormat.Png));
            canvas.DrawImage(panelImage, i % columns * size, titleHeight + i / columns * size);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Half-width of a square around the origin holding every finite point of the panel, plus 10%.</summary>
    private static double FitExtent(PointCloudPanel panel)
    {
        double m = 0;
        for (int i = 0; i < panel.X.Length; i++)
        {
            if (double.IsFinite(panel.X[i]) && double.IsFinite(panel.Y[i]))
                m = Math.Max(m, Math.Max(Math.Abs(panel.X[i]), Math.Abs(panel.Y[i])));
        }
        return m > 0 ? 1.1 * m : 1.0;
    }

    private static Plot Panel(PointCloudPanel panel, double extent, float markerSize)
    {
        var plot = new Plot();
        var groups = panel.Labels is null
            ? [(Label: 0, Index: Enumerable.Range(0, panel.X.Length).ToArray())]
            : panel.Labels.Select((l, i) => (l, i)).GroupBy(p => p.l).OrderBy(g => g.Key).Select(g => (Label: g.Key, Index: g.Select(p => p.i).ToArray())).ToArray();
        foreach (var (label, index) in groups)
        {
            var scatter = plot.Add.ScatterPoints(index.Select(i => panel.X[i]).ToArray(), index.Select(i => panel.Y[i]).ToArray());
            scatter.MarkerSize = markerSize;
            scatter.MarkerShape = MarkerShape.FilledCircle;
            scatter.Color = s_palette[((label % s_palette.Length) + s_palette.Length) % s_palette.Length].WithAlpha(0.6);
        }
        plot.Title(panel.Title, size: 14);
        plot.Axes.SetLimits(-extent, extent, -extent, extent);
        return plot;
    }
}

using DiffusionSharp.IO;
using SkiaSharp;

namespace DiffusionSharp.Text;

/// <summary>One recorded state of a text sample during sampling: the step and the text ([MASK] shown as '_').</summary>
public sealed record TextFrame(int Step, string Text);

/// <summary>
/// The unmasking of a text sample as one stacked PNG: a panel per recorded step, top to bottom, each the sample wrapped
/// at a fixed number of columns on a character grid; characters already written are black, those still masked are grey
/// boxes, those written since the panel before are red. Drawn with SkiaSharp in DejaVu Sans Mono (the default
/// typeface where it is missing: cells keep the grid either way).
/// </summary>
public static class TextTrajectoryImage
{
    private const float FontSize = 14, CellWidth = 9, LineHeight = 17, Margin = 10, PanelGap = 8, LabelWidth = 110;

    /// <summary>Writes the frames (in order) as a PNG, atomically; <paramref name="columns"/> characters per line.</summary>
    public static void Save(IReadOnlyList<TextFrame> frames, string path, int columns = 64)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 8);
        if (frames.Count == 0)
            throw new ArgumentException("no frames to draw", nameof(frames));
        int longest = frames.Max(f => f.Text.Length);
        int lines = Math.Max(1, (longest + columns - 1) / columns);
        float panel = lines * LineHeight;
        int width = (int)(2 * Margin + LabelWidth + columns * CellWidth);
        int height = (int)(2 * Margin + frames.Count * panel + (frames.Count - 1) * PanelGap);
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var typeface = SKTypeface.FromFamilyName("DejaVu Sans Mono") ?? SKTypeface.Default;
        using var font = new SKFont(typeface, FontSize);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var fresh = new SKPaint { Color = new SKColor(200, 30, 30), IsAntialias = true };
        using var label = new SKPaint { Color = new SKColor(90, 90, 90), IsAntialias = true };
        using var masked = new SKPaint { Color = new SKColor(215, 215, 215) };
        string? previous = null;
        for (int f = 0; f < frames.Count; f++)
        {
            float top = Margin + f * (panel + PanelGap);
            canvas.DrawText($"step {frames[f].Step}", Margin, top + FontSize, SKTextAlign.Left, font, label);
            string text = frames[f].Text;
            for (int i = 0; i < text.Length; i++)
            {
                float x = Margin + LabelWidth + i % columns * CellWidth, y = top + i / columns * LineHeight;
                if (text[i].ToString() == CharacterVocabulary.MaskText)
                {
                    canvas.DrawRect(x + 1, y + 3, CellWidth - 2, LineHeight - 5, masked);
                    continue;
                }
                if (char.IsWhiteSpace(text[i]))
                    continue;
                bool isNew = previous is not null && i < previous.Length && previous[i].ToString() == CharacterVocabulary.MaskText;
                canvas.DrawText(text[i].ToString(), x + CellWidth / 2, y + FontSize, SKTextAlign.Center, font, isNew ? fresh : ink);
            }
            previous = text;
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100) ?? throw new InvalidOperationException("SkiaSharp could not encode the PNG");
        AtomicFile.Write(path, s => data.SaveTo(s));
    }

    /// <summary>About <paramref name="panels"/> steps spread over 0…<paramref name="steps"/> (both ends included).</summary>
    public static IReadOnlySet<int> KeptSteps(int steps, int panels = 12)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(panels, 2);
        return Enumerable.Range(0, panels).Select(i => (int)Math.Round((double)i * steps / (panels - 1))).ToHashSet();
    }
}

using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using DiffusionSharp.Editing;
using DiffusionSharp.Imaging;
using DiffusionSharp.Sampling;
using DiffusionSharp.Sampling.Samplers;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// <c>diffuse edit img2img | inpaint | invert | interpolate</c>: the editing algorithms of <see cref="DiffusionSharp.Editing"/>
/// on a model folder (the embedded MNIST model by default), sampled with the σ-space Euler sampler. Each writes one strip
/// PNG (inputs, then results; one row per seed) and, where there is one, the first result as result.png.
/// </summary>
internal static class EditCommand
{
    /// <summary>Options every edit shares.</summary>
    public abstract class EditSettings : PipelineSettings
    {
        [CommandOption("--out <DIR>")]
        [DefaultValue("edits")]
        public string Out { get; init; } = "edits";

        [CommandOption("--steps <N>")]
        [Description("Sampler steps over the Karras σ grid.")]
        [DefaultValue(50)]
        public int Steps { get; init; } = 50;

        [CommandOption("--class <K>")]
        [Description("Condition on class K (with the model's guidance, 2 for MNIST). Default: unconditional.")]
        public int? Class { get; init; }

        [CommandOption("--seed <S>")]
        [Description("Row i uses seed S + i.")]
        [DefaultValue(0L)]
        public long Seed { get; init; }
    }

    /// <summary>Options of the edits that start from an image.</summary>
    public abstract class InputSettings : EditSettings
    {
        [CommandOption("--input <PNG>")]
        [Description("The image to edit, at the model's size (28×28 for MNIST).")]
        public string? Input { get; init; }

        [CommandOption("--count <N>")]
        [Description("Rows: one edit per seed S, S + 1, ….")]
        [DefaultValue(1)]
        public int Count { get; init; } = 1;
    }

    /// <summary>The opened model and input every edit runs on.</summary>
    private sealed record Session(DiffusionPipeline Pipeline, EditModel Model) : IDisposable
    {
        public void Dispose() => Pipeline.Dispose();
    }

    private static Session Open(EditSettings settings)
    {
        if (settings.Steps < 1)
            throw new ArgumentException($"--steps must be ≥ 1, not {settings.Steps}");
        var pipeline = settings.LoadPipeline();
        try
        {
            return new Session(pipeline, EditModel.FromPipeline(pipeline, settings.Class, settings.Guidance));
        }
        catch
        {
            pipeline.Dispose();
            throw;
        }
    }

    private static Tensor LoadInput(InputSettings settings, EditModel model)
    {
        if (settings.Input is null)
            throw new ArgumentException("--input <PNG> is required");
        if (settings.Count < 1)
            throw new ArgumentException($"--count must be ≥ 1, not {settings.Count}");
        using var one = EditImages.LoadImage(settings.Input, (int)model.SampleShape[0], (int)model.SampleShape[1], (int)model.SampleShape[2]);
        return one.expand(settings.Count, -1, -1, -1).contiguous();
    }

    private static long[] Seeds(long seed, int count) => Enumerable.Range(0, count).Select(i => seed + i).ToArray();

    /// <summary>Writes the columns (each [rows, C, H, W]) as a strip with one row per sample; returns its path.</summary>
    private static string WriteStrip(string folder, string name, IReadOnlyList<Tensor> columns)
    {
        Directory.CreateDirectory(folder);
        using var scope = NewDisposeScope();
        var tiles = stack(columns.Select(c => c.cpu().to(ScalarType.Float32)).ToArray(), 1).flatten(0, 1);
        string path = Path.Combine(folder, name);
        ImageWriter.SaveGrid(tiles, path, new GridOptions(Columns: columns.Count));
        return path;
    }

    private static void Report(EditSettings settings, Stopwatch watch, params (string Key, string Value)[] rows)
    {
        var table = new Table().AddColumns("", "");
        table.AddRow("model", Markup.Escape(settings.ModelDirectory));
        table.AddRow("sampler", $"euler, {settings.Steps} steps (Karras σ)");
        table.AddRow("class", settings.Class?.ToString(CultureInfo.InvariantCulture) ?? "none");
        foreach (var (key, value) in rows)
            table.AddRow(key, Markup.Escape(value));
        table.AddRow("time", $"{watch.Elapsed.TotalSeconds:F1} s");
        AnsiConsole.Write(table);
    }

    private static double[] ParseList(string text, string option) =>
        text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
                ? v
                : throw new ArgumentException($"{option}: '{s}' is not a number"))
            .DefaultIfEmpty(double.NaN)
            .Select(v => double.IsNaN(v) ? throw new ArgumentException($"{option} needs at least one value") : v)
            .ToArray();

    /// <summary><c>diffuse edit img2img</c>: SDEdit at one or more strengths.</summary>
    public sealed class Img2ImgCommand : Command<Img2ImgCommand.Settings>
    {
        public sealed class Settings : InputSettings
        {
            [CommandOption("--strength <S>")]
            [Description("Noise strength in [0, 1] (0 = the input, 1 = a fresh sample); a comma list gives one column each.")]
            [DefaultValue("0.6")]
            public string Strength { get; init; } = "0.6";
        }

        public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
        {
            var strengths = ParseList(settings.Strength, "--strength");
            foreach (double s in strengths)
            {
                if (!(s >= 0 && s <= 1))
                    throw new ArgumentException($"--strength must be in [0, 1], not {s.ToString(CultureInfo.InvariantCulture)}");
            }
            var watch = Stopwatch.StartNew();
            using var session = Open(settings);
            using var scope = NewDisposeScope();
            var input = LoadInput(settings, session.Model);
            var labels = session.Model.Labels(settings.Count);
            var sigmas = session.Model.SamplingSigmas(settings.Steps);
            var columns = new List<Tensor> { input };
            foreach (double s in strengths)
                columns.Add(Img2Img.Run(session.Model.Denoiser, new EulerSampler(), input, sigmas, s, Seeds(settings.Seed, settings.Count), labels, cancellationToken));
            string strip = WriteStrip(settings.Out, "img2img.png", columns);
            ImageWriter.SavePng(columns[1][0], Path.Combine(settings.Out, "result.png"));
            Report(settings, watch, ("strength", settings.Strength), ("output", $"{strip} (input, then one column per strength), result.png"));
            return 0;
        }
    }

    /// <summary><c>diffuse edit inpaint</c>: regenerate the white region of a mask.</summary>
    public sealed class InpaintCommand : Command<InpaintCommand.Settings>
    {
        public sealed class Settings : InputSettings
        {
            [CommandOption("--mask <PNG>")]
            [Description("White (≥ 0.5 gray) = regenerate, black = keep; the image's size.")]
            public string? Mask { get; init; }

            [CommandOption("--method <M>")]
            [Description("repaint, replace, or a comma list (one column each).")]
            [DefaultValue("repaint")]
            public string Method { get; init; } = "repaint";

            [CommandOption("--jump <J>")]
            [Description("RePaint's jump length j (steps).")]
            [DefaultValue(5)]
            public int Jump { get; init; } = 5;

            [CommandOption("--resample <R>")]
            [Description("RePaint's resamplings r per block (1 = plain replacement).")]
            [DefaultValue(5)]
            public int Resample { get; init; } = 5;
        }

        public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
        {
            var methods = settings.Method.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (methods.Length == 0 || methods.Any(m => m is not ("repaint" or "replace")))
                throw new ArgumentException($"--method must be repaint, replace or a comma list of them, not '{settings.Method}'");
            if (settings.Jump < 1 || settings.Resample < 1)
                throw new ArgumentException(settings.Jump < 1 ? $"--jump must be ≥ 1, not {settings.Jump}" : $"--resample must be ≥ 1, not {settings.Resample}");
            if (settings.Mask is null)
                throw new ArgumentException("--mask <PNG> is required");
            var watch = Stopwatch.StartNew();
            using var session = Open(settings);
            using var scope = NewDisposeScope();
            var input = LoadInput(settings, session.Model);
            var mask = EditImages.LoadMask(settings.Mask, (int)input.shape[2], (int)input.shape[3]);
            var labels = session.Model.Labels(settings.Count);
            var sigmas = session.Model.SamplingSigmas(settings.Steps);
            var seeds = Seeds(settings.Seed, settings.Count);
            var shownMask = (mask * 2 - 1).expand_as(input);
            var columns = new List<Tensor> { input, shownMask, where(mask.eq(1), zeros_like(input), input) };
            foreach (var method in methods)
            {
                columns.Add(method == "replace"
                    ? Inpainting.Replace(session.Model.Denoiser, new EulerSampler(), input, mask, sigmas, seeds, labels, cancellationToken)
                    : RePaint.Run(session.Model.Denoiser, new EulerSampler(), input, mask, sigmas, seeds, new RePaintOptions(settings.Jump, settings.Resample), labels, cancellationToken));
            }
            string strip = WriteStrip(settings.Out, "inpaint.png", columns);
            ImageWriter.SavePng(columns[3][0], Path.Combine(settings.Out, "result.png"));
            Report(settings, watch, ("method", string.Join(", ", methods) + (methods.Contains("repaint") ? $" (j = {settings.Jump}, r = {settings.Resample})" : "")),
                ("output", $"{strip} (input, mask, kept pixels, then one column per method), result.png"));
            return 0;
        }
    }

    /// <summary><c>diffuse edit invert</c>: DDIM inversion and reconstruction, with the error.</summary>
    public sealed class InvertCommand : Command<InvertCommand.Settings>
    {
        public sealed class Settings : InputSettings;

        public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
        {
            var watch = Stopwatch.StartNew();
            using var session = Open(settings);
            using var scope = NewDisposeScope();
            var input = LoadInput(settings, session.Model);
            var labels = session.Model.Labels(settings.Count);
            var sigmas = session.Model.InversionSigmas(settings.Steps);
            using var result = DdimInversion.RoundTrip(session.Model.Denoiser, input, sigmas, labels, cancellationToken);
            // x_T is shown at the network's unit scale, x_t = x/√(σ² + 1), stretched from ±3 to ±1.
            var shownLatent = result.Latent / (Math.Sqrt(sigmas[0] * sigmas[0] + 1) * 3);
            string strip = WriteStrip(settings.Out, "invert.png", [input, shownLatent, result.Reconstruction]);
            ImageWriter.SavePng(result.Reconstruction[0], Path.Combine(settings.Out, "result.png"));
            Report(settings, watch,
                ("reconstruction", $"RMSE {result.Rmse.ToString("F4", CultureInfo.InvariantCulture)}, max |error| {result.MaxAbsError.ToString("F4", CultureInfo.InvariantCulture)} (pixels in [-1, 1])"),
                ("output", $"{strip} (input, x_T, reconstruction), result.png"));
            return 0;
        }
    }

    /// <summary><c>diffuse edit interpolate</c>: a strip of samples between two seeds' noises.</summary>
    public sealed class InterpolateCommand : Command<InterpolateCommand.Settings>
    {
        public sealed class Settings : EditSettings
        {
            [CommandOption("--seeds <A,B>")]
            [Description("The two seeds whose noises are interpolated.")]
            [DefaultValue("0,1")]
            public string Seeds { get; init; } = "0,1";

            [CommandOption("--frames <F>")]
            [DefaultValue(8)]
            public int Frames { get; init; } = 8;
        }

        public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
        {
            var parts = settings.Seeds.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || !long.TryParse(parts[0], CultureInfo.InvariantCulture, out long a) || !long.TryParse(parts[1], CultureInfo.InvariantCulture, out long b))
                throw new ArgumentException($"--seeds must be two integers A,B, not '{settings.Seeds}'");
            if (settings.Frames < 2)
                throw new ArgumentException($"--frames must be ≥ 2, not {settings.Frames}");
            var watch = Stopwatch.StartNew();
            using var session = Open(settings);
            using var scope = NewDisposeScope();
            var labels = session.Model.Labels(settings.Frames);
            var frames = Interpolation.Frames(session.Model.Denoiser, new EulerSampler(), a, b, settings.Frames, session.Model.SampleShape,
                session.Model.SamplingSigmas(settings.Steps), labels, cancellationToken);
            Directory.CreateDirectory(settings.Out);
            string strip = Path.Combine(settings.Out, "interpolate.png");
            ImageWriter.SaveGrid(frames.cpu(), strip, new GridOptions(Columns: settings.Frames));
            Report(settings, watch, ("seeds", $"{a} → {b}, {settings.Frames} frames (slerp of x_T)"), ("output", strip));
            return 0;
        }
    }
}

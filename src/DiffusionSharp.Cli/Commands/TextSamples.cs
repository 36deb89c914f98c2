using System.Globalization;
using System.Text;
using System.Text.Json;
using DiffusionSharp.IO;
using DiffusionSharp.Runtime;
using DiffusionSharp.Text;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary><c>diffuse sample</c> on a text model folder: samples printed and written as samples.txt / samples.jsonl; with --trajectory the unmasking step by step.</summary>
internal static class TextSamples
{
    /// <summary>Whether <paramref name="modelDirectory"/> holds a text model (its config names <see cref="TextTransformerConfig.ModelClassName"/>).</summary>
    public static bool IsTextModel(string modelDirectory) =>
        File.Exists(Path.Combine(modelDirectory, "config.json"))
        && Training.TrainableModels.ClassNameOf(modelDirectory) == TextTransformerConfig.ModelClassName;

    /// <summary>Loads a text model onto --device with --precision.</summary>
    public static TextTransformer Load(PipelineSettings settings)
    {
        var precision = CliPrecision.Parse(settings.Precision);
        var device = TorchRuntime.ResolveDevice(settings.Device);
        var model = TextTransformer.Load(settings.ModelDirectory);
        model.Precision = precision;
        model.to(device);
        model.eval();
        return model;
    }

    /// <summary>The <c>--order</c> value as an <see cref="UnmaskingOrder"/>.</summary>
    public static UnmaskingOrder ParseOrder(string order) =>
        UnmaskingOrderNames.TryParse(order, out var parsed) ? parsed : throw new ArgumentException($"--order {order}: takes random or confidence");

    /// <summary>
    /// The sampler settings for <paramref name="modelDirectory"/>: each option given on the command line, else the folder's
    /// <see cref="TextSamplingDefaults.FileName"/>, else the built-in default.
    /// </summary>
    public static TextSamplingDefaults Sampling(string modelDirectory, string? order, double? choiceTemperature, double? topP, int? steps)
    {
        var folder = TextSamplingDefaults.Load(modelDirectory);
        return folder with
        {
            Order = order is null ? folder.Order : ParseOrder(order),
            ChoiceTemperature = choiceTemperature ?? folder.ChoiceTemperature,
            TopP = topP ?? folder.TopP,
            Steps = steps ?? folder.Steps,
        };
    }

    public static int Run(SampleCommand.Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Guidance is not null)
            throw new ArgumentException("--guidance applies to class-conditional models; a text model is steered with --prompt or --infill");
        using var model = Load(settings);
        int count = settings.Count ?? 10;
        var sampling = Sampling(settings.ModelDirectory, settings.Order, settings.ChoiceTemperature, settings.TopP, settings.Steps);
        var options = new TextGenerationOptions(count, sampling.Steps ?? model.Config.Length, settings.Seed, Math.Min(settings.BatchSize, count),
            settings.Length, settings.Prompt, settings.Infill, settings.Span, sampling.TopP, sampling.Order, sampling.ChoiceTemperature);
        var frames = new List<TextFrame>();
        var everyStep = new StringBuilder();
        var kept = settings.Trajectory ? TextTrajectoryImage.KeptSteps(options.Steps) : new HashSet<int>();
        if (settings.Trajectory && model.Config.Causal)
            throw new ArgumentException("--trajectory shows the unmasking of a masked-diffusion model; this folder holds the autoregressive twin");
        if (settings.Trajectory)
        {
            using var template = TextGeneration.Template(model, options);
            string start = model.Vocabulary.Decode(template.data<long>().ToArray());
            frames.Add(new TextFrame(0, start));
            everyStep.Append(CultureInfo.InvariantCulture, $"step 0/{options.Steps}\n{start}\n\n");
        }
        var samples = AnsiConsole.Status().Start("sampling…", _ => TextGeneration.Generate(model, options, settings.Trajectory
            ? (batchStart, step, z) =>
            {
                if (batchStart != 0)
                    return;
                using var first = z[0].cpu();
                string text = model.Vocabulary.Decode(first.data<long>().ToArray());
                everyStep.Append(CultureInfo.InvariantCulture, $"step {step}/{options.Steps}\n{text}\n\n");
                if (kept.Contains(step))
                    frames.Add(new TextFrame(step, text));
            }
            : null, cancellationToken));
        Directory.CreateDirectory(settings.Out);
        string txt = Path.Combine(settings.Out, "samples.txt");
        AtomicFile.WriteAllText(txt, string.Concat(samples.Texts.Select((t, i) => $"===== sample {i:D5} =====\n{t}\n")));
        AtomicFile.WriteAllText(Path.Combine(settings.Out, "samples.jsonl"),
            string.Concat(samples.Texts.Select((t, i) => JsonSerializer.Serialize(new { index = i, seed = settings.Seed + i, text = t }) + "\n")));
        if (settings.Trajectory)
        {
            AtomicFile.WriteAllText(Path.Combine(settings.Out, "trajectory.txt"), everyStep.ToString());
            TextTrajectoryImage.Save(frames, Path.Combine(settings.Out, "trajectory.png"));
        }
        foreach (var (text, i) in samples.Texts.Take(4).Select((t, i) => (t, i)))
            AnsiConsole.Write(new Panel(Markup.Escape(text)).Header($"sample {i}").Expand());
        var table = new Table().AddColumns("", "");
        table.AddRow("model", Markup.Escape($"{settings.ModelDirectory} ({(model.Config.Causal ? "autoregressive twin" : "masked diffusion")}, {model.ParameterCount:N0} parameters)"));
        table.AddRow("template", Markup.Escape(samples.Template.Length > 80 ? samples.Template[..80] + "…" : samples.Template));
        table.AddRow("steps", model.Config.Causal ? "one per character" : options.Steps.ToString(CultureInfo.InvariantCulture));
        if (!model.Config.Causal)
            table.AddRow("sampler", Markup.Escape((sampling with { Steps = null }).ToString()
                + (File.Exists(Path.Combine(settings.ModelDirectory, TextSamplingDefaults.FileName)) ? $" ({TextSamplingDefaults.FileName} for what the command line left out)" : "")));
        table.AddRow("network calls", samples.NetworkCalls.ToString(CultureInfo.InvariantCulture));
        table.AddRow("samples", $"{count} → {Markup.Escape(txt)} (and samples.jsonl)");
        if (settings.Trajectory)
            table.AddRow("trajectory", Markup.Escape(Path.Combine(settings.Out, "trajectory.png")) + ", trajectory.txt");
        table.AddRow("time", string.Create(CultureInfo.InvariantCulture, $"{samples.Seconds:F1} s ({samples.CharactersPerSecond:F0} characters/s)"));
        AnsiConsole.Write(table);
        return 0;
    }
}

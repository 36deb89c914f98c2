using DiffusionSharp.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;

namespace DiffusionSharp.Cli.Commands;

/// <summary><c>diffuse info</c>: what backend loaded and how.</summary>
internal sealed class InfoCommand : Command<InfoCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        TorchRuntime.EnsureLoaded();
        var table = new Table().AddColumns("what", "value");
        table.AddRow("libtorch threads", torch.get_num_threads().ToString(System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow("CUDA available", torch.cuda.is_available().ToString());
        table.AddRow("TorchSharp keep-alive rewrite", TorchRuntime.KeepAlivePatchedMethods is { } n
            ? $"present ({n} methods)"
            : "absent: the package's TorchSharp.dll (its implicit Scalars can be freed mid-call; see README, platform notes)");
        foreach (var line in TorchRuntime.Log)
            table.AddRow("native load", Markup.Escape(line));
        AnsiConsole.Write(table);
        return 0;
    }
}

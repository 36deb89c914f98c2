using DiffusionSharp.Cli;
using Spectre.Console;

namespace DiffusionSharp.Tests.Cli;

/// <summary>Runs <c>diffuse</c> in-process and captures what it prints (tests using it share one collection).</summary>
internal static class CliRunner
{
    private static readonly object s_gate = new();

    public static (int ExitCode, string Output) Run(params string[] args)
    {
        lock (s_gate)
        {
            var writer = new StringWriter();
            var previous = AnsiConsole.Console;
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(writer),
                Ansi = AnsiSupport.No,
                ColorSystem = ColorSystemSupport.NoColors,
                Interactive = InteractionSupport.No,
            });
            AnsiConsole.Console.Profile.Width = 4000; // one logical line stays one line
            try
            {
                int code = CliApp.Create().Run(args);
                return (code, writer.ToString());
            }
            finally
            {
                AnsiConsole.Console = previous;
            }
        }
    }
}

[CollectionDefinition("cli", DisableParallelization = true)]
public sealed class CliCollection;

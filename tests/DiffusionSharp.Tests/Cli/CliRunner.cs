using DiffusionSharp.Cli;
using Spectre.Console;

namespace DiffusionSharp.Tests.Cli;

/// <summary>Runs <c>diffuse</c> in-process and captures what it prints (tests using it join the "Console" collection).</summary>
internal static class CliRunner
{
    private static readonly object s_gate = new();

    public static (int ExitCode, string Output) Run(params string[] args)
    {
        lock (s_gate)
        {
            var writer = new StringWriter();
            var previous = AnsiConsole.Console;
            var previousError = Console.Error;
            Console.SetError(writer); // errors go to stderr; tests read both streams as one
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
                Console.SetError(previousError);
            }
        }
    }
}

namespace DiffusionSharp.Cli.Commands;

/// <summary>The CLI's one-line error and exit code 1 (no stack trace); every command's exceptions reach it through
/// <see cref="CliApp"/>'s exception handler.</summary>
internal static class CliErrors
{
    public const int BadInput = 1;

    /// <summary>Prints <paramref name="message"/> as one line on stderr; returns the exit code for bad input.</summary>
    public static int Report(string message)
    {
        Console.Error.WriteLine("error: " + message.ReplaceLineEndings(" "));
        return BadInput;
    }
}

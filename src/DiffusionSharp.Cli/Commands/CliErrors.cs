namespace DiffusionSharp.Cli.Commands;

/// <summary>Turns the library's data errors into the CLI's one-line error and exit code 1 (no stack trace).</summary>
internal static class CliErrors
{
    public const int BadInput = 1;

    /// <summary>Runs <paramref name="body"/>; an <see cref="InvalidDataException"/> is printed as one line on stderr.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (InvalidDataException e)
        {
            return Report(e.Message);
        }
    }

    public static int Report(string message)
    {
        Console.Error.WriteLine("error: " + message.ReplaceLineEndings(" "));
        return BadInput;
    }
}

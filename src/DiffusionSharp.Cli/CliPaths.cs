namespace DiffusionSharp.Cli;

/// <summary>Where the CLI finds what ships with it.</summary>
internal static class CliPaths
{
    /// <summary>The embedded default model: a class-conditional MNIST U-Net copied next to the executable.</summary>
    public static string DefaultModel => Path.Combine(AppContext.BaseDirectory, "models", "mnist");
}

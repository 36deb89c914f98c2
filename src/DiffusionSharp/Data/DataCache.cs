namespace DiffusionSharp.Data;

/// <summary>
/// Where downloaded data and derived artefacts (the MNIST IDX files, the evaluation classifier) are kept:
/// <c>$DIFFUSIONSHARP_CACHE</c> if set, else <c>~/.cache/diffusionsharp</c>.
/// </summary>
public static class DataCache
{
    /// <summary>The environment variable that overrides the cache folder.</summary>
    public const string EnvironmentVariable = "DIFFUSIONSHARP_CACHE";

    /// <summary>The cache folder (not created).</summary>
    public static string DefaultRoot
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (!string.IsNullOrWhiteSpace(env))
                return Path.GetFullPath(env);
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            return Path.Combine(home, ".cache", "diffusionsharp");
        }
    }

    /// <summary><paramref name="root"/> if given, else <see cref="DefaultRoot"/>.</summary>
    public static string Resolve(string? root) => string.IsNullOrWhiteSpace(root) ? DefaultRoot : Path.GetFullPath(root);
}

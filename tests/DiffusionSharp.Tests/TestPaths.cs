namespace DiffusionSharp.Tests;

/// <summary>Locates <c>../shared/fixtures/diffusers</c> (beside the checkout) from the test's output folder.</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> s_fixtures = new(FindFixtures);

    /// <summary>The diffusers fixtures folder; <c>DIFFUSIONSHARP_FIXTURES</c> overrides the search.</summary>
    public static string Fixtures => s_fixtures.Value;

    public static string Schedulers => Path.Combine(Fixtures, "schedulers");

    public static string UNet2D => Path.Combine(Fixtures, "unet2d");

    public static string UNet1D => Path.Combine(Fixtures, "unet1d");

    private static string FindFixtures()
    {
        var env = Environment.GetEnvironmentVariable("DIFFUSIONSHARP_FIXTURES");
        if (!string.IsNullOrEmpty(env))
            return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "fixtures", "diffusers");
            if (Directory.Exists(candidate))
                return candidate;
        }
        throw new DirectoryNotFoundException("shared/fixtures/diffusers not found beside the checkout; set DIFFUSIONSHARP_FIXTURES");
    }
}

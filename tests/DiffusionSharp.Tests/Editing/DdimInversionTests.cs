using DiffusionSharp.Editing;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedules;
using DiffusionSharp.Tests.Sampling;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Editing;

public sealed class DdimInversionTests(ITestOutputHelper output)
{
    [Fact]
    public void RoundTripErrorIsFirstOrderInTheStepCount()
    {
        // Gaussian data: the flow is known, and the explicit up/down Euler pair leaves an O(1/N) gap that halves with
        // twice the steps.
        using var scope = NewDisposeScope();
        var denoiser = new GaussianSigmaDenoiser(0.1, 0.5);
        var image = rand(3, 1, 5, 5, generator: new Generator(2)) * 2 - 1;
        double Error(int n)
        {
            using var r = DdimInversion.RoundTrip(denoiser, image, SigmaGrid.Karras(0.01, 80, n + 1));
            return r.Rmse;
        }
        double e16 = Error(16), e32 = Error(32), e64 = Error(64);
        output.WriteLine($"RMSE at 16/32/64 steps: {e16:E3} {e32:E3} {e64:E3}");
        Assert.InRange(e16 / e32, 1.6, 2.6);
        Assert.InRange(e32 / e64, 1.7, 2.4);
    }

    [Fact]
    public void InvertingTheEmbeddedModelReconstructsTheDigit()
    {
        // A 28×28 digit sampled from the embedded model (docs/edit-inputs/seven.png), unconditional, 50 steps.
        // Bound: the round trip's error is first order, e(N) ≈ C/N (measured: e(25) = 0.283, e(50) = 0.152, C ≈ 7.6), so
        // e(50) must be at most e(25)/2 with 25 % slack, and below 0.2 in absolute terms (C = 10 at N = 50).
        string model = Path.Combine(AppContext.BaseDirectory, "models", "mnist");
        using var pipeline = DiffusionPipeline.Load(model);
        var edit = EditModel.FromPipeline(pipeline);
        using var scope = NewDisposeScope();
        var image = EditImages.LoadImage(Path.Combine(EditPaths.Inputs, "seven.png"), 1, 28, 28);
        var labels = edit.Labels(1);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var r50 = DdimInversion.RoundTrip(edit.Denoiser, image, edit.InversionSigmas(50), labels);
        double seconds = watch.Elapsed.TotalSeconds;
        using var r25 = DdimInversion.RoundTrip(edit.Denoiser, image, edit.InversionSigmas(25), labels);
        output.WriteLine($"RMSE 25 steps {r25.Rmse:F4}, 50 steps {r50.Rmse:F4} (max {r50.MaxAbsError:F4}); 50-step round trip {seconds:F1} s");
        Assert.True(r50.Rmse < 0.2, $"RMSE {r50.Rmse}");
        Assert.True(r50.Rmse <= r25.Rmse / 2 * 1.25, $"RMSE {r50.Rmse} at 50 steps vs {r25.Rmse} at 25");
        // x_T looks like noise of scale σ_max: unit variance once divided by √(σ_max² + 1).
        double std = (r50.Latent / Math.Sqrt(edit.SigmaMax * edit.SigmaMax + 1)).std().item<float>();
        Assert.InRange(std, 0.7, 1.3);
    }
}

/// <summary>Where the committed edit inputs live (docs/edit-inputs in the checkout).</summary>
internal static class EditPaths
{
    public static string Inputs
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "docs", "edit-inputs");
                if (Directory.Exists(candidate))
                    return candidate;
            }
            throw new DirectoryNotFoundException("docs/edit-inputs not found above " + AppContext.BaseDirectory);
        }
    }
}

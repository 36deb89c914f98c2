using System.Globalization;
using System.Text;
using DiffusionSharp.Imaging;
using DiffusionSharp.IO;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary>What <c>diffuse sample</c> writes for a model over points [D] instead of images: a CSV and point-cloud pictures.</summary>
internal static class PointSamples
{
    /// <summary>Panels of the reverse-process picture (x_T, four intermediate steps, the result).</summary>
    public const int TrajectoryPanels = 6;

    /// <summary>Writes <paramref name="samples"/> [N, D] (CPU) as CSV: x0…x(D−1), plus the class label column when given.</summary>
    public static void WriteCsv(Tensor samples, long[]? labels, string path)
    {
        int d = (int)samples.shape[1];
        var text = new StringBuilder();
        text.AppendJoin(',', Enumerable.Range(0, d).Select(i => $"x{i}"));
        text.Append(labels is null ? "\n" : ",class\n");
        float[] values = samples.contiguous().data<float>().ToArray();
        for (int r = 0; r < samples.shape[0]; r++)
        {
            text.AppendJoin(',', values.Skip(r * d).Take(d).Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
            text.Append(labels is null ? "\n" : string.Create(CultureInfo.InvariantCulture, $",{labels[r]}\n"));
        }
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>The step numbers the trajectory keeps (0 = x_T … steps = the result).</summary>
    public static HashSet<int> KeptSteps(int steps) => TrajectoryRecorder.EvenlySpaced(steps, Math.Min(TrajectoryPanels, steps + 1)).ToHashSet();

    /// <summary>The σ of each step of a rollout of <paramref name="steps"/> steps of <paramref name="pipeline"/>'s sampler (index = steps taken; the last is 0).</summary>
    public static double[] Sigmas(DiffusionPipeline pipeline, Schedulers.SamplerKind? kind, int steps)
    {
        var scheduler = pipeline.CreateScheduler(kind);
        try
        {
            scheduler.SetTimesteps(steps);
            var sigmas = new NoiseSchedule(pipeline.Schedule).TrainSigmas();
            return scheduler.Timesteps.data<double>().Select(t => TrajectoryRecorder.SigmaAt(sigmas, t)).Append(0.0).ToArray();
        }
        finally
        {
            (scheduler as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// Draws the recorded reverse process as one row of point clouds, each frame at unit scale (σ-space samplers carry
    /// x at √(σ²+1)), with the final samples coloured by class when the model is conditional.
    /// </summary>
    public static void SaveTrajectory(TrajectoryRecorder recorder, Tensor? labels, string title, string path)
    {
        var panels = recorder.Frames.Select(f =>
        {
            using var shown = f.Sample / f.Sample.std().clamp_min(1.0);
            string sigma = f.Sigma == 0 ? "0" : f.Sigma >= 10 ? f.Sigma.ToString("F0", CultureInfo.InvariantCulture) : f.Sigma.ToString("G2", CultureInfo.InvariantCulture);
            return PointCloudPanel.FromTensor($"step {f.Step}: σ = {sigma}", shown, f.Sigma == 0 ? labels : null);
        }).ToList();
        PointCloudPlot.Save(panels, path, new PointCloudPlotOptions(Extent: 3.0, Title: title));
    }
}

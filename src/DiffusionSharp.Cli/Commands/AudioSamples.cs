using System.Diagnostics;
using DiffusionSharp.Audio;
using DiffusionSharp.Sampling;
using Spectre.Console;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// What <c>diffuse sample</c> writes for an audio model (a 1-D U-Net) instead of images: <c>00000.wav</c> … at the
/// model's sample rate, <c>spectrograms.png</c> (one row per class when class-conditional) and, with
/// <c>--trajectory</c>, <c>trajectory.png</c>: the spectrogram of x̂₀ after evenly spaced steps of the first batch.
/// </summary>
internal static class AudioSamples
{
    /// <summary>Columns of the trajectory strip (x_T's x̂₀ … the result).</summary>
    public const int TrajectoryFrames = 8;

    /// <summary>Rows of the trajectory strip: one per class (up to 10) or the first few samples.</summary>
    public const int TrajectoryRows = 10;

    public static int Sample(SampleCommand.Settings settings, DiffusionPipeline pipeline, GenerationOptions options, Stopwatch watch, CancellationToken cancellationToken)
    {
        int steps = options.Steps ?? pipeline.Metadata.DefaultSteps;
        int rows = settings.Trajectory ? Math.Min(Math.Min(options.Count, options.BatchSize), TrajectoryRows) : 0;
        var keep = rows > 0 ? TrajectoryRecorder.EvenlySpaced(steps, Math.Min(TrajectoryFrames, steps + 1)).Where(k => k > 0).ToHashSet() : [];
        var frames = new List<Tensor>();
        try
        {
            Tensor samples = AnsiConsole.Status().Start("sampling…", _ => pipeline.Generate(options, (batchStart, i, x, x0) =>
            {
                if (batchStart != 0 || !keep.Contains(i + 1))
                    return;
                // x̂₀, the model's estimate of the clean clip, shows the words forming; a sampler that reports none
                // (x0 null) shows x at unit scale instead.
                var shown = x0 ?? x / x.std().clamp_min(1.0);
                using var firstRows = shown.narrow(0, 0, rows).detach().cpu();
                frames.Add(pipeline.ToClips(firstRows).DetachFromDisposeScope());
            }, cancellationToken));
            int rate = pipeline.SampleRate;
            using (var generated = samples.cpu())
            using (samples = pipeline.ToClips(generated))
            {
                AudioSampleWriter.WriteWavs(samples, rate, settings.Out);
                // One row per class when cycling through them (--class all); one class (--class K) fills rows in order.
                var rowsByClass = options.ClassLabel is null ? pipeline.LabelsFor(options) : null;
                AudioSampleWriter.SaveGrid(samples, rowsByClass, pipeline.NumClasses, rate, Path.Combine(settings.Out, "spectrograms.png"));
            }
            if (frames.Count > 0)
                AudioSampleWriter.SaveTrajectory(frames, rate, Path.Combine(settings.Out, "trajectory.png"));
        }
        finally
        {
            foreach (var f in frames)
                f.Dispose();
        }
        SampleCommand.Summarize(settings, pipeline, options, Path.Combine(settings.Out, "00000.wav …"), "trajectory.png", watch);
        return 0;
    }
}

using System.Text.Json.Nodes;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Models;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Bench;

/// <summary>
/// <c>sample</c>: draws <c>--count</c> class-conditional images (labels 0, 1, …, 9, 0, …) with DPM-Solver++(2M) or
/// DDIM (η = 0), diffusers' default scheduler options, in one batch. Guidance 1 calls the conditional network alone
/// (as diffusers' pipelines do); any other scale goes through <see cref="ClassifierFreeGuidance"/> (one doubled batch
/// per step). One untimed warm-up rollout of <c>--warmup-steps</c> steps comes first.
/// </summary>
internal static class SampleBenchmark
{
    public static int Run(BenchArgs args)
    {
        var o = SampleOptions.Read(args);
        int threads = BenchModel.ApplyThreads(args);
        using var model = BenchModel.Open(args);
        string precision = BenchModel.ApplyPrecision(model, args);
        var (chunk, chunkAuto) = BenchModel.Chunk(model, args, (long)o.Count * o.CallsPerStep);
        model.ChunkSize = chunk;
        args.RejectUnused();
        model.eval();

        var scheduler = CreateScheduler(o.Kind);
        try
        {
            var (times, mean, last) = TimeRollouts(new DiffusionSampler(scheduler, o.Guided(model, model)), o, model);
            last.Dispose();
            Measure.Emit(Result("ours", o, model, precision, chunk, chunkAuto, threads, times, mean));
        }
        finally
        {
            (scheduler as IDisposable)?.Dispose();
        }
        return 0;
    }

    /// <summary>The options <c>sample</c> and <c>ort-sample</c> share.</summary>
    internal sealed record SampleOptions(SamplerKind Kind, int Steps, int Count, int Repeats, int WarmupSteps, double Guidance)
    {
        public static SampleOptions Read(BenchArgs args) => new(
            SchedulerFactory.ParseKind(args.String("sampler", "dpm++")), args.Int("steps", 20, min: 1), args.Int("count", 64, min: 1),
            args.Int("repeats", 1, min: 1), args.Int("warmup-steps", 2), args.Double("guidance", 1.0));

        /// <summary>Network calls per sampling step: 2 with classifier-free guidance (one doubled batch).</summary>
        public int CallsPerStep => Guidance == 1.0 ? 1 : 2;

        /// <summary><paramref name="network"/> itself at guidance 1 (as diffusers' pipelines do), else through <see cref="ClassifierFreeGuidance"/>.</summary>
        public IDiffusionNetwork Guided(IDiffusionNetwork network, UNet2DModel model) =>
            Guidance == 1.0 ? network : new ClassifierFreeGuidance(network, Guidance, model.Config.NumClassEmbeds!.Value - 1);
    }

    /// <summary>The seeds 0…count−1 and labels 0, 1, …, 9, 0, … of every rollout.</summary>
    internal static (long[] Seeds, Tensor Labels, long[] Shape) Inputs(SampleOptions o, UNet2DModel model) => (
        Enumerable.Range(0, o.Count).Select(i => (long)i).ToArray(),
        tensor(Enumerable.Range(0, o.Count).Select(i => (long)(i % BenchModel.Classes)).ToArray()),
        [model.Config.InChannels, BenchModel.ImageSize, BenchModel.ImageSize]);

    /// <summary>
    /// One untimed warm-up rollout of <c>--warmup-steps</c> steps, then <c>--repeats</c> timed rollouts; returns their
    /// times, the last images' mean and the last images (the caller disposes them).
    /// </summary>
    internal static (List<double> Times, double Mean, Tensor Last) TimeRollouts(DiffusionSampler sampler, SampleOptions o, UNet2DModel model)
    {
        var (seeds, labels, shape) = Inputs(o, model);
        using (labels)
        {
            if (o.WarmupSteps > 0)
                sampler.Sample(seeds, shape, o.WarmupSteps, labels).Dispose();
            var times = new List<double>();
            Tensor? last = null;
            for (int r = 0; r < o.Repeats; r++)
            {
                last?.Dispose();
                Tensor? images = null;
                times.Add(Measure.Seconds(() => images = sampler.Sample(seeds, shape, o.Steps, labels)));
                last = images!;
            }
            return (times, last!.mean().item<float>(), last!);
        }
    }

    /// <summary>The JSON line of a sampling measurement (bench/report.py reads these keys).</summary>
    internal static JsonObject Result(string impl, SampleOptions o, UNet2DModel model, string precision, int chunk, bool chunkAuto,
        int threads, List<double> times, double mean)
    {
        var flops = UNetFlops.Forward(model.Config, o.Count * o.CallsPerStep, BenchModel.ImageSize, BenchModel.ImageSize);
        double median = Measure.Median(times);
        return new JsonObject
        {
            ["impl"] = impl,
            ["mode"] = "sample",
            ["sampler"] = SchedulerFactory.CliName(o.Kind),
            ["steps"] = o.Steps,
            ["count"] = o.Count,
            ["guidance"] = o.Guidance,
            ["precision"] = precision,
            ["chunk"] = chunk,
            ["chunk_auto"] = chunkAuto,
            ["threads"] = threads,
            ["malloc"] = Runtime.NativeAllocator.Configured ? "tuned" : "default",
            ["times"] = Measure.Array(times),
            ["median"] = Math.Round(median, 6),
            ["gflops"] = Math.Round(flops.Total * o.Steps / median / 1e9, 2),
            ["image_mean"] = Math.Round(mean, 5),
        };
    }

    /// <summary>
    /// The scheduler with diffusers' defaults for an ε-predicting network on the linear β schedule (DPM-Solver++: order 2,
    /// midpoint, linspace spacing, lower-order final step, final σ = 0; DDIM: leading spacing, η = 0, x̂₀ clipped).
    /// </summary>
    public static IScheduler CreateScheduler(SamplerKind kind) => kind is SamplerKind.DpmSolverMultistep or SamplerKind.Ddim
        ? SchedulerFactory.Create(kind, new NoiseScheduleOptions(), PredictionType.Epsilon)
        : throw new ArgumentException($"--sampler must be dpm++ or ddim (the samplers the PyTorch reference implements), got '{SchedulerFactory.CliName(kind)}'");
}

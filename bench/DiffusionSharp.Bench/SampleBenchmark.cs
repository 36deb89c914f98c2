using System.Text.Json.Nodes;
using DiffusionSharp.Denoisers;
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
        string samplerName = args.String("sampler", "dpm++");
        int steps = args.Int("steps", 20, min: 1);
        int count = args.Int("count", 64, min: 1);
        int repeats = args.Int("repeats", 1, min: 1);
        int warmupSteps = args.Int("warmup-steps", 2);
        double guidance = args.Double("guidance", 1.0);
        int threads = BenchModel.ApplyThreads(args);
        using var model = BenchModel.Open(args);
        string precision = BenchModel.ApplyPrecision(model, args);
        int callsPerStep = guidance == 1.0 ? 1 : 2;
        var (chunk, chunkAuto) = BenchModel.Chunk(model, args, (long)count * callsPerStep);
        model.ChunkSize = chunk;
        args.RejectUnused();
        model.eval();

        var kind = SchedulerFactory.ParseKind(samplerName);
        var scheduler = CreateScheduler(kind);
        try
        {
            long nullClass = model.Config.NumClassEmbeds!.Value - 1;
            IDiffusionNetwork network = guidance == 1.0 ? model : new ClassifierFreeGuidance(model, guidance, nullClass);
            var sampler = new DiffusionSampler(scheduler, network);
            long[] seeds = Enumerable.Range(0, count).Select(i => (long)i).ToArray();
            using var labels = tensor(Enumerable.Range(0, count).Select(i => (long)(i % BenchModel.Classes)).ToArray());
            long[] shape = [model.Config.InChannels, BenchModel.ImageSize, BenchModel.ImageSize];

            if (warmupSteps > 0)
                sampler.Sample(seeds, shape, warmupSteps, labels).Dispose();
            var times = new List<double>();
            double mean = double.NaN;
            for (int r = 0; r < repeats; r++)
            {
                Tensor? images = null;
                times.Add(Measure.Seconds(() => images = sampler.Sample(seeds, shape, steps, labels)));
                mean = images!.mean().item<float>();
                images.Dispose();
            }
            var flops = UNetFlops.Forward(model.Config, count * callsPerStep, BenchModel.ImageSize, BenchModel.ImageSize);
            double median = Measure.Median(times);
            Measure.Emit(new JsonObject
            {
                ["impl"] = "ours",
                ["mode"] = "sample",
                ["sampler"] = SchedulerFactory.CliName(kind),
                ["steps"] = steps,
                ["count"] = count,
                ["guidance"] = guidance,
                ["precision"] = precision,
                ["chunk"] = chunk,
                ["chunk_auto"] = chunkAuto,
                ["threads"] = threads,
                ["malloc"] = Runtime.NativeAllocator.Configured ? "tuned" : "default",
                ["times"] = Measure.Array(times),
                ["median"] = Math.Round(median, 6),
                ["gflops"] = Math.Round(flops.Total * steps / median / 1e9, 2),
                ["image_mean"] = Math.Round(mean, 5),
            });
        }
        finally
        {
            (scheduler as IDisposable)?.Dispose();
        }
        return 0;
    }

    /// <summary>
    /// The scheduler with diffusers' defaults for an ε-predicting network on the linear β schedule (DPM-Solver++: order 2,
    /// midpoint, linspace spacing, lower-order final step, final σ = 0; DDIM: leading spacing, η = 0, x̂₀ clipped).
    /// </summary>
    public static IScheduler CreateScheduler(SamplerKind kind) => kind is SamplerKind.DpmSolverMultistep or SamplerKind.Ddim
        ? SchedulerFactory.Create(kind, new NoiseScheduleOptions(), PredictionType.Epsilon)
        : throw new ArgumentException($"--sampler must be dpm++ or ddim (the samplers the PyTorch reference implements), got '{SchedulerFactory.CliName(kind)}'");
}

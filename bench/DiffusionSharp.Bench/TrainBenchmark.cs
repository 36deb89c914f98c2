using System.Text.Json.Nodes;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Models;
using DiffusionSharp.Schedules;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Bench;

/// <summary>
/// <c>train</c>: the optimizer step of <see cref="Trainer"/> on a fixed seeded batch — ε-prediction loss with min-SNR-5
/// weights and label dropout 0.1 (<see cref="DiffusionLoss"/>), backward, global-norm clip at 1, AdamW (lr 1e-3,
/// wd 0.01) and the EMA update — with the time of each phase recorded. The data loader is left out: the batch is one
/// random tensor, drawn once (timing does not depend on pixel values).
/// </summary>
internal static class TrainBenchmark
{
    private static JsonArray TracePoint(int stepsDone) =>
        new(stepsDone, Tensor.TotalCount, Math.Round(Measure.CurrentRssMiB(), 1));

    public static int Run(BenchArgs args)
    {
        int steps = args.Int("steps", 10, min: 1);
        int warmup = args.Int("warmup", 3);
        int batch = args.Int("batch", 128, min: 1);
        int threads = BenchModel.ApplyThreads(args);
        using var model = BenchModel.Open(args);
        string precision = BenchModel.ApplyPrecision(model, args);
        var (chunk, chunkAuto) = BenchModel.Chunk(model, args, batch);
        int traceEvery = args.Int("trace-every", 0);
        args.RejectUnused();

        var options = new TrainingOptions();   // the trainer's defaults: the figures the doc comment lists
        using var ema = new UNet2DModel(model.Config);
        ema.eval();
        var averager = new ExponentialMovingAverage(ema, model, options.EmaMaxDecay, power: options.EmaPower);
        using var loss = new DiffusionLoss(new NoiseSchedule(options.Schedule), options.Prediction, options.Weighting, options.SnrGamma);
        using var optimizer = optim.AdamW(model.parameters(), options.LearningRate, options.AdamBeta1, options.AdamBeta2,
            options.AdamEpsilon, options.WeightDecay);
        using var generator = new Generator(1234);
        long nullClass = model.Config.NumClassEmbeds!.Value - 1;
        int size = BenchModel.ImageSize;

        using var x0 = (rand([batch, model.Config.InChannels, size, size], generator: generator) * 2 - 1).DetachFromDisposeScope();
        using var labels = randint(0, nullClass, [batch], dtype: ScalarType.Int64, generator: generator).DetachFromDisposeScope();

        var total = new List<double>();
        var forwardBackward = new List<double>();
        var optimizerStep = new List<double>();
        var emaUpdate = new List<double>();
        double lastLoss = double.NaN;
        int? firstNonFinite = null;   // reported, not fatal: the timing is still the timing, but the figure is flagged
        var trace = new JsonArray();   // --trace-every K: [steps done, live tensors, RSS MiB] every K steps (memory flatness)
        model.train();
        for (int s = 0; s < warmup + steps; s++)
        {
            if (traceEvery > 0 && s % traceEvery == 0)
                trace.Add(TracePoint(s));
            using var scope = NewDisposeScope();
            // Forward and backward run chunk by chunk (DiffusionLoss.Backward, as Trainer does), so the two phases are
            // timed together; with one chunk (--chunk 128) they are the same calls as a single forward + backward.
            double tf = Measure.Seconds(() =>
            {
                optimizer.zero_grad();
                lastLoss = loss.Backward(model, x0, labels, generator, options.LabelDropout, nullClass, chunk);
            });
            double to = Measure.Seconds(() =>
            {
                nn.utils.clip_grad_norm_(model.parameters(), options.GradientClip);
                optimizer.step();
            });
            double te = Measure.Seconds(averager.Update);
            if (!double.IsFinite(lastLoss))
                firstNonFinite ??= s + 1;
            if (s < warmup)
                continue;
            total.Add(tf + to + te);
            forwardBackward.Add(tf);
            optimizerStep.Add(to);
            emaUpdate.Add(te);
        }

        if (traceEvery > 0)
            trace.Add(TracePoint(warmup + steps));
        var flops = UNetFlops.Forward(model.Config, batch, size, size);
        double stepFlops = flops.Total * UNetFlops.TrainStepFactor;
        double median = Measure.Median(total);
        Measure.Emit(new JsonObject
        {
            ["impl"] = "ours",
            ["mode"] = "train",
            ["batch"] = batch,
            ["precision"] = precision,
            ["chunk"] = chunk,
            ["chunk_auto"] = chunkAuto,
            ["threads"] = threads,
            ["warmup"] = warmup,
            ["malloc"] = Runtime.NativeAllocator.Configured ? "tuned" : "default",
            ["params"] = model.ParameterCount,
            ["times"] = Measure.Array(total),
            ["median"] = Math.Round(median, 6),
            ["split_median"] = new JsonObject
            {
                ["forward_backward"] = Math.Round(Measure.Median(forwardBackward), 6),
                ["optimizer"] = Math.Round(Measure.Median(optimizerStep), 6),
                ["ema"] = Math.Round(Measure.Median(emaUpdate), 6),
            },
            ["forward_flops"] = new JsonObject { ["conv"] = flops.Conv, ["linear"] = flops.Linear, ["attention"] = flops.Attention, ["total"] = flops.Total },
            ["step_flops"] = stepFlops,
            ["gflops"] = Math.Round(stepFlops / median / 1e9, 2),
            ["memory_trace"] = traceEvery > 0 ? trace : null,
            ["last_loss"] = double.IsFinite(lastLoss) ? Math.Round(lastLoss, 5) : null,
            ["nonfinite_loss_step"] = firstNonFinite,
        });
        return 0;
    }
}

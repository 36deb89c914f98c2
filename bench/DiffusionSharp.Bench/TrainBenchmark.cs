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
    public static int Run(BenchArgs args)
    {
        int steps = args.Int("steps", 10, min: 1);
        int warmup = args.Int("warmup", 3);
        int batch = args.Int("batch", 128, min: 1);
        int threads = BenchModel.ApplyThreads(args);
        using var model = BenchModel.Open(args);
        string precision = BenchModel.ApplyPrecision(model, args);
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
        var forward = new List<double>();
        var backward = new List<double>();
        var optimizerStep = new List<double>();
        var emaUpdate = new List<double>();
        double lastLoss = double.NaN;
        int? firstNonFinite = null;   // reported, not fatal: the timing is still the timing, but the figure is flagged
        model.train();
        for (int s = 0; s < warmup + steps; s++)
        {
            using var scope = NewDisposeScope();
            Tensor? value = null;
            double tf = Measure.Seconds(() =>
            {
                optimizer.zero_grad();
                value = loss.Compute(model, x0, labels, generator, options.LabelDropout, nullClass);
                lastLoss = value.item<float>();
            });
            double tb = Measure.Seconds(() => value!.backward());
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
            total.Add(tf + tb + to + te);
            forward.Add(tf);
            backward.Add(tb);
            optimizerStep.Add(to);
            emaUpdate.Add(te);
        }

        var flops = UNetFlops.Forward(model.Config, batch, size, size);
        double stepFlops = flops.Total * UNetFlops.TrainStepFactor;
        double median = Measure.Median(total);
        Measure.Emit(new JsonObject
        {
            ["impl"] = "ours",
            ["mode"] = "train",
            ["batch"] = batch,
            ["precision"] = precision,
            ["threads"] = threads,
            ["warmup"] = warmup,
            ["malloc"] = Runtime.NativeAllocator.Configured ? "tuned" : "default",
            ["params"] = model.ParameterCount,
            ["times"] = Measure.Array(total),
            ["median"] = Math.Round(median, 6),
            ["split_median"] = new JsonObject
            {
                ["forward"] = Math.Round(Measure.Median(forward), 6),
                ["backward"] = Math.Round(Measure.Median(backward), 6),
                ["optimizer"] = Math.Round(Measure.Median(optimizerStep), 6),
                ["ema"] = Math.Round(Measure.Median(emaUpdate), 6),
            },
            ["forward_flops"] = new JsonObject { ["conv"] = flops.Conv, ["linear"] = flops.Linear, ["attention"] = flops.Attention, ["total"] = flops.Total },
            ["step_flops"] = stepFlops,
            ["gflops"] = Math.Round(stepFlops / median / 1e9, 2),
            ["last_loss"] = double.IsFinite(lastLoss) ? Math.Round(lastLoss, 5) : null,
            ["nonfinite_loss_step"] = firstNonFinite,
        });
        return 0;
    }
}

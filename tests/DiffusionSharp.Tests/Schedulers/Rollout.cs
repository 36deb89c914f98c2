using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

/// <summary>Replays a fixture's rollout through a scheduler and checks every recorded quantity at the README's tolerances.</summary>
internal static class Rollout
{
    /// <summary>
    /// Free-running rollout (the scheduler's own x feeds the next step, as in the fixture's loop), fed the recorded noise.
    /// Checks timesteps, init_noise_sigma, x_init, model_inputs, model_outputs, x_steps, pred_original_samples, that each
    /// noise draw is taken at the step that took it in diffusers and that all are used.
    /// </summary>
    public static void Check(SchedulerFixture fx, IScheduler scheduler, IReadOnlyList<double>? sigmas = null)
    {
        using var scope = NewDisposeScope();
        scheduler.SetTimesteps(fx.NumInferenceSteps);
        var timesteps = scheduler.Timesteps.data<double>().ToArray();
        fx.AssertScheduleClose(timesteps, fx.Timesteps, "timesteps");
        // Stronger than the README's rtol: the timesteps are float32 values diffusers' add_noise looks up by equality.
        Assert.True(timesteps.SequenceEqual(fx.Timesteps), $"{fx.Name}: timesteps are close but not bit-identical");
        if (fx.Sigmas is { } expectedSigmas)
        {
            Assert.NotNull(sigmas);
            fx.AssertScheduleClose(sigmas!.ToArray(), expectedSigmas, "sigmas");
        }
        Assert.Equal(fx.NumStepCalls, timesteps.Length);
        Assert.True(Math.Abs(scheduler.InitNoiseSigma - fx.InitNoiseSigma) <= 1e-6 * Math.Abs(fx.InitNoiseSigma),
            $"{fx.Name}: init_noise_sigma {scheduler.InitNoiseSigma} vs {fx.InitNoiseSigma}");

        var x = (fx.XT * (float)scheduler.InitNoiseSigma);
        fx.AssertClose(x, fx.XInit, "x_init");
        var noise = new RecordedNoise(fx.NoiseDraws());
        var predOriginal = fx.PredOriginalSamples;
        for (int i = 0; i < timesteps.Length; i++)
        {
            double t = timesteps[i];
            var modelInput = scheduler.ScaleModelInput(x, t);
            fx.AssertStepClose(modelInput, fx.ModelInputs[i], i, "model_inputs");
            var modelOutput = SchedulerFixture.AffineV1(modelInput, t);
            fx.AssertStepClose(modelOutput, fx.ModelOutputs[i], i, "model_outputs");

            int before = noise.Consumed;
            var step = scheduler.Step(modelOutput, t, x, noise);
            for (int k = before; k < noise.Consumed; k++)
                Assert.True(fx.NoiseStepIndex[k] == i, $"{fx.Name}: noise draw {k} taken at step {i}, diffusers took it at step {fx.NoiseStepIndex[k]}");
            fx.AssertStepClose(step.PrevSample, fx.XSteps[i], i, "x_steps");
            if (predOriginal is not null)
            {
                Assert.NotNull(step.PredOriginalSample);
                fx.AssertStepClose(step.PredOriginalSample!, predOriginal[i], i, "pred_original_samples");
            }
            x = step.PrevSample;
        }
        Assert.True(noise.Remaining == 0, $"{fx.Name}: {noise.Remaining} recorded noise draws left unused");
        Assert.Equal(fx.Stochastic, noise.Consumed > 0);
    }

    /// <summary>add_noise on a fresh scheduler after set_timesteps, at the README's rule.</summary>
    public static void CheckAddNoise(SchedulerFixture fx, IScheduler scheduler)
    {
        using var scope = NewDisposeScope();
        scheduler.SetTimesteps(fx.NumInferenceSteps);
        var noisy = scheduler.AddNoise(fx.AddNoiseX0, fx.AddNoiseNoise, fx.AddNoiseTimesteps);
        fx.AssertClose(noisy, fx.AddNoiseResult, "add_noise_result");
    }
}

using System.Diagnostics;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Models;
using DiffusionSharp.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Toy;

/// <summary>
/// A TEMPORARY, test-only training loop for <see cref="MlpDenoiser"/> on points, until the library's rank-agnostic
/// <c>Trainer</c> takes any model: ε-prediction, DDPM's simple loss ‖ε − ε̂(√ᾱ_t x₀ + √(1−ᾱ_t) ε, t)‖²
/// (Ho et al. 2020, Algorithm 1) with t ~ U{0…T−1}, AdamW and a cosine-annealed learning rate.
/// </summary>
internal static class ToyTraining
{
    /// <summary>What one run did.</summary>
    /// <param name="Model">The trained network.</param>
    /// <param name="Losses">The loss of every step.</param>
    /// <param name="Elapsed">Wall-clock time.</param>
    /// <param name="ProcessorTime">CPU time of the whole process over the run (all threads; other tests running in parallel add theirs).</param>
    public sealed record Result(MlpDenoiser Model, double[] Losses, TimeSpan Elapsed, TimeSpan ProcessorTime);

    /// <summary>Trains a fresh network of <paramref name="config"/> on <paramref name="data"/> [N, D] (the caller owns the model).</summary>
    public static Result Train(MlpDenoiserConfig config, Tensor data, NoiseSchedule schedule, int steps, int batch = 256,
        double learningRate = 2e-3, long seed = 1)
    {
        torch.manual_seed(seed);   // the network's initial weights
        var model = new MlpDenoiser(config);
        var forward = new ForwardProcess(schedule);
        using var optimizer = optim.AdamW(model.parameters(), learningRate, weight_decay: 0.0);
        var lr = optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min: learningRate * 0.05);
        using var g = new Generator(unchecked((ulong)seed) + 1, CPU);
        var losses = new double[steps];
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        long n = data.shape[0];
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var x0 = data.index_select(0, randint(0, n, [batch], dtype: ScalarType.Int64, generator: g));
            var eps = randn(x0.shape, generator: g);
            var t = randint(0, schedule.NumTrainTimesteps, [batch], dtype: ScalarType.Int64, generator: g);
            var xt = forward.AddNoise(x0, eps, t);
            var loss = nn.functional.mse_loss(model.call(xt, t, null), eps);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            lr.step();
            losses[step] = loss.item<float>();
        }
        return new Result(model, losses, clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime - cpu);
    }
}

/// <summary>Distances between point clouds, to tell a learnt distribution from noise.</summary>
internal static class PointCloudDistances
{
    /// <summary>
    /// The sliced Wasserstein-2 distance (Rabin et al. 2011; Bonneel et al. 2015): the root mean over
    /// <paramref name="directions"/> fixed random unit vectors θ of W₂²(θ·a, θ·b), each a sort of the two projections.
    /// <paramref name="a"/> and <paramref name="b"/> are [N, D] with the same N.
    /// </summary>
    public static double SlicedWasserstein(Tensor a, Tensor b, int directions = 256, long seed = 12)
    {
        using var scope = NewDisposeScope();
        var theta = randn(a.shape[1], directions, dtype: ScalarType.Float64, generator: new Generator((ulong)seed));
        theta = theta / theta.square().sum(0, keepdim: true).sqrt();
        var (pa, _) = a.to(ScalarType.Float64).matmul(theta).sort(0);
        var (pb, _) = b.to(ScalarType.Float64).matmul(theta).sort(0);
        return Math.Sqrt((pa - pb).square().mean().item<double>());
    }

    /// <summary>The mean over the rows of <paramref name="points"/> of the Euclidean distance to the nearest row of <paramref name="reference"/>.</summary>
    public static double MeanNearestNeighbour(Tensor points, Tensor reference)
    {
        using var scope = NewDisposeScope();
        var d = cdist(points.to(ScalarType.Float64), reference.to(ScalarType.Float64));
        return d.min(1).values.mean().item<double>();
    }
}

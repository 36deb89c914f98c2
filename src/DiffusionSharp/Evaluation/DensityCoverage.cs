using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>Density (unbounded above; 1 on average for samples from the real distribution) and coverage (in [0, 1]).</summary>
/// <param name="Density">Mean number of real-sample balls containing a generated sample, divided by k.</param>
/// <param name="Coverage">Share of real samples whose ball contains at least one generated sample.</param>
/// <param name="K">The neighbourhood size.</param>
public sealed record DensityCoverageResult(double Density, double Coverage, int K);

/// <summary>
/// Density and coverage (Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative Models", ICML 2020,
/// eqs. 3–4), built on the real samples' k-NN balls only, so outlying fakes cannot inflate them:
/// density = 1/(kM) Σ_j Σ_i 1[Y_j ∈ B(X_i, NND_k(X_i))], coverage = 1/N Σ_i 1[∃ j: Y_j ∈ B(X_i, NND_k(X_i))].
/// The paper's k = 5 is the default.
/// </summary>
public static class DensityCoverage
{
    /// <summary>The metric for real features <paramref name="real"/> [N, D] and generated <paramref name="generated"/> [M, D].</summary>
    public static DensityCoverageResult Compute(Tensor real, Tensor generated, int k = 5)
    {
        using var scope = NewDisposeScope();
        var radii = NearestNeighbours.KthNeighbourRadii(real, k);
        var inside = NearestNeighbours.Distances(real, generated).le(radii.unsqueeze(1));   // [N, M]
        double density = inside.to(ScalarType.Float64).sum().item<double>() / (k * (double)generated.shape[0]);
        double coverage = inside.any(1).to(ScalarType.Float64).mean().item<double>();
        return new DensityCoverageResult(density, coverage, k);
    }
}

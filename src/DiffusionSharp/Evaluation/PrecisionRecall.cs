using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>Improved precision and recall, each in [0, 1].</summary>
/// <param name="Precision">Share of generated samples inside the real manifold.</param>
/// <param name="Recall">Share of real samples inside the generated manifold.</param>
/// <param name="K">The neighbourhood size.</param>
public sealed record PrecisionRecallResult(double Precision, double Recall, int K);

/// <summary>
/// Improved precision and recall (Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing Generative
/// Models", NeurIPS 2019, eqs. 1–3): a set's manifold is the union of balls around its points, each of radius the
/// distance to the point's k-th nearest neighbour in the same set; precision = (1/M) Σ_j f(φ_g,j, Φ_r), recall =
/// (1/N) Σ_i f(φ_r,i, Φ_g), f(φ, Φ) = 1 if ‖φ − φ'‖ ≤ NND_k(φ') for some φ' ∈ Φ. The paper's k = 3 is the default.
/// </summary>
public static class PrecisionRecall
{
    /// <summary>The metric for real features <paramref name="real"/> [N, D] and generated <paramref name="generated"/> [M, D].</summary>
    public static PrecisionRecallResult Compute(Tensor real, Tensor generated, int k = 3)
    {
        using var scope = NewDisposeScope();
        var realRadii = NearestNeighbours.KthNeighbourRadii(real, k);
        var fakeRadii = NearestNeighbours.KthNeighbourRadii(generated, k);
        var d = NearestNeighbours.Distances(real, generated);          // [N, M]
        double precision = d.le(realRadii.unsqueeze(1)).any(0).to(ScalarType.Float64).mean().item<double>();
        double recall = d.le(fakeRadii.unsqueeze(0)).any(1).to(ScalarType.Float64).mean().item<double>();
        return new PrecisionRecallResult(precision, recall, k);
    }
}

using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>The mean and covariance of a set of feature vectors, in float64 on the CPU. Owns its tensors.</summary>
public sealed class FeatureStatistics : IDisposable
{
    /// <summary>Takes ownership of <paramref name="mean"/> (D) and <paramref name="covariance"/> (D×D).</summary>
    public FeatureStatistics(Tensor mean, Tensor covariance, long count)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(covariance);
        long d = mean.shape.Length == 1 ? mean.shape[0] : -1;
        if (d < 1 || !covariance.shape.SequenceEqual(new[] { d, d }))
            throw new ArgumentException($"a D mean and a D×D covariance, not [{string.Join(", ", mean.shape)}] and [{string.Join(", ", covariance.shape)}]");
        Mean = mean.to(ScalarType.Float64, CPU).DetachFromDisposeScope();
        Covariance = covariance.to(ScalarType.Float64, CPU).DetachFromDisposeScope();
        Count = count;
    }

    /// <summary>μ, the mean feature vector (D, float64).</summary>
    public Tensor Mean { get; }

    /// <summary>Σ, the unbiased sample covariance (D×D, float64, divided by N − 1).</summary>
    public Tensor Covariance { get; }

    /// <summary>N, the number of feature vectors.</summary>
    public long Count { get; }

    /// <summary>The statistics of N×D <paramref name="features"/> (N ≥ 2), accumulated in float64.</summary>
    public static FeatureStatistics FromFeatures(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.dim() != 2 || features.shape[0] < 2)
            throw new ArgumentException($"features must be N×D with N ≥ 2, not [{string.Join(", ", features.shape)}]", nameof(features));
        using var scope = NewDisposeScope();
        var x = features.detach().to(ScalarType.Float64, CPU);
        var mean = x.mean([0]);
        var centred = x - mean;
        var covariance = centred.T.matmul(centred).div_(x.shape[0] - 1);
        return new FeatureStatistics(mean, covariance, x.shape[0]);
    }

    /// <summary>Releases both tensors.</summary>
    public void Dispose()
    {
        Mean.Dispose();
        Covariance.Dispose();
    }
}

/// <summary>
/// The Fréchet (2-Wasserstein) distance between Gaussians fitted to two feature sets, the statistic of FID
/// (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017;
/// Dowson &amp; Landau, J. Multivariate Anal. 1982):
/// d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½.
/// </summary>
/// <remarks>
/// tr (Σ₁Σ₂)^½ equals tr (Σ₁^½ Σ₂ Σ₁^½)^½, and the second form is a symmetric positive semi-definite matrix, so both
/// square roots come from <c>torch.linalg.eigh</c> with eigenvalues clipped at 0: the result is always real, unlike
/// <c>scipy.linalg.sqrtm</c> of the non-symmetric product. Everything is float64.
/// Which features it is computed on decides what the number means: in this project they come from
/// <see cref="DigitClassifier"/>, so the value is <b>not</b> the Inception FID and not comparable with published FIDs.
/// </remarks>
public static class FrechetDistance
{
    /// <summary>d² between the Gaussians fitted to two N×D feature sets.</summary>
    public static double Compute(Tensor features1, Tensor features2)
    {
        using var a = FeatureStatistics.FromFeatures(features1);
        using var b = FeatureStatistics.FromFeatures(features2);
        return Compute(a, b);
    }

    /// <summary>d² between N(μ₁, Σ₁) and N(μ₂, Σ₂); tiny negative rounding results are returned as 0.</summary>
    public static double Compute(FeatureStatistics a, FeatureStatistics b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return Compute(a.Mean, a.Covariance, b.Mean, b.Covariance);
    }

    /// <summary>d² between N(<paramref name="mu1"/>, <paramref name="sigma1"/>) and N(<paramref name="mu2"/>, <paramref name="sigma2"/>).</summary>
    public static double Compute(Tensor mu1, Tensor sigma1, Tensor mu2, Tensor sigma2)
    {
        ArgumentNullException.ThrowIfNull(mu1);
        ArgumentNullException.ThrowIfNull(sigma1);
        ArgumentNullException.ThrowIfNull(mu2);
        ArgumentNullException.ThrowIfNull(sigma2);
        if (!mu1.shape.SequenceEqual(mu2.shape) || !sigma1.shape.SequenceEqual(sigma2.shape) || mu1.dim() != 1
            || !sigma1.shape.SequenceEqual(new[] { mu1.shape[0], mu1.shape[0] }))
            throw new ArgumentException("means must be D vectors and covariances D×D matrices of one D");
        using var scope = NewDisposeScope();
        var m1 = mu1.to(ScalarType.Float64, CPU);
        var m2 = mu2.to(ScalarType.Float64, CPU);
        var s1 = Symmetric(sigma1.to(ScalarType.Float64, CPU));
        var s2 = Symmetric(sigma2.to(ScalarType.Float64, CPU));

        var sqrtS1 = SqrtPsd(s1);
        var (lambda, _) = linalg.eigh(Symmetric(sqrtS1.matmul(s2).matmul(sqrtS1)));
        double trSqrtProduct = lambda.clamp_min(0).sqrt().sum().item<double>();

        double meanTerm = (m1 - m2).square().sum().item<double>();
        double d2 = meanTerm + s1.trace().item<double>() + s2.trace().item<double>() - 2 * trSqrtProduct;
        return Math.Max(0, d2);
    }

    /// <summary>A^½ = V diag(√max(λ, 0)) Vᵀ for symmetric positive semi-definite A = V diag(λ) Vᵀ.</summary>
    internal static Tensor SqrtPsd(Tensor a)
    {
        var (lambda, v) = linalg.eigh(a);
        return (v * lambda.clamp_min(0).sqrt().unsqueeze(0)).matmul(v.T);
    }

    private static Tensor Symmetric(Tensor a) => (a + a.T) * 0.5;
}

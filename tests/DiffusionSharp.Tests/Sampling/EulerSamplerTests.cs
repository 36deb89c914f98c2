using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Sampling;

public sealed class EulerSamplerTests
{
    [Fact]
    public void EulerFollowsTheFlowOfGaussianDataToFirstOrder()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianSigmaDenoiser(0.3, 0.5);
        var x = randn(4, 8, dtype: ScalarType.Float64, generator: new Generator(3)) * 80.0;
        double Error(int n)
        {
            var sigmas = SigmaGrid.EdmTimeSteps(n);
            using var result = new EulerSampler().Sample(denoiser, x, sigmas, new SamplingContext());
            using var exact = denoiser.Flow(x, sigmas[0], 0);
            return (result - exact).abs().max().item<double>();
        }
        double e16 = Error(16), e32 = Error(32), e64 = Error(64);
        // First order: the error halves (ratio → 2) with twice the steps.
        Assert.InRange(e16 / e32, 1.6, 2.6);
        Assert.InRange(e32 / e64, 1.7, 2.4);
        Assert.Equal(new long[] { 4, 8 }, x.shape); // the input is left alone
    }
}

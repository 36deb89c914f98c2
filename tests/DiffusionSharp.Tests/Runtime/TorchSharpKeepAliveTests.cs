using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Runtime;

/// <summary>
/// The TorchSharp.dll programs run is the one build/TorchSharpKeepAlive rewrote: Tensor and Scalar arguments stay
/// alive through the libtorch call, so a collection on another thread cannot free the implicit Scalar of <c>a + b</c>
/// mid-call (bench/gc-race measures the race itself: it is too rare for a fast test to provoke).
/// </summary>
public sealed class TorchSharpKeepAliveTests
{
    private static readonly MethodInfo s_keepAlive = typeof(GC).GetMethod(nameof(GC.KeepAlive))!;

    [Fact]
    public void TheLoadedTorchSharpCarriesThePatchMarker()
    {
        int? methods = DiffusionSharp.Runtime.TorchRuntime.KeepAlivePatchedMethods;
        Assert.NotNull(methods);
        Assert.True(methods > 1000, $"only {methods} methods patched");
    }

    public static TheoryData<string> Methods => new()
    {
        "add(Tensor, Scalar)",     // a + b arrives here with a fresh Scalar 1 as alpha
        "add(Scalar, Scalar)",     // a + 1.5
        "sub(Tensor)",
        "sub(Scalar)",
        "mul(Scalar)",             // a * 2.0
        "div(Scalar, RoundingMode)",
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void TensorScalarMethodsKeepTheirArgumentsAlive(string signature)
    {
        var method = typeof(Tensor).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Single(m => $"{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})" == signature);
        var calls = CalledMethods(method).ToList();
        Assert.Contains(calls, c => c.Name.StartsWith("THSTensor_", StringComparison.Ordinal));   // it does call libtorch
        int keepAlives = calls.Count(c => c == s_keepAlive);
        // `this` and each Tensor/Scalar argument, at every return.
        int wrappers = 1 + method.GetParameters().Count(p => typeof(Tensor).IsAssignableFrom(p.ParameterType) || p.ParameterType == typeof(Scalar));
        Assert.True(keepAlives >= wrappers, $"{signature}: {keepAlives} GC.KeepAlive calls for {wrappers} wrappers");
    }

    [Fact]
    public void PatchedArithmeticStillComputes()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3 });
        var b = tensor(new float[] { 10, 20, 30 });
        Assert.Equal(new float[] { 11, 22, 33 }, (a + b).data<float>().ToArray());
        Assert.Equal(new float[] { -9, -18, -27 }, (a - b).data<float>().ToArray());
        Assert.Equal(new float[] { 2.5f, 5, 7.5f }, (a * 2.5).data<float>().ToArray());
    }

    /// <summary>The methods a method body calls (call / callvirt operands), read from its IL.</summary>
    private static IEnumerable<MethodBase> CalledMethods(MethodInfo method)
    {
        byte[] il = method.GetMethodBody()!.GetILAsByteArray()!;
        for (int i = 0; i + 4 < il.Length; i++)
        {
            if (il[i] is not (0x28 or 0x6F))   // call, callvirt
                continue;
            MethodBase? callee = null;
            try
            {
                callee = method.Module.ResolveMethod(BitConverter.ToInt32(il, i + 1));
            }
            catch (ArgumentException)
            {
                // Not an instruction boundary: the byte was part of another instruction's operand.
            }
            if (callee is not null)
                yield return callee;
        }
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DiffusionSharp.Schedules;
using TorchSharp;
using static TorchSharp.torch;
using static DiffusionSharp.Schedulers.VpMultistepSupport;

namespace DiffusionSharp.Schedulers;

/// <summary>The B(h) of UniPC's update (diffusers' <c>solver_type</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<UniPcSolverType>))]
public enum UniPcSolverType
{
    /// <summary>B(h) = h (in the step's sign convention); recommended by the paper for unconditional sampling. JSON <c>"bh1"</c>.</summary>
    [JsonStringEnumMemberName("bh1")]
    Bh1,

    /// <summary>B(h) = e^h − 1; recommended for guided sampling. JSON <c>"bh2"</c>.</summary>
    [JsonStringEnumMemberName("bh2")]
    Bh2,
}

/// <summary>
/// Options of <see cref="UniPcMultistepScheduler"/>: diffusers' <c>UniPCMultistepScheduler</c> configuration (keys in
/// <see cref="FromDiffusersConfig(string)"/>); the defaults are diffusers'.
/// </summary>
public sealed record UniPcMultistepOptions
{
    /// <summary>The training schedule β_1..β_T.</summary>
    public NoiseScheduleOptions Schedule { get; init; } = new();

    /// <summary>What the network predicts.</summary>
    [DiffusersKey("prediction_type")]
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary>Order p ∈ {1, 2, 3} of the predictor UniP-p (the corrector UniC-p then has order p + 1).</summary>
    [DiffusersKey("solver_order")]
    public int SolverOrder { get; init; } = 2;

    /// <summary>Solve the ODE for the data prediction x̂₀ (true, as DPM-Solver++) or the noise prediction ε̂.</summary>
    [DiffusersKey("predict_x0")]
    public bool PredictX0 { get; init; } = true;

    /// <summary>The B(h) variant.</summary>
    public UniPcSolverType SolverType { get; init; } = UniPcSolverType.Bh2;

    /// <summary>Lower the order over the last steps so that step i uses at most N − i outputs.</summary>
    [DiffusersKey("lower_order_final")]
    public bool LowerOrderFinal { get; init; } = true;

    /// <summary>Step indices whose result is not corrected (the corrector of step i runs at step i + 1).</summary>
    [DiffusersKey("disable_corrector")]
    public int[] DisableCorrector { get; init; } = [];

    /// <summary>Step on the Karras et al. 2022 (eq. 5, ρ = 7) σ grid instead of σ at the spaced timesteps.</summary>
    [DiffusersKey("use_karras_sigmas")]
    public bool UseKarrasSigmas { get; init; }

    /// <summary>The smallest σ of the Karras grid (null: the training schedule's).</summary>
    [DiffusersKey("sigma_min")]
    public double? SigmaMin { get; init; }

    /// <summary>The largest σ of the Karras grid (null: the training schedule's).</summary>
    [DiffusersKey("sigma_max")]
    public double? SigmaMax { get; init; }

    /// <summary>Where the last step lands.</summary>
    [DiffusersKey("final_sigmas_type")]
    public FinalSigmaType FinalSigmasType { get; init; } = FinalSigmaType.Zero;

    /// <summary>How the timesteps are spaced.</summary>
    [DiffusersKey("timestep_spacing")]
    public TimestepSpacing TimestepSpacing { get; init; } = TimestepSpacing.Linspace;

    /// <summary>Added to every timestep with <see cref="TimestepSpacing.Leading"/> spacing.</summary>
    [DiffusersKey("steps_offset")]
    public int StepsOffset { get; init; }

    /// <summary>Dynamic thresholding of x̂₀ (Saharia et al. 2022, §2.3); with <see cref="PredictX0"/> only.</summary>
    [DiffusersKey("thresholding")]
    public bool Thresholding { get; init; }

    /// <summary>The |x̂₀| quantile that sets the threshold.</summary>
    [DiffusersKey("dynamic_thresholding_ratio")]
    public double DynamicThresholdingRatio { get; init; } = 0.995;

    /// <summary>The largest threshold.</summary>
    [DiffusersKey("sample_max_value")]
    public double SampleMaxValue { get; init; } = 1.0;

    /// <summary>Checks every option; the scheduler's constructor calls it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An order, offset, σ or thresholding value out of range.</exception>
    /// <exception cref="ArgumentException">An undefined enum value, or a combination that makes the last step NaN.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Schedule, nameof(Schedule));
        ArgumentNullException.ThrowIfNull(DisableCorrector, nameof(DisableCorrector));
        if (SolverOrder is < 1 or > 3)
            throw new ArgumentOutOfRangeException("solver_order", SolverOrder, "solver_order must be one of 1, 2, 3.");
        SchedulerGuards.CheckDefined(PredictionType, "prediction_type");
        SchedulerGuards.CheckDefined(SolverType, "solver_type");
        SchedulerGuards.CheckDefined(FinalSigmasType, "final_sigmas_type");
        SchedulerGuards.CheckDefined(TimestepSpacing, "timestep_spacing");
        // At σ = 0, λ = +∞: noise prediction multiplies ε̂ by σ_t·(e^h − 1) = 0·∞, bh1 multiplies by B(h) = −∞, and a
        // multistep last step divides by r = (λ_s1 − λ_s0)/h = 0. diffusers returns NaN there; refuse up front.
        if (FinalSigmasType == FinalSigmaType.Zero)
        {
            string? reason = !PredictX0 ? "predict_x0=false"
                : SolverType == UniPcSolverType.Bh1 ? "solver_type 'bh1'"
                : !LowerOrderFinal && SolverOrder > 1 ? "lower_order_final=false with solver_order > 1"
                : null;
            if (reason is not null)
                throw new ArgumentException(
                    $"final_sigmas_type 'zero' with {reason} makes the last step NaN (λ = +∞ at σ = 0); allowed values: 'sigma_min'.",
                    "final_sigmas_type");
        }
        if (DisableCorrector.Any(i => i < 0))
            throw new ArgumentOutOfRangeException("disable_corrector", "disable_corrector holds step indices, which are 0 or positive.");
        if (SigmaMin is { } sMin && (!double.IsFinite(sMin) || sMin <= 0))
            throw new ArgumentOutOfRangeException("sigma_min", sMin, "sigma_min must be finite and positive (or null).");
        if (SigmaMax is { } sMax && (!double.IsFinite(sMax) || sMax <= 0 || (SigmaMin is { } lo && sMax < lo)))
            throw new ArgumentOutOfRangeException("sigma_max", sMax, "sigma_max must be finite, positive and at least sigma_min (or null).");
        CheckCommon(StepsOffset, DynamicThresholdingRatio, SampleMaxValue);
    }

    /// <summary>
    /// Reads a diffusers <c>scheduler_config.json</c> (keys <c>num_train_timesteps</c>, <c>beta_start</c>, <c>beta_end</c>,
    /// <c>beta_schedule</c>, <c>trained_betas</c>, <c>rescale_betas_zero_snr</c>, <c>prediction_type</c>, <c>solver_order</c>,
    /// <c>predict_x0</c>, <c>solver_type</c>, <c>lower_order_final</c>, <c>disable_corrector</c>, <c>use_karras_sigmas</c>,
    /// <c>sigma_min</c>, <c>sigma_max</c>, <c>final_sigmas_type</c>, <c>timestep_spacing</c>, <c>steps_offset</c>,
    /// <c>thresholding</c>, <c>dynamic_thresholding_ratio</c>, <c>sample_max_value</c>); missing keys take diffusers'
    /// defaults, other keys are ignored. As diffusers does for another scheduler's config, solver types
    /// <c>midpoint</c>/<c>heun</c>/<c>logrho</c> read as <c>bh2</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Malformed JSON, an unknown name, or a diffusers feature not implemented here
    /// (exponential/beta/flow sigmas, dynamic shifting, <c>solver_p</c>, <c>shift_terminal</c>).</exception>
    public static UniPcMultistepOptions FromDiffusersConfig(string json) => FromDiffusersConfig(DiffusersConfig.ParseObject(json));

    /// <summary>Reads a parsed diffusers <c>scheduler_config.json</c>; see <see cref="FromDiffusersConfig(string)"/>.</summary>
    /// <exception cref="ArgumentException">An unknown name, a value of the wrong kind, or an unsupported feature.</exception>
    public static UniPcMultistepOptions FromDiffusersConfig(JsonElement config)
    {
        var c = config;
        RejectUnsupported(c, "use_exponential_sigmas", "use_beta_sigmas", "use_flow_sigmas", "use_dynamic_shifting");
        foreach (var key in new[] { "solver_p", "shift_terminal" })
        {
            if (c.TryGetProperty(key, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
                throw new ArgumentException($"{key} is not supported; allowed value: null.", key);
        }
        var d = new UniPcMultistepOptions();
        var options = DiffusersKeys.Read<UniPcMultistepOptions>(config) with
        {
            SolverType = DiffusersConfig.GetString(c, "solver_type", null) switch
            {
                null => d.SolverType,
                "midpoint" or "heun" or "logrho" => UniPcSolverType.Bh2,
                var name => DiffusersNames.Parse<UniPcSolverType>(name, "solver_type"),
            },
        };
        options.Validate();
        return options;
    }

    /// <summary>The options as a diffusers <c>scheduler_config.json</c> (what <see cref="FromDiffusersConfig(string)"/> reads).</summary>
    public JsonObject ToDiffusersConfig()
    {
        var c = DiffusersKeys.Write(this, UniPcMultistepScheduler.DiffusersClassName);
        c["solver_type"] = DiffusersNames.ToName(SolverType);
        c["solver_p"] = null;
        return c;
    }

    /// <summary>Value equality, comparing <see cref="DisableCorrector"/> element by element.</summary>
    public bool Equals(UniPcMultistepOptions? other) =>
        other is not null
        && Equals(Schedule, other.Schedule)
        && PredictionType == other.PredictionType
        && SolverOrder == other.SolverOrder
        && PredictX0 == other.PredictX0
        && SolverType == other.SolverType
        && LowerOrderFinal == other.LowerOrderFinal
        && DisableCorrector.AsSpan().SequenceEqual(other.DisableCorrector)
        && UseKarrasSigmas == other.UseKarrasSigmas
        && Nullable.Equals(SigmaMin, other.SigmaMin)
        && Nullable.Equals(SigmaMax, other.SigmaMax)
        && FinalSigmasType == other.FinalSigmasType
        && TimestepSpacing == other.TimestepSpacing
        && StepsOffset == other.StepsOffset
        && Thresholding == other.Thresholding
        && DynamicThresholdingRatio.Equals(other.DynamicThresholdingRatio)
        && SampleMaxValue.Equals(other.SampleMaxValue);

    /// <summary>Hash consistent with <see cref="Equals(UniPcMultistepOptions?)"/>.</summary>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Schedule);
        hash.Add(PredictionType);
        hash.Add(SolverOrder);
        hash.Add(PredictX0);
        hash.Add(SolverType);
        hash.Add(LowerOrderFinal);
        foreach (var i in DisableCorrector)
            hash.Add(i);
        hash.Add(UseKarrasSigmas);
        hash.Add(SigmaMin);
        hash.Add(SigmaMax);
        hash.Add(FinalSigmasType);
        hash.Add(TimestepSpacing);
        hash.Add(StepsOffset);
        hash.Add(Thresholding);
        hash.Add(DynamicThresholdingRatio);
        hash.Add(SampleMaxValue);
        return hash.ToHashCode();
    }
}

/// <summary>
/// UniPC — Zhao, Bai, Rao, Zhou, Lu 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
/// Diffusion Models" (arXiv:2302.04867), step for step as diffusers' <c>UniPCMultistepScheduler</c> (v0.38).
/// </summary>
/// <remarks>
/// <para>In λ = log(α/σ), with h = λ_t − λ_s₀ and (data prediction) ĥ = −h, the exact solution
/// x_t = (σ_t/σ_s₀) x_s₀ + σ_t ∫ e^{λ} x̂₀ dλ is expanded around λ_s₀ using earlier outputs m_k at λ_{s_k}, with
/// r_k = (λ_{s_k} − λ_s₀)/h and D_k = (m_k − m₀)/r_k. UniP-p (the unified predictor) sets
/// x_t = (σ_t/σ_s₀) x − α_t (e^{ĥ} − 1) m₀ − α_t B(ĥ) Σ_{k&lt;p} a_k D_k, where a solves Σ_k a_k r_k^{j−1} = g_j for
/// j = 1..p−1 with g_j = j!·ĥ φ_{j+1}(ĥ)/B(ĥ) and φ_{j+1}(ĥ) = (φ_j(ĥ) − 1/j!)/ĥ, φ₁(ĥ) = (e^{ĥ} − 1)/ĥ (the
/// paper's order conditions with the φ-function recursion). Second order uses a₁ = ½, which with B(h) = e^h − 1 is
/// DPM-Solver++(2M).</para>
/// <para>UniC-p (the unified corrector) re-solves the step that produced x_t once the network has been
/// evaluated there: the new output m_t enters as one more node (r = 1, D = m_t − m₀) and the full p×p system is
/// solved (first order: a = ½). It costs no extra network call, since m_t is also the next predictor's m₀.</para>
/// <para>Noise prediction (predict_x0 = false) is the same with α ↔ σ swapped and ĥ = h. The σ grid is float32 as in
/// diffusers; coefficients are formed in float64. The scheduler owns its history and timestep tensor: dispose it.</para>
/// </remarks>
public sealed class UniPcMultistepScheduler : VpMultistepScheduler
{
    /// <summary>diffusers' class name (<c>_class_name</c> in <c>scheduler_config.json</c>).</summary>
    public const string DiffusersClassName = "UniPCMultistepScheduler";

    private Tensor? _lastSample;
    private int _thisOrder;

    /// <summary>Builds the scheduler; call <see cref="SetTimesteps"/> before stepping.</summary>
    /// <exception cref="ArgumentException">Invalid options (see <see cref="UniPcMultistepOptions.Validate"/>).</exception>
    public UniPcMultistepScheduler(UniPcMultistepOptions options)
        : base(new NoiseSchedule(Validated(options).Schedule), options.SolverOrder)
    {
        Options = options;
    }

    private static UniPcMultistepOptions Validated(UniPcMultistepOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }

    /// <summary>The options.</summary>
    public UniPcMultistepOptions Options { get; }

    /// <inheritdoc/>
    public override void SetTimesteps(int numInferenceSteps)
    {
        CheckStepCount(numInferenceSteps);
        int T = NumTrainTimesteps;

        double[] timesteps;
        double[] sigmas;
        double finalSigma;
        if (Options.UseKarrasSigmas)
        {
            sigmas = SigmaGrid.Karras(Options.SigmaMin ?? _trainSigmas[0], Options.SigmaMax ?? _trainSigmas[^1], numInferenceSteps);
            var logSigmas = SigmaGrid.LogSigmas(_trainSigmas);
            timesteps = sigmas.Select(s => Math.Round(SigmaGrid.SigmaToT(s, logSigmas), MidpointRounding.ToEven)).ToArray();
            finalSigma = Options.FinalSigmasType == FinalSigmaType.SigmaMin ? sigmas[^1] : 0.0;
        }
        else
        {
            timesteps = SpacedTimesteps(Options.TimestepSpacing, T, T, numInferenceSteps, Options.StepsOffset);
            sigmas = timesteps.Select(t => SigmaGrid.InterpolateAtIndex(t, _trainSigmas)).ToArray();
            finalSigma = Options.FinalSigmasType == FinalSigmaType.SigmaMin ? _trainSigmas[0] : 0.0;
        }
        StartRollout(timesteps, sigmas, finalSigma, numInferenceSteps, Options.TimestepSpacing);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Corrects <paramref name="sample"/> with UniC using this step's output (unless disabled for the previous step),
    /// then predicts the next sample with UniP. The first call locates <paramref name="timestep"/> in
    /// <see cref="VpMultistepScheduler.Timesteps"/>; later calls must pass the rollout's next timestep. UniPC is deterministic:
    /// <paramref name="noise"/> is ignored. <see cref="SchedulerStepOutput.PredOriginalSample"/> is the step's x̂₀.
    /// </remarks>
    /// <exception cref="InvalidOperationException"><see cref="SetTimesteps"/> was not called, or the rollout is over.</exception>
    /// <exception cref="ArgumentException">Mismatched shapes, non-finite values, or a timestep not next in the rollout.</exception>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null)
    {
        int i = BeginStep(timestep, modelOutput, sample);

        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        var computeType = sample.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var x = sample.to(computeType);
        var (alphaS, sigmaS) = AlphaSigma(_sigmas[i]);
        // The output is converted at the uncorrected sample the network saw.
        var converted = ConvertModelOutput(modelOutput.to(computeType), x, alphaS, sigmaS);
        var x0 = Options.PredictX0 ? converted : (x - sigmaS * converted) / alphaS;

        bool useCorrector = i > 0 && _lastSample is not null && !Options.DisableCorrector.Contains(i - 1);
        if (useCorrector)
            x = Corrector(i, converted, _lastSample!, _thisOrder);

        _modelOutputs[0]?.Dispose();
        for (int k = 0; k + 1 < _modelOutputs.Length; k++)
            _modelOutputs[k] = _modelOutputs[k + 1];
        _modelOutputs[^1] = converted.clone().DetachFromDisposeScope();

        int n = _timesteps.Length;
        int order = Options.LowerOrderFinal ? Math.Min(Options.SolverOrder, n - i) : Options.SolverOrder;
        _thisOrder = Math.Min(order, _lowerOrderNums + 1); // warm-up: only as many nodes as outputs seen
        _lastSample?.Dispose();
        _lastSample = x.clone().DetachFromDisposeScope();

        var prev = Predictor(i, x, _thisOrder);
        if (_lowerOrderNums < Options.SolverOrder)
            _lowerOrderNums++;
        _stepIndex = i + 1;

        var outDtype = modelOutput.dtype;
        return new SchedulerStepOutput(
            prev.to(outDtype).MoveToOuterDisposeScope(),
            x0.to(outDtype).MoveToOuterDisposeScope());
    }

    /// <summary>Also forgets the last sample (for the corrector) and the order of the last predictor.</summary>
    private protected override void ResetState()
    {
        base.ResetState();
        _lastSample?.Dispose();
        _lastSample = null;
        _thisOrder = 0;
    }

    private Tensor ConvertModelOutput(Tensor modelOutput, Tensor x, double alpha, double sigma)
    {
        if (!Options.PredictX0)
            return ToNoise(Options.PredictionType, modelOutput, x, alpha, sigma);
        var x0 = ToData(Options.PredictionType, modelOutput, x, alpha, sigma);
        return Options.Thresholding ? Threshold(x0, Options.DynamicThresholdingRatio, Options.SampleMaxValue) : x0;
    }

    /// <summary>UniP-p from σ[i] (node s₀, output m₀ = newest in the history) to σ[i+1].</summary>
    private Tensor Predictor(int i, Tensor x, int order)
    {
        var step = new BhStep(this, sTarget: _sigmas![i + 1], s0: _sigmas[i], order);
        if (step.H == 0)
            return x.clone(); // σ_t = σ_s (a grid ending at σ_min twice): the exact solution is x_s itself.
        // Earlier nodes s_k = σ[i−k] with outputs m_k (k = 1..p−1).
        var (rks, d1s) = Differences(step.H, _sigmas[i], k => _sigmas[i - k], order);
        Tensor? res = null;
        if (order >= 2)
        {
            double[] a = order == 2
                ? [0.5]
                : Solve(Vandermonde(rks, order - 1), step.G[..(order - 1)]);
            res = Combine(a, d1s);
        }
        var xt = step.Base(x, _modelOutputs[^1]!);
        return res is null ? xt : xt - step.ResidualWeight * res;
    }

    /// <summary>UniC-p: redoes the step σ[i−1] → σ[i] that produced this step's sample from
    /// <paramref name="lastSample"/>, adding this step's output <paramref name="mT"/> as a node at r = 1.</summary>
    private Tensor Corrector(int i, Tensor mT, Tensor lastSample, int order)
    {
        var step = new BhStep(this, sTarget: _sigmas![i], s0: _sigmas[i - 1], order);
        // The history is not yet shifted: m₀ is the output at σ[i−1], m_k at σ[i−1−k].
        var (rks, d1s) = Differences(step.H, _sigmas[i - 1], k => _sigmas[i - 1 - k], order);
        var allRks = rks.Append(1.0).ToArray();
        double[] a = order == 1 ? [0.5] : Solve(Vandermonde(allRks, order), step.G);
        var m0 = _modelOutputs[^1]!;
        var d1t = mT - m0;
        var res = a[^1] * d1t;
        if (d1s.Length > 0)
            res = res + Combine(a[..^1], d1s);
        return step.Base(lastSample, m0) - step.ResidualWeight * res;
    }

    /// <summary>r_k = (λ_{s_k} − λ_s₀)/h and D_k = (m_k − m₀)/r_k for k = 1..order−1 (m_k = k-th older output).</summary>
    private (double[] Rks, Tensor[] D1s) Differences(double h, double s0, Func<int, double> sK, int order)
    {
        double lambdaS0 = Lambda(s0);
        var m0 = _modelOutputs[^1]!;
        var rks = new double[order - 1];
        var d1s = new Tensor[order - 1];
        for (int k = 1; k < order; k++)
        {
            rks[k - 1] = (Lambda(sK(k)) - lambdaS0) / h;
            d1s[k - 1] = (_modelOutputs[^(k + 1)]! - m0) / rks[k - 1];
        }
        return (rks, d1s);
    }

    /// <summary>R[j, k] = r_k^j, j = 0..n−1 (the order conditions of the Taylor expansion).</summary>
    private static double[,] Vandermonde(double[] rks, int n)
    {
        var r = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            for (int k = 0; k < n; k++)
                r[j, k] = Math.Pow(rks[k], j);
        }
        return r;
    }

    private static Tensor Combine(double[] a, Tensor[] d)
    {
        var sum = a[0] * d[0];
        for (int k = 1; k < d.Length; k++)
            sum = sum + a[k] * d[k];
        return sum;
    }

    /// <summary>The step-size quantities of one UniP/UniC update from node s₀ to the target σ.</summary>
    private readonly struct BhStep
    {
        private readonly double _baseX, _baseM;

        public BhStep(UniPcMultistepScheduler owner, double sTarget, double s0, int order)
        {
            var (alphaT, sigmaT) = AlphaSigma(sTarget);
            var (alphaS0, sigmaS0) = AlphaSigma(s0);
            H = (Math.Log(alphaT) - Math.Log(sigmaT)) - (Math.Log(alphaS0) - Math.Log(sigmaS0));
            bool predictX0 = owner.Options.PredictX0;
            double hh = predictX0 ? -H : H;
            double hPhi1 = Math.Exp(hh) - 1.0; // ĥ·φ₁(ĥ)
            double bH = owner.Options.SolverType == UniPcSolverType.Bh1 ? hh : hPhi1;
            // g_j = j!·ĥφ_{j+1}(ĥ)/B(ĥ), with ĥφ_{j+1} = ĥφ_j/ĥ − 1/j! (φ recursion).
            G = new double[order];
            double hPhiK = hPhi1 / hh - 1.0;
            double factorial = 1;
            for (int j = 1; j <= order; j++)
            {
                G[j - 1] = hPhiK * factorial / bH;
                factorial *= j + 1;
                hPhiK = hPhiK / hh - 1.0 / factorial;
            }
            // x_t = baseX·x − baseM·m₀ − residual·Σ a_k D_k (data: α_t in front; noise: σ_t).
            double front = predictX0 ? alphaT : sigmaT;
            _baseX = predictX0 ? sigmaT / sigmaS0 : alphaT / alphaS0;
            _baseM = front * hPhi1;
            ResidualWeight = front * bH;
        }

        public double H { get; }

        public double[] G { get; }

        public double ResidualWeight { get; }

        public Tensor Base(Tensor x, Tensor m0) => _baseX * x - _baseM * m0;
    }
}

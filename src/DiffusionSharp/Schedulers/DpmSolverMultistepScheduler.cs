using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DiffusionSharp.Schedules;
using TorchSharp;
using static TorchSharp.torch;
using static DiffusionSharp.Schedulers.VpMultistepSupport;

namespace DiffusionSharp.Schedulers;

/// <summary>Which DPM-Solver is run (diffusers' <c>algorithm_type</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DpmSolverAlgorithmType>))]
public enum DpmSolverAlgorithmType
{
    /// <summary>DPM-Solver++ (Lu et al. 2022b): the ODE solved for the data prediction x̂₀. JSON <c>"dpmsolver++"</c>.</summary>
    [JsonStringEnumMemberName("dpmsolver++")]
    DpmSolverPlusPlus,

    /// <summary>DPM-Solver (Lu et al. 2022a): the ODE solved for the noise prediction ε̂. JSON <c>"dpmsolver"</c>.</summary>
    [JsonStringEnumMemberName("dpmsolver")]
    DpmSolver,

    /// <summary>SDE-DPM-Solver++ (Lu et al. 2022b): the reverse SDE in data prediction; fresh noise every step.
    /// JSON <c>"sde-dpmsolver++"</c>.</summary>
    [JsonStringEnumMemberName("sde-dpmsolver++")]
    SdeDpmSolverPlusPlus,

    /// <summary>The reverse SDE in noise prediction (orders 1–2 only). JSON <c>"sde-dpmsolver"</c>.</summary>
    [JsonStringEnumMemberName("sde-dpmsolver")]
    SdeDpmSolver,
}

/// <summary>How the second-order multistep update uses the first divided difference D₁ (diffusers' <c>solver_type</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DpmSolverType>))]
public enum DpmSolverType
{
    /// <summary>D₁ weighted ½ like the first-order term: DPM-Solver++(2M), Algorithm 2. JSON <c>"midpoint"</c>.</summary>
    [JsonStringEnumMemberName("midpoint")]
    Midpoint,

    /// <summary>D₁ weighted by the exact integral of the linear Taylor term (φ₂). JSON <c>"heun"</c>.</summary>
    [JsonStringEnumMemberName("heun")]
    Heun,
}

/// <summary>
/// Options of <see cref="DpmSolverMultistepScheduler"/>: diffusers' <c>DPMSolverMultistepScheduler</c> configuration
/// (keys in <see cref="FromDiffusersConfig(string)"/>); the defaults are diffusers'.
/// </summary>
public sealed record DpmSolverMultistepOptions
{
    /// <summary>The training schedule β_1..β_T.</summary>
    public NoiseScheduleOptions Schedule { get; init; } = new();

    /// <summary>What the network predicts.</summary>
    [DiffusersKey("prediction_type")]
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary>Multistep order k ∈ {1, 2, 3}: the update uses the last k model outputs.</summary>
    [DiffusersKey("solver_order")]
    public int SolverOrder { get; init; } = 2;

    /// <summary>Noise- or data-prediction, ODE or SDE.</summary>
    public DpmSolverAlgorithmType AlgorithmType { get; init; } = DpmSolverAlgorithmType.DpmSolverPlusPlus;

    /// <summary>The second-order update's form.</summary>
    public DpmSolverType SolverType { get; init; } = DpmSolverType.Midpoint;

    /// <summary>Use first order on the last step and at most second order on the one before, when the rollout has
    /// fewer than 15 steps (stabilises very short rollouts).</summary>
    [DiffusersKey("lower_order_final")]
    public bool LowerOrderFinal { get; init; } = true;

    /// <summary>Always take the last step with first order.</summary>
    [DiffusersKey("euler_at_final")]
    public bool EulerAtFinal { get; init; }

    /// <summary>Step on the Karras et al. 2022 (eq. 5, ρ = 7) σ grid instead of σ at the spaced timesteps.</summary>
    [DiffusersKey("use_karras_sigmas")]
    public bool UseKarrasSigmas { get; init; }

    /// <summary>Where the last step lands.</summary>
    [DiffusersKey("final_sigmas_type")]
    public FinalSigmaType FinalSigmasType { get; init; } = FinalSigmaType.Zero;

    /// <summary>Drop the noisiest training timesteps whose λ = log(α/σ) is below this (−∞: none).</summary>
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public double LambdaMinClipped { get; init; } = double.NegativeInfinity;

    /// <summary>How the timesteps are spaced.</summary>
    [DiffusersKey("timestep_spacing")]
    public TimestepSpacing TimestepSpacing { get; init; } = TimestepSpacing.Linspace;

    /// <summary>Added to every timestep with <see cref="TimestepSpacing.Leading"/> spacing.</summary>
    [DiffusersKey("steps_offset")]
    public int StepsOffset { get; init; }

    /// <summary>Dynamic thresholding of x̂₀ (Saharia et al. 2022, §2.3); for pixel-space models only.</summary>
    [DiffusersKey("thresholding")]
    public bool Thresholding { get; init; }

    /// <summary>The |x̂₀| quantile that sets the threshold.</summary>
    [DiffusersKey("dynamic_thresholding_ratio")]
    public double DynamicThresholdingRatio { get; init; } = 0.995;

    /// <summary>The largest threshold.</summary>
    [DiffusersKey("sample_max_value")]
    public double SampleMaxValue { get; init; } = 1.0;

    /// <summary>Checks every option; the scheduler's constructor calls it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An order, offset or thresholding value out of range.</exception>
    /// <exception cref="ArgumentException">An undefined enum value, or a combination diffusers rejects.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Schedule, nameof(Schedule));
        if (SolverOrder is < 1 or > 3)
            throw new ArgumentOutOfRangeException("solver_order", SolverOrder, "solver_order must be one of 1, 2, 3.");
        SchedulerGuards.CheckDefined(PredictionType, "prediction_type");
        SchedulerGuards.CheckDefined(AlgorithmType, "algorithm_type");
        SchedulerGuards.CheckDefined(SolverType, "solver_type");
        SchedulerGuards.CheckDefined(FinalSigmasType, "final_sigmas_type");
        SchedulerGuards.CheckDefined(TimestepSpacing, "timestep_spacing");
        bool noisePrediction = AlgorithmType is DpmSolverAlgorithmType.DpmSolver or DpmSolverAlgorithmType.SdeDpmSolver;
        // In noise prediction the step to σ = 0 would divide by σ_t = 0 (λ = +∞ multiplies ε by σ_t·e^h = ∞·0).
        if (noisePrediction && FinalSigmasType == FinalSigmaType.Zero)
            throw new ArgumentException(
                $"final_sigmas_type 'zero' is not supported with algorithm_type '{DiffusersNames.ToName(AlgorithmType)}'; allowed values: 'sigma_min'.",
                "final_sigmas_type");
        if (AlgorithmType == DpmSolverAlgorithmType.SdeDpmSolver && SolverOrder == 3)
            throw new ArgumentOutOfRangeException("solver_order", SolverOrder, "solver_order for algorithm_type 'sde-dpmsolver' must be one of 1, 2.");
        if (double.IsNaN(LambdaMinClipped))
            throw new ArgumentOutOfRangeException("lambda_min_clipped", LambdaMinClipped, "lambda_min_clipped must be a number or -Infinity.");
        CheckCommon(StepsOffset, DynamicThresholdingRatio, SampleMaxValue);
    }

    /// <summary>
    /// Reads a diffusers <c>scheduler_config.json</c> (keys <c>num_train_timesteps</c>, <c>beta_start</c>, <c>beta_end</c>,
    /// <c>beta_schedule</c>, <c>trained_betas</c>, <c>rescale_betas_zero_snr</c>, <c>prediction_type</c>, <c>solver_order</c>,
    /// <c>algorithm_type</c>, <c>solver_type</c>, <c>lower_order_final</c>, <c>euler_at_final</c>, <c>use_karras_sigmas</c>,
    /// <c>final_sigmas_type</c>, <c>lambda_min_clipped</c>, <c>timestep_spacing</c>, <c>steps_offset</c>,
    /// <c>thresholding</c>, <c>dynamic_thresholding_ratio</c>, <c>sample_max_value</c>); missing keys take diffusers'
    /// defaults, other keys are ignored. As diffusers does when another scheduler's config is loaded, algorithm
    /// <c>deis</c> reads as <c>dpmsolver++</c> and solver types <c>logrho</c>/<c>bh1</c>/<c>bh2</c> as <c>midpoint</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Malformed JSON, an unknown name, or a diffusers feature not implemented here
    /// (exponential/beta/Lu/flow sigmas, dynamic shifting, learned variance).</exception>
    public static DpmSolverMultistepOptions FromDiffusersConfig(string json) => FromDiffusersConfig(DiffusersConfig.ParseObject(json));

    /// <summary>Reads a parsed diffusers <c>scheduler_config.json</c>; see <see cref="FromDiffusersConfig(string)"/>.</summary>
    /// <exception cref="ArgumentException">An unknown name, a value of the wrong kind, or an unsupported feature.</exception>
    public static DpmSolverMultistepOptions FromDiffusersConfig(JsonElement config)
    {
        var c = config;
        RejectUnsupported(c, "use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas", "use_flow_sigmas", "use_dynamic_shifting");
        if (DiffusersConfig.GetString(c, "variance_type", null) is { } varianceType)
            throw new ArgumentException($"variance_type '{varianceType}' is not supported; allowed value: null.", "variance_type");
        var d = new DpmSolverMultistepOptions();
        var options = DiffusersKeys.Read<DpmSolverMultistepOptions>(config) with
        {
            AlgorithmType = DiffusersConfig.GetString(c, "algorithm_type", null) switch
            {
                null => d.AlgorithmType,
                "deis" => DpmSolverAlgorithmType.DpmSolverPlusPlus,
                var name => DiffusersNames.Parse<DpmSolverAlgorithmType>(name, "algorithm_type"),
            },
            SolverType = DiffusersConfig.GetString(c, "solver_type", null) switch
            {
                null => d.SolverType,
                "logrho" or "bh1" or "bh2" => DpmSolverType.Midpoint,
                var name => DiffusersNames.Parse<DpmSolverType>(name, "solver_type"),
            },
            LambdaMinClipped = DiffusersConfig.GetDouble(c, "lambda_min_clipped", d.LambdaMinClipped),
        };
        options.Validate();
        return options;
    }

    /// <summary>
    /// The options as a diffusers <c>scheduler_config.json</c> (what <see cref="FromDiffusersConfig(string)"/> reads). An
    /// infinite <see cref="LambdaMinClipped"/> (the default) is left out, since strict JSON cannot spell it.
    /// </summary>
    public JsonObject ToDiffusersConfig()
    {
        var c = DiffusersKeys.Write(this, DpmSolverMultistepScheduler.DiffusersClassName);
        c["algorithm_type"] = DiffusersNames.ToName(AlgorithmType);
        c["solver_type"] = DiffusersNames.ToName(SolverType);
        if (double.IsFinite(LambdaMinClipped))
            c["lambda_min_clipped"] = LambdaMinClipped;
        c["variance_type"] = null;
        return c;
    }
}

/// <summary>
/// The multistep DPM-Solver family on a variance-preserving diffusion, step for step as diffusers'
/// <c>DPMSolverMultistepScheduler</c> (v0.38).
/// <list type="bullet">
/// <item>DPM-Solver — Lu, Zhou, Bao, Chen, Li, Zhu 2022, "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic
/// Model Sampling in Around 10 Steps" (arXiv:2206.00927). In λ = log(α_t/σ_t) the probability-flow ODE has the exact
/// solution x_t = (α_t/α_s) x_s − α_t ∫_{λ_s}^{λ_t} e^{−λ} ε̂(x_λ, λ) dλ (Prop. 3.1); Taylor-expanding ε̂ in λ and
/// integrating the exponential exactly gives the solver.</item>
/// <item>DPM-Solver++ — Lu et al. 2022b, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
/// Models" (arXiv:2211.01095). The same in data prediction: x_t = (σ_t/σ_s) x_s + σ_t ∫_{λ_s}^{λ_t} e^{λ} x̂₀(x_λ, λ) dλ.
/// First order is DDIM; the multistep second order is Algorithm 2 ("2M"), estimating dx̂₀/dλ from the previous
/// step's x̂₀; third order adds a second divided difference. SDE-DPM-Solver++ solves the reverse SDE the same
/// way, so the exponential weights become e^{−2h} and fresh Gaussian noise enters every step.</item>
/// </list>
/// With h = λ_t − λ_s, r₀ = h₀/h (h₀ the previous step in λ) and model outputs m₀ (now), m₁, m₂ (earlier), the
/// divided differences are D₀ = m₀, D₁ = (m₀ − m₁)/r₀ and, at third order, D₁ += r₀/(r₀+r₁)·(D₁ − D₁'), D₂ =
/// (D₁ − D₁')/(r₀+r₁) with D₁' = (m₁ − m₂)/r₁.
/// </summary>
/// <remarks>
/// The σ grid is float32 as in diffusers; the update coefficients (α, σ, λ, h and the φ-weights) are formed in float64
/// and applied to float32 tensors (float64 tensors stay float64). The scheduler keeps the last <c>solver_order</c>
/// converted model outputs between <see cref="Step"/> calls; it owns them and its timestep tensor: dispose it.
/// </remarks>
public sealed class DpmSolverMultistepScheduler : VpMultistepScheduler
{
    /// <summary>diffusers' class name (<c>_class_name</c> in <c>scheduler_config.json</c>).</summary>
    public const string DiffusersClassName = "DPMSolverMultistepScheduler";

    private readonly float[] _trainLambdas;

    /// <summary>Builds the scheduler; call <see cref="SetTimesteps"/> before stepping.</summary>
    /// <exception cref="ArgumentException">Invalid options (see <see cref="DpmSolverMultistepOptions.Validate"/>).</exception>
    public DpmSolverMultistepScheduler(DpmSolverMultistepOptions options)
        : base(new NoiseSchedule(Validated(options).Schedule), options.SolverOrder)
    {
        Options = options;
        // λ_t = log √ᾱ − log √(1−ᾱ) in float32, as diffusers' lambda_t (used only for λ-clipping).
        _trainLambdas = SolverAlphasCumprod(Schedule).Select(a => MathF.Log(MathF.Sqrt(a)) - MathF.Log(MathF.Sqrt(1f - a))).ToArray();
    }

    private static DpmSolverMultistepOptions Validated(DpmSolverMultistepOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }

    /// <summary>The options.</summary>
    public DpmSolverMultistepOptions Options { get; }

    /// <inheritdoc/>
    public override void SetTimesteps(int numInferenceSteps)
    {
        CheckStepCount(numInferenceSteps);
        int T = NumTrainTimesteps;

        // λ-clipping: the first training index (counted from the noisy end) whose λ reaches lambda_min_clipped.
        int clippedIdx = 0;
        while (clippedIdx < T && _trainLambdas[T - 1 - clippedIdx] < Options.LambdaMinClipped)
            clippedIdx++;
        int lastTimestep = T - clippedIdx;
        if (lastTimestep < 1)
            throw new ArgumentOutOfRangeException("lambda_min_clipped", Options.LambdaMinClipped, "lambda_min_clipped removes every training timestep.");

        double[] timesteps;
        double[] sigmas;
        if (Options.UseKarrasSigmas)
        {
            sigmas = SigmaGrid.Karras(_trainSigmas[0], _trainSigmas[^1], numInferenceSteps);
            var logSigmas = SigmaGrid.LogSigmas(_trainSigmas);
            // The network is called at the training timestep whose σ is nearest in log σ: rounded, except on the
            // cosine schedule, where diffusers keeps it fractional and the int64 cast then truncates it.
            bool round = Options.Schedule.BetaSchedule != BetaSchedule.SquaredCosCapV2;
            timesteps = sigmas.Select(s =>
            {
                double t = SigmaGrid.SigmaToT(s, logSigmas);
                return Math.Truncate(round ? Math.Round(t, MidpointRounding.ToEven) : t);
            }).ToArray();
        }
        else
        {
            timesteps = SpacedTimesteps(Options.TimestepSpacing, T, lastTimestep, numInferenceSteps, Options.StepsOffset);
            sigmas = timesteps.Select(t => SigmaGrid.InterpolateAtIndex(t, _trainSigmas)).ToArray();
        }
        double finalSigma = Options.FinalSigmasType == FinalSigmaType.SigmaMin ? _trainSigmas[0] : 0.0;
        StartRollout(timesteps, sigmas, finalSigma, numInferenceSteps, Options.TimestepSpacing);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// The first call locates <paramref name="timestep"/> in <see cref="VpMultistepScheduler.Timesteps"/> (so a rollout may start part-way,
    /// as image-to-image does); later calls must pass the rollout's next timestep.
    /// <see cref="SchedulerStepOutput.PredOriginalSample"/> is the step's x̂₀ (after thresholding).
    /// </remarks>
    /// <exception cref="InvalidOperationException"><see cref="SetTimesteps"/> was not called, or the rollout is over.</exception>
    /// <exception cref="ArgumentException">Mismatched shapes, non-finite values, or a timestep not next in the rollout.</exception>
    /// <exception cref="ArgumentNullException">An SDE algorithm was given no <paramref name="noise"/>.</exception>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null)
    {
        int i = BeginStep(timestep, modelOutput, sample);
        bool sde = Options.AlgorithmType is DpmSolverAlgorithmType.SdeDpmSolverPlusPlus or DpmSolverAlgorithmType.SdeDpmSolver;
        if (sde)
            SchedulerGuards.RequireNoise(noise, $"algorithm_type '{DiffusersNames.ToName(Options.AlgorithmType)}'");

        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        var computeType = sample.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var x = sample.to(computeType);
        var (alphaS, sigmaS) = AlphaSigma(_sigmas[i]);
        var (converted, x0) = ConvertModelOutput(modelOutput.to(computeType), x, alphaS, sigmaS);

        // diffusers draws once per step, the last one included, even where σ_t = 0 multiplies the draw by 0.
        Tensor? z = null;
        if (sde)
        {
            z = noise!.Next(x);
            if (!z.shape.SequenceEqual(x.shape))
                throw new ArgumentException($"The noise source returned shape [{string.Join(",", z.shape)}] for a sample of shape [{string.Join(",", x.shape)}].", nameof(noise));
            z = z.to(computeType);
        }

        // Only now (nothing below throws) shift the history: _modelOutputs[^1] is m₀ (this step), [^2] is m₁, [^3] is m₂.
        _modelOutputs[0]?.Dispose();
        for (int k = 0; k + 1 < _modelOutputs.Length; k++)
            _modelOutputs[k] = _modelOutputs[k + 1];
        _modelOutputs[^1] = converted.clone().DetachFromDisposeScope();

        int n = _timesteps.Length;
        bool shortRollout = Options.LowerOrderFinal && n < 15;
        bool lowerOrderFinal = i == n - 1 && (Options.EulerAtFinal || shortRollout || Options.FinalSigmasType == FinalSigmaType.Zero);
        bool lowerOrderSecond = i == n - 2 && shortRollout;
        int order = Options.SolverOrder == 1 || _lowerOrderNums < 1 || lowerOrderFinal ? 1
            : Options.SolverOrder == 2 || _lowerOrderNums < 2 || lowerOrderSecond ? 2
            : 3;

        var prev = Update(order, i, x, z);
        if (_lowerOrderNums < Options.SolverOrder)
            _lowerOrderNums++;
        _stepIndex = i + 1;

        var outDtype = modelOutput.dtype;
        return new SchedulerStepOutput(
            prev.to(outDtype).MoveToOuterDisposeScope(),
            x0.to(outDtype).MoveToOuterDisposeScope());
    }

    private bool IsDataPrediction =>
        Options.AlgorithmType is DpmSolverAlgorithmType.DpmSolverPlusPlus or DpmSolverAlgorithmType.SdeDpmSolverPlusPlus;

    /// <summary>
    /// The solver's variable — x̂₀ for the ++ algorithms, ε̂ otherwise — and the step's x̂₀. Thresholding acts on x̂₀;
    /// in noise prediction ε̂ is then recomputed from the thresholded x̂₀.
    /// </summary>
    private (Tensor Converted, Tensor X0) ConvertModelOutput(Tensor modelOutput, Tensor x, double alpha, double sigma)
    {
        if (IsDataPrediction)
        {
            var x0 = ToData(Options.PredictionType, modelOutput, x, alpha, sigma);
            if (Options.Thresholding)
                x0 = Threshold(x0, Options.DynamicThresholdingRatio, Options.SampleMaxValue);
            return (x0, x0);
        }
        var eps = ToNoise(Options.PredictionType, modelOutput, x, alpha, sigma);
        if (!Options.Thresholding)
            return (eps, (x - sigma * eps) / alpha);
        var thresholded = Threshold((x - sigma * eps) / alpha, Options.DynamicThresholdingRatio, Options.SampleMaxValue);
        return ((x - alpha * thresholded) / sigma, thresholded);
    }

    /// <summary>One step from σ_s = σ[i] to σ_t = σ[i+1] of the given order (the history holds ≥ order outputs).</summary>
    private Tensor Update(int order, int i, Tensor x, Tensor? z)
    {
        var sigmas = _sigmas!;
        var (alphaT, sigmaT) = AlphaSigma(sigmas[i + 1]);
        var (alphaS, sigmaS) = AlphaSigma(sigmas[i]);
        double lambdaT = Math.Log(alphaT) - Math.Log(sigmaT); // +∞ when σ_t = 0; the weights below stay finite.
        double lambdaS = Math.Log(alphaS) - Math.Log(sigmaS);
        double h = lambdaT - lambdaS;
        if (h == 0)
            return x.clone(); // σ_t = σ_s (a grid ending at σ_min twice): the exact solution is x_s itself.

        var m0 = _modelOutputs[^1]!;
        Tensor d0 = m0, d1 = m0, d2 = m0;
        if (order >= 2)
        {
            var m1 = _modelOutputs[^2]!;
            double h0 = lambdaS - Lambda(sigmas[i - 1]);
            double r0 = h0 / h;
            d1 = (1.0 / r0) * (m0 - m1);
            if (order == 3)
            {
                var m2 = _modelOutputs[^3]!;
                double h1 = Lambda(sigmas[i - 1]) - Lambda(sigmas[i - 2]);
                double r1 = h1 / h;
                var d1Prime = (1.0 / r1) * (m1 - m2);
                // Second divided difference in λ and the first one moved to λ_s (a quadratic through three nodes).
                d2 = (1.0 / (r0 + r1)) * (d1 - d1Prime);
                d1 = d1 + (r0 / (r0 + r1)) * (d1 - d1Prime);
            }
        }

        // x_t = a·x_s + c₀·D₀ + c₁·D₁ + c₂·D₂ + c_z·z, the weights integrating e^{±λ}·(Taylor polynomial) exactly.
        double a, c0, c1 = 0, c2 = 0, cz = 0;
        bool heun = Options.SolverType == DpmSolverType.Heun;
        switch (Options.AlgorithmType)
        {
            case DpmSolverAlgorithmType.DpmSolverPlusPlus:
            {
                double phi1 = Math.Exp(-h) - 1.0; // e^{−h} − 1 = −h·φ₁(−h)
                a = sigmaT / sigmaS;
                c0 = -alphaT * phi1;
                if (order == 2)
                    c1 = heun ? alphaT * (phi1 / h + 1.0) : -0.5 * alphaT * phi1;
                if (order == 3)
                {
                    c1 = alphaT * (phi1 / h + 1.0);
                    c2 = -alphaT * ((phi1 + h) / (h * h) - 0.5);
                }
                break;
            }
            case DpmSolverAlgorithmType.DpmSolver:
            {
                double phi1 = Math.Exp(h) - 1.0; // e^{h} − 1 = h·φ₁(h)
                a = alphaT / alphaS;
                c0 = -sigmaT * phi1;
                if (order == 2)
                    c1 = heun ? -sigmaT * (phi1 / h - 1.0) : -0.5 * sigmaT * phi1;
                if (order == 3)
                {
                    c1 = -sigmaT * (phi1 / h - 1.0);
                    c2 = -sigmaT * ((phi1 - h) / (h * h) - 0.5);
                }
                break;
            }
            case DpmSolverAlgorithmType.SdeDpmSolverPlusPlus:
            {
                // Reverse SDE in data prediction: the drift integral has weight e^{−2h}, the noise variance σ_t²(1 − e^{−2h}).
                double oneMinusE2h = 1.0 - Math.Exp(-2.0 * h);
                a = sigmaT / sigmaS * Math.Exp(-h);
                c0 = alphaT * oneMinusE2h;
                if (order == 2)
                    c1 = heun ? alphaT * (oneMinusE2h / (-2.0 * h) + 1.0) : 0.5 * alphaT * oneMinusE2h;
                if (order == 3)
                {
                    c1 = alphaT * (oneMinusE2h / (-2.0 * h) + 1.0);
                    c2 = alphaT * ((oneMinusE2h - 2.0 * h) / (4.0 * h * h) - 0.5);
                }
                cz = sigmaT * Math.Sqrt(oneMinusE2h);
                break;
            }
            case DpmSolverAlgorithmType.SdeDpmSolver:
            {
                double phi1 = Math.Exp(h) - 1.0;
                a = alphaT / alphaS;
                c0 = -2.0 * sigmaT * phi1;
                if (order == 2)
                    c1 = heun ? -2.0 * sigmaT * (phi1 / h - 1.0) : -sigmaT * phi1;
                cz = sigmaT * Math.Sqrt(Math.Exp(2.0 * h) - 1.0);
                break;
            }
            default:
                throw new InvalidOperationException($"Unhandled algorithm_type {Options.AlgorithmType}.");
        }

        var xt = a * x + c0 * d0;
        if (order >= 2)
            xt = xt + c1 * d1;
        if (order == 3)
            xt = xt + c2 * d2;
        if (z is not null)
            xt = xt + cz * z;
        return xt;
    }
}

#!/usr/bin/python3
"""The PyTorch side of bench/run: the same modes and JSON lines as `diffusionsharp-bench`, on the same network
(torch_unet.py loads the weights DiffusionSharp exported), the same training step and the same samplers.

  torch_bench.py train  --model DIR [--steps N --warmup W --batch B --precision fp32|bf16 --threads T]
  torch_bench.py sample --model DIR --sampler dpm++|ddim [--steps S --count C --repeats R --guidance G --threads T]
  torch_bench.py matmul [--n 2048 --repeats 5 --threads T]
  torch_bench.py check  --model DIR [--threads T]     (compares with DIR/check.safetensors; exit 1 on mismatch)

Sections: helpers · noise schedule · DDIM · DPM-Solver++(2M) · modes · main.
The samplers follow diffusers' DDIMScheduler and DPMSolverMultistepScheduler with their default options (what
DiffusionSharp's schedulers reproduce), written out here for ε-prediction only.
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_unet  # noqa: E402

NUM_CLASSES = 10
IMAGE_SIZE = 28


# ---------------------------------------------------------------- helpers
def malloc_setting():
    """'tuned' when bench/run gave this process DiffusionSharp's glibc malloc settings through MALLOC_* variables."""
    return "tuned" if os.environ.get("MALLOC_MMAP_THRESHOLD_") else "-"


def median(values):
    s = sorted(values)
    if not s:
        return float("nan")
    m = len(s) // 2
    return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])


def peak_rss_mib():
    """VmHWM of /proc/self/status in MiB: the process's peak resident set."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def emit(result):
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(json.dumps(result, separators=(",", ":")), flush=True)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def blas_name():
    """Which BLAS this process mapped: Debian's torch calls libblas.so.3, and the alternatives system (or
    LD_LIBRARY_PATH, as bench/run sets it) decides whether that is OpenBLAS or the netlib reference BLAS."""
    with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
        paths = {line.split()[-1] for line in f if "blas" in line}
    if any("openblas" in p for p in paths):
        return "openblas"
    if any("libblas" in p for p in paths):
        return "netlib"
    return "none"


# ---------------------------------------------------------------- noise schedule
def linear_alphas_cumprod(T=1000, beta_start=1e-4, beta_end=0.02):
    """ᾱ_t = Π(1 − β_s) over DDPM's linear β schedule, in float32 as diffusers builds it."""
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0)


# ---------------------------------------------------------------- DDIM
class Ddim:
    """DDIM (Song et al. 2021, eq. 12) with η = 0, diffusers' defaults: 'leading' spacing (t = i·⌊T/N⌋, steps_offset 0),
    previous step t − ⌊T/N⌋, ᾱ = 1 before the first step (set_alpha_to_one), x̂₀ clipped to [−1, 1]."""

    def __init__(self):
        self.ac = linear_alphas_cumprod().double()
        self.T = self.ac.numel()

    def set_timesteps(self, n):
        self.n = n
        ratio = self.T // n
        self.timesteps = [i * ratio for i in range(n)][::-1]

    def step(self, eps, t, x, i):
        prev = t - self.T // self.n
        a_t = float(self.ac[t])
        a_prev = float(self.ac[prev]) if prev >= 0 else 1.0
        x0 = ((x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)).clamp(-1, 1)
        return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps


# ---------------------------------------------------------------- DPM-Solver++(2M)
class DpmSolverPP:
    """Multistep DPM-Solver++ of order 2 (Lu et al. 2022, "DPM-Solver++", Alg. 2, midpoint form), diffusers' defaults:
    'linspace' timesteps round(linspace(0, T−1, N+1))[::-1][:-1], σ interpolated at them, a final σ = 0, the first
    step and the last step first order. With α = 1/√(σ²+1), σ_t = σ·α, λ = log α − log σ_t, h = λ_t − λ_s:
    x_t = (σ_t/σ_s)·x − α_t(e^(−h) − 1)·D, D = x̂₀ (first order) or x̂₀ + (x̂₀ − x̂₀_prev)/(2 r), r = h_prev/h."""

    def __init__(self):
        ac = linear_alphas_cumprod()
        self.train_sigmas = (((1 - ac) / ac) ** 0.5).double()
        self.T = ac.numel()

    def set_timesteps(self, n):
        grid = torch.linspace(0, self.T - 1, n + 1, dtype=torch.float64).round().flip(0)[:-1]
        self.timesteps = [int(t) for t in grid]
        idx = torch.arange(self.T, dtype=torch.float64)
        sig = [float(_interp(t, idx, self.train_sigmas)) for t in self.timesteps]
        # diffusers stores the σ grid as float32
        self.sigmas = [float(torch.tensor(s, dtype=torch.float32)) for s in sig] + [0.0]
        self.outputs = []

    @staticmethod
    def _alpha_sigma(sigma):
        alpha = 1.0 / math.sqrt(sigma * sigma + 1.0)
        return alpha, sigma * alpha

    def _lambda(self, sigma):
        alpha, s = self._alpha_sigma(sigma)
        return math.log(alpha) - math.log(s) if s > 0 else math.inf

    def step(self, eps, t, x, i):
        n = len(self.timesteps)
        alpha_s, sigma_s = self._alpha_sigma(self.sigmas[i])
        x0 = (x - sigma_s * eps) / alpha_s
        self.outputs = (self.outputs + [x0])[-2:]
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[i + 1])
        lam_t, lam_s = self._lambda(self.sigmas[i + 1]), self._lambda(self.sigmas[i])
        h = lam_t - lam_s
        phi = math.expm1(-h) if math.isfinite(h) else -1.0   # e^(−h) − 1
        # first order on the first step (no history) and on the last (final σ = 0: x_t = x̂₀)
        first = len(self.outputs) < 2 or i == n - 1
        ratio = sigma_t / sigma_s
        if first:
            return ratio * x - alpha_t * phi * x0
        h0 = lam_s - self._lambda(self.sigmas[i - 1])
        r0 = h0 / h
        d1 = (self.outputs[-1] - self.outputs[-2]) / r0
        return ratio * x - alpha_t * phi * x0 - 0.5 * alpha_t * phi * d1


def _interp(x, xp, fp):
    """np.interp for one x in a uniform grid xp = 0, 1, …"""
    lo = int(math.floor(x))
    hi = min(lo + 1, xp.numel() - 1)
    w = x - lo
    return fp[lo] * (1 - w) + fp[hi] * w


def make_scheduler(name):
    if name in ("dpm++", "dpmsolver++"):
        return DpmSolverPP()
    if name == "ddim":
        return Ddim()
    raise SystemExit(f"torch_bench: --sampler must be dpm++ or ddim, got {name!r}")


def initial_noise(seeds, shape):
    """x_T with one generator per sample (row i from seed i), as DiffusionSharp's PerSampleNoise."""
    rows = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        rows.append(torch.randn(shape, generator=g, dtype=torch.float32))
    return torch.stack(rows)


def chunked(model, chunk, x, t, y):
    """model(x, t, y), run `chunk` samples at a time when chunk > 0 (DiffusionSharp's UNet2DModel.Predict)."""
    if chunk <= 0 or chunk >= x.shape[0]:
        return model(x, t, y)
    return torch.cat([model(x[i:i + chunk], t[i:i + chunk], y[i:i + chunk]) for i in range(0, x.shape[0], chunk)])


def sample(model, scheduler, x, steps, labels, guidance=1.0, null_class=None, chunk=0):
    scheduler.set_timesteps(steps)
    b = x.shape[0]
    with torch.inference_mode():
        for i, t in enumerate(scheduler.timesteps):
            tt = torch.full((b,), float(t), dtype=torch.float32)
            if guidance == 1.0:
                eps = chunked(model, chunk, x, tt, labels)
            else:
                out = chunked(model, chunk, torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, torch.full_like(labels, null_class)]))
                cond, uncond = out[:b], out[b:]
                eps = uncond + (cond - uncond) * guidance
            x = scheduler.step(eps, t, x, i)
    return x


# ---------------------------------------------------------------- modes
def autocast(precision):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if precision == "fp32":
        return torch.autocast("cpu", enabled=False)
    raise SystemExit(f"torch_bench: --precision must be fp32 or bf16, got {precision!r}")


def run_train(a):
    model = torch_unet.from_pretrained(a.model)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    null_class = model.config["num_class_embeds"] - 1
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    ac = linear_alphas_cumprod().double()
    T = ac.numel()
    g = torch.Generator().manual_seed(1234)
    x0 = torch.rand(a.batch, model.config["in_channels"], IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1
    labels = torch.randint(0, null_class, (a.batch,), generator=g)
    pairs = list(zip(ema.parameters(), model.parameters()))
    updates = 0

    chunk = a.chunk if a.chunk > 0 else a.batch

    def forward_backward():
        opt.zero_grad()
        # ε-prediction loss with min-SNR-5 weights and label dropout 0.1 (DiffusionSharp's DiffusionLoss). The draws are
        # made for the whole batch; with --chunk C < batch, forward and backward then run C samples at a time, each
        # chunk back-propagating its share of the batch mean (DiffusionSharp's DiffusionLoss.Backward).
        t = torch.randint(0, T, (a.batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        drop = torch.rand(a.batch, generator=g) < 0.1
        y = torch.where(drop, torch.full_like(labels, null_class), labels)
        abar = ac[t]
        sa = abar.sqrt().float().view(-1, 1, 1, 1)
        s1 = (1 - abar).sqrt().float().view(-1, 1, 1, 1)
        snr = abar / (1 - abar)
        w = (snr.clamp(max=5.0) / snr).float()
        total = 0.0
        for i in range(0, a.batch, chunk):
            c = slice(i, min(i + chunk, a.batch))
            with autocast(a.precision):
                out = model(sa[c] * x0[c] + s1[c] * noise[c], t[c], y[c])
            part = ((out.float() - noise[c]).square().mean(dim=(1, 2, 3)) * w[c]).sum()
            total += part.item()
            (part / a.batch).backward()
        return total / a.batch

    def optimizer():
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def ema_update():
        nonlocal updates
        d = min(max(1 - (1 + updates / 1.0) ** (-2.0 / 3.0), 0.0), 0.999)
        with torch.no_grad():
            for e, p in pairs:
                e.lerp_(p, 1 - d)
            for e, b in zip(ema.buffers(), model.buffers()):
                e.copy_(b)
        updates += 1

    totals, fb, op, em = [], [], [], []
    last = float("nan")
    nonfinite = None   # reported, not fatal (as in DiffusionSharp's bench)
    model.train()
    for s in range(a.warmup + a.steps):
        tfb, last = timed(forward_backward)
        to, _ = timed(optimizer)
        te, _ = timed(ema_update)
        if not math.isfinite(last) and nonfinite is None:
            nonfinite = s + 1
        if s < a.warmup:
            continue
        totals.append(tfb + to + te)
        fb.append(tfb); op.append(to); em.append(te)

    with torch_unet.FlopCounter(model) as counter, torch.no_grad():
        model(x0[:1], torch.zeros(1, dtype=torch.long), labels[:1])
    step_flops = counter.total * a.batch * 3.0
    med = median(totals)
    emit({
        "impl": "torch", "mode": "train", "batch": a.batch, "precision": a.precision, "threads": torch.get_num_threads(),
        "warmup": a.warmup, "chunk": chunk, "malloc": malloc_setting(), "torch": torch.__version__, "blas": blas_name(),
        "params": sum(p.numel() for p in model.parameters()),
        "times": [round(v, 6) for v in totals], "median": round(med, 6),
        "split_median": {"forward_backward": round(median(fb), 6),
                         "optimizer": round(median(op), 6), "ema": round(median(em), 6)},
        "forward_flops": {"conv": counter.conv * a.batch, "linear": counter.linear * a.batch,
                          "attention": counter.attention * a.batch, "total": counter.total * a.batch},
        "step_flops": step_flops, "gflops": round(step_flops / med / 1e9, 2),
        "last_loss": round(last, 5) if math.isfinite(last) else None, "nonfinite_loss_step": nonfinite,
    })


def run_sample(a):
    model = torch_unet.from_pretrained(a.model).eval()
    null_class = model.config["num_class_embeds"] - 1
    scheduler = make_scheduler(a.sampler)
    labels = torch.tensor([i % NUM_CLASSES for i in range(a.count)], dtype=torch.long)
    shape = (model.config["in_channels"], IMAGE_SIZE, IMAGE_SIZE)
    seeds = list(range(a.count))
    with autocast(a.precision):
        if a.warmup_steps > 0:
            sample(model, scheduler, initial_noise(seeds, shape), a.warmup_steps, labels, a.guidance, null_class, a.chunk)
        times = []
        mean = float("nan")
        for _ in range(a.repeats):
            # x_T is drawn inside the timed region, as DiffusionSharp's DiffusionSampler draws it inside Sample().
            dt, x = timed(lambda: sample(model, scheduler, initial_noise(seeds, shape), a.steps, labels, a.guidance, null_class, a.chunk))
            times.append(dt)
            mean = float(x.float().mean())
    with torch_unet.FlopCounter(model) as counter, torch.no_grad():
        model(torch.zeros(1, *shape), torch.zeros(1), labels[:1])
    calls = 1 if a.guidance == 1.0 else 2
    med = median(times)
    emit({
        "impl": "torch", "mode": "sample", "sampler": "dpm++" if a.sampler in ("dpm++", "dpmsolver++") else a.sampler,
        "steps": a.steps, "count": a.count, "guidance": a.guidance, "precision": a.precision, "chunk": a.chunk, "malloc": malloc_setting(),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "blas": blas_name(),
        "times": [round(v, 6) for v in times], "median": round(med, 6),
        "gflops": round(counter.total * a.count * calls * a.steps / med / 1e9, 2), "image_mean": round(mean, 5),
    })


def run_matmul(a):
    result = {"impl": "torch", "mode": "matmul", "n": a.n, "threads": torch.get_num_threads(), "torch": torch.__version__,
              "blas": None}
    g = torch.Generator().manual_seed(7)
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        x = torch.randn(a.n, a.n, generator=g).to(dtype)
        y = torch.randn(a.n, a.n, generator=g).to(dtype)
        torch.mm(x, y)
        times = [timed(lambda: torch.mm(x, y))[0] for _ in range(a.repeats)]
        result[f"{name}_times"] = [round(v, 6) for v in times]
        result[f"{name}_gflops"] = round(2.0 * a.n ** 3 / median(times) / 1e9, 2)
    result["blas"] = blas_name()
    emit(result)


def run_check(a):
    """Same weights, same inputs: one forward pass (max |Δ| ≤ 1e-4), the FLOP count (hooks vs. DiffusionSharp's
    analytic count, exact), and short DPM-Solver++ / DDIM rollouts from the same x_T (max |Δ| ≤ 1e-3)."""
    model = torch_unet.from_pretrained(a.model).eval()
    data, meta = torch_unet.load_safetensors(os.path.join(a.model, "check.safetensors"))
    with torch.no_grad():
        y = model(data["x"], data["t"], data["labels"])
    forward_diff = float((y - data["y"]).abs().max())
    with torch_unet.FlopCounter(model) as counter, torch.no_grad():
        model(data["x"][:1], data["t"][:1], data["labels"][:1])
    ours_flops = float(meta["forward_flops_per_sample"])
    steps = int(meta["check_steps"])
    diffs = {}
    for key, name in (("dpmpp", "dpm++"), ("ddim", "ddim")):
        x = sample(model, make_scheduler(name), data["x_T"].clone(), steps, data["labels"])
        diffs[key] = float((x - data[f"{key}_x0"]).abs().max())
    ok = forward_diff <= 1e-4 and all(d <= 1e-3 for d in diffs.values()) and abs(counter.total - ours_flops) <= 1e-9 * ours_flops
    emit({
        "impl": "torch", "mode": "check", "ok": ok, "forward_max_abs_diff": forward_diff,
        "forward_output_max_abs": float(data["y"].abs().max()),
        "sample_steps": steps, "dpmpp_max_abs_diff": diffs["dpmpp"], "ddim_max_abs_diff": diffs["ddim"],
        "flops_per_sample_ours": ours_flops, "flops_per_sample_torch_hooks": counter.total,
        "flops_torch_split": {"conv": counter.conv, "linear": counter.linear, "attention": counter.attention},
        "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__, "blas": blas_name(),
    })
    return 0 if ok else 1


# ---------------------------------------------------------------- main
def main(argv):
    p = argparse.ArgumentParser(prog="torch_bench.py")
    p.add_argument("mode", choices=["train", "sample", "matmul", "check"])
    p.add_argument("--model")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--chunk", type=int, default=0, help="samples per forward pass (0: the whole batch, plain PyTorch)")
    p.add_argument("--sampler", default="dpm++")
    p.add_argument("--count", type=int, default=64)
    p.add_argument("--repeats", type=int)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--guidance", type=float, default=1.0)
    p.add_argument("--n", type=int, default=2048)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.mode != "matmul" and not a.model:
        p.error("--model DIR is required")
    if a.mode == "train":
        a.steps = a.steps or 10
        run_train(a)
    elif a.mode == "sample":
        a.steps = a.steps or 20
        a.repeats = a.repeats or 1
        run_sample(a)
    elif a.mode == "matmul":
        a.repeats = a.repeats or 5
        run_matmul(a)
    else:
        return run_check(a)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

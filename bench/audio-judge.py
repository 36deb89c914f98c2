#!/usr/bin/python3
"""An independent judge of generated spoken digits.

It shares no code, features or classifier with DiffusionSharp. It reads the real clips as plain WAV files (the folder
`diffuse data spoken-digits --out DATA` writes: DATA/train/<digit>/*.wav and DATA/held-out/<digit>/*.wav), computes
its own features with numpy (a 40-band log-mel spectrogram, 25 ms Hann windows every 10 ms, levels relative to the
clip's loudest frame, pooled to 20 time steps) at 16 kHz (other rates are resampled with scipy's polyphase filter),
trains scikit-learn's SVC (RBF kernel) on PCA-whitened features of the training split, and measures a folder of
generated clips (SAMPLES/00000.wav ..., sample i asked for digit i mod 10) with:
  - the judge's accuracy on the real held-out clips (its own sanity check; held-out voices are unseen voice variants);
  - conditional accuracy: the judge's label equals the asked digit;
  - class histogram of the judge's labels;
  - FID in the judge's feature space (the 64 leading PCA components) against the held-out clips, beside the real-data
    floor (500 training clips against the same held-out clips).
Every clip (real and generated) gets the same white dither at -50 dBFS (RMS, a fixed seed) before its features: the
real clips are espeak-ng's, with digital silence around the word, and without the dither a judge that measures levels
from the loudest bin down labels real held-out clips with inaudible -70 dBFS noise added all "nine" (10 %): it would be
judging the noise floor, not the word.
With --band HZ every clip (real and generated) is low-passed to HZ first, to separate what a band-limited model
misses from what it gets wrong.

Usage: bench/audio-judge.py DATA SAMPLES [--count N] [--band HZ] [--out FILE.md]
Needs Debian's python3-sklearn (numpy, scipy).
"""
import argparse
import glob
import os
import sys
from math import gcd

import numpy as np
from scipy import linalg, signal
from scipy.io import wavfile
from sklearn.decomposition import PCA
from sklearn.svm import SVC

RATE = 16000
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
WINDOW, HOP, MELS, POOLED = 400, 160, 40, 20


def read(path, band):
    rate, raw = wavfile.read(path)
    x = raw.astype(np.float64)
    if np.issubdtype(raw.dtype, np.integer):
        x /= float(np.iinfo(raw.dtype).max + 1)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate != RATE:
        g = gcd(rate, RATE)
        x = signal.resample_poly(x, RATE // g, rate // g)
    if band:
        sos = signal.butter(10, band, btype="low", fs=RATE, output="sos")
        x = signal.sosfiltfilt(sos, x)
    x = x[:RATE] if len(x) >= RATE else np.pad(x, ((RATE - len(x)) // 2, RATE - len(x) - (RATE - len(x)) // 2))
    return x + DITHER


def mel_filters():
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    edges = 700.0 * (10 ** (np.linspace(hz_to_mel(0), hz_to_mel(RATE / 2), MELS + 2) / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(WINDOW, 1.0 / RATE)
    f = np.zeros((MELS, len(bins)))
    for m in range(MELS):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        f[m] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
    return f


FILTERS = mel_filters()
HANN = np.hanning(WINDOW)
DITHER = np.random.default_rng(12345).standard_normal(RATE) * 10 ** (-50 / 20)


def features(x):
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP] * HANN
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    logmel = np.log10(power @ FILTERS.T + 1e-10)
    logmel = np.maximum(logmel - logmel.max(), -8.0)          # relative to the loudest bin, 80 dB range
    t = logmel.shape[0] // POOLED * POOLED
    return logmel[:t].reshape(POOLED, -1, MELS).mean(axis=1).ravel()


def load_split(folder, band, per_digit=None):
    xs, ys = [], []
    for d, name in enumerate(DIGITS):
        files = sorted(glob.glob(os.path.join(folder, name, "*.wav")))
        if per_digit:
            files = files[:per_digit]
        if not files:
            sys.exit(f"{os.path.join(folder, name)}: no WAV files (write the data with `diffuse data spoken-digits --out DIR`)")
        xs += [features(read(f, band)) for f in files]
        ys += [d] * len(files)
    return np.array(xs), np.array(ys)


def fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean.real))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("samples")
    p.add_argument("--count", type=int, default=None, help="use the first N samples (default: all)")
    p.add_argument("--band", type=float, default=None, help="low-pass every clip to this frequency first")
    p.add_argument("--out", default=None)
    a = p.parse_args()

    xtr, ytr = load_split(os.path.join(a.data, "train"), a.band)
    xho, yho = load_split(os.path.join(a.data, "held-out"), a.band)
    files = sorted(glob.glob(os.path.join(a.samples, "*.wav")))[: a.count]
    if len(files) < 10:
        sys.exit(f"{a.samples}: needs at least 10 WAV files named 00000.wav ..., found {len(files)}")
    xs = np.array([features(read(f, a.band)) for f in files])
    asked = np.array([int(os.path.basename(f)[:-4]) % 10 for f in files])

    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    pca = PCA(n_components=64, whiten=True, random_state=0).fit((xtr - mean) / std)
    z = lambda x: pca.transform((x - mean) / std)
    clf = SVC(C=10.0, gamma="scale").fit(z(xtr), ytr)
    real_acc = float((clf.predict(z(xho)) == yho).mean())
    pred = clf.predict(z(xs))
    cond_acc = float((pred == asked).mean())
    hist = np.bincount(pred, minlength=10)
    rng = np.random.default_rng(0)
    floor_idx = rng.choice(len(xtr), size=min(500, len(xtr)), replace=False)
    floor = fid(z(xtr[floor_idx]), z(xho))
    sample_fid = fid(z(xs), z(xho))

    band = f"{a.band:.0f} Hz low-pass" if a.band else "full band (0-8 kHz)"
    lines = [
        f"# Independent audio judge: {a.samples}",
        "",
        f"Features: 40-band log-mel at 16 kHz, {band}; classifier: scikit-learn SVC (RBF) on 64 PCA components, "
        f"trained on {len(xtr)} training clips.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| judge accuracy on real held-out clips ({len(xho)}) | {100 * real_acc:.1f} % |",
        f"| conditional accuracy of {len(files)} samples | {100 * cond_acc:.1f} % |",
        f"| judge FID of the samples vs held-out | {sample_fid:.2f} |",
        f"| real-data floor (500 training clips vs held-out) | {floor:.2f} |",
        f"| ratio | {sample_fid / floor:.2f} |",
        "",
        "Class histogram of the judge's labels: " + ", ".join(f"{DIGITS[i]} {hist[i]}" for i in range(10)),
        "",
        f"judge_real_accuracy={real_acc:.4f} judge_conditional_accuracy={cond_acc:.4f} judge_fid={sample_fid:.3f} "
        f"judge_floor={floor:.3f}",
    ]
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

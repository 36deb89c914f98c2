#!/usr/bin/python3
"""An independent judge of generated text (issue 11).

It shares no code, tokenisation or model with DiffusionSharp. It reads the corpus as the plain files
`diffuse data kjv --out DATA` writes (DATA/train.txt and DATA/held-out.txt, one verse per line) and the samples as
JSONL files of {"index": i, "text": "..."} (what `diffuse evaluate --out DIR` writes for every source: the diffusion
model, the autoregressive twin, the 6-gram babbler and real held-out windows). For every JSONL file it reports:
  - words found in the corpus: runs of ASCII letters, compared case-insensitively with the distinct words of
    train.txt; the first and last word of each text are left out (a window may cut them);
  - character entropy: of the pooled character unigram distribution, in bits;
  - copies: the share of texts holding a 64-character span that occurs in the training text (verses joined by a
    newline, as the samples are);
  - a long-context judge: a causal character model of gated dilated convolutions (PyTorch; WaveNet/ByteNet-style,
    receptive field 511 characters, unrelated to DiffusionSharp's transformers), trained here on train.txt in 256-character windows for --minutes of wall time and cached in
    --cache, reads each text from its first character; its bits/char over each text, and over the second half only
    (positions 128-255, where the judge has at least 128 characters of context).
The verdict compares each source's judge bits/char with real held-out windows': "closer" means a smaller absolute
difference than the babbler's.

Usage: bench/text-judge.py DATA SAMPLES_DIR [--minutes M] [--cache FILE] [--threads N] [--out FILE.md]
Needs Debian's python3-torch (PyTorch 1.13).
"""
import argparse
import collections
import glob
import json
import math
import os
import re
import sys
import time

WORD = re.compile(r"[A-Za-z]+")
SPAN = 64
WINDOW = 256


def words_share(texts, vocabulary):
    found = total = 0
    for t in texts:
        words = WORD.findall(t)[1:-1]
        total += len(words)
        found += sum(1 for w in words if w.lower() in vocabulary)
    return found / max(total, 1), total


def entropy_bits(texts):
    counts = collections.Counter()
    for t in texts:
        counts.update(t)
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def span_hashes(text):
    return {hash(text[i:i + SPAN]) for i in range(len(text) - SPAN + 1)}


def copied_share(texts, train_spans):
    def copied(t):
        return any(hash(t[i:i + SPAN]) in train_spans for i in range(len(t) - SPAN + 1))
    return sum(1 for t in texts if copied(t)) / max(len(texts), 1)


def verse_starts(text):
    """Offsets of the verses (lines) that have a whole window of text from their first character on."""
    return [0] + [i + 1 for i, c in enumerate(text) if c == "\n" and i + 1 + WINDOW <= len(text)]


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


class Judge:
    """A causal character model: an embedding, two stacks of gated dilated causal convolutions (dilations 1..128, kernel
    2, WaveNet's gated residual blocks; van den Oord et al. 2016, as ByteNet's decoder reads characters: Kalchbrenner et
    al. 2016) with a receptive field of 511 characters, and a 1x1 read-out over the corpus' characters plus a
    begin/unknown slot. Convolutions parallelise over time, which a recurrent judge does not on this CPU."""

    def __init__(self, torch, characters, channels=192, stacks=2):
        nn = torch.nn
        self.torch = torch
        self.characters = characters
        self.index = {c: i + 1 for i, c in enumerate(characters)}  # 0: begin-of-text and unknown characters
        vocab = len(characters) + 1

        class Block(nn.Module):
            def __init__(self, c, dilation):
                super().__init__()
                self.dilation = dilation
                self.conv = nn.Conv1d(c, 2 * c, 2, dilation=dilation)
                self.out = nn.Conv1d(c, c, 1)

            def forward(self, x):
                a, b = self.conv(nn.functional.pad(x, (self.dilation, 0))).chunk(2, 1)
                return x + self.out(torch.tanh(a) * torch.sigmoid(b))

        self.model = nn.ModuleDict({
            "embed": nn.Embedding(vocab, channels),
            "blocks": nn.Sequential(*[Block(channels, 2 ** i) for _ in range(stacks) for i in range(8)]),
            "out": nn.Conv1d(channels, vocab, 1),
        })

    def encode(self, text):
        return [self.index.get(c, 0) for c in text]

    def logits(self, inputs):
        """[B, T] character ids -> [B, T, V] logits of the next character; position t sees inputs 0..t only."""
        m = self.model
        return m["out"](m["blocks"](m["embed"](inputs).transpose(1, 2))).transpose(1, 2)

    def train(self, text, minutes, batch=16, lr=2e-3, seed=0, log=print):
        torch = self.torch
        torch.manual_seed(seed)
        data = torch.tensor(self.encode(text), dtype=torch.long)
        # Windows start at a verse's first character and are read from a begin slot, as the samples are.
        line_starts = torch.tensor(verse_starts(text), dtype=torch.long)
        opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        start, step, avg = time.time(), 0, None
        budget = minutes * 60
        gen = torch.Generator().manual_seed(seed)
        while time.time() - start < budget:
            frac = (time.time() - start) / budget
            for g in opt.param_groups:  # linear warm-up over 50 steps, then cosine decay over the time budget
                g["lr"] = lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * frac))
            starts = line_starts[torch.randint(0, len(line_starts), (batch,), generator=gen)].tolist()
            y = torch.stack([data[s:s + WINDOW] for s in starts])
            x = torch.cat([torch.zeros(batch, 1, dtype=torch.long), y[:, :-1]], 1)
            loss = torch.nn.functional.cross_entropy(self.logits(x).reshape(-1, len(self.characters) + 1), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            opt.step()
            step += 1
            avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
            if step % 100 == 0:
                log(f"  judge step {step}: train loss {avg / math.log(2):.3f} bits/char, {time.time() - start:.0f} s")
        return step

    def bits(self, texts):
        """Per text: (bits/char over all characters after the first, bits/char over positions 128 onwards)."""
        torch = self.torch
        out = []
        with torch.no_grad():
            for t in texts:  # one at a time: texts may differ in length
                ids = self.encode(t)
                x = torch.tensor([[0] + ids[:-1]])
                y = torch.tensor(ids)
                nll = torch.nn.functional.cross_entropy(self.logits(x)[0], y, reduction="none") / math.log(2)
                out.append((nll[1:].mean().item(), nll[WINDOW // 2:].mean().item()))
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("samples")
    ap.add_argument("--minutes", type=float, default=12.0, help="the judge's training budget (wall clock)")
    ap.add_argument("--cache", default=None, help="judge weights file (default: DATA/text-judge.pt)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="also write the report as Markdown")
    args = ap.parse_args()

    with open(os.path.join(args.data, "train.txt"), encoding="utf-8") as f:
        train = f.read()
    with open(os.path.join(args.data, "held-out.txt"), encoding="utf-8") as f:
        held_out = f.read()
    files = sorted(glob.glob(os.path.join(args.samples, "*.jsonl")))
    if not files:
        sys.exit(f"{args.samples}: no .jsonl files")
    vocabulary = {w.lower() for w in WORD.findall(train)}
    train_spans = span_hashes(train)
    characters = sorted(set(train))

    import torch
    torch.set_num_threads(args.threads)
    judge = Judge(torch, characters)
    cache = args.cache or os.path.join(args.data, "text-judge.pt")
    if os.path.exists(cache):  # the budget it was trained with is stored beside the weights, and reported
        saved = torch.load(cache)
        judge.model.load_state_dict(saved["state"])
        minutes, steps = saved["minutes"], saved["steps"]
        print(f"judge: loaded {cache}")
    else:
        print(f"judge: training a dilated causal CNN on {len(train):,} characters for {args.minutes} min...")
        minutes, steps = args.minutes, judge.train(train, args.minutes)
        torch.save({"state": judge.model.state_dict(), "minutes": minutes, "steps": steps}, cache + ".tmp")
        os.replace(cache + ".tmp", cache)
        print(f"judge: {steps} steps, saved {cache}")
    judge.model.eval()
    # The judge's own check: held-out verses in 256-character windows from verse starts, read like the samples.
    check = [held_out[s:s + WINDOW] for s in verse_starts(held_out)[::8]][:200]
    check_bits = sum(b for b, _ in judge.bits(check)) / len(check)

    rows = []
    for path in files:
        texts = load_jsonl(path)
        share, nwords = words_share(texts, vocabulary)
        judged = judge.bits(texts)
        rows.append({
            "source": os.path.basename(path)[:-len(".jsonl")],
            "texts": len(texts),
            "words": share,
            "nwords": nwords,
            "entropy": entropy_bits(texts),
            "copies": copied_share(texts, train_spans),
            "judge": sum(b for b, _ in judged) / len(judged),
            "judge_late": sum(b for _, b in judged) / len(judged),
        })

    real = next((r for r in rows if "real" in r["source"]), None)
    babbler = next((r for r in rows if "babbler" in r["source"]), None)
    out = [f"Judge: dilated causal CNN (receptive field 511) trained {minutes} min ({steps} steps) on train.txt; on 200 held-out windows it reads "
           f"{check_bits:.3f} bits/char. Corpus: {len(vocabulary):,} distinct words.", "",
           "| source | texts | words found in the corpus | char entropy (bits) | with a 64-char training span | judge bits/char | judge bits/char, positions 128-255 | judge: distance to real |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        dist = f"{abs(r['judge'] - real['judge']):.3f}" if real else "-"
        out.append(f"| {r['source']} | {r['texts']} | {100 * r['words']:.1f} % of {r['nwords']:,} | {r['entropy']:.3f} | "
                   f"{100 * r['copies']:.1f} % | {r['judge']:.3f} | {r['judge_late']:.3f} | {dist} |")
    if real and babbler:
        out.append("")
        bd = abs(babbler["judge"] - real["judge"])
        for r in rows:
            if r is real or r is babbler:
                continue
            d = abs(r["judge"] - real["judge"])
            verdict = "closer to real text than the babbler" if d < bd else "not closer to real text than the babbler"
            out.append(f"- {r['source']}: {verdict} ({d:.3f} against {bd:.3f} bits/char); entropy {r['entropy'] - real['entropy']:+.3f} bits from real")
    report = "\n".join(out)
    print(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()

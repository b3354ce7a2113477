"""When does muse's transformer reach nanoGPT's 1.88 on tiny-shakespeare?

Same model, data, schedule and evaluation (200 random validation batches) as
`nanogpt_shakespeare.py`, but evaluating every 100 steps, so the step at which
the validation loss first reaches the target is known; multiply by a step time
measured there to compare wall time with nanoGPT's 2,000 steps.

    python bench/shakespeare_curve.py [--threads 1] [--target 1.88] [--pos relative]
"""
from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

import torch

import nanogpt_shakespeare as nb
from common import RESULTS, char_corpus, small_lm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--target", type=float, default=1.88)
    ap.add_argument("--pos", default="relative", choices=["relative", "learned"])
    ap.add_argument("--every", type=int, default=100)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    d = Path(tempfile.mkdtemp())
    corpus = char_corpus(d / "corpus")
    model = small_lm(corpus.vocab_size, pos=a.pos)
    res = nb.train_muse(model, corpus, nb.train_config(2000, 100, 200, eval_every=a.every, progress=False), d / "run")
    curve = [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(open(d / "run" / "metrics.csv"))
             if r["split"] == "valid"]
    first = next((s for s, v in curve if v <= a.target), None)
    print("| step | val loss |\n|---|---|\n" + "\n".join(f"| {s} | {v:.4f} |" for s, v in curve))
    print(f"first step with val loss <= {a.target}: {first}")
    out = RESULTS / "shakespeare_curve.json"
    out.write_text(json.dumps({"pos": a.pos, "target": a.target, "curve": curve, "first_step": first, **res}, indent=1))
    print(f"results: {out}")


if __name__ == "__main__":
    main()

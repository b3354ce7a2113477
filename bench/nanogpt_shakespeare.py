"""muse against nanoGPT on Tiny Shakespeare characters, nanoGPT's CPU configuration.

Both sides: 4 layers, 4 heads, 128 wide, context 64, batch 12, no dropout, no biases,
2,000 AdamW steps (lr 1e-3, 100 warmup steps, cosine to 1e-4, beta2 0.99, weight
decay 0.1, clip 1.0), fp32 on CPU with the same torch thread count, nanoGPT's
contiguous 90/10 split. Validation loss is the mean over 200 random validation
batches, as nanoGPT's ``estimate_loss`` computes it.

muse trains its transformer (rope, relative and learned positions) through the muse
Trainer, then an LSTM for the wall time the relative transformer took. With
``--nanogpt DIR`` (a nanoGPT checkout) nanoGPT's own ``train.py`` runs first in a
subprocess with its README CPU command, on the same characters written in its
``shakespeare_char`` format to a temporary directory.

    python bench/nanogpt_shakespeare.py --nanogpt ~/src/nanoGPT --threads 1 [--quick]
"""
from __future__ import annotations

import argparse
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import BATCH, SEED, SHAKESPEARE, Corpus, char_corpus, report, small_lm
from muse.core.config import TrainConfig
from muse.core.trainer import Trainer
from muse.data.batches import WindowBatches
from muse.models.registry import build_model

CONTEXT = 64
LSTM = dict(cell="lstm", n_layer=2, n_embd=128, n_hidden=256, dropout=0.0)
NANOGPT_README_CPU = [
    "config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1",
    "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--max_iters=2000",
    "--lr_decay_iters=2000", "--dropout=0.0",
]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 100 steps (10 warmup), 20 validation batches")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch CPU threads, both sides")
    p.add_argument("--nanogpt", type=Path, default=None, help="a nanoGPT checkout to run side by side")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default: bench/results/nanogpt_shakespeare.json)")
    return p.parse_args()


def train_config(steps: int | None, warmup: int, eval_batches: int, **kw: Any) -> TrainConfig:
    """nanoGPT's optimiser and schedule; evaluation only at the end; no progress bar or TensorBoard."""
    base = dict(batch_size=BATCH, lr=1e-3, min_lr=1e-4, warmup_steps=warmup, schedule="cosine", weight_decay=0.1,
                beta2=0.99, grad_clip=1.0, eval_every=steps or 10**9, eval_batches=eval_batches, log_every=50,
                device="cpu", precision="fp32", progress=False, tensorboard=False, seed=SEED)
    return TrainConfig(steps=steps, **{**base, **kw})


def train_muse(model: torch.nn.Module, corpus: Corpus, cfg: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """Fit through the Trainer; validation loss over ``cfg.eval_batches`` random windows."""
    t0 = time.perf_counter()
    train = WindowBatches(corpus.train, CONTEXT, BATCH, seed=SEED)
    valid = WindowBatches(corpus.valid, CONTEXT, BATCH, seed=SEED + 1)
    trainer = Trainer(model, cfg, train, valid, run_dir=run_dir)
    fit = trainer.fit()
    val = fit.best_val if fit.stopped == "steps" else trainer.evaluate()["loss"]
    return {"val_loss": val, "steps": fit.step, "train_s": fit.train_seconds, "total_s": time.perf_counter() - t0,
            "params": sum(p.numel() for p in model.parameters())}


def write_nanogpt_data(corpus: Corpus, text: str, directory: Path) -> None:
    """``train.bin``/``val.bin`` (uint16 ids of the sorted characters) and ``meta.pkl``, as nanoGPT's prepare.py."""
    directory.mkdir(parents=True)
    chars = sorted(set(text))
    np.asarray(corpus.train.tokens, dtype=np.uint16).tofile(directory / "train.bin")
    np.asarray(corpus.valid.tokens, dtype=np.uint16).tofile(directory / "val.bin")
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": {c: i for i, c in enumerate(chars)}}
    with open(directory / "meta.pkl", "wb") as f:
        pickle.dump(meta, f)


def run_nanogpt(repo: Path, data: Path, out: Path, iters: int, warmup: int, eval_iters: int,
                threads: int) -> dict[str, Any]:
    """nanoGPT's README CPU command (+ data/out dirs, one final evaluation over ``eval_iters`` batches)."""
    if not (repo / "train.py").is_file() or not (repo / NANOGPT_README_CPU[0]).is_file():
        raise SystemExit(f"{repo}: not a nanoGPT checkout (train.py or {NANOGPT_README_CPU[0]} missing)")
    cmd = [sys.executable, "train.py", *NANOGPT_README_CPU, f"--max_iters={iters}", f"--lr_decay_iters={iters}",
           f"--warmup_iters={warmup}", f"--eval_iters={eval_iters}", f"--eval_interval={iters}",
           f"--dataset={data}", f"--out_dir={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    total = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"nanoGPT train.py failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    val = {int(s): float(v) for s, v in re.findall(r"^step (\d+): train loss [\d.]+, val loss ([\d.]+)", proc.stdout, re.M)}
    dt = {int(i): float(ms) / 1000 for i, ms in re.findall(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms", proc.stdout, re.M)}
    # iter 0 and iter `iters` also hold an evaluation; time the steps in between and scale to `iters` steps.
    between = [dt[i] for i in range(1, iters)]
    params = sum(int(n.replace(",", "")) for n in re.findall(r"with ([\d,]+) parameters", proc.stdout))
    return {"val_loss": val[iters], "steps": iters, "train_s": sum(between) * iters / len(between),
            "total_s": total, "params": params, "command": " ".join(cmd[1:])}


def main() -> None:
    args = parse_args()
    if not SHAKESPEARE.is_file():
        raise SystemExit(f"{SHAKESPEARE}: Tiny Shakespeare not found; put input.txt there (nanoGPT's "
                         "shakespeare_char/input.txt) to run this benchmark")
    torch.set_num_threads(args.threads)
    steps, warmup, eval_batches = (100, 10, 20) if args.quick else (2000, 100, 200)
    text = SHAKESPEARE.read_text(encoding="utf-8")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = char_corpus(tmp / "store")
        print(f"{corpus.source}: {corpus.train.n_tokens} train / {corpus.valid.n_tokens} valid tokens; "
              f"{steps} steps, {eval_batches} validation batches, {args.threads} threads", flush=True)
        if args.nanogpt:
            write_nanogpt_data(corpus, text, tmp / "nanogpt_data")
            repo = args.nanogpt.expanduser().resolve()
            ng = run_nanogpt(repo, tmp / "nanogpt_data", tmp / "nanogpt_out", steps, warmup, eval_batches, args.threads)
            results["nanoGPT (learned pos.)"] = ng
            print("nanoGPT:", ng, flush=True)
        for pos in ("rope", "relative", "learned"):
            model = small_lm(corpus.vocab_size, pos=pos, bias=False)
            name = f"muse transformer ({pos} pos.)"
            results[name] = train_muse(model, corpus, train_config(steps, warmup, eval_batches), tmp / pos)
            print(f"{name}:", results[name], flush=True)
        budget = results["muse transformer (relative pos.)"]["train_s"]
        torch.manual_seed(SEED)
        lstm = build_model("rnn", {**LSTM, "vocab_size": corpus.vocab_size})
        # No step count is known in advance, so no decay: char-rnn's 2e-3, constant after warmup.
        cfg = train_config(None, warmup, eval_batches, max_time=budget, lr=2e-3, schedule="constant")
        results["muse LSTM 2x256, same wall time"] = train_muse(lstm, corpus, cfg, tmp / "lstm")
    header = ["model", "params", "steps", "val loss (nats)", "train s", "total s"]
    rows = [[name, r["params"], r["steps"], f"{r['val_loss']:.4f}", f"{r['train_s']:.1f}", f"{r['total_s']:.1f}"]
            for name, r in results.items()]
    setup = {"steps": steps, "warmup": warmup, "eval_batches": eval_batches, "context": CONTEXT, "batch": BATCH,
             "lstm": LSTM}
    report("nanogpt_shakespeare", args, header, rows, {**setup, "results": results})


if __name__ == "__main__":
    main()

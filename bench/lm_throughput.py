"""LM throughput: trained tokens per second of the transformer language model.

One training step = forward, backward, gradient clipping and an AdamW update
(the bare step of bench/common.py) on batches already on the device, so data
loading is not counted (see data_loading.py for that). Both position schemes are
measured: ``learned`` (absolute, flash/fused attention applies) and ``relative``
(the muse default; the relative logits enter attention as an additive mask).

* small: nanoGPT's CPU Shakespeare-char model (4 x 128, context 64, batch 12),
  fp32, on every device;
* on CUDA also bf16-mixed, and the medium model (nanoGPT's GPU Shakespeare-char:
  6 layers, 6 heads, 384 wide, context 256, batch 64), since the small one
  cannot keep a GPU busy. fp32 runs with PyTorch's default (no TF32 matmuls).

Tokens per CPU-second (process CPU time, all threads) is the throughput per busy
core; with one thread it is roughly what an otherwise idle machine would give.
On CUDA it mostly counts the host waiting for the device.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from common import (BATCH, SEED, SMALL, bare_optimizer, bare_step, char_corpus, devices, interleave, median, parse_args,
                    report, small_lm, time_steps, to_device)
from muse.data.batches import WindowBatches

MEDIUM = dict(SMALL, n_layer=6, n_head=6, n_embd=384, block_size=256)
MODELS = {"small": (SMALL, BATCH), "medium": (MEDIUM, 64)}


def settings(device: torch.device) -> list[tuple[str, str, str]]:
    """(model, pos, precision) combinations to run on ``device``."""
    cuda = device.type == "cuda"
    models = ("small", "medium") if cuda else ("small",)
    precisions = ("fp32", "bf16-mixed") if cuda else ("fp32",)
    return [(m, pos, p) for m in models for pos in ("learned", "relative") for p in precisions]


def main() -> None:
    args = parse_args(__doc__)
    rows, results = [], {"runs": [], "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = char_corpus(Path(tmp) / "store")
        results["data"] = corpus.source
        for device in devices(args.device):
            cuda = device.type == "cuda"
            steps, rounds = (3, 1) if args.quick else ((100, 5) if cuda else (20, 3))
            for name, pos, precision in settings(device):
                config, batch_size = MODELS[name]
                block = config["block_size"]
                model = small_lm(corpus.vocab_size, **{**config, "pos": pos}).to(device)
                opt = bare_optimizer(model, 1e-3, 0.1, (0.9, 0.99), device)
                source = WindowBatches(corpus.train, block, batch_size, seed=SEED)
                staged = [to_device(source.batch(i), device) for i in range(steps)]

                def run() -> float:
                    return time_steps(lambda b: bare_step(model, opt, b, precision), staged.__getitem__, steps, device)

                times = interleave({"run": run}, rounds)["run"]
                wall, cpu = median([t.wall for t in times]), median([t.cpu for t in times])
                tokens = batch_size * block
                results["runs"].append({"device": str(device), "model": name, "config": {**config, "pos": pos},
                                        "batch_size": batch_size, "precision": precision, "steps": steps,
                                        "rounds": rounds, "ms_per_step": 1e3 * wall, "tokens_per_s": tokens / wall,
                                        "cpu_ms_per_step": 1e3 * cpu, "tokens_per_cpu_s": tokens / cpu})
                rows.append([str(device), name, pos, precision, f"{batch_size} x {block}", f"{1e3 * wall:.1f}",
                             f"{tokens / wall:,.0f}", f"{tokens / cpu:,.0f}"])
    header = ["device", "model", "positions", "precision", "batch x context", "ms/step (median)", "tokens/s",
              "tokens per CPU-second"]
    report("lm_throughput", args, header, rows, results)


if __name__ == "__main__":
    main()

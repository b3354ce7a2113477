"""LM throughput: trained tokens per second of the transformer language model.

One training step = forward, backward, gradient clipping and an AdamW update
(the bare step of bench/common.py) on batches already on the device, so data
loading is not counted (see data_loading.py for that). Every position scheme is
measured: ``learned`` (absolute, fused attention), ``rope`` (the muse default:
rotary, fused causal attention), ``alibi`` (a 4-D bias the fused kernel takes)
and ``relative`` (Music Transformer: attention written out, the relative logits
added to the scores). bench/positions.py measures them at longer contexts.

* small: nanoGPT's CPU Shakespeare-char model (4 x 128, context 64, batch 12),
  fp32, on every device;
* on CUDA also bf16-mixed, and the medium model (nanoGPT's GPU Shakespeare-char:
  6 layers, 6 heads, 384 wide, context 256, batch 64), since the small one
  cannot keep a GPU busy. fp32 runs with PyTorch's default (no TF32 matmuls).

Tokens per CPU-second (process CPU time, all threads) is the throughput per busy
core; with one thread it is roughly what an otherwise idle machine would give.
On CUDA it mostly counts the host waiting for the device.

Threads (CPU): training steps of the shipped melody transformer's
configuration (4 x 128, context 128, batch 32, relative positions, dropout 0.1),
the shipped English poem model's (4 x 128, context 256, batch 16) and the medium
model (6 x 384, context 256, batch 12) at 1 and 2 torch threads, and 2 threads
with ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep instead of
spinning). Each setting runs in a fresh subprocess (the OpenMP runtime reads its
environment once), rounds interleaved; ``--threads`` does not apply there.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
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
    return [(m, pos, p) for m in models for pos in ("learned", "rope", "alibi", "relative") for p in precisions]


THREAD_MODELS = {
    "melody (shipped config)": (dict(SMALL, block_size=128, dropout=0.1, pos="relative"), 32, 41),
    "poem (shipped config)": (dict(SMALL, block_size=256, dropout=0.1, pos="relative"), 16, 103),
    "medium 6 x 384": (dict(MEDIUM, pos="rope"), 12, 65),
}
THREAD_SETTINGS = {"1 thread": {"OMP_NUM_THREADS": "1"}, "2 threads": {"OMP_NUM_THREADS": "2"},
                   "2 threads, OMP_WAIT_POLICY=PASSIVE": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}}


def child(spec: str) -> None:
    """``--child JSON``: time ``steps`` bare training steps of one model on random tokens; print ms/step."""
    import torch

    from common import bare_optimizer, bare_step, small_lm, time_steps

    job = json.loads(spec)
    config, batch, vocab, steps = job["config"], job["batch"], job["vocab"], job["steps"]
    torch.manual_seed(SEED)
    model = small_lm(vocab, **config).train()
    opt = bare_optimizer(model, 1e-3, 0.1, (0.9, 0.99), torch.device("cpu"))
    block = config["block_size"]
    ids = torch.randint(0, vocab, (steps + 2, batch, block + 1))
    batches = [{"input": x[:, :-1], "target": x[:, 1:]} for x in ids]
    for b in batches[:2]:
        bare_step(model, opt, b)
    clock = time_steps(lambda b: bare_step(model, opt, b), batches[2:].__getitem__, steps, torch.device("cpu"))
    print(json.dumps({"ms": 1e3 * clock.wall, "cpu_ms": 1e3 * clock.cpu, "threads": torch.get_num_threads()}))


def thread_runs(quick: bool) -> tuple[list[dict], list[list[str]]]:
    """Steps/s of the small muse models per thread setting, each run a subprocess; rounds interleaved."""
    steps, rounds = (2, 1) if quick else (4, 2)
    results, rows = [], []
    for name, (config, batch, vocab) in THREAD_MODELS.items():
        job = json.dumps({"config": config, "batch": batch, "vocab": vocab, "steps": steps})

        def run(env: dict[str, str], job: str = job) -> dict:
            full = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
            out = subprocess.run([sys.executable, __file__, "--child", job], env={**full, **env},
                                 capture_output=True, text=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])

        got = interleave({k: (lambda e=e: run(e)) for k, e in THREAD_SETTINGS.items()}, rounds)
        base = median([r["ms"] for r in got["1 thread"]])
        for setting, runs in got.items():
            ms, cpu = median([r["ms"] for r in runs]), median([r["cpu_ms"] for r in runs])
            results.append({"model": name, "config": config, "batch_size": batch, "setting": setting,
                            "env": THREAD_SETTINGS[setting], "steps": steps, "rounds": rounds,
                            "ms_per_step": ms, "cpu_ms_per_step": cpu, "steps_per_s": 1e3 / ms,
                            "speed_vs_1_thread": base / ms, "all_ms": [r["ms"] for r in runs]})
            rows.append([name, setting, f"{ms:.0f}", f"{1e3 / ms:.2f}", f"{base / ms:.2f}x", f"{cpu:.0f}"])
            print(results[-1], flush=True)
    return results, rows


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        return child(sys.argv[2])
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
    if any(d.type == "cpu" for d in devices(args.device)):
        results["threads"], thread_rows = thread_runs(args.quick)
        from common import markdown_table

        print(markdown_table(["model", "threads", "ms/step (median)", "steps/s", "speed vs 1 thread",
                              "CPU ms/step"], thread_rows))
    report("lm_throughput", args, header, rows, results)


if __name__ == "__main__":
    main()

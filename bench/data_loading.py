"""Data loading: share of a training step spent getting the batch (WindowBatches.batch + DevicePrefetcher.get).

The small transformer (bench/common.py) is trained by a bare step on batches from
a WindowBatches source over the memory-mapped token store, fetched through a
DevicePrefetcher exactly as the Trainer fetches them. Two measurements:

* direct: every step is timed as [get batch i][train on it]; share = time in
  ``get`` / whole step. On CUDA the device is synchronised at the end of every
  step, so the host time of ``get`` is not hidden behind queued kernels: an upper
  bound of what a real (unsynchronised) loop pays.
* end to end: windows of N steps fed through the prefetcher alternate with
  windows over the very same batches staged on the device beforehand;
  share = 1 - staged / fed, median over pairs, in wall time and in process CPU
  time. This counts what overlap hides, but the difference is small next to the
  noise of a machine shared with other work.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from common import (BATCH, SEED, bare_optimizer, bare_step, char_corpus, devices, interleave, median, parse_args,
                    report, small_lm, sync, time_steps, to_device)
from muse.data.batches import DevicePrefetcher, WindowBatches

Batch = dict[str, torch.Tensor]


def direct(train: Callable[[Batch], torch.Tensor], prefetch: DevicePrefetcher, steps: int,
           device: torch.device) -> tuple[list[float], list[float]]:
    """(seconds in get, seconds for the whole step) of every step."""
    gets, totals = [], []
    for i in range(steps):
        t0 = time.perf_counter()
        batch = prefetch.get(i)
        t1 = time.perf_counter()
        train(batch)
        sync(device)
        gets.append(t1 - t0)
        totals.append(time.perf_counter() - t0)
    return gets, totals


def main() -> None:
    args = parse_args(__doc__)
    n_direct, n_window, rounds = (10, 5, 1) if args.quick else (100, 60, 5)
    rows, results = [], {"runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = char_corpus(Path(tmp) / "store")
        results["data"] = corpus.source
        source = WindowBatches(corpus.train, 64, BATCH, seed=SEED)
        for device in devices(args.device):
            model = small_lm(corpus.vocab_size).to(device)
            opt = bare_optimizer(model, 1e-3, 0.1, (0.9, 0.99), device)

            def train(batch: Batch) -> torch.Tensor:
                return bare_step(model, opt, batch)

            direct(train, DevicePrefetcher(source, device), 3, device)  # warm-up
            gets, totals = direct(train, DevicePrefetcher(source, device), n_direct, device)
            share = sum(gets) / sum(totals)
            staged = [to_device(source.batch(i), device) for i in range(n_window)]
            t = interleave({"fed": lambda: time_steps(train, DevicePrefetcher(source, device).get, n_window, device),
                            "staged": lambda: time_steps(train, staged.__getitem__, n_window, device)}, rounds)
            e2e = {k: median([1 - getattr(s, k) / getattr(f, k) for f, s in zip(t["fed"], t["staged"])])
                   for k in ("wall", "cpu")}
            results["runs"].append({
                "device": str(device), "direct_steps": n_direct, "window_steps": n_window, "rounds": rounds,
                "get_ms_median": 1e3 * median(gets), "step_ms_median": 1e3 * median(totals),
                "share_direct": share, "share_end_to_end_wall": e2e["wall"], "share_end_to_end_cpu": e2e["cpu"],
                "window_ms_per_step": {k: [1e3 * x.wall for x in v] for k, v in t.items()},
                "window_cpu_ms_per_step": {k: [1e3 * x.cpu for x in v] for k, v in t.items()}})
            rows.append([str(device), f"{1e3 * median(gets):.3f}", f"{1e3 * median(totals):.1f}",
                         f"{100 * share:.2f}%", f"{100 * e2e['wall']:+.1f}%", f"{100 * e2e['cpu']:+.1f}%"])
    header = ["device", "get batch ms (median)", "step ms (median)", "share, direct",
              "share, end to end (wall)", "share, end to end (CPU time)"]
    report("data_loading", args, header, rows, results)


if __name__ == "__main__":
    main()

"""Trainer overhead: the muse Trainer against a bare hand-written PyTorch loop on the same work.

Both loops train the small transformer (bench/common.py) from the same initial
weights (same seed) on the very same batches (batch ``i`` of one WindowBatches
source at step ``i``), with AdamW (matrices decay 0.1), lr 1e-3 with 100 warm-up
steps then cosine decay to 1e-4, and gradient clipping at 1.0: the Trainer's
defaults, which the bare loop writes out by hand.

Trials of the two loops alternate (A B, B A, ...) after a short warm-up pair.
Every trial is a fresh run of N steps, timed from the end of its first step to
the end of its last, so one-off setup (run directory, log files) and the final
checkpoint are not counted. Modes:

* loop only: no validation data and eval/checkpoints out of reach (eval_every =
  10**9). The Trainer still does its per-step work: a StepContext, the precision
  context, metrics read back to Python floats (loss, acc, grad norm, lr), a
  NaN/inf check, a CSV log line every 10 steps and the (hidden) progress bar.
  The bare loop keeps losses as tensors and reads them once at the end.
* eval+ckpt: every ``EVAL_EVERY`` steps both evaluate 20 validation batches and
  write a checkpoint. The bare loop writes one ``torch.save`` of model + optimiser;
  the Trainer does what a real run does: best.pt when validation improved and
  last.pt (atomic, fsync'd, with RNG states), a CSV line and the loss-curve PNG.
* loop only, tiny model: as "loop only" with a 1-layer, 16-wide transformer
  (context 16, batch 2), whose step is so cheap that the difference between the
  loops is the Trainer's fixed cost per step, which can then be set against the
  step time of any model.

Reported: the overhead of the median single-step wall time; of the whole window
per step (evals included), paired by round, in wall time and in process CPU time
(which on a CPU shared with other work is the steadier of the two); the extra
CPU milliseconds per step; in eval+ckpt mode the CPU time of one evaluation +
checkpoint (the step interval that holds it, less a median step); and the
training losses of both loops, which must agree.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from common import (BATCH, SEED, SMALL, Clock, bare_optimizer, bare_step, char_corpus, devices, interleave, median,
                    parse_args, report, small_lm, sync, to_device)
from muse.core.callbacks import Callback
from muse.core.config import TrainConfig
from muse.core.module import StepContext
from muse.core.trainer import Trainer
from muse.data.batches import WindowBatches

EVAL_EVERY = 200
NEVER = 10**9
LOSS_TOLERANCE = 1e-3
"""Largest per-step loss difference between the loops taken as the same training (CUDA kernels vary)."""
TINY = dict(n_layer=1, n_head=1, n_embd=16, block_size=16)
"""A model so small that a step is mostly the loop's own bookkeeping."""


@dataclass
class Trial:
    stamps: list[Clock]
    """Clock at the end of every step."""
    losses: list[float]

    @property
    def intervals(self) -> list[Clock]:
        """Time of every step after the first (and of what ran between the steps)."""
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]

    def event_cpu(self, after_step: int) -> float:
        """CPU seconds of what ran after step ``after_step`` (eval, checkpoint), beyond a median step."""
        cpu = [x.cpu for x in self.intervals]
        return cpu[after_step - 1] - median(cpu)

    @property
    def per_step(self) -> Clock:
        return (self.stamps[-1] - self.stamps[0]) / (len(self.stamps) - 1)


def lr_factor(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine from lr down to min_lr over the remaining steps."""
    if step < cfg.warmup_steps:
        return (step + 1) / (cfg.warmup_steps + 1)
    floor = cfg.min_lr / cfg.lr
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class Job:
    """What one trial trains: the small transformer (with overrides) on these batches, with this config."""

    vocab: int
    model: dict[str, Any]
    train: WindowBatches
    valid: WindowBatches | None
    cfg: TrainConfig
    device: torch.device


def bare_run(job: Job, run_dir: Path) -> Trial:
    cfg, device = job.cfg, job.device
    model = small_lm(job.vocab, **job.model).to(device)
    opt = bare_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), device)
    run_dir.mkdir(parents=True, exist_ok=True)
    stamps, losses = [], []
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, cfg.steps, cfg)
        losses.append(bare_step(model, opt, to_device(job.train.batch(step), device), clip=cfg.grad_clip))
        if step in (0, cfg.steps - 1):
            sync(device)
        stamps.append(Clock.now())
        if job.valid is not None and (step + 1) % cfg.eval_every == 0:
            with torch.no_grad():
                model.eval()
                ctx = StepContext(training=False)
                val = sum(float(model.loss(to_device(job.valid.batch(i), device), ctx)["loss"])
                          for i in range(cfg.eval_batches)) / cfg.eval_batches
                model.train()
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step + 1,
                        "val_loss": val}, run_dir / "ckpt.pt")
    return Trial(stamps, torch.stack(losses).tolist())


class _Record(Callback):
    def __init__(self, device: torch.device, last: int):
        self.device, self.last, self.trial = device, last, Trial([], [])

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        if step in (1, self.last):
            sync(self.device)
        self.trial.stamps.append(Clock.now())
        self.trial.losses.append(metrics["loss"])


def muse_run(job: Job, run_dir: Path) -> Trial:
    record = _Record(job.device, job.cfg.steps)
    cfg = replace(job.cfg, device=job.device.type)
    trainer = Trainer(small_lm(job.vocab, **job.model), cfg, job.train, job.valid, run_dir=run_dir,
                      callbacks=[record])
    with contextlib.redirect_stderr(io.StringIO()):  # the progress bar runs, unseen
        trainer.fit()
    return record.trial


@dataclass
class Mode:
    name: str
    steps: int
    """Steps per trial; the first is not timed."""
    eval_every: int
    model: dict[str, Any]
    batch_size: int
    rounds: int


def modes(quick: bool) -> list[Mode]:
    every, loop, tiny, rounds = (10, 21, 21, 2) if quick else (EVAL_EVERY, 101, 501, 3)
    # eval+ckpt runs every + 1 steps: its timed window holds exactly one evaluation and checkpoint.
    return [Mode("loop only", loop, NEVER, {}, BATCH, rounds),
            Mode("eval+ckpt", every + 1, every, {}, BATCH, rounds),
            Mode("loop only, tiny model", tiny, NEVER, TINY, 2, 3 * rounds)]


def summarize(t: dict[str, list[Trial]], mode: Mode) -> dict[str, Any]:
    pairs = list(zip(t["muse"], t["bare"]))
    med = {k: median([x.wall for tr in v for x in tr.intervals]) for k, v in t.items()}
    event = None
    if mode.eval_every < mode.steps:
        event = {k: 1e3 * median([tr.event_cpu(mode.eval_every) for tr in v]) for k, v in t.items()}
    m_loss, b_loss = t["muse"][-1].losses, t["bare"][-1].losses
    return {
        "median_step_ms": {k: 1e3 * v for k, v in med.items()},
        "window_ms_per_step": {k: [1e3 * tr.per_step.wall for tr in v] for k, v in t.items()},
        "window_cpu_ms_per_step": {k: [1e3 * tr.per_step.cpu for tr in v] for k, v in t.items()},
        "overhead_median_step": med["muse"] / med["bare"] - 1,
        "overhead_window_wall": median([m.per_step.wall / b.per_step.wall for m, b in pairs]) - 1,
        "overhead_window_cpu": median([m.per_step.cpu / b.per_step.cpu for m, b in pairs]) - 1,
        "extra_cpu_ms_per_step": 1e3 * median([m.per_step.cpu - b.per_step.cpu for m, b in pairs]),
        "eval_ckpt_event_cpu_ms": event,
        "final_loss": {"muse": m_loss[-1], "bare": b_loss[-1]},
        "max_abs_loss_diff": max(abs(a - b) for a, b in zip(m_loss, b_loss)),
    }


def main() -> None:
    args = parse_args(__doc__)
    rows, results = [], {"runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = char_corpus(Path(tmp) / "store")
        results["data"] = corpus.source
        dirs = (Path(tmp) / f"run{i}" for i in itertools.count())
        for device in devices(args.device):
            for mode in modes(args.quick):
                block = {**SMALL, **mode.model}["block_size"]
                train = WindowBatches(corpus.train, block, mode.batch_size, seed=SEED)
                valid = WindowBatches(corpus.valid, block, mode.batch_size, seed=SEED + 1)
                cfg = TrainConfig(steps=mode.steps, batch_size=mode.batch_size, eval_every=mode.eval_every)
                job = Job(corpus.vocab_size, mode.model, train, valid if mode.eval_every < NEVER else None, cfg,
                          device)
                for fn in (muse_run, bare_run):  # warm-up, with an evaluation in eval+ckpt mode (imports, caches)
                    fn(replace(job, cfg=replace(cfg, steps=5, eval_every=4)), next(dirs))
                t = interleave({"muse": lambda: muse_run(job, next(dirs)), "bare": lambda: bare_run(job, next(dirs))},
                               mode.rounds, warmup=0)
                run = {"device": str(device), "mode": mode.name, "model": {**SMALL, **mode.model},
                       "batch_size": mode.batch_size, "steps": mode.steps, "eval_every": mode.eval_every,
                       "rounds": mode.rounds, **summarize(t, mode)}
                results["runs"].append(run)
                if run["max_abs_loss_diff"] > LOSS_TOLERANCE:
                    print(f"WARNING: {device} {mode.name}: the loops' losses differ by {run['max_abs_loss_diff']:.2e}")
                loss, event = run["final_loss"], run["eval_ckpt_event_cpu_ms"]
                rows.append([str(device), mode.name, f"{mode.steps - 1} x {mode.rounds}",
                             f"{run['median_step_ms']['muse']:.1f}", f"{run['median_step_ms']['bare']:.1f}",
                             f"{100 * run['overhead_median_step']:+.1f}%", f"{100 * run['overhead_window_wall']:+.1f}%",
                             f"{100 * run['overhead_window_cpu']:+.1f}%", f"{run['extra_cpu_ms_per_step']:+.2f}",
                             f"{event['muse']:.0f} / {event['bare']:.0f}" if event else "-",
                             f"{loss['muse']:.4f} / {loss['bare']:.4f}", f"{run['max_abs_loss_diff']:.1e}"])
    header = ["device", "mode", "timed steps x trials", "muse ms/step (median)", "bare ms/step (median)",
              "overhead: median step", "overhead: window, wall", "overhead: window, CPU time",
              "muse - bare, CPU ms/step", "eval+ckpt CPU ms, muse / bare", "final loss muse / bare", "max abs loss diff"]
    report("trainer_overhead", args, header, rows, results)


if __name__ == "__main__":
    main()

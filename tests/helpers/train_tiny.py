"""Train TinyLM from the command line (used for kill -9 and torchrun tests).

usage: python -m tests.helpers.train_tiny OUT STEPS [--resume] [--hang-after N] [--batch B]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from muse.core import distributed as D
from muse.core.callbacks import Callback
from muse.core.config import TrainConfig
from muse.core.trainer import Trainer
from muse.data.batches import WindowBatches
from muse.data.store import open_store
from tests.helpers.tiny import TinyLM, pattern_store


class Slow(Callback):
    def on_step_end(self, trainer, step, metrics):
        print(f"STEP {step}", flush=True)
        time.sleep(0.05)


class Hang(Callback):
    def __init__(self, after: int):
        self.after = after

    def on_step_end(self, trainer, step, metrics):
        if step == self.after:
            print("HANGING", flush=True)
            time.sleep(600)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("steps", type=int)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--hang-after", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--slow", action="store_true", help="sleep 50 ms after every step")
    a = ap.parse_args()
    out = Path(a.out)
    env = D.from_env()
    store_dir = out.parent / (out.name + "-store")
    if env.is_main and not (store_dir / "manifest.json").exists():
        pattern_store(store_dir)
    if env.enabled:
        D.init(env, torch.device("cpu"))
        D.barrier()
    stores = open_store(store_dir)
    torch.manual_seed(0)
    model = TinyLM(TinyLM.Config(dropout=a.dropout))
    cfg = TrainConfig(steps=a.steps, batch_size=a.batch, lr=3e-3, warmup_steps=5, eval_every=10, eval_batches=2,
                      save_every=10, log_every=1, progress=False, tensorboard=False, device="cpu")
    tr = WindowBatches(stores["train"], 16, a.batch, seed=1, rank=env.rank, world=env.world)
    va = WindowBatches(stores["valid"], 16, a.batch, seed=2, rank=env.rank, world=env.world)
    cbs = [Hang(a.hang_after)] if a.hang_after else []
    cbs += [Slow()] if a.slow else []
    Trainer(model, cfg, tr, va, run_dir=out, callbacks=cbs, dist=env).fit(resume=a.resume)
    D.cleanup()


if __name__ == "__main__":
    main()

"""muse train KIND ... — one training command for every model."""
from __future__ import annotations

import argparse
import sys

from muse.cli.options import add_device_flag, subparser

EXAMPLES = (
    "muse train melody --corpus essen --model lstm --steps 3000 --out runs/essen-lstm",
    "muse train poem --corpus tang --max-time 600 train.lr=3e-4 model.n_layer=6 --out runs/tang",
    "muse train vae --data ~/my_midi --steps 4000 --device auto --out runs/vae",
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    # the recipe registry names its kinds without importing a recipe (muse.recipes imports no torch)
    from muse.recipes import recipe_kinds

    p = subparser(sub, "train", help="train a model (melody, poem, vae, gan, style)", examples=EXAMPLES,
                  description="Train any muse model through the one training core. Extra key=value "
                              "arguments override config keys (train.*, model.*, data.*).")
    p.add_argument("kind", choices=recipe_kinds())
    src = p.add_mutually_exclusive_group()
    src.add_argument("--corpus", help="built-in corpus name or a file/folder")
    src.add_argument("--data", help="a file or folder of your own data")
    p.add_argument("--model", help="model architecture (e.g. lstm, gru, transformer)")
    p.add_argument("--steps", type=int)
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-time", type=float, help="wall-clock budget in seconds")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="run directory (default runs/KIND)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    add_device_flag(p, default=None, help="auto, cpu, cuda, cuda:N or mps. Default: the config's train.device, "
                                           "which is auto (cuda when available, else mps, else cpu)")
    p.add_argument("--precision", choices=["fp32", "bf16-mixed", "fp16-mixed"])
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    p.add_argument("--config", help="TOML / YAML / JSON config file")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.cli.options import check_device
    from muse.core.files import check_output_dir
    from muse.training import train

    if args.device is not None:
        check_device(args.device)
    if args.out and not args.resume:
        check_output_dir(args.out)
    res = train(
        args.kind, corpus=args.corpus, data=args.data, model=args.model, out=args.out, resume=args.resume,
        config=args.config, overrides=args.overrides, steps=args.steps, epochs=args.epochs, max_time=args.max_time,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device, precision=args.precision,
        compile=args.compile, progress=args.progress,
    )
    best = f", best valid loss {res.best_val:.4f} nats" if res.best_val is not None else ""
    print(f"trained {res.step} steps in {res.train_seconds:.0f}s ({res.stopped}){best}; run in {res.run_dir}")
    if res.stopped == "interrupted":  # saved and resumable, but not finished: `muse train ... && next` must stop
        print(f"muse: interrupted; continue with: muse train {args.kind} --out {res.run_dir} --resume", file=sys.stderr)
        return 130
    return 0

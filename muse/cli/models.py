"""muse models — list shipped models; export a run as a model directory."""
from __future__ import annotations

import argparse
import json

from muse.cli.options import subparser

EXAMPLES = (
    "muse models list",
    "muse models export runs/essen-lstm models/essen-lstm",
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "models", help="list shipped models or export a trained run", examples=EXAMPLES,
                  description="List the models shipped with muse (the default action), or export a training "
                              "run as a model directory that every generation verb reads with --model.")
    s = p.add_subparsers(dest="action", metavar="ACTION")
    subparser(s, "list", help="models shipped with muse", examples=EXAMPLES[:1])
    e = subparser(s, "export", help="write a run (its model/, best or last checkpoint) as a model directory",
                  examples=EXAMPLES[1:])
    e.add_argument("run", help="run directory or checkpoint file")
    e.add_argument("out", help="new model directory")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.recipes.hub import load_model, save_model, shipped_models

    if args.action == "export":
        print(save_model(args.out, load_model(args.run)))
        return 0
    for name, path in shipped_models().items():
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        kind = json.loads((path / "recipe.json").read_text(encoding="utf-8")).get("kind", "")
        size = sum(f.stat().st_size for f in path.iterdir()) / 1e6
        print(f"{name:<22} {kind:<7} {cfg['model_name']:<12} {size:5.1f} MB  {path}")
    return 0

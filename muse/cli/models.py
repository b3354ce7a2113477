"""muse models — list shipped models; export a run as a model directory."""
from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("models", help="list shipped models or export a trained run")
    s = p.add_subparsers(dest="action", metavar="ACTION")
    s.add_parser("list", help="models shipped with muse")
    e = s.add_parser("export", help="write a run's best checkpoint as a model directory (safetensors + config)")
    e.add_argument("run", help="run directory or checkpoint file")
    e.add_argument("out", help="new model directory")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.recipes.hub import load_model, save_pretrained, shipped_models

    if args.action == "export":
        lm = load_model(args.run)
        meta = {k: lm.meta.get(k) for k in ("generation", "corpus") if lm.meta.get(k) is not None}
        d = save_pretrained(args.out, lm.model, lm.tokenizer, lm.kind, meta)
        print(d)
        return 0
    for name, path in shipped_models().items():
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        size = sum(f.stat().st_size for f in path.iterdir()) / 1e6
        print(f"{name:<22} {cfg.get('kind', ''):<7} {cfg['model_name']:<12} {size:5.1f} MB  {path}")
    return 0

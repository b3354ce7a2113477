"""Write a trained run's model into muse/pretrained/NAME, with a model card, in one go.

    python scripts/ship_model.py RUN_DIR NAME [--heldout "text for the card"] [--max-mb 10]
                                 [--temperature T --temperature-why "how it was chosen"]

The card records the corpus, split sizes, training settings, steps, wall time and
the best validation loss; held-out test numbers from the benchmarks are passed in
with --heldout.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import torch

from muse.recipes import get_recipe
from muse.recipes.hub import load_model, save_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--heldout", default="", help="held-out results to quote in the card")
    ap.add_argument("--command", default="", help="the training command, for the card")
    ap.add_argument("--max-mb", type=float, default=10.0)
    ap.add_argument("--temperature", type=float, help="the model's default sampling temperature")
    ap.add_argument("--temperature-why", default="", help="how the temperature was chosen, for the card")
    a = ap.parse_args()
    cfg = json.loads((a.run / "config.json").read_text())
    recipe = get_recipe(cfg["kind"])
    dest = ROOT / "muse" / "pretrained" / a.name
    ck = a.run / "checkpoints"
    loaded = load_model(ck / "best.pt" if (ck / "best.pt").exists() else ck / "last.pt")
    if a.temperature is not None:
        loaded.generation_config = loaded.generation_config.updated(temperature=a.temperature)
    meta = {**loaded.meta, "best_valid_loss": loaded.meta.get("best_val"), "model_name": loaded.model.model_name,
            "model_config": json.loads(json.dumps(vars(loaded.model.config)))}
    rows = list(csv.DictReader(open(a.run / "metrics.csv")))
    last = torch.load(a.run / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")
    n_params = sum(p.numel() for p in loaded.model.parameters())  # a tied embedding counts once
    size_mb = sum(p.numel() * p.element_size() for p in loaded.model.parameters()) / 1e6
    if size_mb > a.max_mb:
        raise SystemExit(f"{a.name}: {size_mb:.1f} MB is over the {a.max_mb} MB limit")
    best = meta.get("best_valid_loss")
    corpus = meta.get("corpus", {})
    splits = corpus.get("splits", {})
    t = cfg["train"]
    lines = [
        f"# {a.name}",
        "",
        f"A `{meta['model_name']}` model for `muse {cfg['kind']}` ({n_params / 1e6:.2f} M parameters, {size_mb:.1f} MB).",
        "",
        "| | |",
        "|---|---|",
        f"| corpus | `{corpus.get('name', cfg['data'].get('corpus'))}` ({corpus.get('items', corpus.get('images', '?'))} items) |",
    ]
    if splits:
        lines.append("| split (deterministic hash of each item's stable id) | " + ", ".join(
            f"{s} {v['docs']} docs / {v['tokens']:,} tokens" for s, v in splits.items()) + " |")
    lines += [
        f"| model config | `{json.dumps(meta['model_config'])}` |",
        f"| training | {last['step']} steps, batch {t['batch_size']}, lr {t['lr']} -> {t['min_lr']} ({t['schedule']}), "
        f"{t['precision']}, seed {t['seed']} |",
        f"| wall time | {last['elapsed'] / 60:.1f} min on a 2-core CPU |",
    ]
    if best is not None:
        lines.append(f"| best validation loss | {best:.4f} nats/token = {best / math.log(2):.4f} bits/token |")
    if a.heldout:
        lines.append(f"| held-out test | {a.heldout} |")
    if a.temperature is not None:
        lines += ["", f"Generation default: temperature {a.temperature}"
                      + (f" ({a.temperature_why})" if a.temperature_why else "") + "."]
    if a.command:
        lines += ["", "Trained with:", "", "```", a.command, "```"]
    lines += ["", f"Data options: `{json.dumps(cfg['data'])}`", ""]
    extra = recipe.export_files(recipe_config(cfg), None, a.run) if cfg["kind"] != "vae" else {}
    if (a.run / "model" / "attributes.json").is_file():
        extra["attributes.json"] = json.loads((a.run / "model" / "attributes.json").read_text())
    save_model(dest, loaded, extra_files=extra, card="\n".join(lines))
    print(f"{dest} ({size_mb:.1f} MB, {len(rows)} log rows)")


def recipe_config(cfg: dict):
    from muse.core.config import RunConfig

    return RunConfig.from_dict(cfg)


if __name__ == "__main__":
    main()

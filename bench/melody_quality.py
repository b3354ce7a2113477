"""Melody quality: held-out bits per event of the shipped models vs a Kneser-Ney 4-gram, and MusPy metrics.

For each model (default: the shipped ``melody-lstm`` and ``melody-transformer``
that exist) :func:`muse.music.evaluate.evaluate_melody_model` scores the test
split of the corpus the model was trained on (default melody data settings:
Essen, melody events) with the model's own tokenizer, and fits an interpolated
Kneser-Ney 4-gram on the train split of the very same tokens (discount chosen on
the valid split). Goals: the neural model needs >= 15% fewer bits per event than
the 4-gram; the means of MusPy-named metrics of ``--num`` generated 8-bar
melodies lie within 15% of the held-out melodies' means (cut to 8 bars).

A sample of 100 melodies is itself noisy (a held-out mean of 0.012 empty bars
per bar is ~9 empty bars in 800); ``--repeats R`` draws R further samples of
``--num`` melodies (other seeds) and reports, per metric, the mean relative
difference and how many of the R samples lie within 15%, next to how often
``--num`` held-out tunes themselves, resampled, lie within 15% of the held-out
mean (the best any generator can expect). ``--split valid``
scores the valid split instead, which is where a generation temperature is
chosen (``--temperature``), never on the test split.

Without any model the 4-gram alone is reported. ``--quick`` reads only the first
``--limit`` pieces of the corpus (a smaller store of its own) and generates fewer melodies.

usage: python bench/melody_quality.py [--quick] [--models DIR ...] [--num N] [--limit N] [--repeats R]
                                    [--split valid|test] [--temperature T]
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from common import ROOT, markdown_table, report

SHIPPED = [ROOT / "muse" / "pretrained" / n for n in ("melody-lstm", "melody-transformer")]
GOAL_BITS = -0.15
GOAL_METRIC = 0.15
REPEAT_HEADER = ["model", "metric", "mean rel. diff", "range", "samples within 15%",
                 "held-out tunes within 15%"]


def _fmt_rel(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.1%}"


def _label(model: str | None) -> str:
    if not model:
        return "-"
    p = Path(model)
    return p.parent.name if p.name == "model" else p.name  # a run's exported model: name it by its run


def main() -> None:
    from muse.music.evaluate import evaluate_melody_model
    from muse.recipes.hub import load_model

    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a fast smoke run (first 300 pieces, 20 melodies)")
    p.add_argument("--models", nargs="*", help="model dirs, run dirs or shipped names (default: shipped ones)")
    p.add_argument("--num", type=int, help="generated melodies per model (default 100, quick 20)")
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--limit", type=int, help="read only this many pieces of the corpus (default all, quick 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="test", choices=["valid", "test"])
    p.add_argument("--temperature", type=float, help="sampling temperature (default: each model's own)")
    p.add_argument("--repeats", type=int, default=0, help="further samples of --num melodies, to show the spread")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    num = args.num or (20 if args.quick else 100)
    limit = args.limit if args.limit is not None else (300 if args.quick else None)
    models = args.models if args.models is not None else [str(d) for d in SHIPPED if (d / "config.json").is_file()]
    data = {"limit": limit} if limit is not None else {}

    evaluations: list[dict[str, Any]] = []
    for m in models or [None]:
        lm = None if m is None else load_model(m, expect_kind="melody")  # loaded once, for both uses
        ev = evaluate_melody_model(lm, num=num, bars=args.bars, ngram=True, data=data, seed=args.seed,
                                   split=args.split, temperature=args.temperature)
        if lm is not None and args.repeats:
            ev["repeats"] = _repeats(lm, ev, args, num, data)
        evaluations.append(ev)

    lik_rows, metric_rows = [], []
    for ev in evaluations:
        name = _label(ev["model"])
        ngram = ev["likelihood"]["ngram"]
        model = ev["likelihood"].get("model")
        rel = ev["likelihood"].get("model_vs_ngram")
        lik_rows.append([
            name, ev["model_name"] or "-", ev["parameters"] or "-", ev["docs"], ev["events"],
            f"{model['bits_per_event']:.4f}" if model else "-", f"{model['bits_per_note']:.3f}" if model else "-",
            f"{ngram['bits_per_event']:.4f}", f"{ngram['bits_per_note']:.3f}", _fmt_rel(rel),
            "-" if rel is None else ("yes" if rel <= GOAL_BITS else "no")])
        for gen, rows in ev["metrics"].items():
            label = name if gen == "model" else f"4-gram ({name})" if ev["model"] else "4-gram"
            for r in rows:
                within = r["rel_diff"] is not None and abs(r["rel_diff"]) <= GOAL_METRIC
                metric_rows.append([label, r["name"], f"{r['generated_mean']:.3f}", f"{r['reference_mean']:.3f}",
                                    _fmt_rel(r["rel_diff"]), "yes" if within else "no"])
    lik_header = ["model", "arch", "params", "test docs", "test events", "bits/event", "bits/note",
                  "4-gram bits/event", "4-gram bits/note", "model vs 4-gram", "<= -15%"]
    metric_header = ["generator", "metric", "generated mean", "held-out mean", "rel. diff", "within 15%"]
    print(f"corpus {evaluations[0]['corpus']}, {evaluations[0]['split']} split, limit {limit}; "
          f"{num} generated {args.bars}-bar melodies vs {evaluations[0]['reference_melodies']} held-out melodies")
    if not models:
        print("no model found (muse/pretrained/melody-lstm, melody-transformer): the 4-gram baseline only")
    print(markdown_table(metric_header, metric_rows))
    repeat_rows = []
    for ev in evaluations:
        for name, r in ev.get("repeats", {}).items():
            repeat_rows.append([_label(ev["model"]), name, f"{r['mean_rel_diff']:+.1%}",
                                f"{r['min_rel_diff']:+.1%} .. {r['max_rel_diff']:+.1%}",
                                f"{r['within']}/{r['samples']}", f"{r['heldout_within']:.0%}"])
    if repeat_rows:
        print(markdown_table(REPEAT_HEADER, repeat_rows))
    results = {"split": args.split, "temperature": args.temperature, "limit": limit, "num": num, "bars": args.bars, "evaluations": evaluations,
               "goals": {"bits_per_event_vs_ngram": GOAL_BITS, "metric_rel_diff": GOAL_METRIC}}
    out = report("melody_quality", args, lik_header, lik_rows, results)
    text = markdown_table(lik_header, lik_rows) + "\n\n" + markdown_table(metric_header, metric_rows) + "\n"
    if repeat_rows:
        text += "\n" + markdown_table(REPEAT_HEADER,
                                      repeat_rows) + "\n"
    out.with_suffix(".md").write_text(text, encoding="utf-8")


def _repeats(lm: Any, ev: dict[str, Any], args: argparse.Namespace, num: int, data: dict[str, Any]) -> dict:
    """Relative differences of the metrics over ``args.repeats`` more samples of ``num`` melodies."""
    from muse.music.compose import generate_melodies
    from muse.music.evaluate import MELODY_METRICS, heldout_melodies, load_heldout, training_data_settings
    from muse.music.metrics import compare_metrics

    settings = {**training_data_settings(lm), **data}
    held = load_heldout(settings, lm.tokenizer)
    reference = heldout_melodies(held.tokenizer, held.docs(args.split), args.bars)
    ceiling = _heldout_within(reference, num, MELODY_METRICS, args.seed)
    diffs: dict[str, list[float]] = {n: [r["rel_diff"]] for n in MELODY_METRICS
                                     for r in ev["metrics"]["model"] if r["name"] == n}
    for k in range(1, args.repeats + 1):
        mels = generate_melodies(lm, bars=args.bars, num=num, seed=args.seed + 1000 * k, temperature=args.temperature)
        for row in compare_metrics(mels, reference, MELODY_METRICS):
            diffs[row.name].append(row.rel_diff)
    return {n: {"samples": len(v), "mean_rel_diff": float(np.mean(v)), "min_rel_diff": float(min(v)),
                "max_rel_diff": float(max(v)), "within": int(sum(abs(x) <= GOAL_METRIC for x in v)),
                "heldout_within": ceiling[n]} for n, v in diffs.items()}


def _heldout_within(reference: list, num: int, names: tuple[str, ...], seed: int, draws: int = 2000) -> dict:
    """Share of ``draws`` resamples of ``num`` held-out tunes whose mean lies within 15% of the held-out mean."""
    from muse.music.metrics import metric_values

    rng = np.random.default_rng(seed)
    out = {}
    for name, v in metric_values(reference, names).items():
        v = v[~np.isnan(v)]
        means = v[rng.integers(0, len(v), (draws, num))].mean(axis=1)
        out[name] = float(np.mean(np.abs(means - v.mean()) <= GOAL_METRIC * abs(v.mean())))
    return out


if __name__ == "__main__":
    main()

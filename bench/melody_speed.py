"""Melody speed: one 8-bar melody from the shipped transformer, and building / reopening the corpus caches.

* generation: ``generate_melodies(model, bars=8, num=1)`` with the model already
  loaded, median over runs after one warm-up (goal < 0.5 s), with one torch
  thread and with torch's default thread count; model load time beside it. Without the shipped
  ``melody-transformer`` an untrained model of the same size stands in (same
  cost per token) and the table says so.
* corpora: cold build of the token stores of the four built-in corpora (essen,
  oneills, ryans, bach) in a fresh temporary ``MUSE_CACHE`` with 2 worker
  processes, then the warm load of each (median of 3; goal < 1 s).

usage: python bench/melody_speed.py [--quick] [--model NAME|DIR] [--runs N] [--limit N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, markdown_table, report

CORPORA = ("essen", "oneills", "ryans", "bach")
SHIPPED = ROOT / "muse" / "pretrained" / "melody-transformer"


def stand_in_model(directory: Path) -> Path:
    """An untrained transformer of the melody task's default size, saved as a model directory."""
    from muse.models.registry import build_model
    from muse.recipes.hub import save_pretrained
    from muse.music.melody_recipe import RECIPE, MelodyData, make_melody_tokenizer

    tok = make_melody_tokenizer(MelodyData())
    spec = RECIPE.models["transformer"]
    model = build_model(spec.arch, {**spec.defaults, "vocab_size": tok.vocab_size,
                                    "block_size": MelodyData().block_size})
    return save_pretrained(directory, model, tok, "melody")


def bench_generation(model: str | None, runs: int, tmp: Path) -> dict[str, Any]:
    from muse.music.compose import generate_melodies
    from muse.recipes.hub import load_model

    path, note = model, "shipped"
    if path is None:
        if (SHIPPED / "config.json").is_file():
            path = str(SHIPPED)
        else:
            path, note = str(stand_in_model(tmp / "stand-in")), "untrained stand-in (shipped model not found)"
    else:
        note = "given"
    loads = []
    for _ in range(3):
        t0 = time.perf_counter()
        lm = load_model(path, expect_kind="melody")
        loads.append(time.perf_counter() - t0)
    import torch

    default_threads = torch.get_num_threads()
    by_threads: dict[int, dict[str, Any]] = {}
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        generate_melodies(lm, bars=8, num=1, seed=0)  # warm-up
        times, notes = [], []
        for i in range(runs):
            t0 = time.perf_counter()
            mel = generate_melodies(lm, bars=8, num=1, seed=i + 1)[0]
            times.append(time.perf_counter() - t0)
            notes.append(len(mel.notes))
        by_threads[threads] = {"generate_s": times, "generate_median_s": statistics.median(times), "notes": notes}
    torch.set_num_threads(default_threads)
    return {"model": path, "model_note": note, "model_name": lm.model.model_name,
            "parameters": lm.model.num_parameters(), "load_s": loads, "threads": by_threads}


def bench_corpora(limit: int | None, workers: int) -> dict[str, Any]:
    from muse.music.melody_recipe import RECIPE

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("MUSE_CACHE")
        os.environ["MUSE_CACHE"] = cache
        try:
            for name in CORPORA:
                data = {**RECIPE.data_defaults(), "corpus": name, "workers": workers, "limit": limit}
                t0 = time.perf_counter()
                _, _, manifest = RECIPE.load_data(data)
                cold = time.perf_counter() - t0
                warm = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    RECIPE.load_data(data)
                    warm.append(time.perf_counter() - t0)
                out[name] = {"cold_s": cold, "warm_s": warm, "warm_median_s": statistics.median(warm),
                             "items": manifest.get("items"), "skipped": len(manifest.get("skipped") or []),
                             "splits": manifest["splits"]}
        finally:
            if old is None:
                os.environ.pop("MUSE_CACHE", None)
            else:
                os.environ["MUSE_CACHE"] = old
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a fast smoke run (3 runs, 60 pieces per corpus)")
    p.add_argument("--model", help="model to time (default: the shipped melody-transformer)")
    p.add_argument("--runs", type=int, help="timed generations (default 10, quick 3)")
    p.add_argument("--limit", type=int, help="pieces per corpus (default all, quick 60)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    runs = args.runs or (3 if args.quick else 10)
    limit = args.limit if args.limit is not None else (60 if args.quick else None)
    with tempfile.TemporaryDirectory() as tmp:
        gen = bench_generation(args.model, runs, Path(tmp))
    corpora = bench_corpora(limit, args.workers)
    rows = [[f"generate one 8-bar melody, {t} torch thread{'s' if t > 1 else ''} (median of {runs})",
             f"{r['generate_median_s']:.3f} s", "< 0.5 s", "yes" if r["generate_median_s"] < 0.5 else "no"]
            for t, r in gen["threads"].items()]
    rows.append(["load the model (first / median of 3)",
                 f"{gen['load_s'][0]:.3f} / {statistics.median(gen['load_s']):.3f} s", "", ""])
    for name, r in corpora.items():
        rows.append([f"{name}: cold build, {r['items']} pieces", f"{r['cold_s']:.1f} s", "", ""])
    for name, r in corpora.items():
        rows.append([f"{name}: warm load (median)", f"{r['warm_median_s']:.3f} s", "< 1 s",
                     "yes" if r["warm_median_s"] < 1 else "no"])
    total_cold = sum(r["cold_s"] for r in corpora.values())
    rows.append([f"all four: cold build ({args.workers} workers)", f"{total_cold:.1f} s", "", ""])
    results = {"generation": gen, "corpora": corpora, "limit": limit, "workers": args.workers,
               "cold_total_s": total_cold}
    print(f"model: {gen['model']} ({gen['model_note']}, {gen['model_name']}, {gen['parameters']} parameters)")
    header = ["what", "time", "goal", "met"]
    out = report("melody_speed", args, header, rows, results)
    out.with_suffix(".md").write_text(
        f"model: {gen['model_note']} {gen['model_name']}, {gen['parameters']} parameters\n\n"
        + markdown_table(header, rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

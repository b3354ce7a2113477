"""Melody speed: one 8-bar melody from the shipped transformer, and building / reopening the corpus caches.

* generation: ``generate_melodies(model, bars=8, num=1)`` with the model already
  loaded, median over runs after one warm-up (goal < 0.5 s), with one torch
  thread and with torch's default thread count; model load time beside it. Without the shipped
  ``melody-transformer`` an untrained model of the same size stands in (same
  cost per token) and the table says so.
* the command: ``muse melody --num 1`` (writes .mid, .wav, .png) and the same with
  ``--no-png`` and with ``--no-wav --no-png``, each a fresh process, interleaved with the two interpreter
  starts it is judged against, ``python -c pass`` and ``python -c "import torch"``
  (rotating order, a dropped warm-up round, medians; bytecode cached under a private
  ``PYTHONPYCACHEPREFIX``, as in an installed package; ``OMP_NUM_THREADS=1``). Goal:
  wall <= 2 x the generation time above (1 thread) + the ``import torch`` start.
* corpora: cold build of the token stores of the four built-in corpora (essen,
  oneills, ryans, bach) in a fresh temporary ``MUSE_CACHE`` with 2 worker
  processes, then the warm load of each (median of 3; goal < 1 s); the cold builds
  read the shipped pre-parsed corpora (``corpora/music21/``) and, beside them, parse
  with music21 (``prepared=False``, the fallback) unless ``--no-parse``.

usage: python bench/melody_speed.py [--quick] [--model NAME|DIR] [--runs N] [--limit N] [--cli-runs N]
                                    [--only generation,cli,corpora] [--no-parse]
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
        times, cpu, notes = [], [], []
        for i in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            mel = generate_melodies(lm, bars=8, num=1, seed=i + 1)[0]
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            notes.append(len(mel.notes))
        by_threads[threads] = {"generate_s": times, "generate_median_s": statistics.median(times), "notes": notes,
                               "generate_cpu_s": cpu, "generate_median_cpu_s": statistics.median(cpu)}
    torch.set_num_threads(default_threads)
    return {"model": path, "model_note": note, "model_name": lm.model.model_name,
            "parameters": lm.model.num_parameters(), "load_s": loads, "threads": by_threads}


def bench_cli(runs: int, tmp: Path) -> dict[str, Any]:
    """Wall and CPU medians of ``muse melody --num 1`` (all outputs / MIDI only) and of the interpreter starts."""
    import sys

    from cli_startup import measure

    python = ROOT / ".venv" / "bin" / "python"
    python = python if python.is_file() else Path(sys.executable)
    script = python.parent / "muse"
    muse = [str(script)] if script.is_file() else [str(python), "-m", "muse"]
    cmds = {
        "python -c pass": [str(python), "-c", "pass"],
        'python -c "import torch"': [str(python), "-c", "import torch"],
        "muse melody --num 1": [*muse, "melody", "--num", "1", "--out", str(tmp / "all")],
        "muse melody --num 1 --no-png": [*muse, "melody", "--num", "1", "--no-png", "--out", str(tmp / "wav")],
        "muse melody --num 1 --no-wav --no-png": [*muse, "melody", "--num", "1", "--no-wav", "--no-png",
                                                  "--out", str(tmp / "mid")],
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=str(tmp / "pycache"), OMP_NUM_THREADS="1")
    times = measure(cmds, runs, env)
    return {name: {"command": cmds[name], "wall_s": t["wall"], "cpu_s": t["cpu"],
                   "median_wall_s": statistics.median(t["wall"]), "median_cpu_s": statistics.median(t["cpu"])}
            for name, t in times.items()}


def _cold_build(data: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    from muse.music.melody_recipe import RECIPE

    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("MUSE_CACHE")
        os.environ["MUSE_CACHE"] = cache
        try:
            t0 = time.perf_counter()
            _, _, manifest = RECIPE.load_data(data)
            cold = time.perf_counter() - t0
            warm = []
            for _ in range(3):
                t0 = time.perf_counter()
                RECIPE.load_data(data)
                warm.append(time.perf_counter() - t0)
        finally:
            if old is None:
                os.environ.pop("MUSE_CACHE", None)
            else:
                os.environ["MUSE_CACHE"] = old
    return cold, {"warm_s": warm, "manifest": manifest}


def bench_corpora(limit: int | None, workers: int, parse: bool) -> dict[str, Any]:
    """Cold builds (shipped pre-parsed form; and parsing with music21 when ``parse``) and warm loads."""
    from unittest import mock

    import muse.music.corpora as corpora
    from muse.music.melody_recipe import RECIPE

    out: dict[str, Any] = {}
    for name in CORPORA:
        data = {**RECIPE.data_defaults(), "corpus": name, "workers": workers, "limit": limit}
        cold, extra = _cold_build(data)
        manifest, warm = extra["manifest"], extra["warm_s"]
        entry = {"cold_s": cold, "warm_s": warm, "warm_median_s": statistics.median(warm),
                 "items": manifest.get("items"), "skipped": len(manifest.get("skipped") or []),
                 "splits": manifest["splits"], "prepared": corpora._prepared_of(name) is not None}
        if parse:
            with mock.patch.object(corpora, "_prepared_of", lambda _name: None):
                parsed_cold, parsed = _cold_build(data)
            entry["parsed_cold_s"] = parsed_cold
            entry["parsed_same_splits"] = parsed["manifest"]["splits"] == manifest["splits"]
        out[name] = entry
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a fast smoke run (3 runs, 60 pieces per corpus)")
    p.add_argument("--model", help="model to time (default: the shipped melody-transformer)")
    p.add_argument("--runs", type=int, help="timed generations (default 10, quick 3)")
    p.add_argument("--limit", type=int, help="pieces per corpus (default all, quick 60)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cli-runs", type=int, help="timed runs of each command (default 11, quick 3)")
    p.add_argument("--only", default="generation,cli,corpora", help="parts to run (comma-separated)")
    p.add_argument("--no-parse", action="store_true", help="cold builds from the shipped pre-parsed corpora only")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    parts = set(args.only.split(","))
    runs = args.runs or (3 if args.quick else 10)
    cli_runs = args.cli_runs or (3 if args.quick else 11)
    limit = args.limit if args.limit is not None else (60 if args.quick else None)
    with tempfile.TemporaryDirectory() as tmp:
        gen = bench_generation(args.model, runs, Path(tmp))
        cli = bench_cli(cli_runs, Path(tmp)) if "cli" in parts else {}
    corpora = bench_corpora(limit, args.workers, not args.no_parse) if "corpora" in parts else {}
    rows = [[f"generate one 8-bar melody, {t} torch thread{'s' if t > 1 else ''} (median of {runs})",
             f"{r['generate_median_s']:.3f} s", "< 0.5 s", "yes" if r["generate_median_s"] < 0.5 else "no"]
            for t, r in gen["threads"].items()]
    rows.append(["load the model (first / median of 3)",
                 f"{gen['load_s'][0]:.3f} / {statistics.median(gen['load_s']):.3f} s", "", ""])
    results: dict[str, Any] = {"generation": gen, "cli": cli, "corpora": corpora, "limit": limit,
                               "workers": args.workers}
    if cli:  # judged in wall time, and in CPU time (steadier when the machine is shared)
        g = gen["threads"][1]
        start = cli['python -c "import torch"']
        goal = 2 * g["generate_median_s"] + start["median_wall_s"]
        goal_cpu = 2 * g["generate_median_cpu_s"] + start["median_cpu_s"]
        results["cli_goal_s"], results["cli_goal_cpu_s"] = goal, goal_cpu
        for name, r in cli.items():
            judged = name.startswith("muse")
            rows.append([f"`{name}` wall / CPU (median of {cli_runs})",
                         f"{r['median_wall_s']:.3f} / {r['median_cpu_s']:.3f} s",
                         f"wall <= {goal:.3f} s (2 x {g['generate_median_s']:.3f} + {start['median_wall_s']:.3f}); "
                         f"CPU <= {goal_cpu:.3f} s (2 x {g['generate_median_cpu_s']:.3f} + {start['median_cpu_s']:.3f})"
                         if judged else "",
                         (f"wall {'yes' if r['median_wall_s'] <= goal else 'no'}, "
                          f"CPU {'yes' if r['median_cpu_s'] <= goal_cpu else 'no'}") if judged else ""])
    for name, r in corpora.items():
        rows.append([f"{name}: cold build, {r['items']} pieces, shipped pre-parsed form", f"{r['cold_s']:.1f} s",
                     "<= 30 s", "yes" if r["cold_s"] <= 30 else "no"])
        if "parsed_cold_s" in r:
            rows.append([f"{name}: cold build, parsing with music21 ({args.workers} workers)",
                         f"{r['parsed_cold_s']:.1f} s", "same splits", "yes" if r["parsed_same_splits"] else "NO"])
    for name, r in corpora.items():
        rows.append([f"{name}: warm load (median)", f"{r['warm_median_s']:.3f} s", "< 1 s",
                     "yes" if r["warm_median_s"] < 1 else "no"])
    if corpora:
        results["cold_total_s"] = total_cold = sum(r["cold_s"] for r in corpora.values())
        rows.append([f"all four: cold build (pre-parsed)", f"{total_cold:.1f} s", "", ""])
        if all("parsed_cold_s" in r for r in corpora.values()):
            results["parsed_cold_total_s"] = total = sum(r["parsed_cold_s"] for r in corpora.values())
            rows.append([f"all four: cold build (parsing, {args.workers} workers)", f"{total:.1f} s", "", ""])
    print(f"model: {gen['model']} ({gen['model_note']}, {gen['model_name']}, {gen['parameters']} parameters)")
    header = ["what", "time", "goal", "met"]
    out = report("melody_speed", args, header, rows, results)
    out.with_suffix(".md").write_text(
        f"model: {gen['model_note']} {gen['model_name']}, {gen['parameters']} parameters\n\n"
        + markdown_table(header, rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Four-part writing of Bach's chorales, measured as theorists judge it: held-out splits vs train.

    python bench/chorale_voice_leading.py [--generated DIR] [--harmonized DIR] [--limit N]

Reads the ~400 chorales of the music21 corpus (`bach`), puts each in the split the melody and
score recipes give it (`split_of(piece_id, 0.05, 0.05)`: the id is the corpus path, e.g.
`bach/bwv10.7.mxl`) and prints `muse.music.voice_leading` statistics per split (pooled over
every move, slice and note of the split; the per-piece means are in the JSON):

- `--generated DIR`: the .mid/.musicxml files of DIR (generated chorales) add a column.
- `--harmonized DIR`: files named after a held-out chorale (`bwv10.7.mid` for `bach/bwv10.7.mxl`)
  are compared with Bach's own parts (`harmonization_agreement`) and add a column too.

As a yardstick for the agreement figures, Bach's own alto, tenor and bass one beat late are
compared with his parts too. Results: bench/results/chorale_voice_leading.json (or `--out`).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, environment, markdown_table  # noqa: E402

from muse.data.store import split_of  # noqa: E402
from muse.errors import MuseError  # noqa: E402
from muse.music.corpora import iter_corpus_scores  # noqa: E402
from muse.music.score import Score  # noqa: E402
from muse.music.score_io import read_score  # noqa: E402
from muse.music.voice_leading import aggregate_stats, harmonization_agreement, voice_leading_stats  # noqa: E402

SPQ = 4
SPLITS = ("test", "valid", "train")
ROWS = [  # (label, metric, format)
    ("parallel fifths / 100 pair moves", "parallel_fifths_per_100", "{:.2f}"),
    ("parallel octaves+unisons / 100 pair moves", "parallel_octaves_per_100", "{:.2f}"),
    ("hidden 5ths/8ves (S-B, S leaps) / 100 S-B moves", "hidden_perfect_per_100", "{:.2f}"),
    ("voice crossings (share of slices)", "crossing_share", "{:.2%}"),
    ("spacing > octave S-A or A-T (share of slices)", "spacing_fault_share", "{:.2%}"),
    ("notes out of range", "range_violation_share", "{:.2%}"),
    ("  soprano / alto / tenor / bass", ("range_violation_S", "range_violation_A", "range_violation_T",
                                          "range_violation_B"), "{:.1%}"),
    ("chord tones on beats", "chord_tone_share", "{:.1%}"),
    ("notes per bar S / A / T / B", ("notes_per_bar_S", "notes_per_bar_A", "notes_per_bar_T", "notes_per_bar_B"),
     "{:.2f}"),
]
AGREEMENT = ["soprano", "alto", "tenor", "bass", "chord", "root", "function"]


def read_file(path: Path) -> Score:
    return read_score(path, steps_per_quarter=SPQ)


def bach_scores(limit: int | None) -> Iterator[tuple[str, Score]]:
    yield from iter_corpus_scores("bach", steps_per_quarter=SPQ, workers=1, progress=False, limit=limit)


def column(agg: dict, how: str = "pooled") -> list[str]:
    figures = agg[how]
    cells = []
    for _, metric, fmt in ROWS:
        names = metric if isinstance(metric, tuple) else (metric,)
        vals = [figures.get(m, math.nan) for m in names]
        cells.append(" / ".join("n/a" if math.isnan(v) else fmt.format(v) for v in vals))
    return cells


def stats_of(files: list[Path]) -> tuple[list[dict], list[str]]:
    stats, skipped = [], []
    for f in files:
        try:
            stats.append(voice_leading_stats(read_file(f)))
        except MuseError as err:
            skipped.append(f"{f.name}: {err}")
    return stats, skipped


def score_files(directory: Path) -> list[Path]:
    suffixes = {".mid", ".midi", ".mxl", ".musicxml", ".xml"}
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in suffixes)


def late_by_a_beat(score: Score) -> Score:
    """Bach's alto, tenor and bass one beat late (the soprano kept): a reference for the agreement figures."""
    from dataclasses import replace

    from muse.music.metrics import beat_steps
    from muse.music.voice_leading import satb_parts

    shift = round(beat_steps(score))  # type: ignore[arg-type] - needs only the meter and grid
    lower = set(satb_parts(score)[1:])
    parts = [replace(p, notes=[replace(n, start=n.start + shift, end=n.end + shift) for n in p.notes])
             if i in lower else p for i, p in enumerate(score.parts)]
    return replace(score, parts=parts)


def finite(x: Any) -> Any:
    """``x`` with every NaN as None (JSON has no NaN)."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generated", type=Path, help="folder of generated four-part chorales (.mid)")
    ap.add_argument("--harmonized", type=Path, help="folder of harmonized held-out chorales named after the piece")
    ap.add_argument("--limit", type=int, help="read only the first N chorales (a quick check)")
    ap.add_argument("--out", type=Path, default=RESULTS / "chorale_voice_leading.json")
    args = ap.parse_args()

    t0 = time.perf_counter()
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    bach: dict[str, tuple[str, Score]] = {}
    skipped: list[str] = []
    for pid, score in bach_scores(args.limit):
        split = split_of(pid, 0.05, 0.05)
        try:
            by_split[split].append(voice_leading_stats(score))
        except MuseError as err:
            skipped.append(f"{pid}: {err}")
            continue
        if split != "train":
            bach[Path(pid).stem] = (split, score)
    seconds = time.perf_counter() - t0
    aggs = {s: aggregate_stats(v) for s, v in by_split.items() if v}
    header = ["statistic"] + [f"Bach {s} ({aggs[s]['pieces']})" for s in aggs]
    cols = [column(aggs[s]) for s in aggs]
    results: dict[str, Any] = {"environment": environment(), "seconds_bach": round(seconds, 1),
                               "splits": aggs, "skipped": skipped}

    late = [harmonization_agreement(late_by_a_beat(score), score) for _, score in bach.values()]
    results["late_by_a_beat_agreement"] = aggregate_stats([{k: a[k] for k in AGREEMENT} for a in late])

    if args.generated:
        stats, bad = stats_of(score_files(args.generated))
        if stats:
            results["generated"] = aggregate_stats(stats)
            header.append(f"generated ({len(stats)})")
            cols.append(column(results["generated"]))
        results["generated_skipped"] = bad
    if args.harmonized:
        agreements, stats, bad = [], [], []
        for f in score_files(args.harmonized):
            if f.stem not in bach:
                bad.append(f"{f.name}: no held-out chorale of that name")
                continue
            try:
                gen = read_file(f)
                agreements.append({"piece": f.stem, "split": bach[f.stem][0],
                                   **harmonization_agreement(gen, bach[f.stem][1])})
                stats.append(voice_leading_stats(gen))
            except MuseError as err:
                bad.append(f"{f.name}: {err}")
        if stats:
            results["harmonized"] = aggregate_stats(stats)
            results["harmonized_agreement"] = {"pieces": agreements,
                                               "mean": aggregate_stats(
                                                   [{k: a[k] for k in AGREEMENT} for a in agreements])["mean"]}
            header.append(f"harmonized ({len(stats)})")
            cols.append(column(results["harmonized"]))
        results["harmonized_skipped"] = bad

    rows = [[label, *(c[i] for c in cols)] for i, (label, _, _) in enumerate(ROWS)]
    print(f"Bach chorales read in {seconds:.0f} s; {len(skipped)} skipped")
    print(markdown_table(header, rows))
    agreement_rows = [[f"Bach's A/T/B a beat late ({len(late)} held-out)", results["late_by_a_beat_agreement"]["mean"]]]
    if "harmonized_agreement" in results:
        agreement_rows.append([f"harmonized ({len(results['harmonized_agreement']['pieces'])})",
                               results["harmonized_agreement"]["mean"]])
    agreement_rows = [[label] + ["n/a" if math.isnan(m[k]) else f"{m[k]:.1%}" for k in AGREEMENT]
                      for label, m in agreement_rows]
    print(markdown_table(["agreement with Bach (mean over pieces)"] + AGREEMENT, agreement_rows))
    results["agreement_table"] = agreement_rows
    results["table"] = {"header": header, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(finite(results), indent=1, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Cost of the one checked output path (muse.core.files.atomic_file) against a plain write of the same bytes.

Three writers of one output, each timed per file over N files into a fresh folder: a plain write (the MIDI of
an 8-note melody through mido, a 1 KB ``config.json``, a 1.2 MB checkpoint through ``torch.save``) against the
same write through the checked writer (the output checked, a temporary sibling, flushed with fsync, made 0644 and
renamed into place). Rounds alternate the two sides (plain, checked, checked, plain, ...) after a warm-up round;
the median per-file time of each side is reported with the ratio checked / plain. One thread.

    python bench/checked_writer.py [--quick] [--out FILE]

Writes bench/results/checked_writer.json.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import interleave, median, parse_args, report  # noqa: E402
from muse.core.checkpoint import atomic_torch_save  # noqa: E402
from muse.core.files import write_text  # noqa: E402
from muse.music.midi_io import midi_file, parse_primer, write_midi  # noqa: E402


def per_file(write: Callable[[Path], object], folder: Path, n: int) -> float:
    """Seconds per file of ``write`` over ``n`` fresh names in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i in range(n):
        write(folder / f"f{i}")
    return (time.perf_counter() - t0) / n


def main() -> None:
    args = parse_args(__doc__)
    torch.set_num_threads(1)
    n, rounds = (20, 2) if args.quick else (200, 6)
    melody = parse_primer("C4 E4 G4 C5:2 D5 E5 F5 G5")
    config = json.dumps({"train": {f"key{i}": i for i in range(60)}}, indent=1)
    state = {"w": torch.randn(300_000)}  # 1.2 MB
    cases = {
        "MIDI file (mido)": (lambda p: midi_file(melody).save(str(p.with_suffix(".mid"))),
                             lambda p: write_midi(melody, p.with_suffix(".mid"))),
        "config.json (1 KB)": (lambda p: p.with_suffix(".json").write_text(config, encoding="utf-8"),
                               lambda p: write_text(p.with_suffix(".json"), config)),
        "checkpoint (1.2 MB, torch.save)": (lambda p: torch.save(state, p.with_suffix(".pt")),
                                            lambda p: atomic_torch_save(state, p.with_suffix(".pt"))),
    }
    rows, results = [], {}
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parents[1]) as tmp:
        counter = iter(range(10**6))
        for name, (plain, checked) in cases.items():
            k = 0 if name.startswith("MIDI") else 1 if name.startswith("config") else 2
            m = n if k < 2 else max(5, n // 10)
            times = interleave({"plain": lambda: per_file(plain, Path(tmp) / f"{k}p{next(counter)}", m),
                                "checked": lambda: per_file(checked, Path(tmp) / f"{k}c{next(counter)}", m)},
                               rounds=rounds)
            p, c = median(times["plain"]) * 1e3, median(times["checked"]) * 1e3
            rows.append([name, m, f"{p:.3f}", f"{c:.3f}", f"{c / p:.2f}"])
            results[name] = {"files_per_round": m, "plain_ms": [t * 1e3 for t in times["plain"]],
                             "checked_ms": [t * 1e3 for t in times["checked"]],
                             "plain_median_ms": p, "checked_median_ms": c, "ratio": c / p}
    report("checked_writer", args, ["output", "files/round", "plain ms/file", "checked ms/file", "checked / plain"],
           rows, {"cases": results, "note": "times in ms per file; the folder is on the checkout's file system"})


if __name__ == "__main__":
    main()

"""Reading folders of MIDI files as scores: in this process vs two worker processes; and the melody-view check.

* *speed*: ``iter_corpus_scores``'s worker function (:func:`muse.music.corpora._score_tasks`) over
  the same MIDI files, once in this process, once in 2 forked workers
  (:func:`muse.music.corpora._run_parallel`); rounds interleaved (A B, B A, ...), medians reported
  with their ratio. This is why ``iter_corpus_scores`` reads MIDI-only folders in-process.
* *view*: for every file, whether ``read_score(f).melody()`` equals ``read_melodies(f)[0]`` (the
  Melody-is-a-view-of-the-Score contract), with the cases that differ listed.

usage: python bench/score_reading.py [--quick] [--folder DIR]   (default ../bench_midi next to the repo)
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from common import interleave, median, report


def main() -> None:
    import muse
    from muse.errors import DataError
    from muse.music.corpora import (
        CorpusReport,
        _run_parallel,
        _score_tasks,
        _tasks,
        corpus_sources,
    )

    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100 files, 1 round")
    p.add_argument("--folder", type=Path, default=Path(__file__).resolve().parents[2] / "bench_midi")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    files = corpus_sources(args.folder)
    files = files[:100] if args.quick else files
    tasks = _tasks(files, args.folder, CorpusReport(), None)
    chunks = [tasks[i:i + 16] for i in range(0, len(tasks), 16)]
    opts = {"steps_per_quarter": 4}

    def inline() -> float:
        t0 = time.perf_counter()
        sum(len(_score_tasks(c, opts)) for c in chunks)
        return time.perf_counter() - t0

    def workers() -> float:
        t0 = time.perf_counter()
        sum(len(b) for b in _run_parallel(chunks, opts, 2, _score_tasks))
        return time.perf_counter() - t0

    times = interleave({"in-process": inline, "2 workers": workers}, rounds=1 if args.quick else 3)
    a, b = median(times["in-process"]), median(times["2 workers"])

    same, differ, unreadable = 0, [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in files:
            try:
                view, read = muse.read_score(f).melody(), muse.read_melodies(f)
            except DataError:
                unreadable += 1
                continue
            if read and view == read[0]:
                same += 1
            else:
                differ.append(f.relative_to(args.folder).as_posix())
    rows = [["in-process", len(files), f"{a:.2f}", "1.00"], ["2 workers", len(files), f"{b:.2f}", f"{b / a:.2f}"],
            ["melody view == read_melodies", f"{same}/{same + len(differ)}", "", ""]]
    report("score_reading", args, ["what", "files", "seconds (median)", "ratio"], rows,
           {"files": len(files), "seconds": times, "ratio_workers_over_inline": b / a, "view_same": same,
            "view_differ": differ, "unreadable": unreadable})


if __name__ == "__main__":
    main()

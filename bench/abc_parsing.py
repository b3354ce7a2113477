"""Reading the Essen ABC tunes three ways: music21 (muse's parser), symusic's ABC reader, the shipped pre-parsed form.

A sample of tunes spread over the whole Essen collection (every k-th tune), in one
process, one thread:

* *music21*: ``load_piece`` on the tune's text (music21's ABC parser, what a corpus
  without a pre-parsed form costs);
* *symusic*: ``symusic.Score.from_abc`` (it runs the bundled ``abc2midi`` program
  and reads the MIDI it writes), then the same track reading as for a MIDI file;
* *pre-parsed*: opening ``corpora/music21/essen.npz`` (timed once, whole corpus)
  and looking the pieces up.

Each tune's melody (Magenta's extraction, no filters) is compared with music21's:
the share of tunes whose melodies are identical (notes, meter, key) is reported
beside the time per tune, and the whole-corpus estimate (8,514 tunes) for one core.

usage: python bench/abc_parsing.py [--quick] [--tunes N]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from common import markdown_table, report

OPTS = dict(min_bars=0, min_pitches=1, max_steps=None, split_silence_bars=None)


@contextlib.contextmanager
def _quiet_fd2() -> Any:
    """abc2midi prints a warning line per odd bar on the process's stderr: send it to /dev/null."""
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


def main() -> None:
    import symusic

    import muse.music.prepared as prepared
    from muse.music.corpora import BUILTIN_CORPORA, CorpusReport, _tasks, corpus_root, corpus_sources
    from muse.music.midi_io import Piece, _symusic_piece, extract_piece, load_piece

    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="20 tunes")
    p.add_argument("--tunes", type=int, default=200)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    n = 20 if args.quick else args.tunes
    tasks = _tasks(corpus_sources("essen"), corpus_root("essen"), CorpusReport(), None)
    sample = tasks[:: max(1, len(tasks) // n)][:n]

    def melodies(piece: Piece | str) -> Any:
        return piece if isinstance(piece, str) else extract_piece(piece, **OPTS)

    t0 = time.perf_counter()
    m21 = []
    for t in sample:
        try:
            m21.append(load_piece(t.path, tune=t.tune, tune_index=t.index))
        except Exception as err:  # noqa: BLE001 - compared as a failure
            m21.append(f"{type(err).__name__}")
    m21_s = (time.perf_counter() - t0) / len(sample)

    t0 = time.perf_counter()
    sym = []
    with _quiet_fd2():
        for t in sample:
            try:
                midi = symusic.Score.from_abc(t.tune).dumps_midi()
                piece, res = _symusic_piece(midi)
                sym.append(piece)
            except Exception as err:  # noqa: BLE001
                sym.append(f"{type(err).__name__}")
    sym_s = (time.perf_counter() - t0) / len(sample)

    prepared._load_cached.cache_clear()
    t0 = time.perf_counter()
    store = prepared.load_prepared(BUILTIN_CORPORA["essen"].prepared)
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pre = [store.pieces[t.piece_id] for t in sample] if store is not None else []
    pre_s = (time.perf_counter() - t0) / len(sample)

    ref = [melodies(x) for x in m21]
    same_sym = sum(melodies(x) == r for x, r in zip(sym, ref))
    same_pre = sum(melodies(x) == r for x, r in zip(pre, ref))
    total = len(tasks)
    rows = [
        ["music21 (muse's parser)", f"{1000 * m21_s:.1f}", f"{m21_s * total:.0f}", f"{len(sample)}/{len(sample)}"],
        ["symusic Score.from_abc (abc2midi)", f"{1000 * sym_s:.1f}", f"{sym_s * total:.0f}",
         f"{same_sym}/{len(sample)}"],
        ["shipped pre-parsed (open once + look up)", f"{1000 * pre_s:.3f}", f"{open_s + pre_s * total:.2f}",
         f"{same_pre}/{len(sample)}" if store is not None else "not shipped"],
    ]
    header = ["reader", "ms per tune", "whole corpus, 1 core (s)", "melodies identical to music21's"]
    results = {"tunes": len(sample), "corpus_tunes": total, "music21_s_per_tune": m21_s,
               "symusic_s_per_tune": sym_s, "prepared_open_s": open_s, "prepared_s_per_tune": pre_s,
               "symusic_same": same_sym, "prepared_same": same_pre}
    out = report("abc_parsing", args, header, rows, results)
    out.with_suffix(".md").write_text(markdown_table(header, rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Multi-track tokenizing of real MIDI: muse's ScoreTokenizer (REMI order) vs MidiTok REMI with programs.

Both tokenize every track of each file into one sequence: muse
``ScoreTokenizer(order="remi", velocity_bins=32)``, MidiTok
``REMI(TokenizerConfig(use_programs=True))`` (its defaults otherwise: 32 velocity bins,
pitches 21..108, positions at 8 per beat). Files are loaded once, untimed: muse's as a
``Score`` (``read_score``: symusic parsing and quantising to 4 steps per quarter) and as a
parsed ``Piece`` (``load_piece``), MidiTok's as a ``symusic.Score``. Timed, one thread,
both sides alternating round by round (A B, B A, ...), median of the rounds:

- ``muse tokens``: ``encode_score(score)`` of the quantised score;
- ``muse quantise+tokens``: ``score_from_piece(piece)`` then ``encode_score`` -- the same
  work MidiTok's ``encode`` does from a parsed file (its preprocessing puts notes on its grid);
- ``MidiTok``: ``tok.encode(symusic_score)``.

Fidelity: the share of the reference notes (``read_score`` of the file: every part on the
16th-note grid) that come back identical -- same program (drums one program), onset, offset
and pitch on the grid -- after encode -> decode. muse decodes to a Score; MidiTok's decoded
``symusic.Score`` is put on the grid as ``read_score`` puts a file's notes (no MIDI file
between, so overlapping notes of one pitch are not re-paired by a writer). Velocities are left
out of the match (both sides bin them into the same 32 bins). Tokens per note: ids per
reference note. ``MidiTok fidelity, on-grid input``: the same, MidiTok given the reference
score itself (as a ``symusic.Score``, 120 ticks a step) rather than the file, so that only its vocabulary
(pitches 21..108, its duration values) can lose notes, not its own quantisation.

usage: OMP_NUM_THREADS=1 python bench/score_tokens_vs_miditok.py [--quick] [--midi-dir DIR] [--rounds N]
    [--pop909 N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleave, median, report


def note_keys(score: Any) -> Counter:
    """Multiset of (token program, start, end, pitch) of a muse Score."""
    return Counter((p.token_program, n.start, n.end, n.pitch) for p in score.parts for n in p.notes)


TICKS_PER_STEP = 120


def grid_keys(sym: Any, steps_per_quarter: int) -> Counter:
    """The same multiset of a decoded ``symusic.Score``, its ticks put on the grid as muse's reader does."""
    out: Counter = Counter()
    res = sym.ticks_per_quarter
    for tr in sym.tracks:
        a = tr.notes.numpy()
        if not len(a["time"]):
            continue
        prog = 128 if tr.is_drum else int(tr.program)
        s = np.floor(a["time"] * steps_per_quarter / res + 0.5).astype(int)
        e = np.floor((a["time"] + a["duration"]) * steps_per_quarter / res + 0.5).astype(int)
        e = np.maximum(e, s + 1)
        keep = s >= 0
        out.update(zip([prog] * int(keep.sum()), s[keep].tolist(), e[keep].tolist(), a["pitch"][keep].tolist()))
    return out


def to_symusic(score: Any, symusic: Any) -> Any:
    """A muse Score as a ``symusic.Score`` (one track per part, 120 ticks a step), no MIDI file between."""
    sym = symusic.Score(score.steps_per_quarter * TICKS_PER_STEP)
    for part in score.parts:
        tr = symusic.Track(program=part.program, is_drum=part.is_drum)
        for n in part.notes:
            tr.notes.append(symusic.Note(n.start * TICKS_PER_STEP, n.duration * TICKS_PER_STEP, n.pitch, n.velocity))
        sym.tracks.append(tr)
    return sym


def matched(ref: Counter, got: Counter) -> int:
    return sum((ref & got).values())


def load_sets(midi_dir: Path, pop909: int | None, limit: int | None) -> dict[str, list[Path]]:
    sets = {}
    for sub in sorted(p for p in midi_dir.iterdir() if p.is_dir()):
        files = sorted(f for f in sub.iterdir() if f.suffix.lower() in (".mid", ".midi"))
        cap = pop909 if sub.name == "pop909" else None
        if limit is not None:
            cap = min(cap or limit, limit)
        sets[sub.name] = files[:cap] if cap else files
    return sets


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: 10 files a set, 1 round")
    p.add_argument("--midi-dir", type=Path, default=Path(os.environ.get("MUSE_BENCH_MIDI", "/work/bench_midi")))
    p.add_argument("--rounds", type=int, help="timed rounds per side (default 5, quick 1)")
    p.add_argument("--pop909", type=int, default=200, help="POP909 files to use (default 200; 0: all)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    if not args.midi_dir.is_dir():
        print(f"score_tokens_vs_miditok: skipped: no MIDI folder {args.midi_dir} (see bench/README.md)")
        return
    warnings.simplefilter("ignore")
    import miditok
    import symusic
    import torch

    from muse.errors import MuseError
    from muse.music.midi_io import load_piece
    from muse.music.score_io import read_score, score_from_piece
    from muse.music.score_tokens import ScoreTokenizer

    torch.set_num_threads(1)
    muse_tok = ScoreTokenizer(order="remi", velocity_bins=32)
    mt = miditok.REMI(miditok.TokenizerConfig(use_programs=True))

    results: dict[str, Any] = {"rounds": rounds, "midi_dir": str(args.midi_dir), "sets": {},
                               "muse_config": muse_tok.to_dict(),
                               "miditok": {"tokenizer": "REMI(TokenizerConfig(use_programs=True))",
                                           "vocab_size": len(mt)}, "muse_vocab_size": muse_tok.vocab_size}
    rows = []
    all_counts: dict[str, float] = Counter()
    for name, files in load_sets(args.midi_dir, args.pop909 or None, 10 if args.quick else None).items():
        loaded = []
        skipped = 0
        for f in files:
            try:
                score = read_score(f)
                piece = load_piece(f)
                sym = symusic.Score(str(f))
                muse_tok.encode_score(score)
                mt.encode(sym)
            except (MuseError, Exception):  # noqa: BLE001 - a file either side cannot take is left out, counted
                skipped += 1
                continue
            loaded.append((f, score, piece, sym))
        if not loaded:
            continue

        def side(fn: Callable[[Any], Any], which: int, items: list = loaded) -> Callable[[], float]:
            def run() -> float:
                t0 = time.perf_counter()
                for item in items:
                    fn(item[which])
                return time.perf_counter() - t0
            return run

        runs = interleave({
            "muse_tokens": side(muse_tok.encode_score, 1),
            "muse_quantise_tokens": side(lambda pc: muse_tok.encode_score(score_from_piece(pc)), 2),
            "miditok": side(mt.encode, 3),
        }, rounds)
        fps = {k: len(loaded) / median(v) for k, v in runs.items()}

        ref_notes = muse_match = mt_match = mt_grid_match = muse_ids = mt_ids = 0

        for _, score, _, sym in loaded:
            ref = note_keys(score)
            ref_notes += sum(ref.values())
            ids = muse_tok.encode_score(score)
            muse_ids += len(ids)
            muse_match += matched(ref, note_keys(muse_tok.decode_score(ids)))
            seq = mt.encode(sym)
            seq = seq[0] if isinstance(seq, list) else seq
            mt_ids += len(seq.ids)
            mt_match += matched(ref, grid_keys(mt.decode(seq), muse_tok.steps_per_quarter))
            # the same notes handed to MidiTok already on the grid: what its vocabulary loses
            grid = mt.encode(to_symusic(score, symusic))
            grid = grid[0] if isinstance(grid, list) else grid
            mt_grid_match += matched(ref, grid_keys(mt.decode(grid), muse_tok.steps_per_quarter))
        entry = {
            "files": len(loaded), "skipped": skipped, "reference_notes": ref_notes,
            "parts": sum(len(s.parts) for _, s, _, _ in loaded),
            "files_per_s": fps, "round_seconds": runs,
            "ratio_tokens_vs_miditok": fps["muse_tokens"] / fps["miditok"],
            "ratio_quantise_tokens_vs_miditok": fps["muse_quantise_tokens"] / fps["miditok"],
            "tokens_per_note": {"muse": muse_ids / ref_notes, "miditok": mt_ids / ref_notes},
            "fidelity": {"muse": muse_match / ref_notes, "miditok": mt_match / ref_notes,
                         "miditok_from_grid": mt_grid_match / ref_notes},
        }
        results["sets"][name] = entry
        for k, v in (("files", len(loaded)), ("notes", ref_notes), ("muse_ids", muse_ids), ("mt_ids", mt_ids),
                     ("muse_match", muse_match), ("mt_match", mt_match), ("mt_grid_match", mt_grid_match)):
            all_counts[k] += v
        for k in runs:
            all_counts["s_" + k] += median(runs[k])
        rows.append([name, len(loaded), ref_notes, f"{fps['muse_tokens']:.0f}", f"{fps['muse_quantise_tokens']:.0f}",
                     f"{fps['miditok']:.1f}", f"{entry['ratio_tokens_vs_miditok']:.1f}",
                     f"{entry['ratio_quantise_tokens_vs_miditok']:.1f}",
                     f"{entry['tokens_per_note']['muse']:.2f} / {entry['tokens_per_note']['miditok']:.2f}",
                     f"{entry['fidelity']['muse']:.4f} / {entry['fidelity']['miditok']:.4f}",
                     f"{entry['fidelity']['miditok_from_grid']:.4f}"])
        print(rows[-1], flush=True)
    if all_counts:
        c = all_counts
        results["all"] = {
            "files": c["files"], "reference_notes": c["notes"],
            "ratio_tokens_vs_miditok": c["s_miditok"] / c["s_muse_tokens"],
            "ratio_quantise_tokens_vs_miditok": c["s_miditok"] / c["s_muse_quantise_tokens"],
            "tokens_per_note": {"muse": c["muse_ids"] / c["notes"], "miditok": c["mt_ids"] / c["notes"]},
            "fidelity": {"muse": c["muse_match"] / c["notes"], "miditok": c["mt_match"] / c["notes"],
                         "miditok_from_grid": c["mt_grid_match"] / c["notes"]},
        }
    header = ["set", "files", "notes", "muse tokens files/s", "muse quantise+tokens files/s", "MidiTok files/s",
              "tokens ratio", "quantise+tokens ratio", "tokens/note muse / MidiTok", "fidelity muse / MidiTok",
              "MidiTok fidelity, on-grid input"]
    report("score_tokens_vs_miditok", args, header, rows, results)


if __name__ == "__main__":
    main()

"""The lead-sheet model measured: held-out NLL, melodies over chords, chords for melodies, against Nottingham.

    python bench/leadsheet.py [--model leadsheet-transformer] [--num 100] [--bars 8] [--limit N]

Nottingham tunes with their chord symbols as a ``Chords`` part (``muse.iter_corpus_scores
("nottingham")``); the model's split (``split_of(piece_id, 0.05, 0.05)``, the same rule as
training).

1. **Held-out NLL** of the test and valid tunes (moved to C major / A minor, encoded as in
   training) beside an interpolated Kneser-Ney n-gram on the same tokens (order and discount
   chosen on valid), as ``bench/chorale_model.py`` does.
2. **Chord tones on beats 1 and 3**: ``--num`` melodies for ``--chords "C G Am F" --bars 4``
   (seeds 0..num-1): the share of melody notes sounding on beats 1 and 3 (4/4) that belong to
   the chord of that beat; beside it the same share for every 4/4 Nottingham tune and for
   the held-out ones. Then melodies over the first ``--bars`` bars of each held-out 4/4 tune's
   own chords, in its key, against that tune's own melody on the same chords. Also notes per
   bar and the share of melodies that are empty in some bar.
3. **Chords for melodies** (``muse chords``): for the first ``--bars`` bars of each held-out
   tune, the suggested chords against Nottingham's own, per beat: same root, same chord
   (root and quality); muse with a chord a bar (the default) and with up to two
   (``--per-bar 2``), a rule baseline (per bar, the diatonic triad of the tune's key holding
   most of the bar's beat notes; ties to I, V, IV, vi, ii, iii), and the tonic chord throughout.

Results: bench/results/leadsheet.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chorale_model import fit_ngram, nll  # noqa: E402
from common import RESULTS, environment  # noqa: E402

import muse  # noqa: E402
from muse.data.store import split_of  # noqa: E402
from muse.music.chords import (CHORD_PART_NAME, Chord, ChordSpan, chord_at, chord_spans,  # noqa: E402
                               chord_tone_share)
from muse.music.leadsheet import melody_over_chords, melody_notes, suggest_chords  # noqa: E402
from muse.music.metrics import estimate_key  # noqa: E402
from muse.recipes.hub import load_model  # noqa: E402

DEGREES = ((0, "maj"), (7, "maj"), (5, "maj"), (9, "min"), (2, "min"), (4, "min"))
"""The rule baseline's diatonic triads in a major key (above the tonic), in tie-break order."""


def corpus(limit: int | None) -> dict[str, list[tuple[str, muse.Score]]]:
    out: dict[str, list] = {"test": [], "valid": [], "train": []}
    for pid, score in muse.iter_corpus_scores("nottingham", progress=False, limit=limit):
        if score.parts and score.parts[0].name == CHORD_PART_NAME and len(score.parts) == 2:
            out[split_of(pid, 0.05, 0.05)].append((pid, score))
    return out


def beats13(length: int, spb: int) -> list[int]:
    return [t for b in range(0, length, spb) for t in (b, b + spb // 2) if t < length]


def tone_share(items: list[tuple[list, list[ChordSpan], int, int]]) -> dict:
    """Pooled chord-tone share on beats 1 and 3, notes per bar, and melodies with an empty bar."""
    hits = total = 0
    npb, empty = [], 0
    for notes, spans, length, spb in items:
        h, t = chord_tone_share(notes, spans, beats13(length, spb))
        hits, total = hits + h, total + t
        bars = max(1, length // spb)
        npb.append(len(notes) / bars)
        empty += any(not any(b * spb <= n.start < (b + 1) * spb for n in notes) for b in range(bars))
    import numpy as np

    return {"chord_tone_share_beats_1_3": hits / total if total else float("nan"), "beat_notes": total,
            "melodies": len(items), "notes_per_bar_mean": float(np.mean(npb)), "notes_per_bar_sd": float(np.std(npb)),
            "melodies_with_an_empty_bar": empty / max(1, len(items))}


def excerpt(score: muse.Score, bars: int) -> tuple[muse.Melody, list[ChordSpan], int]:
    spb = score.steps_per_bar
    end = min(score.length, bars * spb)
    spans = [ChordSpan(s.start, min(s.end, end), s.chord) for s in chord_spans(score.parts[0], score.length)
             if s.start < end]
    notes = [n for n in score.parts[1].notes if n.start < end]
    mel = muse.Melody([n if n.end <= end else muse.Note(n.start, end, n.pitch, n.velocity) for n in notes],
                      score.steps_per_quarter, score.qpm, score.time_signature, score.key, end)
    return mel, spans, end


def rule_chords(mel: muse.Melody, length: int) -> list[ChordSpan]:
    key = mel.key or estimate_key(mel)
    tonic = key[0] if key[1] == "major" else (key[0] + 3) % 12  # a minor key: its relative major's triads
    spb = mel.steps_per_bar
    beat = spb // (mel.time_signature[0] if mel.time_signature[1] == 4 else max(1, mel.time_signature[0] // 3))
    spans = []
    for b in range(0, length, spb):
        beats = list(range(b, min(length, b + spb), max(1, beat)))
        best, best_n = None, -1
        for deg, q in DEGREES:
            c = Chord((tonic + deg) % 12, q)
            n = chord_tone_share(mel.notes, [ChordSpan(b, b + spb, c)], beats)[0]
            if n > best_n:
                best, best_n = c, n
        spans.append(ChordSpan(b, min(length, b + spb), best))
    return spans


def agreement(pairs: list[tuple[list[ChordSpan], list[ChordSpan], int, int]]) -> dict:
    """Per beat: same root, same chord, between suggested and real chords."""
    root = same = n = 0
    for got, real, length, beat in pairs:
        for t in range(0, length, beat):
            r, g = chord_at(real, t), chord_at(got, t)
            if r is None:
                continue
            n += 1
            root += g is not None and g.root == r.root
            same += g == r
    return {"beats": n, "root_agreement": root / max(1, n), "chord_agreement": same / max(1, n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="leadsheet-transformer")
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--skip-nll", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "leadsheet.json"))
    args = ap.parse_args()
    lm = load_model(args.model)
    sets = corpus(args.limit)
    result: dict = {"model": args.model, "environment": environment(),
                    "pieces": {k: len(v) for k, v in sets.items()}}
    if not args.skip_nll:
        kn, choice = fit_ngram(lm.tokenizer, sets["train"], sets["valid"])
        result["ngram"] = choice
        result["nll"] = {split: nll(lm, sets[split], kn) for split in ("test", "valid")}
        print(json.dumps(result["nll"], indent=1))

    def real(pieces: list) -> dict:
        return tone_share([(list(s.parts[1].notes), chord_spans(s.parts[0], s.length), s.length, s.steps_per_bar)
                           for _, s in pieces if s.time_signature == (4, 4)])

    result["nottingham_4_4_all"] = real(sets["train"] + sets["valid"] + sets["test"])
    result["nottingham_4_4_test"] = real(sets["test"])
    t = time.perf_counter()
    made = []
    for i in range(args.num):
        (s,) = melody_over_chords(lm, "C G Am F", bars=4, generation=lm.generation_config.updated(seed=i))
        made.append((melody_notes(s), chord_spans(s.parts[0], s.length), 64, 16))
    result["c_g_am_f"] = {**tone_share(made), "seconds_per_melody": (time.perf_counter() - t) / max(1, args.num)}
    print("C G Am F:", json.dumps(result["c_g_am_f"]))

    held = [(pid, s) for pid, s in sets["test"] + sets["valid"] if s.time_signature == (4, 4)]
    gen, own = [], []
    for i, (pid, s) in enumerate(held):
        mel, spans, end = excerpt(s, args.bars)
        if not spans or not mel.notes:
            continue
        prog = [muse.music.chords.ChordSpan(x.start, x.end, x.chord) for x in spans]
        text = " ".join(f"{x.chord.name}:{(x.end - x.start) / 4:g}" for x in prog)
        if prog[0].start > 0:
            text = f"{prog[0].chord.name}:{prog[0].start / 4:g} " + text
        (g,) = melody_over_chords(lm, text, key=muse.music.theory.key_name(s.key) if s.key else None,
                                  generation=lm.generation_config.updated(seed=i))
        gen.append((melody_notes(g), chord_spans(g.parts[0], g.length), end, 16))
        own.append((mel.notes, spans, end, 16))
    result["held_out_progressions"] = {"muse": tone_share(gen), "nottingham_same_bars": tone_share(own)}
    print("held-out progressions:", json.dumps(result["held_out_progressions"]))

    t = time.perf_counter()
    bar, half, rules, tonic = [], [], [], []
    for i, (pid, s) in enumerate(sets["test"] + sets["valid"]):
        mel, spans, end = excerpt(s, args.bars)
        if not spans or not mel.notes:
            continue
        beat = 4 if s.time_signature[1] == 4 else 6
        got, _ = suggest_chords(lm, mel)
        bar.append((got, spans, end, beat))
        got2, _ = suggest_chords(lm, mel, per_bar=2)
        half.append((got2, spans, end, beat))
        rules.append((rule_chords(mel, end), spans, end, beat))
        k = mel.key or estimate_key(mel)
        tonic.append(([ChordSpan(0, end, Chord(k[0], "maj" if k[1] == "major" else "min"))], spans, end, beat))
    result["suggest_chords"] = {"muse_chord_per_bar": agreement(bar), "muse_per_bar_2": agreement(half),
                                "rule_baseline": agreement(rules), "tonic_everywhere": agreement(tonic),
                                "tunes": len(bar), "seconds_per_tune": (time.perf_counter() - t) / max(1, len(bar))}
    print("suggest chords:", json.dumps(result["suggest_chords"]))
    Path(args.out).write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()

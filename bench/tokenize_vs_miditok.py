"""Tokenizing real multi-track MIDI files: muse (melody extraction + REMI and event tokens) vs MidiTok's REMI.

The files are real MIDI files, fetched outside the repository (nothing here ships
them), one set per sub-folder of ``--midi-dir`` (default ``$MUSE_BENCH_MIDI``, else
``/work/bench_midi``); the benchmark skips with a reason when the folder is absent.
bench/README.md says where the sets measured there come from (MidiTok's test
files, POP909). ``--synthetic`` adds the two generated sets of earlier runs:
synthetic band arrangements (drums, bass, chords, lead; tempo and meter changes,
written with mido) and Bach chorales written to MIDI by music21.

Per file, muse runs ``read_melodies`` (MIDI parsing through symusic, a dependency
of muse; choosing the melody track, quantising, skyline) and encodes each melody
with its REMI and melody-event tokenizers; MidiTok runs
``REMI(TokenizerConfig()).encode(path)`` (symusic parsing, every track tokenized).
The two alternate round by round (A B, B A, ...) over the same files, in this
process; files per second is the median over rounds. Beside it: the whole folder
as ``muse train melody --data`` reads it (``iter_corpus`` with 2 worker
processes, Magenta's filters, REMI encoding), in wall time and in CPU time of this
process and its workers against MidiTok's CPU time, and the muse reader through
pretty_midi (the fallback where symusic cannot be installed), timed once.

usage: python bench/tokenize_vs_miditok.py [--quick] [--midi-dir DIR] [--rounds N] [--synthetic]
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common import interleave, markdown_table, median, report

TPQ = 480
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
METERS = ((4, 4), (4, 4), (3, 4), (6, 8), (2, 4))
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 0), (0, 4, 5, 3), (5, 3, 0, 4), (0, 0, 3, 4))


def _bar_quarters(meter: tuple[int, int]) -> float:
    return meter[0] * 4 / meter[1]


def _arrangement(rng: np.random.Generator) -> tuple[list[tuple[float, int, int, int, int]], list, float]:
    """Notes (start quarter, duration quarter, channel, pitch, velocity) of every part, meta events, end."""
    tonic = int(rng.integers(0, 12))
    scale = MAJOR if rng.random() < 0.6 else MINOR
    meter = METERS[int(rng.integers(len(METERS)))]
    meter2 = METERS[int(rng.integers(len(METERS)))] if rng.random() < 0.4 else meter
    qpm = float(rng.integers(70, 170))
    bars = int(rng.integers(16, 49))
    change = bars // 2 if rng.random() < 0.5 else bars
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    notes: list[tuple[float, int, int, int, int]] = []
    meta: list[tuple[float, str, dict]] = [(0.0, "set_tempo", {"tempo": int(60e6 / qpm)}),
                                          (0.0, "time_signature", {"numerator": meter[0], "denominator": meter[1]})]
    key_name = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"][tonic] if scale is MAJOR else \
        ["Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm"][tonic]
    meta.append((0.0, "key_signature", {"key": key_name}))
    t = 0.0
    pad = rng.random() < 0.4
    mel_pitch = 60 + tonic + 12
    for b in range(bars):
        m = meter if b < change else meter2
        if b == change and m != meter:
            meta.append((t, "time_signature", {"numerator": m[0], "denominator": m[1]}))
        if b == change and rng.random() < 0.7:
            meta.append((t, "set_tempo", {"tempo": int(60e6 / (qpm * float(rng.uniform(0.8, 1.25))))}))
        length = _bar_quarters(m)
        degree = prog[b % len(prog)]
        root = tonic + scale[degree]
        chord = [root + scale[(degree + k) % 7] - scale[degree] + (12 if (degree + k) >= 7 else 0) for k in (0, 2, 4)]
        # drums: hi-hat on eighths, kick on 1, snare on the backbeat, a fill before a change
        for e in range(int(length * 2)):
            notes.append((t + e / 2, 0.1, 9, 42, int(rng.integers(60, 90))))
        notes.append((t, 0.1, 9, 36, 100))
        if length >= 2:
            notes.append((t + length / 2, 0.1, 9, 38, 100))
        if b + 1 == change:
            for s in range(4):
                notes.append((t + length - 1 + s / 4, 0.1, 9, 45 + s, 90))
        # bass: root on each beat, fifth on the off-beat now and then
        for beat in range(int(length)):
            p = 36 + root % 12 + (7 if beat % 2 and rng.random() < 0.4 else 0)
            notes.append((t + beat, 0.9, 1, p, 90))
        # chords: one or two voicings a bar
        hits = [0.0] if rng.random() < 0.5 else [0.0, length / 2]
        for h in hits:
            for p in chord:
                notes.append((t + h, length / len(hits) - 0.05, 2, 60 + p % 12 - (12 if p % 12 > 7 else 0), 70))
        if pad and b % 2 == 0:
            for p in chord[:2]:
                notes.append((t, 2 * length - 0.1, 3, 48 + p % 12, 50))
        # lead: a random walk over the scale with a few rests
        x = 0.0
        while x < length - 1e-9:
            d = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0, 0.25]))
            d = min(d, length - x)
            if rng.random() > 0.12:
                step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]))
                deg = scale.index((mel_pitch - tonic) % 12) if (mel_pitch - tonic) % 12 in scale else 0
                deg2 = deg + step
                mel_pitch = mel_pitch - scale[deg] + scale[deg2 % 7] + 12 * (deg2 // 7)
                mel_pitch = min(max(mel_pitch, 62), 86)
                if (mel_pitch - tonic) % 12 not in scale:
                    mel_pitch += 1
                notes.append((t + x, d * 0.95, 0, mel_pitch, int(rng.integers(80, 110))))
            x += d
        t += length
    return notes, meta, t


def write_band_midi(path: Path, seed: int) -> Path:
    """One synthetic band arrangement as a type-1 MIDI file (one track per part)."""
    import mido

    rng = np.random.default_rng(seed)
    notes, meta, end = _arrangement(rng)
    named = rng.random() < 0.7
    parts = {0: ("Lead", 73 if rng.random() < 0.5 else 81), 1: ("Bass", 33), 2: ("Piano", 0), 3: ("Strings", 48),
             9: ("Drums", 0)}
    mid = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    conductor = [(round(t * TPQ), 0, mido.MetaMessage(kind, **kw)) for t, kind, kw in meta]
    mid.tracks.append(_track(conductor, round(end * TPQ)))
    for ch in sorted({n[2] for n in notes}):
        name, program = parts[ch]
        ev = [(0, -2, mido.MetaMessage("track_name", name=name if named else f"Track {ch + 1}"))]
        if ch != 9:
            ev.append((0, -1, mido.Message("program_change", channel=ch, program=program)))
        for s, d, c, p, v in notes:
            if c == ch:
                ev.append((round(s * TPQ), 1, mido.Message("note_on", channel=ch, note=p, velocity=v)))
                ev.append((round((s + d) * TPQ), 0, mido.Message("note_off", channel=ch, note=p, velocity=0)))
        mid.tracks.append(_track(ev, round(end * TPQ)))
    mid.save(str(path))
    return path


def _track(events: list, end: int):
    import mido

    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    return track


def synth_band_midis(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_band_midi(folder / f"band_{i:04d}.mid", seed * 100_000 + i) for i in range(n)]


def bach_midis(folder: Path, n: int) -> list[Path]:
    """The first ``n`` Bach chorales of music21's corpus, written as MIDI files (one track per voice)."""
    from music21 import corpus

    from muse.music.corpora import corpus_sources

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src in corpus_sources("bach"):
        if len(out) >= n:
            break
        try:
            score = corpus.parse(str(src))
            dest = folder / (src.stem + ".mid")
            score.write("midi", fp=str(dest))
            out.append(dest)
        except Exception:  # noqa: BLE001 - a chorale music21 cannot write is simply left out
            continue
    return out


# ------------------------------------------------------------------- the runs


def muse_tokenize(files: list[Path]) -> dict[str, int]:
    from muse.music.midi_io import read_melodies
    from muse.music.events import MelodyEventTokenizer
    from muse.music.remi import RemiTokenizer

    remi, events = RemiTokenizer(), MelodyEventTokenizer()
    out = {"melodies": 0, "remi_tokens": 0, "event_tokens": 0, "errors": 0}
    for f in files:
        try:
            melodies = read_melodies(f)
        except Exception:  # noqa: BLE001 - counted, the run goes on
            out["errors"] += 1
            continue
        for m in melodies:
            out["melodies"] += 1
            try:
                out["remi_tokens"] += len(remi.encode(m))
                out["event_tokens"] += len(events.encode(m))
            except Exception:  # noqa: BLE001
                out["errors"] += 1
    return out


def miditok_tokenize(files: list[Path]) -> dict[str, int]:
    import miditok

    tok = miditok.REMI(miditok.TokenizerConfig())
    out = {"sequences": 0, "tokens": 0, "errors": 0}
    for f in files:
        try:
            seqs = tok.encode(f)
        except Exception:  # noqa: BLE001
            out["errors"] += 1
            continue
        seqs = seqs if isinstance(seqs, list) else [seqs]
        out["sequences"] += len(seqs)
        out["tokens"] += sum(len(s.ids) for s in seqs)
    return out


def timed(fn: Callable[[list[Path]], dict[str, int]], files: list[Path]) -> Callable[[], tuple[float, dict]]:
    def run() -> tuple[float, dict]:
        t0 = time.perf_counter()
        counts = fn(files)
        return time.perf_counter() - t0, counts
    return run


def pretty_midi_reader(files: list[Path]) -> dict[str, int]:
    import muse.music.midi_io as midi_io

    saved = midi_io._HAVE_SYMUSIC
    midi_io._HAVE_SYMUSIC = False
    try:
        return muse_tokenize(files)
    finally:
        midi_io._HAVE_SYMUSIC = saved


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (worker processes), user + system."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def muse_folder(folder: Path, workers: int) -> dict[str, Any]:
    """The folder read as a training corpus is (iter_corpus, Magenta's filters), each melody REMI-encoded."""
    from muse.music.corpora import CorpusReport, iter_corpus
    from muse.music.remi import RemiTokenizer

    from muse.errors import DataError

    remi, report = RemiTokenizer(), CorpusReport()
    t0, c0 = time.perf_counter(), cpu_seconds()
    tokens = unencodable = 0
    for _, m in iter_corpus(folder, workers=workers, progress=False, report=report):
        try:
            tokens += len(remi.encode(m))
        except DataError:  # a meter this REMI vocabulary lacks (8/4): counted, as training would skip it
            unencodable += 1
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_seconds() - c0, "melodies": report.melodies,
            "tokens": tokens, "skipped": len(report.skipped), "unencodable": unencodable}


def real_sets(midi_dir: Path, limit: int | None) -> dict[str, list[Path]]:
    sets = {}
    for sub in sorted(p for p in midi_dir.iterdir() if p.is_dir()):
        files = sorted(f for f in sub.rglob("*") if f.suffix.lower() in (".mid", ".midi"))
        if files:
            sets[sub.name] = files[:limit] if limit else files
    return sets


def main() -> None:
    import argparse
    import os
    import warnings

    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a fast smoke run (at most 40 files a set, one round)")
    p.add_argument("--midi-dir", type=Path, default=Path(os.environ.get("MUSE_BENCH_MIDI", "/work/bench_midi")),
                   help="folder whose sub-folders of real MIDI files are the sets")
    p.add_argument("--synthetic", action="store_true", help="also the synthetic band and Bach chorale sets")
    p.add_argument("--files", type=int, help="synthetic band files (default 200, quick 30)")
    p.add_argument("--chorales", type=int, help="Bach chorales (default 100, quick 10)")
    p.add_argument("--rounds", type=int, help="timed rounds per tokenizer (default 5, quick 1)")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the whole-folder run")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    if not args.midi_dir.is_dir():
        print(f"tokenize_vs_miditok: skipped: no MIDI folder {args.midi_dir} (see bench/README.md for the sets)")
        return
    warnings.simplefilter("ignore")  # "the melody track is mostly rest" and the like, once per file
    import muse.music.midi_io as midi_io

    results: dict[str, Any] = {"symusic_reader": midi_io._HAVE_SYMUSIC, "rounds": rounds, "midi_dir": str(args.midi_dir),
                               "sets": {}}
    rows, folder_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        sets = real_sets(args.midi_dir, 40 if args.quick else None)
        if args.synthetic:
            sets["synthetic-band"] = synth_band_midis(Path(tmp) / "band", args.files or (30 if args.quick else 200))
            sets["bach-to-midi"] = bach_midis(Path(tmp) / "bach", args.chorales or (10 if args.quick else 100))
        for name, files in sets.items():
            runs = interleave({"muse": timed(muse_tokenize, files), "miditok": timed(miditok_tokenize, files)},
                              rounds)
            fps = {k: [len(files) / s for s, _ in v] for k, v in runs.items()}
            slow_s, _ = timed(pretty_midi_reader, files)()
            notes = sum(_note_count(f) for f in files)
            tracks = sum(_track_count(f) for f in files)
            c0 = cpu_seconds()
            miditok_tokenize(files)
            miditok_cpu = cpu_seconds() - c0
            folder = files[0].parent if all(f.parent == files[0].parent for f in files) else None
            whole = muse_folder(folder, args.workers) if folder is not None and len(files) == len(
                real_sets(folder.parent, None).get(folder.name, [])) else None
            entry = {
                "files": len(files), "notes": notes, "tracks": tracks,
                "files_per_s": {k: median(v) for k, v in fps.items()},
                "files_per_s_rounds": fps,
                "counts": {k: v[-1][1] for k, v in runs.items()},
                "muse_pretty_midi_files_per_s": len(files) / slow_s,
                "miditok_cpu_s": miditok_cpu,
                "muse_folder": whole,
            }
            entry["ratio"] = entry["files_per_s"]["muse"] / entry["files_per_s"]["miditok"]
            results["sets"][name] = entry
            rows.append([name, len(files), tracks, notes, f"{entry['files_per_s']['muse']:.1f}",
                         f"{entry['files_per_s']['miditok']:.1f}", f"{entry['ratio']:.2f}",
                         f"{entry['muse_pretty_midi_files_per_s']:.1f}"])
            if whole is not None:
                entry["folder_cpu_ratio"] = miditok_cpu / whole["cpu_s"]
                folder_rows.append([name, f"{whole['wall_s']:.2f}", f"{whole['cpu_s']:.2f}", f"{miditok_cpu:.2f}",
                                    f"{entry['folder_cpu_ratio']:.2f}", whole["melodies"], whole["skipped"]])
    header = ["set", "files", "tracks", "notes", "muse files/s", "MidiTok REMI files/s", "muse / MidiTok",
              "muse via pretty_midi files/s"]
    folder_header = [f"set (whole folder, {args.workers} workers)", "muse wall s", "muse CPU s (with workers)",
                     "MidiTok CPU s", "MidiTok CPU / muse CPU", "melodies", "skipped"]
    out = report("tokenize_vs_miditok", args, header, rows, results)
    text = markdown_table(header, rows) + "\n"
    if folder_rows:
        print(markdown_table(folder_header, folder_rows))
        text += "\n" + markdown_table(folder_header, folder_rows) + "\n"
    out.with_suffix(".md").write_text(text, encoding="utf-8")


def _track_count(path: Path) -> int:
    import symusic

    return sum(1 for t in symusic.Score(str(path)).tracks if t.note_num())


def _note_count(path: Path) -> int:
    import symusic

    return int(symusic.Score(str(path)).note_num())


if __name__ == "__main__":
    main()

"""Asked key and mode: does `muse melody --key D --scale dorian` end on D, and does every file carry a key? (issue #13)

For each request of :data:`REQUESTS` (D dorian, A minor, no key asked) ``--num``
melodies of ``--bars`` bars are written by the command line itself
(``muse melody --num N --seed S --no-wav --no-png``, 4/4, the default model unless
``--model``) and read back:

* ``.mid`` with pretty_midi: the share of files with exactly one key signature,
  the share whose signature is the asked key (D dorian is written as D minor, the
  tonic and the minor third; MIDI has no modes), the last note's pitch class
  (the note that starts last) and the share on the asked tonic;
* ``.musicxml``: the same melodies made again through the Python API
  (:func:`muse.generate_melodies` in the command's batches and seeds, which must
  give the very notes the command wrote: ``api_equals_cli``), written with
  ``muse.write_score(muse.Score.from_melody(m), "x.musicxml")`` and parsed with
  music21: the share carrying a key signature, the share with the asked one,
  and music21's own key analysis (``score.analyze("key")``, Krumhansl-Schmuckler):
  the share whose analysed tonic is the asked tonic (no key asked: the written
  key's tonic) and the analysed modes.

Without a key the cadence ends on the tonic the melody suggests and the file
carries that key (``estimate_key``); its row checks both are there.

Yardstick: whole tunes of the model's own corpus (every split, the meters of
``melody_oa.METERS``, at most :data:`PER_MODE` per mode in corpus order),
grouped by the mode they were told in training (:func:`muse.music.tokenizer.melody_mode`
of their :func:`~muse.music.tokenizer.analysis_key`; the split of each is
counted too, since Essen has only a handful of dorian tunes): how often their last note is their
tonic and how often music21's analysis finds that tonic — what the same
analysis says of real dorian / minor / major tunes. The goal
(issue #13): D dorian >= 90 % of melodies end on D, every file carries a key
signature.

usage: OMP_NUM_THREADS=1 python bench/melody_mode.py [--model NAME] [--num N] [--bars B] [--seed S] [--quick] [--out PATH]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from common import markdown_table, report

REQUESTS = (("D", "dorian"), ("A", "minor"), (None, None))
PER_MODE = 300
NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def request_name(key: str | None, scale: str | None) -> str:
    return "no key asked" if key is None else f"--key {key} --scale {scale}"


def midi_facts(path: Path) -> dict[str, Any]:
    """Key signatures and the last note's pitch class of a written MIDI file, read with pretty_midi."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    notes = sorted((n for inst in pm.instruments for n in inst.notes), key=lambda n: (n.start, n.pitch))
    keys = [(k.key_number % 12, "minor" if k.key_number >= 12 else "major") for k in pm.key_signature_changes]
    return {"keys": keys, "last_pc": notes[-1].pitch % 12 if notes else None,
            "notes": [(round(n.start, 4), n.pitch) for n in notes]}


def musicxml_facts(path: Path) -> dict[str, Any]:
    """Key signatures written in a MusicXML file and music21's key analysis of its notes."""
    from music21 import converter, key

    score = converter.parse(str(path))
    sigs = list(score.recurse().getElementsByClass(key.KeySignature))
    written = [(k.tonic.pitchClass, k.mode) if isinstance(k, key.Key) else (k.asKey("major").tonic.pitchClass, "major")
               for k in sigs]
    found = score.analyze("key")
    return {"keys": written, "analysed": (found.tonic.pitchClass, found.mode)}


def measure(model: str | None, key: str | None, scale: str | None, num: int, bars: int, seed: int,
            work: Path) -> dict[str, Any]:
    """Write ``num`` melodies with the CLI for one request, make them again with the API, read both back."""
    import muse
    from muse.cli import main as muse_main
    from muse.cli.melody import BATCH
    from muse.music.compose import DEFAULT_MELODY_MODEL
    from muse.music.theory import MINOR_LIKE, tonic_pitch_class

    out = work / (scale or "nokey")
    argv = ["melody", "--num", str(num), "--bars", str(bars), "--seed", str(seed), "--no-wav", "--no-png",
            "--out", str(out)]
    argv += ["--model", model] if model else []
    argv += ["--key", key, "--scale", scale] if key else []
    with contextlib.redirect_stdout(io.StringIO()):  # the command lists every file it writes
        code = muse_main(argv)
    if code != 0:
        raise SystemExit(f"muse {' '.join(argv)} failed")
    lm = muse.load_model(model or DEFAULT_MELODY_MODEL, expect_kind="melody")
    mels = []
    for done in range(0, num, BATCH):
        mels += muse.generate_melodies(lm, bars=bars, num=min(BATCH, num - done), seed=seed + done, key=key,
                                       scale=scale)
    tonic = None if key is None else tonic_pitch_class(key)
    asked_key = None if key is None else (tonic, "minor" if scale in MINOR_LIKE else "major")
    rows = []
    for i, mel in enumerate(mels, 1):
        mid = midi_facts(out / f"melody_{i:03d}.mid")
        xml_path = muse.write_score(muse.Score.from_melody(mel), work / f"{scale or 'nokey'}_{i:03d}.musicxml")
        xml = musicxml_facts(xml_path)
        api = [(round(n.start * 60.0 / (mel.qpm * mel.steps_per_quarter), 4), n.pitch) for n in mel.notes]
        rows.append({"midi": mid, "xml": xml, "api_equals_cli": api == mid["notes"], "key": mel.key,
                     "last_pc_api": mel.notes[-1].pitch % 12})
    n = len(rows)

    def share(pred: Any) -> float:
        return sum(bool(pred(r)) for r in rows) / n

    home = (lambda r: tonic) if tonic is not None else (lambda r: r["key"][0])  # no key asked: the written key
    want = (lambda r: asked_key) if asked_key is not None else (lambda r: tuple(r["key"]))
    return {
        "request": request_name(key, scale), "command": "muse " + " ".join(argv).replace(str(out), "OUT"), "num": n,
        "end_on_tonic": share(lambda r: r["midi"]["last_pc"] == home(r)),
        "last_pitch_classes": {NAMES[pc]: c for pc, c in Counter(r["midi"]["last_pc"] for r in rows).most_common()},
        "midi_key_signature": share(lambda r: len(r["midi"]["keys"]) == 1),
        "midi_asked_key": share(lambda r: r["midi"]["keys"][:1] == [want(r)]),
        "musicxml_key_signature": share(lambda r: len(r["xml"]["keys"]) >= 1),
        "musicxml_asked_key": share(lambda r: r["xml"]["keys"][:1] == [want(r)]),
        "music21_tonic": share(lambda r: r["xml"]["analysed"][0] == home(r)),
        "music21_keys": {f"{NAMES[pc]} {m}": c for (pc, m), c in Counter(r["xml"]["analysed"] for r in rows).most_common(5)},
        "written_keys": {f"{NAMES[pc]} {m}": c for (pc, m), c in Counter(tuple(r["key"]) for r in rows).most_common(5)},
        "api_equals_cli": share(lambda r: r["api_equals_cli"]),
    }


def real_yardstick(model: str | None) -> dict[str, Any]:
    """Whole corpus tunes per training mode label: last note on the labelled tonic, music21's tonic the same."""
    from melody_oa import real_tunes
    from music21 import key as m21key

    import muse
    from muse.music.compose import DEFAULT_MELODY_MODEL
    from muse.music.evaluate import training_data_settings
    from muse.music.tokenizer import analysis_key, melody_mode

    lm = muse.load_model(model or DEFAULT_MELODY_MODEL, expect_kind="melody")
    tunes = real_tunes(training_data_settings(lm), 10**6)  # whole tunes
    by_mode: dict[str, list[tuple[bool, bool]]] = {}
    splits: dict[str, Counter] = {}
    for split in ("train", "valid", "test"):
        for mels in tunes[split].values():
            for mel in mels:
                home = analysis_key(mel)
                if home is None:
                    continue
                mode = melody_mode(mel, home)
                splits.setdefault(mode, Counter())[split] += 1
                if len(by_mode.get(mode, ())) >= PER_MODE:
                    continue
                found = mel.to_music21().analyze("key")
                ok = isinstance(found, m21key.Key) and found.tonic.pitchClass == home[0]
                by_mode.setdefault(mode, []).append((mel.notes[-1].pitch % 12 == home[0], ok))
    return {m: {"tunes": len(v), "in_corpus": dict(splits[m]), "end_on_tonic": sum(e for e, _ in v) / len(v),
                "music21_tonic": sum(t for _, t in v) / len(v)}
            for m, v in sorted(by_mode.items(), key=lambda kv: -sum(splits[kv[0]].values()))}


def main() -> None:
    from muse.music.compose import DEFAULT_MELODY_MODEL

    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--model", help="melody model (default: muse melody's default)")
    p.add_argument("--num", type=int, help="melodies per request (default 100, quick 16)")
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="16 melodies per request: tries the script")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    num = args.num or (16 if args.quick else 100)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, scale in REQUESTS:
            r = measure(args.model, key, scale, num, args.bars, args.seed, Path(tmp))
            results[r["request"]] = r
            print(f"{r['request']}: end on tonic {r['end_on_tonic']:.0%}, MIDI key {r['midi_key_signature']:.0%}, "
                  f"MusicXML key {r['musicxml_key_signature']:.0%}", flush=True)
    header = ["request", "melodies", "last note on the tonic", "last notes", ".mid key signature (asked)",
              ".musicxml key signature (asked)", "music21 analysis: tonic", "music21 keys", "API = CLI"]
    rows = [[r["request"], r["num"], f"{r['end_on_tonic']:.1%}",
             ", ".join(f"{k} {v}" for k, v in r["last_pitch_classes"].items()),
             f"{r['midi_key_signature']:.0%} ({r['midi_asked_key']:.0%})",
             f"{r['musicxml_key_signature']:.0%} ({r['musicxml_asked_key']:.0%})", f"{r['music21_tonic']:.1%}",
             ", ".join(f"{k} {v}" for k, v in r["music21_keys"].items()), f"{r['api_equals_cli']:.0%}"]
            for r in results.values()]
    real = real_yardstick(args.model)
    real_header = ["corpus tunes told", "in the corpus (train / valid / test)", "analysed", "last note on the tonic",
                   "music21 analysis: tonic"]
    real_rows = [[m, " / ".join(str(r["in_corpus"].get(s, 0)) for s in ("train", "valid", "test")), r["tunes"],
                  f"{r['end_on_tonic']:.1%}", f"{r['music21_tonic']:.1%}"] for m, r in real.items()]
    print(markdown_table(real_header, real_rows))
    report("melody_mode", args, header, rows,
           {"model": args.model or DEFAULT_MELODY_MODEL, "num": num, "bars": args.bars, "seed": args.seed,
            "requests": results, "real_tunes": real,
            "goal": "D dorian: >= 90 % end on D; every file carries a key signature",
            "tables": {"summary": [header, rows], "real_tunes": [real_header, real_rows]}})


if __name__ == "__main__":
    main()

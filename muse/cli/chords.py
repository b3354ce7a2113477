"""muse chords — suggest a chord progression for a melody (and write it as a lead sheet)."""
from __future__ import annotations

import argparse

from muse.cli.options import subparser
from muse.cli.score_files import add_melody_input, add_score_flags, melody_and_model

EXAMPLES = ("muse chords tune.mid --out out/",
            'muse chords --primer-notes "G4:1 B4:1 D5:2 C5:1 A4:1 F#4:2 G4:4" --per-bar 2')


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from muse.cli.melody import DEFAULT_LEADSHEET_MODEL

    p = subparser(sub, "chords", help="suggest chords for a melody", examples=EXAMPLES,
                  description="Choose chords for a melody (kept note for note) with a lead-sheet model: bar by "
                              "bar, the chord the model finds likeliest together with the bar's notes. "
                              "Prints the progression (bars separated by |) and writes the lead sheet: MIDI with "
                              "melody and chord track, MusicXML with chord symbols, audio and piano roll.")
    add_melody_input(p, "gets chords")
    add_score_flags(p, model_help=f"lead-sheet model (default: {DEFAULT_LEADSHEET_MODEL})", num=False,
                    sampling=False)
    p.add_argument("--per-bar", type=int, choices=[1, 2], default=1,
                   help="chords per bar: 1 (default) or up to 2 (half a bar each, where the model prefers it)")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.cli.melody import DEFAULT_LEADSHEET_MODEL
    from muse.music.chords import progression_text
    from muse.music.leadsheet import save_lead_sheets, suggest_chords
    from muse.music.metrics import beat_steps

    melody, lm, device = melody_and_model(args, DEFAULT_LEADSHEET_MODEL)
    spans, sheet = suggest_chords(lm, melody, per_bar=args.per_bar, device=device)
    beat = max(1, int(round(beat_steps(sheet.melody()))))
    print(progression_text(spans, sheet.steps_per_bar, beat))
    for files in save_lead_sheets([sheet], args.out, prefix="chords", wav=not args.no_wav, png=not args.no_png,
                                  synth=args.synth):
        print("  ".join(str(f) for f in files.values()))
    return 0

"""muse harmonize — a four-part harmonization under a given melody (kept exactly as the soprano)."""
from __future__ import annotations

import argparse

from muse.cli.options import subparser
from muse.cli.score_files import DEFAULT_CHORALE_MODEL, add_score_flags, generation, write

EXAMPLES = ("muse harmonize melody.mid --out out/",
            'muse harmonize --primer-notes "C5:1 D5:1 E5:2 D5:1 C5:1 B4:2 C5:4" --num 3 --out out/')


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "harmonize", help="harmonize a melody in four parts", examples=EXAMPLES,
                  description="Write alto, tenor and bass under a melody, which stays the soprano note for note "
                              "(in the melody's key: declared, else estimated).")
    p.add_argument("melody", nargs="?", help="MIDI/MusicXML/ABC file whose melody is harmonized")
    p.add_argument("--primer-notes", help='the melody as notes: "60 62 64" or "C5:1 D5:0.5 r E5"')
    add_score_flags(p, model_help=f"chorale model (default: {DEFAULT_CHORALE_MODEL})")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.cli.options import resolve_device
    from muse.core.files import check_output_dir
    from muse.errors import ConfigError
    from muse.music.midi_io import parse_primer
    from muse.music.score_compose import harmonize
    from muse.recipes.hub import load_model

    if bool(args.melody) == bool(args.primer_notes):
        raise ConfigError("give a melody file or --primer-notes (one of them)")
    check_output_dir(args.out)
    device = resolve_device(args.device)
    melody = args.melody if args.melody else parse_primer(args.primer_notes)
    lm = load_model(args.model or DEFAULT_CHORALE_MODEL, device=device, expect_kind="score")
    scores = harmonize(lm, melody, num=args.num, generation=generation(args, lm), device=device,
                       rules=not args.no_rules)
    write(scores, args, "harmony")
    return 0

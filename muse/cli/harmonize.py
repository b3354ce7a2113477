"""muse harmonize — a four-part harmonization under a given melody (kept exactly as the soprano)."""
from __future__ import annotations

import argparse

from muse.cli.options import subparser
from muse.cli.score_files import (DEFAULT_CHORALE_MODEL, add_melody_input, add_score_flags, generation,
                                  melody_and_model, write)

EXAMPLES = ("muse harmonize melody.mid --out out/",
            'muse harmonize --primer-notes "C5:1 D5:1 E5:2 D5:1 C5:1 B4:2 C5:4" --num 3 --out out/')


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "harmonize", help="harmonize a melody in four parts", examples=EXAMPLES,
                  description="Write alto, tenor and bass under a melody, which stays the soprano note for note "
                              "(in the melody's key: declared, else estimated).")
    add_melody_input(p, "is harmonized")
    add_score_flags(p, model_help=f"chorale model (default: {DEFAULT_CHORALE_MODEL})")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.music.score_compose import harmonize

    melody, lm, device = melody_and_model(args, DEFAULT_CHORALE_MODEL)
    scores = harmonize(lm, melody, num=args.num, generation=generation(args, lm), device=device,
                       rules=not args.no_rules)
    write(scores, args, "harmony")
    return 0

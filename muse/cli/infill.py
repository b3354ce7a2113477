"""muse infill — rewrite chosen bars (all parts, or some) of a score, keeping the rest."""
from __future__ import annotations

import argparse

from muse.cli.options import subparser
from muse.cli.score_files import DEFAULT_CHORALE_MODEL, add_score_flags, generation, parse_bars, write

EXAMPLES = ("muse infill chorale.mid --bars 5-8 --out out/",
            "muse infill song.mid --model runs/score/model --bars 3-4 --tracks 2,3 --num 2 --out out/")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "infill", help="regenerate chosen bars of a score", examples=EXAMPLES,
                  description="Rewrite bars of a score (every part, or the parts of --tracks) with a score model; "
                              "every other note is kept exactly.")
    p.add_argument("score", help="MIDI/MusicXML file to change")
    p.add_argument("--bars", type=parse_bars, required=True, help="bars to rewrite, counted from 1: 5-8 or 5")
    p.add_argument("--tracks", help="parts to rewrite, counted from 1 in the file's order, e.g. 2,3 "
                                    "(default: all)")
    add_score_flags(p, model_help=f"score model (default: {DEFAULT_CHORALE_MODEL})")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.cli.options import resolve_device
    from muse.core.files import check_output_dir
    from muse.errors import ConfigError
    from muse.music.score_compose import infill
    from muse.recipes.hub import load_model

    parts = None
    if args.tracks:
        try:
            parts = [int(t) - 1 for t in args.tracks.split(",") if t.strip()]
        except ValueError:
            raise ConfigError(f"--tracks takes part numbers like 2,3, not {args.tracks!r}") from None
    check_output_dir(args.out)
    device = resolve_device(args.device)
    lm = load_model(args.model or DEFAULT_CHORALE_MODEL, device=device, expect_kind="score")
    scores = infill(lm, args.score, args.bars, parts=parts, num=args.num, generation=generation(args, lm),
                    device=device, rules=not args.no_rules)
    write(scores, args, "infill")
    return 0

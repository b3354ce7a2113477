"""muse compose — multi-track music from a score model (trained with muse train score)."""
from __future__ import annotations

import argparse

from muse.cli.options import at_least, subparser
from muse.cli.score_files import DEFAULT_CHORALE_MODEL, add_score_flags, generation, write

EXAMPLES = ("muse compose --model runs/score/model --bars 16 --tracks piano,bass,drums --out out/",
            "muse compose --model runs/score/model --primer song.mid --primer-bars 4 --bars 8 --out out/")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "compose", help="write multi-track music (.mid, .musicxml, .wav, .png)", examples=EXAMPLES,
                  description="Write multi-track music with a score model, from nothing or continuing a primer.")
    p.add_argument("--bars", type=at_least(1), default=8, help="new bars (after the primer's)")
    p.add_argument("--tracks", help="parts to write, e.g. piano,bass,drums or program numbers "
                                    "(default: the primer's parts, else the model's usual ones)")
    p.add_argument("--primer", help="MIDI/MusicXML file whose first bars are kept and continued")
    p.add_argument("--primer-bars", type=at_least(1), help="bars of the primer to keep (default: all)")
    p.add_argument("--key", help="e.g. G, D minor (default: the primer's, else the model picks)")
    p.add_argument("--time-signature", help="meter, e.g. 3/4 (default: the primer's, else the model's)")
    p.add_argument("--qpm", type=at_least(0, float, above=True))
    add_score_flags(p, model_help=f"score model: model dir, run dir, checkpoint or shipped name "
                                  f"(default: {DEFAULT_CHORALE_MODEL})")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.cli.options import resolve_device
    from muse.core.files import check_output_dir
    from muse.music.score_compose import ScoreRequest, compose_scores
    from muse.recipes.hub import load_model

    check_output_dir(args.out)
    device = resolve_device(args.device)
    lm = load_model(args.model or DEFAULT_CHORALE_MODEL, device=device, expect_kind="score")
    parts = [t.strip() for t in args.tracks.split(",") if t.strip()] if args.tracks else None
    req = ScoreRequest(bars=args.bars, key=args.key, time_signature=args.time_signature, qpm=args.qpm, parts=parts,
                       primer=args.primer, primer_bars=args.primer_bars, rules=not args.no_rules)
    scores = compose_scores(lm, req, generation(args, lm), num=args.num, device=device)
    write(scores, args, "score")
    return 0

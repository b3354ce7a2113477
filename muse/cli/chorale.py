"""muse chorale — four-part chorales from the shipped Bach chorale model."""
from __future__ import annotations

import argparse

from muse.cli.options import at_least, subparser
from muse.cli.score_files import DEFAULT_CHORALE_MODEL, add_score_flags, generation, write

EXAMPLES = ("muse chorale --num 2 --bars 8 --out out/",
            "muse chorale --key G --time-signature 3/4 --out out/")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "chorale", help="write four-part chorales (.mid, .musicxml, .wav, .png)", examples=EXAMPLES,
                  description="Write four-part (soprano, alto, tenor, bass) chorales with a chorale model.")
    p.add_argument("--bars", type=at_least(1), default=8)
    p.add_argument("--key", help="e.g. G, D minor, F#m (default: the model picks C major or A minor)")
    p.add_argument("--time-signature", help="meter, e.g. 3/4 (default: the model's usual 4/4)")
    p.add_argument("--qpm", type=at_least(0, float, above=True), help="tempo (default 120)")
    add_score_flags(p, model_help=f"chorale model (default: {DEFAULT_CHORALE_MODEL})")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.cli.options import resolve_device
    from muse.core.files import check_output_dir
    from muse.music.score_compose import ScoreRequest, compose_scores
    from muse.recipes.hub import load_model

    check_output_dir(args.out)
    device = resolve_device(args.device)
    lm = load_model(args.model or DEFAULT_CHORALE_MODEL, device=device, expect_kind="score")
    req = ScoreRequest(bars=args.bars, key=args.key, time_signature=args.time_signature, qpm=args.qpm,
                       rules=not args.no_rules)
    scores = compose_scores(lm, req, generation(args, lm), num=args.num, device=device)
    write(scores, args, "chorale")
    return 0

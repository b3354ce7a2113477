"""muse eval melody — held-out likelihood and MusPy metrics of a melody model."""
from __future__ import annotations

import argparse

from muse.cli.options import add_device_flag, add_generation_flags, at_least, resolve_device, subparser

EXAMPLES = (
    "muse eval melody --model melody-transformer --num 100 --out eval/",
    "muse eval melody --model runs/essen-lstm --corpus oneills --split valid --ngram",
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "eval", help="evaluate a trained model (held-out likelihood, music metrics)",
                  examples=EXAMPLES, description="Evaluate a trained model on the held-out part of its corpus.")
    s = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    m = subparser(s, "melody", help="bits per event/note on the test split; metrics of generated melodies",
                  examples=EXAMPLES, description="Held-out negative log-likelihood (bits per event and per note) of a melody "
                                 "language model, and MusPy-named metrics of generated melodies next to the "
                                 "held-out ones (table, PNG box plots and JSON in --out).")
    m.add_argument("--model", default=None, help="shipped model name, model dir, run dir or checkpoint "
                                                 "(default: melody-transformer)")
    m.add_argument("--corpus", help="evaluate on this corpus instead of the model's own (built-in name or folder)")
    m.add_argument("--split", choices=["test", "valid", "train"], default="test")
    m.add_argument("--num", type=at_least(1), default=100, help="melodies to generate for the metrics")
    m.add_argument("--bars", type=at_least(1), default=8, help="bars per generated (and held-out) melody")
    m.add_argument("--out", default="out/eval-melody", help="folder for metrics.md, metrics.png, eval.json")
    m.add_argument("--ngram", action="store_true", help="also fit and evaluate a Kneser-Ney 4-gram on the "
                                                        "train split of the same tokens")
    m.add_argument("--seed", type=int, default=0)
    add_device_flag(m)
    add_generation_flags(m, ("temperature",), title="sampling of the generated melodies")
    return p


def run(args: argparse.Namespace) -> int:
    if args.what == "melody":
        from muse.core.files import check_output_dir
        from muse.music.compose import DEFAULT_MELODY_MODEL

        check_output_dir(args.out)
        device = resolve_device(args.device)
        from muse.music.evaluate import evaluate_melody_model, format_report

        result = evaluate_melody_model(
            args.model or DEFAULT_MELODY_MODEL, corpus=args.corpus, split=args.split, num=args.num,
            bars=args.bars, out=args.out, ngram=args.ngram, seed=args.seed, temperature=args.temperature,
            device=device)
        print(format_report(result))
        print()
        for f in result["files"].values():
            print(f)
        return 0
    raise AssertionError(args.what)  # argparse only lets known subcommands through

"""Flags and file output shared by the score verbs (chorale, harmonize, infill, compose)."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from muse.cli.options import add_device_flag, add_generation_flags, at_least

DEFAULT_CHORALE_MODEL = "chorale-transformer"


def add_score_flags(p: argparse.ArgumentParser, *, model_help: str, num: bool = True, sampling: bool = True) -> None:
    """--model, --num, --out, output switches, --device and (``sampling``) the sampling flags and --no-rules."""
    p.add_argument("--model", default=None, help=model_help)
    if num:
        p.add_argument("--num", type=at_least(1), default=1)
    p.add_argument("--out", default="out", help="output folder")
    p.add_argument("--no-wav", action="store_true")
    p.add_argument("--no-png", action="store_true")
    p.add_argument("--no-xml", action="store_true", help="do not write MusicXML")
    p.add_argument("--synth", choices=["auto", "fluidsynth", "builtin"], default="auto")
    add_device_flag(p)
    if not sampling:
        return
    p.add_argument("--no-rules", action="store_true",
                   help="chorale models: allow parallel fifths/octaves, hidden ones between soprano and bass, and "
                        "voice crossings (default: the decoding forbids them)")
    add_generation_flags(p, ("temperature", "top_k", "top_p", "seed"))


def add_melody_input(p: argparse.ArgumentParser, what: str) -> None:
    """The melody a verb works on: a file (positional) or ``--primer-notes``."""
    p.add_argument("melody", nargs="?", help=f"MIDI/MusicXML/ABC file whose melody {what}")
    p.add_argument("--primer-notes", help='the melody as notes: "60 62 64" or "C5:1 D5:0.5 r E5"')


def melody_and_model(args: argparse.Namespace, default_model: str) -> tuple[Any, Any, str]:
    """(melody file or parsed notes, the loaded score model, device) of a verb with :func:`add_melody_input`,
    after checking that exactly one melody is given and that the output folder can be written."""
    from muse.cli.options import resolve_device
    from muse.core.files import check_output_dir
    from muse.errors import ConfigError
    from muse.music.midi_io import parse_primer
    from muse.recipes.hub import load_model

    if bool(args.melody) == bool(args.primer_notes):
        raise ConfigError("give a melody file or --primer-notes (one of them)")
    check_output_dir(args.out)
    device = resolve_device(args.device)
    melody = args.melody if args.melody else parse_primer(args.primer_notes)
    return melody, load_model(args.model or default_model, device=device, expect_kind="score"), device


def generation(args: argparse.Namespace, lm: Any) -> Any:
    from muse.cli.options import generation_overrides

    return lm.generation_config.updated(**generation_overrides(args))


def write(scores: Sequence[Any], args: argparse.Namespace, prefix: str) -> None:
    """Write the scores and print each one's files on one stdout line."""
    from muse.music.score_compose import save_scores

    for files in save_scores(scores, args.out, prefix=prefix, wav=not args.no_wav, png=not args.no_png,
                             xml=not args.no_xml, synth=args.synth):
        print("  ".join(str(f) for f in files.values()))
    sys.stdout.flush()


def parse_bars(text: str) -> tuple[int, int]:
    """"5-8" or "5" -> (5, 8) / (5, 5) (argparse type)."""
    try:
        a, _, b = text.partition("-")
        lo, hi = int(a), int(b or a)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bars must look like 5-8 or 5, not {text!r}") from None
    if not 1 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"bars {text!r}: need 1 <= first <= last")
    return lo, hi

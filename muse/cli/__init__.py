"""The ``muse`` command. Each verb lives in its own module with ``add_parser`` and ``run``.

Building the parser imports only the standard library, the verb modules and
:mod:`muse.cli.options` (no torch, no domain package), so ``muse --help`` and
``muse VERB --help`` answer at once; a verb imports what it needs in ``run``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Sequence

from muse.cli.options import ArgumentParser, HelpFormatter, epilog
from muse.data.report import MuseWarning
from muse.errors import MuseError

VERBS = ("melody", "chords", "poem", "chorale", "harmonize", "infill", "compose", "train", "corpora", "vae", "gan", "stylize",
         "render", "eval", "models", "demo")


def build_parser() -> argparse.ArgumentParser:
    from muse._version import __version__

    p = ArgumentParser(prog="muse", formatter_class=HelpFormatter,
                                description="Learn from music and poetry; write melodies, poems and images.",
                                epilog=epilog('muse melody --key D --scale minor --num 2',
                                              'muse poem --form qijue --rhyme',
                                              'muse train melody --corpus essen --steps 3000',
                                              'muse VERB --help   (options and examples of each verb)'))
    p.add_argument("--version", action="version", version=f"muse {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="more logging")
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        try:
            mod = importlib.import_module(f"muse.cli.{verb}")
        except ModuleNotFoundError as e:
            if e.name == f"muse.cli.{verb}":
                continue
            raise
        sp = mod.add_parser(sub)
        sp.set_defaults(_run=mod.run)
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
    """MuseWarnings as ``muse: warning: ...`` lines on stderr; others as Python prints them."""
    if issubclass(category, MuseWarning):
        print(f"muse: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            # key=value overrides may stand anywhere among the options
            if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
                args.overrides = [*args.overrides, *extra]
            else:
                where = " ".join(["muse", *(a for a in (args.verb, getattr(args, "action", None),
                                                        getattr(args, "what", None)) if isinstance(a, str))])
                parser.exit(2, f"muse: error: unrecognized arguments: {' '.join(extra)} (see {where} --help)\n")
    except SystemExit as e:  # a usage error (its one line is printed) or --help / --version (0)
        return int(e.code or 0)
    import logging

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", MuseWarning)
            warnings.showwarning = _show_warning
            return int(args._run(args) or 0)
    except MuseError as e:
        print(f"muse: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file system problem no writer named (the checked writers say more); -v shows where
        if args.verbose:
            raise
        from muse.core.files import write_problem

        where = f"{e.filename}: " if e.filename else ""
        print(f"muse: error: {where}{write_problem(e) or e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("muse: interrupted", file=sys.stderr)
        return 130

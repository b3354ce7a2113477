"""muse corpora list | show | build — the built-in corpora and the token cache."""
from __future__ import annotations

import argparse
import time

from muse.cli.options import subparser


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "corpora", help="list built-in corpora, build token caches",
                  description="List the corpora muse knows, or tokenize one into the cache used for training.",
                  examples=["muse corpora list", "muse corpora show english-poetry",
                            "muse corpora build --from ~/my_midi tokenizer=remi"])
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    subparser(s, "list", help="built-in corpora: name, kind, items, size, licence", examples=["muse corpora list"])
    sh = subparser(s, "show", help="print a shipped corpus's card (counts, source, licence, split)",
                   examples=["muse corpora show nottingham"])
    sh.add_argument("name")
    b = subparser(s, "build", help="tokenize a corpus into the cache (training does this on demand)",
                  examples=["muse corpora build essen", "muse corpora build tang --kind poem",
                            "muse corpora build --from ~/my_midi tokenizer=remi"])
    b.add_argument("name", nargs="?", help="built-in name (essen, oneills, ryans, bach, bach-all, tang, tang300, ...) "
                                           "or a path")
    b.add_argument("--from", dest="source", metavar="DIR", help="a folder (or file) of your own instead of a name")
    b.add_argument("--kind", choices=["melody", "poem", "vae"], help="default: melody for music corpora/folders, else poem")
    b.add_argument("--rebuild", action="store_true")
    b.add_argument("overrides", nargs="*", metavar="key=value", help="data options, e.g. tokenizer=remi augment=true")
    return p


def _kind_of(name: str) -> str:
    from pathlib import Path

    from muse.music.corpora import BUILTIN_CORPORA
    from muse.music.midi_io import SUPPORTED_SUFFIXES

    if name in BUILTIN_CORPORA:
        return "melody"
    p = Path(name)
    if p.is_file():
        return "melody" if p.suffix.lower() in SUPPORTED_SUFFIXES and p.suffix.lower() not in (".json", ".txt") else "poem"
    if p.is_dir() and any(f.suffix.lower() in SUPPORTED_SUFFIXES for f in p.rglob("*") if f.suffix.lower() != ".xml"):
        return "melody"
    return "poem"


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list()
    if args.action == "show":
        return _show(args.name)
    from muse.core.config import parse_value
    from muse.errors import ConfigError
    from muse.recipes import get_recipe

    if args.source is not None and args.name is not None and "=" in args.name:  # `--from DIR key=value ...`
        args.overrides, args.name = [args.name, *args.overrides], None
    if (args.name is None) == (args.source is None):
        raise ConfigError("give a corpus name or --from DIR (one of them)")
    name = args.name if args.source is None else args.source
    kind = args.kind or _kind_of(name)
    task = get_recipe(kind)
    data = task.data_defaults()
    data["corpus"] = name
    data["rebuild"] = args.rebuild
    for o in args.overrides:
        k, _, v = o.partition("=")
        k = k.removeprefix("data.")
        if k not in data:
            raise ConfigError(f"unknown data option {k!r}; valid: {', '.join(sorted(data))}")
        data[k] = parse_value(v)
    t = time.perf_counter()
    stores, tok, manifest = task.load_data(data)
    dt = time.perf_counter() - t
    sp = manifest["splits"]
    print(f"{name} ({kind}, {tok.kind} tokenizer, vocab {tok.vocab_size}) in {dt:.2f}s: "
          + ", ".join(f"{s} {v['docs']} docs / {v['tokens']} tokens" for s, v in sp.items()))
    if manifest.get("skipped"):
        print(f"skipped {len(manifest['skipped'])} file(s); see the manifest for the list")
    return 0


def _list() -> int:
    from muse.data.shipped import shipped_corpora
    from muse.music.corpora import BUILTIN_CORPORA, count_pieces
    from muse.poetry.corpora import available_text_corpora

    rows = [(c.name, c.kind, f"{c.items:,}", f"{c.size_bytes / 1e6:.1f} MB", c.licence, "ships with muse")
            for c in shipped_corpora().values()]
    for spec in BUILTIN_CORPORA.values():
        if not spec.shipped:
            try:
                items = f"{count_pieces(spec.name):,}"
            except Exception:  # noqa: BLE001 - music21 without its corpus
                items = "absent"
            rows.append((spec.name, "melody", items, "", "see music21", "bundled with music21"))
    for c in available_text_corpora():
        if c.name not in shipped_corpora():
            size = f"{c.size_bytes / 1e6:.1f} MB" if c.present else "absent"
            rows.append((c.name, "poem", "", size, "see package", c.description))
    head = ("name", "kind", "items", "size", "licence", "where")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    print("or any folder of .mid/.midi/.musicxml/.mxl/.abc files, or of .txt/.json/.jsonl/fortune files (--data PATH)")
    return 0


def _show(name: str) -> int:
    from muse.data.shipped import shipped_corpora
    from muse.errors import ConfigError

    c = shipped_corpora().get(name)
    if c is None:
        raise ConfigError(f"no shipped corpus {name!r}; shipped: {', '.join(shipped_corpora())}")
    print(c.card.rstrip())
    return 0

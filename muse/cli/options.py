"""Flags shared by the verbs: sampling settings derived from :class:`GenerationConfig`, ``--device``, examples.

Sampling flags are made from the dataclass itself: one flag per field
(``top_k`` -> ``--top-k``), its type from the field's annotation, its help from
the docstring under the field (read from the source with :mod:`ast`, so nothing
is imported to build the help). Every flag defaults to None, which means "as the
model's ``generation_config.json`` says"; :func:`generation_overrides` turns the
flags given into keyword arguments for ``GenerationConfig.updated`` (or, with
``rename``, for an API function whose parameters are named differently).

Importing this module imports no torch and no domain package:
``muse.sampling.config`` imports only the standard library and ``muse.errors``.
"""
from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from muse.sampling import config as _config

SAMPLING = ("temperature", "top_k", "top_p", "repetition_penalty", "num_beams", "branch_factor", "seed")
"""The sampling flags a generation verb offers unless it names its own."""

ALIASES: dict[str, tuple[str, ...]] = {"num_beams": ("--beam-size",)}
"""Older spellings kept working for every verb that offers the field."""

GENERATION_DEVICE = "cpu"
"""``--device`` default of every verb that generates (melody, poem, vae, eval)."""

DEVICE_HELP = ("cpu (the default of every generation verb: decoding muse's small models token by token is "
               "usually faster on the CPU than on a GPU), cuda, cuda:N, mps, or auto (cuda when available, "
               "else mps, else cpu)")

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def flag_of(name: str) -> str:
    """``top_k`` -> ``--top-k``."""
    return "--" + name.replace("_", "-")


@lru_cache(maxsize=None)
def generation_fields() -> dict[str, Field]:
    """GenerationConfig's fields by name, in declaration order."""
    return {f.name: f for f in fields(_config.GenerationConfig)}


@lru_cache(maxsize=None)
def field_docs() -> dict[str, str]:
    """The docstring written under each GenerationConfig field, whitespace collapsed."""
    import ast

    tree = ast.parse(Path(_config.__file__).read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "GenerationConfig")
    docs: dict[str, str] = {}
    for stmt, nxt in zip(cls.body, cls.body[1:]):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[stmt.target.id] = " ".join(nxt.value.value.split()).replace("``", "")
    return docs


def field_type(name: str) -> type:
    """The Python type of a field, from its annotation (``int | None`` -> int)."""
    ann = generation_fields()[name].type
    if not isinstance(ann, str):  # annotations evaluated (no ``from __future__ import annotations``)
        ann = getattr(ann, "__name__", str(ann))
    names = [t.strip() for t in ann.replace("Optional[", "").rstrip("]").split("|")]
    names = [t for t in names if t != "None"]
    if len(names) != 1 or names[0] not in _TYPES:
        raise TypeError(f"GenerationConfig.{name}: no command-line type for annotation {ann!r}")
    return _TYPES[names[0]]


def add_generation_flags(
    parser: argparse.ArgumentParser,
    names: Iterable[str] = SAMPLING,
    *,
    aliases: Mapping[str, Iterable[str]] | None = None,
    help: Mapping[str, str] | None = None,
    title: str = "sampling",
    description: str | None = "Each defaults to the model's generation_config.json, else to GenerationConfig's "
                                "own default [in brackets].",
) -> argparse._ArgumentGroup:
    """Add one flag per GenerationConfig field in ``names`` to ``parser`` (in a group ``title``); all default to None.

    ``aliases`` adds spellings (``{"max_new_tokens": ["--max-tokens"]}``) to :data:`ALIASES`;
    ``help`` replaces a field's docstring as its help text.
    """
    known = generation_fields()
    docs = field_docs()
    group = parser.add_argument_group(title, description)
    for name in names:
        if name not in known:
            raise KeyError(f"GenerationConfig has no field {name!r}")
        flags = [flag_of(name), *ALIASES.get(name, ()), *(aliases or {}).get(name, ())]
        text = (help or {}).get(name)
        if text is None:
            text = docs.get(name, "")
            default = known[name].default
            if default is not MISSING and default is not None:
                text = f"{text} [{default}]"
        kind = field_type(name)
        kw: dict[str, Any] = dict(dest=name, default=None, help=text.replace("%", "%%"))
        if kind is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw.update(type=kind, metavar="N" if kind is int else "X")
        group.add_argument(*flags, **kw)
    return group


def generation_overrides(args: argparse.Namespace, rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The GenerationConfig settings given on the command line (flags left at None are omitted).

    ``rename`` maps field names to the parameter names of the function called
    (``{"num_beams": "beam_size"}``).
    """
    given = {k: v for k, v in vars(args).items() if k in generation_fields() and v is not None}
    return {(rename or {}).get(k, k): v for k, v in given.items()}


def add_device_flag(parser: argparse.ArgumentParser, default: str | None = GENERATION_DEVICE,
                    help: str = DEVICE_HELP) -> argparse.Action:
    """``--device`` with the one default of the generation verbs (``cpu``)."""
    return parser.add_argument("--device", default=default, metavar="DEVICE", help=help)


def resolve_device(name: str | None) -> str:
    """``auto`` -> the device it picks (imports torch); anything else is passed on as given."""
    if name != "auto":
        return name or GENERATION_DEVICE
    from muse.core.device import resolve_device as pick

    return str(pick("auto"))


class HelpFormatter(argparse.HelpFormatter):
    """Wraps one-paragraph text as usual; keeps text with line breaks (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def epilog(*commands: str) -> str:
    """An epilog listing example command lines."""
    return "examples:\n" + "\n".join(f"  {c}" for c in commands)


def subparser(sub: argparse._SubParsersAction, name: str, *, examples: Iterable[str] = (), **kw: Any
              ) -> argparse.ArgumentParser:
    """``sub.add_parser`` with the shared formatter and an epilog of ``examples``."""
    ex = tuple(examples)
    return sub.add_parser(name, formatter_class=HelpFormatter, epilog=epilog(*ex) if ex else None, **kw)

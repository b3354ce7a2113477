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


def available_devices() -> list[str]:
    """The ``--device`` values that work on this machine and torch build (imports torch).

    Returns:
        list[str]: ``auto`` and ``cpu``, then ``cuda``, ``cuda:0``... when CUDA is
        available, then ``mps`` when it is.

    Example:
        >>> available_devices()[:2]
        ['auto', 'cpu']
    """
    import torch

    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        names.append("mps")
    return names


def check_device(name: str) -> str:
    """``name`` if it is a device of this machine, else a ConfigError naming ``--device`` and what is available.

    Args:
        name: a ``--device`` value (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Returns:
        str: ``name``.

    Example:
        >>> check_device("cpu")
        'cpu'
    """
    from muse.errors import ConfigError

    avail = available_devices()
    if name in avail:
        return name
    import torch

    kind = name.split(":", 1)[0]
    if kind in ("cuda", "mps", "cpu"):
        why = {"cuda": f"CUDA is not available to this torch ({torch.__version__})" if not torch.cuda.is_available()
               else f"this machine has {torch.cuda.device_count()} CUDA device(s)",
               "mps": "MPS is not available on this machine", "cpu": "write cpu"}[kind]
    else:
        why = "not a device muse can use"
    raise ConfigError(f"--device {name}: {why}; available here: {', '.join(avail)}")


def resolve_device(name: str | None) -> str:
    """The device a generation verb uses: ``--device`` checked (:func:`check_device`), ``auto`` resolved."""
    name = check_device(name or GENERATION_DEVICE)
    if name != "auto":
        return name
    from muse.core.device import resolve_device as pick

    return str(pick("auto"))


def at_least(low: float, kind: type = int, *, above: bool = False):  # noqa: ANN201 - an argparse type
    """An argparse ``type`` that parses ``kind`` and refuses values below ``low`` (``above``: not above ``low``).

    Args:
        low: the smallest value allowed (``above=True``: values must exceed it).
        kind: ``int`` or ``float``.
        above: strict bound.

    Returns:
        a callable for ``add_argument(type=...)``; argparse reports its refusal as
        ``argument --num: must be >= 1, got -4``.

    Example:
        >>> at_least(1)("3")
        3
    """
    def parse(text: str):  # noqa: ANN202
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if value != value or (value <= low if above else value < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if above else '>='} {low:g}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


class ArgumentParser(argparse.ArgumentParser):
    """argparse with muse's one-line errors: ``muse: error: argument --qpm: ... (see muse melody --help)``, exit 2."""

    def error(self, message: str):  # noqa: ANN201 - never returns
        self.exit(2, f"muse: error: {message} (see {self.prog} --help)\n")


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

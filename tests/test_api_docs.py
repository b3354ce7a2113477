"""Every public name of ``muse`` (the ``_EXPORTS`` table of :mod:`muse.api`) documents itself for ``help()``.

For each name: a docstring with a one-line summary; for functions, classes and their public
methods an ``Args:`` section naming every parameter of the signature (``self``, ``*args`` and
``**kwargs`` excepted) as ``name:``, a ``Returns:`` (or ``Yields:``) section when something is
returned, and an ``Example:`` section of ``>>>`` lines that parse as Python and only use names
and keyword arguments that exist; for dataclasses an attribute docstring (a string statement
right after the field) for every field.

Names whose modules other work still has open are listed in ``PENDING``: their tests are
expected to fail (strictly, so a finished one reports XPASS: then remove it from the set).
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import re
import textwrap
from pathlib import Path

import pytest

import muse
import muse.api as api

PENDING: set[str] = set()

SECTIONS = ("Args", "Returns", "Yields", "Raises", "Example", "Examples", "Note", "Notes", "Attributes", "See Also")
_SECTION_RE = re.compile(r"^(%s):\s*$" % "|".join(SECTIONS))
_ARG_RE = re.compile(r"^(\*{0,2})([A-Za-z_]\w*)(?:\s*\([^)]*\))?:(\s|$)")


def _defines_class(name: str) -> bool:
    """Whether ``name`` is a class in its module's source (read, not imported: collection stays lazy)."""
    spec = importlib.util.find_spec(api._EXPORTS[name])
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return any(isinstance(n, ast.ClassDef) and n.name == name for n in tree.body)


def _cases(names) -> list:
    return [
        pytest.param(n, id=n, marks=pytest.mark.xfail(n in PENDING, strict=True, reason="docstrings still to write"))
        for n in sorted(names)
    ]


EXPORTS = _cases(api._EXPORTS)
CLASSES = _cases(n for n in api._EXPORTS if _defines_class(n))


# ------------------------------------------------------------------ docstring parsing
def _doc(obj: object) -> str | None:
    """``obj``'s own docstring (not inherited, not the one dataclasses make up), cleaned."""
    raw = obj.__doc__ if not isinstance(obj, property) else (obj.fget.__doc__ if obj.fget else None)
    if not raw or not raw.strip():
        return None
    doc = inspect.cleandoc(raw)
    if dataclasses.is_dataclass(obj) and isinstance(obj, type) and re.fullmatch(
            rf"{re.escape(obj.__name__)}\(.*\)", doc, re.S):
        return None
    return doc


def _sections(doc: str) -> dict[str, list[str]]:
    """Section name -> its body lines (indented under the header); '' holds the text before any."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    for line in doc.splitlines():
        m = _SECTION_RE.match(line)
        if m:
            current = m.group(1)
            out[current] = []
        elif current and line.strip() and not line[0].isspace():
            current = ""  # back at the left margin: free text after a section
            out[""].append(line)
        else:
            out[current].append(line)
    return out


def _arg_names(body: list[str]) -> set[str]:
    """Names documented in an Args section: entries at the section's first indentation level."""
    lines = [ln for ln in body if ln.strip()]
    if not lines:
        return set()
    indent = min(len(ln) - len(ln.lstrip()) for ln in lines)
    names = set()
    for ln in lines:
        if len(ln) - len(ln.lstrip()) == indent:
            m = _ARG_RE.match(ln.strip())
            if m:
                names.add(m.group(2))
    return names


def _documentable_params(obj: object) -> list[str]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [
        p.name for p in sig.parameters.values()
        if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _returns_something(func: object) -> bool:
    try:
        ann = inspect.signature(func).return_annotation
    except (TypeError, ValueError):
        return False
    return ann not in (inspect.Signature.empty, None, "None")


# ------------------------------------------------------------------ examples
def _example_source(body: list[str]) -> str:
    code = []
    for ln in textwrap.dedent("\n".join(body)).splitlines():
        s = ln.strip()
        if s.startswith(">>>") or (s.startswith("...") and code):
            code.append(s[4:] if len(s) > 3 else "")
    return "\n".join(code)


def _accepts(func: object, keywords: list[str]) -> list[str]:
    """Keywords ``func`` does not take (none when it takes ``**kwargs``)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return []
    return [k for k in keywords if k not in sig.parameters]


def _muse_attr(node: ast.AST) -> list[str] | None:
    """``muse.a.b`` -> ["a", "b"]; None for anything not rooted at the name ``muse``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "muse" and parts:
        return parts[::-1]
    return None


def _resolve(parts: list[str]) -> tuple[object | None, str | None]:
    head = parts[0]
    if head not in api._EXPORTS and head not in dir(muse):
        return None, f"muse.{head} does not exist"
    obj = api.__getattr__(head) if head in api._EXPORTS else getattr(muse, head)
    for i, attr in enumerate(parts[1:], 1):
        if not inspect.isclass(obj):
            return None, None  # an attribute of a value: not checked
        if not hasattr(obj, attr):
            return None, f"muse.{'.'.join(parts[:i + 1])} does not exist"
        obj = getattr(obj, attr)
    return obj, None


def _example_problems(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return [f"example is not valid Python ({e.msg}, line {e.lineno})"]
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "muse":
            try:
                mod = importlib.import_module(node.module)
            except ImportError as e:
                problems.append(f"example imports {node.module}: {e}")
                continue
            problems += [f"example imports {a.name} from {node.module}, which has none"
                         for a in node.names if not hasattr(mod, a.name)]
        elif isinstance(node, ast.Attribute) and (parts := _muse_attr(node)) is not None:
            _, err = _resolve(parts)
            if err:
                problems.append(f"example uses {err}")
        if isinstance(node, ast.Call) and (parts := _muse_attr(node.func)) is not None:
            func, err = _resolve(parts)
            if func is not None and not err:
                bad = _accepts(func, [k.arg for k in node.keywords if k.arg])
                if bad:
                    problems.append(f"example calls muse.{'.'.join(parts)} with unknown keyword(s) {bad}")
    return sorted(set(problems))


# ------------------------------------------------------------------ checks
def _problems(label: str, obj: object, *, need_args: bool, need_returns: bool, need_example: bool) -> list[str]:
    doc = _doc(obj)
    if doc is None:
        return [f"{label}: no docstring"]
    out = []
    lines = doc.splitlines()
    if not lines[0].strip() or (len(lines) > 1 and lines[1].strip()):
        out.append(f"{label}: the docstring should open with a one-line summary, then a blank line")
    secs = _sections(doc)
    if need_args:
        params = _documentable_params(obj)
        if params:
            if "Args" not in secs:
                out.append(f"{label}: no Args section (parameters: {', '.join(params)})")
            else:
                missing = [p for p in params if p not in _arg_names(secs["Args"])]
                if missing:
                    out.append(f"{label}: Args does not describe {', '.join(missing)}")
    if need_returns and "Returns" not in secs and "Yields" not in secs:
        out.append(f"{label}: no Returns section")
    if need_example:
        body = secs.get("Example", secs.get("Examples"))
        source = _example_source(body) if body is not None else ""
        if not source:
            out.append(f"{label}: no Example section with >>> lines")
        else:
            out += [f"{label}: {p}" for p in _example_problems(source)]
    return out


def _field_problems(cls: type) -> list[str]:
    """Fields of dataclass ``cls`` without an attribute docstring (in the class that defines them)."""
    documented: set[str] = set()
    defined: set[str] = set()
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = next(n for n in tree.body if isinstance(n, ast.ClassDef)).body
        for stmt, nxt in zip(body, [*body[1:], None]):
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                defined.add(stmt.target.id)
                if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                        and isinstance(nxt.value.value, str) and nxt.value.value.strip()):
                    documented.add(stmt.target.id)
    names = [f.name for f in dataclasses.fields(cls)]
    return [f"{cls.__name__}.{n}: field has no attribute docstring" for n in names if n not in documented]


@pytest.mark.parametrize("name", EXPORTS)
def test_exported_name_is_documented(name):
    obj = api.__getattr__(name)
    if dataclasses.is_dataclass(obj):
        problems = _problems(name, obj, need_args=False, need_returns=False, need_example=True)
        problems += _field_problems(obj)
    elif inspect.isclass(obj):
        problems = _problems(name, obj, need_args=True, need_returns=False, need_example=True)
    else:
        problems = _problems(name, obj, need_args=True, need_returns=_returns_something(obj), need_example=True)
    assert not problems, "\n".join(problems)


def _public_methods(cls: type) -> list[tuple[str, object]]:
    out = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, property):
            out.append((attr, value))
        elif isinstance(value, (classmethod, staticmethod)) or inspect.isfunction(value):
            out.append((attr, getattr(cls, attr)))
    return out


@pytest.mark.parametrize("name", CLASSES)
def test_public_methods_are_documented(name):
    cls = api.__getattr__(name)
    assert inspect.isclass(cls)
    problems = []
    for attr, member in _public_methods(cls):
        label = f"{name}.{attr}"
        if isinstance(member, property):
            problems += _problems(label, member, need_args=False, need_returns=False, need_example=False)
        else:
            problems += _problems(label, member, need_args=True, need_returns=_returns_something(member),
                                  need_example=True)
    assert not problems, "\n".join(problems)


def test_pending_names_are_exported():
    assert PENDING <= set(api._EXPORTS), sorted(PENDING - set(api._EXPORTS))


def test_the_class_list_is_complete():
    assert {p.values[0] for p in CLASSES} == {n for n in api._EXPORTS if inspect.isclass(api.__getattr__(n))}


def test_the_checks_catch_what_they_should():
    def documented(a: int, b: str = "x", *rest: int, **kw: int) -> int:
        """Add things.

        Args:
            a: first.
            b (str): second.

        Returns:
            int: the sum.

        Example:
            >>> import muse
            >>> model = muse.load("poem-tang", device="cpu")
        """

    def sloppy(a: int, b: int) -> int:
        """Add things
        over two lines.

        Args:
            a: first.

        Example:
            >>> import muse
            >>> muse.load("poem-tang", devise="cpu")
            >>> muse.no_such_function()
        """

    assert _problems("documented", documented, need_args=True, need_returns=True, need_example=True) == []
    found = "\n".join(_problems("sloppy", sloppy, need_args=True, need_returns=True, need_example=True))
    for expected in ("one-line summary", "does not describe b", "no Returns", "unknown keyword(s) ['devise']",
                     "muse.no_such_function does not exist"):
        assert expected in found

    @dataclasses.dataclass
    class Fields:
        """Doc."""

        a: int = 0
        """Documented."""
        b: int = 1

    assert _field_problems(Fields) == ["Fields.b: field has no attribute docstring"]

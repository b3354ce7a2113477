"""The house rules, checked on the source: the package graph is a DAG and lower layers know no domain."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "muse"
LOWER = {"core", "data", "sampling", "models", "tokenizers", "errors", "_version"}
"""Layers that know no domain words."""
UPPER = {"music", "poetry", "image", "recipes", "cli", "api", "training", "muse"}
"""Domains, recipes and the faces of the package."""


def _unit(module: str) -> str:
    """muse.music.compose -> music; muse.api -> api; muse -> muse."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "muse"


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[tuple[str, str]]]:
    """{unit: {(imported unit, 'file:line')}} for every import of a muse module, at any depth of the file."""
    edges: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_of(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    targets = [".".join(base + ([node.module] if node.module else []))]
                elif node.module:
                    targets = [node.module]
            for t in targets:
                if t == "muse" or t.startswith("muse."):
                    src, dst = _unit(module), _unit(t)
                    if src != dst:
                        edges[src].add((dst, f"{path.relative_to(ROOT.parent)}:{node.lineno}"))
    return edges


def find_cycle(edges: dict[str, set[tuple[str, str]]]) -> list[str] | None:
    graph = {u: {d for d, _ in vs} for u, vs in edges.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (found := visit(u)):
            return found
    return None


def test_the_package_import_graph_is_a_dag():
    cycle = find_cycle(import_graph())
    assert cycle is None, "package import cycle: " + " -> ".join(cycle or [])


def test_lower_layers_import_no_domain_recipe_cli_or_api():
    bad = sorted(f"{where} imports muse.{dst}" for src, vs in import_graph().items() if src in LOWER
                 for dst, where in vs if dst in UPPER)
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_cycle_and_a_layer_breach():
    """The two rules above can fail: a made-up graph with a cycle and a breach is caught."""
    edges = {"core": {("music", "core/x.py:1")}, "music": {("core", "music/y.py:1")}}
    assert find_cycle(edges) == ["core", "music", "core"]
    assert any(d in UPPER for d, _ in edges["core"])


def test_no_code_outside_a_tokenizer_branches_on_its_kind():
    """Melody code asks the music-tokenizer protocol; it never tests ``tok.kind`` or probes with hasattr."""
    offenders = []
    for path in sorted((ROOT / "music").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for needle in ('.kind == "remi"', ".kind == 'remi'", '== "melody-events"', 'hasattr(tok', "encode_with_offset"):
            if needle in text:
                offenders.append(f"{path.name}: {needle}")
    assert not offenders, offenders


def test_no_code_reaches_for_files_outside_the_package():
    """Built-in data resolves inside the installed package; ../shared is for tests and benchmarks only."""
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for needle in ('"shared"', "'shared'", "shared/data", "parents[2]", "MUSE_TANG_JSONL"):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT.parent)}: {needle}")
    assert not offenders, offenders


def test_every_package_is_installed():
    """pyproject lists packages by hand (corpora/ is mapped onto muse.corpora): none may be forgotten."""
    import tomllib

    cfg = tomllib.loads((ROOT.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    on_disk = {_module_of(p) for p in ROOT.rglob("__init__.py")} | {"muse.corpora"}
    assert set(cfg["packages"]) == on_disk
    assert cfg["package-dir"] == {"muse.corpora": "corpora"}


def test_a_missing_extra_names_the_pip_command(monkeypatch):
    import sys

    from muse.errors import MissingExtra
    from muse.image.data import load_digits_images

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as if scikit-learn were not installed
    try:
        load_digits_images(8)
    except MissingExtra as e:
        assert str(e) == "the digits corpus needs sklearn, which is not installed: pip install 'muse[image]'"
    else:
        raise AssertionError("no error without scikit-learn")

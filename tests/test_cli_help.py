"""`muse --help` and `muse VERB --help` are fast: building the parser imports no torch and no domain package.

The import checks run in fresh interpreters, so what other tests imported does not count.
"""
from __future__ import annotations

import contextlib
import io
import shlex
import subprocess
import sys

import pytest

from muse.cli import build_parser

FORBIDDEN = ("torch", "numpy", "muse.music", "muse.poetry", "muse.image", "muse.models", "muse.core",
             "muse.tokenizers", "muse.training", "muse.recipes.")
"""Top-level packages and muse subpackages help must not import. ``muse.recipes`` itself (the registry that
names the train kinds; it imports only muse.errors) is allowed, none of its submodules."""

HELPS = [[], ["melody"], ["poem"], ["train"], ["corpora"], ["vae"], ["vae", "sample"], ["vae", "encode"],
         ["vae", "decode"], ["vae", "interpolate"], ["vae", "reconstruct"], ["vae", "attribute"], ["gan"],
         ["stylize"], ["render"], ["eval"], ["eval", "melody"], ["models"], ["models", "list"],
         ["models", "export"], ["demo"]]

OWNED = ["melody", "poem", "train", "vae", "vae sample", "vae encode", "vae decode", "vae interpolate",
         "vae reconstruct", "vae attribute", "eval", "eval melody", "render", "models", "models list",
         "models export", "demo", "corpora", "corpora list", "corpora show", "corpora build", "gan", "gan sample",
         "stylize", "vae vary"]
"""Verbs (and actions) whose help ends with examples."""

_PROBE = """
import contextlib, io, json, sys
import muse.cli
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            muse.cli.build_parser().parse_args([*argv, "--help"])
        except SystemExit as e:
            assert e.code == 0, (argv, e.code)
    assert "usage: muse" in out.getvalue(), argv
print(json.dumps(sorted(sys.modules)))
"""


def _forbidden(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f if f.endswith(".") else f + ".")
                                             for f in FORBIDDEN))


def test_help_of_every_verb_imports_no_torch_or_domain_package():
    import json

    r = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(HELPS)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    modules = json.loads(r.stdout)
    assert "muse.cli.options" in modules and "muse.sampling.config" in modules
    assert _forbidden(modules) == []


def test_the_muse_command_help_imports_no_torch():
    """The real entry point (``python -m muse --help``), imports listed by ``-X importtime``."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "muse", "melody", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--num-beams N, --beam-size N" in r.stdout
    imported = [ln.rsplit("|", 1)[1].strip() for ln in r.stderr.splitlines() if ln.startswith("import time:")]
    # importlib.import_module (how build_parser loads the verbs) bypasses -X importtime's log, but every
    # import statement inside a verb module is logged
    assert "muse.cli.options" in imported and "muse.recipes" in imported
    assert _forbidden(imported) == []


def test_the_probe_would_see_torch():
    """The check above can fail: a module list with torch in it is caught."""
    assert _forbidden(["argparse", "torch", "torch.nn", "muse.recipes", "muse.recipes.hub", "muse.musical"]) == [
        "muse.recipes.hub", "torch", "torch.nn"]


def _help(argv: list[str]) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as out, pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return out.getvalue()


def _examples(text: str) -> list[str]:
    assert "\nexamples:\n" in text, text
    return [ln.strip() for ln in text.split("\nexamples:\n", 1)[1].splitlines() if ln.strip()]


@pytest.mark.parametrize("verb", OWNED)
def test_every_owned_verb_shows_examples_that_parse(verb):
    examples = _examples(_help(verb.split()))
    assert 1 <= len(examples) <= 4, examples
    parser = build_parser()
    for ex in examples:
        argv = shlex.split(ex)
        assert argv[0] == "muse" and argv[1] == verb.split()[0], ex
        args, extra = parser.parse_known_args(argv[1:])  # what muse.cli.main does, key=value overrides included
        assert all("=" in e for e in extra), (ex, extra)
        assert args._run.__module__ == f"muse.cli.{argv[1]}"


def test_top_level_help_lists_examples_and_every_verb():
    text = _help([])
    assert _examples(text)[0].startswith("muse ")
    for verb in ("melody", "poem", "train", "vae", "eval", "render", "models", "demo"):
        assert f"    {verb} " in text


def test_train_kinds_are_the_recipe_registry():
    from muse.recipes import recipe_kinds

    action = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                  if a.dest == "kind")
    assert list(action.choices) == recipe_kinds()

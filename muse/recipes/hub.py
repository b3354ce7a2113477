"""Saved models: HF-style model directories, training checkpoints and the models shipped with muse.

A model directory is written once, by :func:`save_pretrained`, and never patched::

    config.json              the model: format, muse version, architecture name and its config
    tokenizer.json           the tokenizer's full state (absent for image models)
    generation_config.json   sampling defaults (a GenerationConfig, only non-default fields)
    recipe.json              the kind, data settings, corpus and training record
    model.safetensors        the weights
    README.md                the model card
    *.json                   files the kind's recipe adds (attribute vectors, a word list)

Nothing in it depends on the machine it was written on: no absolute paths.

One rule finds a model (:func:`resolve_model_path`): a model directory; a run
directory's exported ``model/``, else ``checkpoints/best.pt``, else
``checkpoints/last.pt``; a checkpoint file; or the name of a shipped model.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from muse._version import MODEL_DIR_FORMAT, __version__
from muse.core.checkpoint import load_checkpoint, load_model_state, tied_aliases
from muse.core.files import atomic_directory
from muse.errors import CheckpointError
from muse.sampling.config import GenerationConfig
from muse.models.registry import build_model
from muse.tokenizers.base import Tokenizer, tokenizer_from_dict, tokenizer_to_dict

SHIPPED_DIR = Path(__file__).parent.parent / "pretrained"
MODEL_FILES = ("config.json", "tokenizer.json", "generation_config.json", "recipe.json", "model.safetensors",
               "README.md")


@dataclass
class LoadedModel:
    """A model ready to use, with everything saved beside it."""

    model: nn.Module
    tokenizer: Tokenizer | None
    kind: str
    generation_config: GenerationConfig = field(default_factory=GenerationConfig)
    """Sampling defaults; user settings are merged over them (``generation_config.updated(...)``)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """``recipe.json``: data settings, corpus, trained_steps, best_valid_loss (checkpoints: their fields)."""
    files: dict[str, Any] = field(default_factory=dict)
    """Extra JSON files of the directory, by name (e.g. ``attributes.json``)."""
    source: Path | None = None


def shipped_models() -> dict[str, Path]:
    """The models that ship with muse, by name.

    Any of these names can be given wherever a model is asked for
    (:func:`muse.load`, :func:`muse.generate_melodies`, ``muse ... --model``).

    Returns:
        dict[str, Path]: name (``"melody-transformer"``, ``"melody-lstm"``,
        ``"poem-tang"``, ``"poem-english"``, ``"vae-2bar"``, ``"gan-digits"``,
        ``"chorale-transformer"``) ->
        its model directory inside the installed package, sorted by name; empty
        when none is installed.

    Example:
        >>> import muse
        >>> sorted(muse.shipped_models())  # doctest: +NORMALIZE_WHITESPACE
        ['chorale-transformer', 'gan-digits', 'melody-lstm', 'melody-transformer', 'poem-english', 'poem-tang',
         'vae-2bar']
    """
    if not SHIPPED_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(SHIPPED_DIR.iterdir()) if (p / "config.json").is_file()}


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def save_pretrained(directory: str | Path, model: nn.Module, tokenizer: Tokenizer | None, kind: str, *,
                    generation: GenerationConfig | None = None, recipe: dict[str, Any] | None = None,
                    extra_files: dict[str, Any] | None = None, card: str | None = None) -> Path:
    """Write a complete model directory at once (into a temporary folder, then renamed into place).

    An existing ``directory`` is replaced as a whole. Files are written
    world-readable (0644), and nothing in them names the machine they came from.

    Args:
        directory: the model directory to write (its parent is created).
        model: a registered model (built by :func:`muse.build_model`, so it has
            ``model_name`` and ``config``); its weights go to ``model.safetensors``
            (tied weights stored once).
        tokenizer: the tokenizer to save as ``tokenizer.json``; None for models
            without one (image models).
        kind: the recipe kind recorded in ``recipe.json``: ``"melody"``,
            ``"poem"``, ``"vae"``, ``"gan"`` or ``"style"``.
        generation: the sampling defaults for ``generation_config.json`` (only
            fields that differ from :class:`muse.GenerationConfig`'s defaults are
            written); None writes the defaults.
        recipe: more JSON-able fields for ``recipe.json`` (data settings, corpus,
            trained_steps...).
        extra_files: more JSON files to write, file name -> JSON-able content
            (e.g. ``{"attributes.json": {...}}``).
        card: the model card, written as ``README.md``; None writes none.

    Returns:
        Path: ``directory``.

    Example:
        >>> import muse
        >>> m = muse.load("melody-lstm")
        >>> muse.save_pretrained("models/lstm-copy", m.model, m.tokenizer, "melody",
        ...                      generation=m.generation_config, card="# My melody model\\n")
        PosixPath('models/lstm-copy')
    """
    from safetensors.torch import save_file

    d = Path(directory)
    with atomic_directory(d, replace=is_model_directory) as tmp:
        full = model.state_dict()
        aliases = tied_aliases(full)
        state = {k: v.detach().cpu().contiguous() for k, v in full.items() if k not in aliases}
        save_file(state, str(tmp / "model.safetensors"), metadata={"tied": json.dumps(aliases)})
        _write_json(tmp / "config.json", {
            "format": MODEL_DIR_FORMAT,
            "muse_version": __version__,
            "model_name": model.model_name,  # type: ignore[attr-defined]
            "model_config": asdict(model.config),  # type: ignore[attr-defined]
        })
        if tokenizer is not None:
            _write_json(tmp / "tokenizer.json", tokenizer_to_dict(tokenizer))
        (generation or GenerationConfig()).save_pretrained(tmp)
        _write_json(tmp / "recipe.json", {"kind": kind, **(recipe or {})})
        for name, content in (extra_files or {}).items():
            _write_json(tmp / name, content)
        if card:
            (tmp / "README.md").write_text(card, encoding="utf-8")
    return d


def is_model_directory(path: str | Path) -> bool:
    """True when ``path`` holds a muse model directory (``config.json`` with ``recipe.json``, or
    ``model.safetensors``): what :func:`save_pretrained` may replace. Anything else at the target
    is refused, so a mistyped output never deletes a folder of other files."""
    p = Path(path)
    return (p / "model.safetensors").is_file() or ((p / "config.json").is_file() and (p / "recipe.json").is_file())


def portable(value: Any) -> Any:
    """``value`` with every filesystem path reduced to its last component (a saved model names
    the folder it learned from, never where it was on the training machine)."""
    if isinstance(value, dict):
        return {k: (None if k == "cache_dir" else portable(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str) and (os.path.isabs(value) or value.startswith("~") or os.sep in value):
        return Path(value).name
    return value


def resolve_model_path(name_or_path: str | Path) -> Path:
    """The one rule that finds a model (see the module docstring)."""
    p = Path(name_or_path)
    if p.is_dir():
        if (p / "model.safetensors").is_file() or (p / "config.json").is_file() and (p / "recipe.json").is_file():
            return p
        for cand in (p / "model", p / "checkpoints" / "best.pt", p / "checkpoints" / "last.pt"):
            if cand.is_dir() and (cand / "model.safetensors").is_file() or cand.is_file():
                return cand
        raise CheckpointError("no model here (expected model.safetensors + config.json, a model/ folder "
                              "or checkpoints/last.pt)", p)
    if p.is_file() and p.suffix == ".safetensors":  # the weights of a model directory: load the directory
        if is_model_directory(p.parent) and (p.parent / "config.json").is_file():
            return p.parent
        raise CheckpointError("is a weights file without its model directory (config.json, recipe.json beside it); "
                              "give the model directory", p)
    if p.exists():
        return p
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    known = ", ".join(shipped) or "none installed"
    raise CheckpointError(f"no such model file, run directory or shipped model (shipped: {known})", name_or_path)


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu", expect_kind: str | None = None) -> LoadedModel:
    """Load a model with its tokenizer and generation config from a model dir, run dir, checkpoint or name.

    This is the low-level loader under :func:`muse.load`, which wraps its result
    in a :class:`muse.MuseModel`. The model is moved to ``device`` and set to eval mode.

    Args:
        name_or_path: a shipped model name (``"melody-transformer"``,
            ``"poem-tang"``...), a model directory, a run directory (its
            ``model/``, else ``checkpoints/best.pt``, else ``last.pt``) or a
            checkpoint file.
        device: where to put the model (``"cpu"``, ``"cuda"``, a ``torch.device``...).
        expect_kind: if given (e.g. ``"melody"``), raise CheckpointError when the
            model is of another kind; None accepts any kind.

    Returns:
        LoadedModel: ``model`` (the ``nn.Module``), ``tokenizer`` (or None),
        ``kind``, ``generation_config``, ``meta`` (``recipe.json`` or the
        checkpoint's fields), ``files`` (extra JSON files by name) and ``source``
        (the path it was read from).

    Example:
        >>> import muse
        >>> lm = muse.load_model("poem-tang", expect_kind="poem")
        >>> lm.kind, lm.generation_config.temperature
        ('poem', 0.8)
    """
    p = resolve_model_path(name_or_path)
    loaded = _load_dir(p) if p.is_dir() else _load_ckpt(p)
    if expect_kind and loaded.kind and loaded.kind != expect_kind:
        raise CheckpointError(f"is a {loaded.kind!r} model, not a {expect_kind!r} model", p)
    loaded.model.to(device).eval()
    return loaded


def _read_json(path: Path, required: bool = True) -> Any:
    if not path.is_file():
        if required:
            raise CheckpointError(f"incomplete model directory: {path.name} is missing", path.parent)
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"corrupt {path.name} ({str(e).splitlines()[0][:120]})", path) from None


def _ensure_recipe(kind: str) -> None:
    """Import the kind's recipe so its tokenizers and models are registered."""
    if kind:
        from muse.recipes import RECIPES, get_recipe

        if kind in RECIPES:
            get_recipe(kind)


def _load_dir(d: Path) -> LoadedModel:
    from safetensors.torch import load_file

    config = _read_json(d / "config.json")
    if not isinstance(config, dict) or config.get("format") != MODEL_DIR_FORMAT:
        got = config.get("format") if isinstance(config, dict) else None
        raise CheckpointError(
            f"model directory format {got} (muse {config.get('muse_version', '?') if isinstance(config, dict) else '?'})"
            f" is not supported by muse {__version__} (format {MODEL_DIR_FORMAT})", d / "config.json")
    recipe = _read_json(d / "recipe.json")
    kind = str(recipe.pop("kind", ""))
    _ensure_recipe(kind)
    try:
        model = build_model(config["model_name"], config["model_config"])
    except KeyError as e:
        raise CheckpointError(f"config.json lacks {e}", d / "config.json") from None
    weights = d / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError("incomplete model directory: model.safetensors is missing", d)
    try:
        state = load_file(str(weights))
    except Exception as e:  # noqa: BLE001 - truncated/corrupt file
        raise CheckpointError(f"corrupt weights ({str(e).splitlines()[0][:120]})", weights) from None
    load_model_state(model, state, weights)
    tok_d = _read_json(d / "tokenizer.json", required=False)
    tok = tokenizer_from_dict(tok_d) if tok_d else None
    gen = GenerationConfig.from_pretrained(d)
    files = {f.name: _read_json(f) for f in sorted(d.glob("*.json")) if f.name not in MODEL_FILES}
    return LoadedModel(model, tok, kind, gen, recipe, files, d)


def _load_ckpt(path: Path) -> LoadedModel:
    ckpt = load_checkpoint(path)
    run = ckpt.get("run_config", {})
    kind = run.get("kind", "")
    _ensure_recipe(kind)
    model = build_model(ckpt["model_name"], ckpt["model_config"])
    load_model_state(model, ckpt["model"], path)
    tok = tokenizer_from_dict(ckpt["tokenizer"]) if ckpt.get("tokenizer") else None
    gen = GenerationConfig.from_dict(ckpt.get("generation") or {})
    meta = {k: v for k, v in ckpt.items() if k not in ("model", "optimizers", "schedulers", "scaler", "rng")}
    meta.setdefault("data", run.get("data"))
    return LoadedModel(model, tok, kind, gen, meta, {}, path)


def export_run(run_dir: Path, extra_files: dict[str, Any] | None = None, card: str | None = None) -> Path | None:
    """Write ``run_dir/model`` from the best (else last) checkpoint; None when there is none."""
    ck_dir = run_dir / "checkpoints"
    src = ck_dir / "best.pt" if (ck_dir / "best.pt").exists() else ck_dir / "last.pt"
    if not src.exists():
        return None
    loaded = _load_ckpt(src)
    return save_model(run_dir / "model", loaded, extra_files=extra_files, card=card)


def save_model(directory: str | Path, loaded: LoadedModel, *, extra_files: dict[str, Any] | None = None,
               card: str | None = None) -> Path:
    """Write ``loaded`` (from a checkpoint or a directory) as a model directory."""
    m = loaded.meta
    recipe = {"data": portable(m.get("data")), "corpus": portable(m.get("corpus", {})),
              "trained_steps": m.get("trained_steps", m.get("step")),
              "best_valid_loss": m.get("best_valid_loss", m.get("best_val"))}
    recipe.update({k: v for k, v in m.items() if k in ("wall_seconds", "split")})
    files = {**loaded.files, **(extra_files or {})}
    src = loaded.source
    if card is None and src is not None and src.is_dir() and (src / "README.md").is_file():
        card = (src / "README.md").read_text(encoding="utf-8")
    return save_pretrained(directory, loaded.model, loaded.tokenizer, loaded.kind, generation=loaded.generation_config,
                           recipe=recipe, extra_files=files, card=card)


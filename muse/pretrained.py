"""Saved models: HF-style directories, training checkpoints and shipped models.

A model directory holds ``model.safetensors`` (weights), ``config.json``
(muse version, model name and config, tokenizer, generation defaults, card
data) and a ``README.md`` model card. :func:`load_model` also accepts a
training run directory (uses ``checkpoints/best.pt`` or ``last.pt``), a
checkpoint file, or the name of a model shipped with muse.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import muse
from muse.core.checkpoint import load_checkpoint, load_model_state, tied_aliases
from muse.errors import CheckpointError
from muse.models.registry import build_model
from muse.tokenizers.base import Tokenizer, tokenizer_from_dict, tokenizer_to_dict

SHIPPED_DIR = Path(__file__).parent / "pretrained"


@dataclass
class LoadedModel:
    model: nn.Module
    tokenizer: Tokenizer | None
    kind: str
    meta: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None


def shipped_models() -> dict[str, Path]:
    """Names of the models that ship with muse -> their directories."""
    if not SHIPPED_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(SHIPPED_DIR.iterdir()) if (p / "config.json").is_file()}


def save_pretrained(directory: str | Path, model: nn.Module, tokenizer: Tokenizer | None, kind: str,
                    meta: dict[str, Any] | None = None, card: str | None = None) -> Path:
    """Write weights (safetensors), config and model card to ``directory``."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    full = model.state_dict()
    aliases = tied_aliases(full)
    state = {k: v.detach().cpu().contiguous() for k, v in full.items() if k not in aliases}
    save_file(state, str(d / "model.safetensors"), metadata={"tied": json.dumps(aliases)})
    cfg = {
        "format": muse.CHECKPOINT_FORMAT,
        "muse_version": muse.__version__,
        "kind": kind,
        "model_name": model.model_name,  # type: ignore[attr-defined]
        "model_config": _asdict(model.config),  # type: ignore[attr-defined]
        "tokenizer": tokenizer_to_dict(tokenizer) if tokenizer is not None else None,
        **(meta or {}),
    }
    (d / "config.json").write_text(json.dumps(cfg, indent=1, ensure_ascii=False), encoding="utf-8")
    if card:
        (d / "README.md").write_text(card, encoding="utf-8")
    return d


def _asdict(cfg: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(cfg)


def resolve_model_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.exists():
        return p
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    known = ", ".join(shipped) or "none installed"
    raise CheckpointError(f"no such model file, run directory or shipped model (shipped: {known})", name_or_path)


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu", expect_kind: str | None = None) -> LoadedModel:
    """Load a model + tokenizer from a model dir, run dir, checkpoint file or shipped name."""
    p = resolve_model_path(name_or_path)
    if p.is_dir() and (p / "config.json").is_file() and (p / "model.safetensors").is_file():
        loaded = _load_dir(p)
    else:
        if p.is_dir():
            cands = [p / "checkpoints" / "best.pt", p / "checkpoints" / "last.pt", p / "best.pt", p / "last.pt"]
            found = next((c for c in cands if c.is_file()), None)
            if found is None:
                raise CheckpointError("no model here (expected model.safetensors + config.json or checkpoints/last.pt)", p)
            p = found
        loaded = _load_ckpt(p)
    if expect_kind and loaded.kind and loaded.kind != expect_kind:
        raise CheckpointError(f"is a {loaded.kind!r} model, not a {expect_kind!r} model", p)
    loaded.model.to(device).eval()
    return loaded


def _check_version(meta: dict[str, Any], path: Path) -> None:
    if meta.get("format") != muse.CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"model format {meta.get('format')} (muse {meta.get('muse_version', '?')}) is not supported by "
            f"muse {muse.__version__} (format {muse.CHECKPOINT_FORMAT})", path)


def _load_dir(d: Path) -> LoadedModel:
    from safetensors.torch import load_file

    try:
        meta = json.loads((d / "config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"corrupt config.json ({e})", d / "config.json") from None
    _check_version(meta, d / "config.json")
    model = build_model(meta["model_name"], meta["model_config"])
    try:
        state = load_file(str(d / "model.safetensors"))
    except Exception as e:  # noqa: BLE001 - truncated/corrupt file
        raise CheckpointError(f"corrupt weights ({str(e).splitlines()[0][:120]})", d / "model.safetensors") from None
    load_model_state(model, state, d / "model.safetensors")
    tok = tokenizer_from_dict(meta["tokenizer"]) if meta.get("tokenizer") else None
    return LoadedModel(model, tok, meta.get("kind", ""), meta, d)


def _load_ckpt(path: Path) -> LoadedModel:
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["model_name"], ckpt["model_config"])
    load_model_state(model, ckpt["model"], path)
    tok = tokenizer_from_dict(ckpt["tokenizer"]) if ckpt.get("tokenizer") else None
    run = ckpt.get("run_config", {})
    meta = {k: v for k, v in ckpt.items() if k not in ("model", "optimizers", "schedulers", "scaler", "rng")}
    return LoadedModel(model, tok, run.get("kind", ""), meta, path)

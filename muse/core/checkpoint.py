"""Atomic, versioned training checkpoints.

A checkpoint is one file written by ``torch.save`` to a temporary name, flushed
to disk and renamed over the old one, so a crash or ``kill -9`` at any moment
leaves either the previous complete checkpoint or the new complete one.
It holds the model weights and config, optimiser/scheduler/scaler states, the
step counters, the run config, the tokenizer and every RNG state, which is what
exact resumption needs. Only plain types and tensors are stored, so it loads
with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from muse._version import CHECKPOINT_FORMAT, __version__
from muse.core.files import atomic_file
from muse.errors import CheckpointError


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to ``path`` atomically (temp file in the same dir + fsync + rename, see
    :func:`muse.core.files.atomic_file`); a full disk or an unwritable folder is an OutputError
    naming ``path``, and the previous checkpoint stays as it was."""
    with atomic_file(path, fsync=True) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def rng_state() -> dict[str, Any]:
    """Every RNG state muse uses, as plain types and tensors."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": list(random.getstate()[1]) + [random.getstate()[2] or 0],
        "python_version": random.getstate()[0],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    gauss = py[-1] if py[-1] != 0 else None
    random.setstate((state["python_version"], tuple(int(x) for x in py[:-1]), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint file; errors name the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError("checkpoint not found", path)
    if path.is_dir():
        raise CheckpointError("is a directory, expected a checkpoint file", path)
    import zipfile

    if not zipfile.is_zipfile(path):
        raise CheckpointError("not a muse checkpoint (not a torch checkpoint file: truncated or corrupt?)", path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - corrupt/truncated/not a checkpoint
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"not a readable muse checkpoint ({first[:160]})", path) from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise CheckpointError("not a muse checkpoint (no format field)", path)
    if ckpt["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint format {ckpt['format']} (muse {ckpt.get('muse_version', '?')}) is not supported by "
            f"muse {__version__} (format {CHECKPOINT_FORMAT})",
            path,
        )
    return ckpt


def tied_aliases(state: dict[str, torch.Tensor]) -> dict[str, str]:
    """Names that share storage with an earlier name (tied weights) -> that earlier name."""
    first: dict[tuple[int, int], str] = {}
    out = {}
    for k, v in state.items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset())
        if key in first:
            out[k] = first[key]
        else:
            first[key] = k
    return out


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load weights, reporting missing/unexpected keys and shape mismatches clearly."""
    own = model.state_dict()
    aliases = tied_aliases(own)
    state = dict(state)
    for k, first in aliases.items():  # tied weights are stored once
        if k not in state and first in state:
            state[k] = state[first]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
           for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        parts = []
        if bad:
            parts.append("shape mismatch: " + "; ".join(bad[:3]) + (" ..." if len(bad) > 3 else ""))
        if missing:
            parts.append("missing: " + ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else ""))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:3]) + (" ..." if len(unexpected) > 3 else ""))
        raise CheckpointError("weights do not fit the model (" + "; ".join(parts) + ")", source)
    model.load_state_dict(state)

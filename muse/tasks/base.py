"""A task tells the training core what to train for one ``muse train KIND``.

It supplies default model/data/training settings and, in :meth:`Task.prepare`,
turns a :class:`RunConfig` into a model, batch sources, state to store in
checkpoints (tokenizer, corpus info) and callbacks. The loop itself is always
:class:`muse.core.trainer.Trainer`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from muse.core.callbacks import Callback
from muse.core.config import RunConfig
from muse.core.distributed import DistEnv
from muse.data.batches import BatchSource


@dataclass(frozen=True)
class ModelSpec:
    """A user-facing model name: which registered architecture, with which defaults."""

    arch: str
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    model: nn.Module
    train: BatchSource
    valid: BatchSource | None
    extra_state: dict[str, Any] = field(default_factory=dict)
    callbacks: list[Callback] = field(default_factory=list)


class Task:
    name: ClassVar[str]
    help: ClassVar[str] = ""
    default_model: ClassVar[str]
    models: ClassVar[dict[str, ModelSpec]] = {}
    """User-facing model names (vocab size etc. are filled in by ``prepare``)."""
    data_defaults: ClassVar[dict[str, Any]] = {}
    """Every valid ``data.*`` key with its default."""
    train_defaults: ClassVar[dict[str, Any]] = {}
    """Overrides of :class:`TrainConfig` defaults that suit this task."""

    def prepare(self, cfg: RunConfig, dist: DistEnv, resume_from: Path | None) -> Prepared:
        raise NotImplementedError

    def finish(self, cfg: RunConfig, prepared: Prepared, run_dir: Path) -> None:
        """After training (main process): e.g. export a model directory, write samples."""

"""Hooks into the training loop (sampling during training, custom logging...)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from muse.core.trainer import Trainer


class Callback:
    """Override any of these; they run on the main process only."""

    def on_step_end(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None: ...

    def on_eval_end(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None: ...

    def on_fit_end(self, trainer: "Trainer") -> None: ...


class Every(Callback):
    """Call ``fn(trainer, step)`` every ``k`` optimiser steps (e.g. write a sample)."""

    def __init__(self, k: int, fn: Callable[["Trainer", int], None]):
        self.k, self.fn = k, fn

    def on_step_end(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None:
        if self.k > 0 and step % self.k == 0:
            self.fn(trainer, step)

"""What the training core asks of a model: compute a loss for a batch.

A model is a plain ``nn.Module``. To be trained by :class:`muse.core.trainer.Trainer`
it implements ``loss(batch, ctx) -> dict`` whose ``"loss"`` entry is the scalar to
minimise; every other scalar entry is logged. Token-level models also return
``"ntokens"`` (the number of predicted tokens) so evaluation can report nats,
bits per token and perplexity weighted correctly.

Models with several optimisers (a GAN steps D then G) return more than one entry
from :meth:`param_groups`; the core then calls ``loss`` once per group, in order,
with ``ctx.group`` naming it, and steps only that group's optimiser.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

Batch = Mapping[str, torch.Tensor]


@dataclass
class StepContext:
    """Where training stands when ``loss`` is called."""

    step: int = 0
    """Optimiser step about to be taken (0-based)."""
    group: str = "main"
    """Name of the parameter group being optimised (see ``param_groups``)."""
    training: bool = True
    """False during evaluation."""
    max_steps: int | None = None
    """Planned total steps, for schedules inside the model (KL annealing...)."""


def param_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's optimiser groups (``{"main": all parameters}`` by default)."""
    fn = getattr(model, "param_groups", None)
    groups = fn() if callable(fn) else {"main": model.parameters()}
    return {name: [p for p in params if p.requires_grad] for name, params in groups.items()}

"""What the training core asks of a model: compute a loss for a batch.

A model is a plain ``nn.Module``. To be trained by :class:`muse.core.trainer.Trainer`
it implements ``loss(batch, ctx) -> dict`` whose ``"loss"`` entry is the scalar to
minimise; every other scalar entry is logged. Token-level models also return
``"ntokens"`` (the number of predicted tokens) so evaluation can report nats,
bits per token and perplexity weighted correctly.

Models with several optimisers (a GAN steps D then G) return more than one entry
from :meth:`param_groups`; the core then calls ``loss`` once per group, in order,
with ``ctx.group`` naming it, and steps only that group's optimiser.

A model may also give each group its own AdamW settings (Lightning's
``configure_optimizers``, reduced to data): ``configure_optimizers(train_cfg) ->
{group: {"lr": ..., "betas": (b1, b2), "eps": ..., "weight_decay": ...}}``. Groups
or keys it leaves out use the :class:`~muse.core.config.TrainConfig` values; the
core still builds the optimisers, schedules them (the schedule multiplies each
group's own lr) and checkpoints them. A GAN uses it for two time-scale learning
rates (``lr_d`` / ``lr_g``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from muse.errors import ConfigError

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


def optimizer_settings(model: nn.Module, train_cfg: Any, groups: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-group AdamW overrides from ``model.configure_optimizers(train_cfg)`` (``{}`` each by default).

    Unknown groups or keys and non-positive learning rates are one-line ConfigErrors.
    """
    from muse.core.optim import OPTIMIZER_KEYS

    fn = getattr(model, "configure_optimizers", None)
    raw = (fn(train_cfg) if callable(fn) else None) or {}
    name = getattr(model, "model_name", type(model).__name__)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{name}.configure_optimizers must return {{group: {{setting: value}}}}, "
                          f"got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(groups))
    if unknown:
        raise ConfigError(f"{name}.configure_optimizers names unknown parameter group(s) {', '.join(unknown)}; "
                          f"groups: {', '.join(groups)}")
    out: dict[str, dict[str, Any]] = {}
    for g in groups:
        settings = {k: v for k, v in dict(raw.get(g) or {}).items() if v is not None}
        bad = sorted(set(settings) - set(OPTIMIZER_KEYS))
        if bad:
            raise ConfigError(f"{name}.configure_optimizers: unknown setting(s) {', '.join(bad)} for group {g!r}; "
                              f"valid: {', '.join(OPTIMIZER_KEYS)}")
        if "lr" in settings and not float(settings["lr"]) > 0:
            raise ConfigError(f"{name}: learning rate of group {g!r} must be positive, got {settings['lr']!r}")
        out[g] = settings
    return out

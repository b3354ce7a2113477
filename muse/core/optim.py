"""AdamW with decay / no-decay groups and warmup + cosine (or linear) schedules."""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
from torch import nn

from muse.core.config import TrainConfig

OPTIMIZER_KEYS = ("lr", "betas", "eps", "weight_decay")
"""AdamW settings a model may set per parameter group (see :func:`muse.core.module.optimizer_settings`)."""


def adamw(params: list[nn.Parameter], cfg: TrainConfig, device: torch.device,
          overrides: Mapping[str, Any] | None = None) -> torch.optim.AdamW:
    """Matrices (dim >= 2) get weight decay; biases and norm gains do not.

    ``overrides`` (keys of :data:`OPTIMIZER_KEYS`) replace ``cfg``'s lr, betas, eps or
    weight decay for this optimiser only; the schedule then scales *its* lr.
    """
    o = dict(overrides or {})
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    wd = float(o.get("weight_decay", cfg.weight_decay))
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device.type == "cuda"
    b1, b2 = o.get("betas", (cfg.beta1, cfg.beta2))
    return torch.optim.AdamW(groups, lr=float(o.get("lr", cfg.lr)), betas=(float(b1), float(b2)),
                             eps=float(o.get("eps", 1e-8)), fused=fused)


def lr_lambda(cfg: TrainConfig, total_steps: int | None) -> Callable[[int], float]:
    """Multiplier of the base lr at each step: linear warmup, then decay to ``min_lr``.

    It multiplies each optimiser's own base lr, so a group whose lr a model set (see
    :func:`muse.core.module.optimizer_settings`) decays to ``lr_group * min_lr / lr``.
    """
    floor = cfg.min_lr / cfg.lr if cfg.lr > 0 else 0.0
    warm = max(0, cfg.warmup_steps)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        if cfg.schedule == "constant" or not total_steps or total_steps <= warm:
            return 1.0
        frac = min(1.0, (step - warm) / max(1, total_steps - warm))
        if cfg.schedule == "linear":
            return floor + (1.0 - floor) * (1.0 - frac)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * frac))

    return f

"""AdamW with decay / no-decay groups and warmup + cosine (or linear) schedules."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from muse.core.config import TrainConfig


def adamw(params: list[nn.Parameter], cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """Matrices (dim >= 2) get weight decay; biases and norm gains do not."""
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)


def lr_lambda(cfg: TrainConfig, total_steps: int | None) -> Callable[[int], float]:
    """Multiplier of ``cfg.lr`` at each step: linear warmup, then decay to ``min_lr``."""
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

"""What every autoregressive token model in muse shares: the loss and the decoding interface.

Training batches are ``{"input": LongTensor[B, T], "target": LongTensor[B, T]}``;
``target`` holds the next token of each input position, or ``IGNORE_INDEX``
(-100) where nothing should be predicted (padding). :func:`lm_loss` is the one
cross-entropy both models use.

For decoding (:mod:`muse.sampling.sampler`) a model offers

* ``forward(idx, state=None) -> (logits[B, T, V], state)``: with a ``state``
  from an earlier call, ``idx`` holds only the *new* tokens and the model
  continues from where it stopped (RNN hidden state, transformer KV cache);
* ``reorder_state(state, indices) -> state``: keep/duplicate batch rows
  (beam search, selecting sequences);
* ``max_context``: the most tokens the model can look at (``None``: unbounded).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from muse.core.module import Batch, StepContext
from muse.errors import DataError

IGNORE_INDEX = -100
"""Target value of positions that carry no prediction (padding)."""


def lm_loss(logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean next-token cross-entropy (nats) over targets that are not ``IGNORE_INDEX``.

    Returns ``loss``, ``ntokens`` (count of scored targets, a tensor) and ``acc``
    (share of scored targets predicted exactly by the argmax). A batch with no
    scored target has loss 0.
    """
    flat_logits = logits.reshape(-1, logits.size(-1)).float()
    flat_target = target.reshape(-1)
    keep = flat_target != IGNORE_INDEX
    ntokens = keep.sum()
    total = F.cross_entropy(flat_logits, flat_target, ignore_index=IGNORE_INDEX, reduction="sum")
    denom = ntokens.clamp(min=1)
    with torch.no_grad():
        hits = ((flat_logits.argmax(-1) == flat_target) & keep).sum()
    return {"loss": total / denom, "ntokens": ntokens, "acc": hits.float() / denom}


def check_lm_batch(batch: Batch, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``input`` and ``target`` of a batch, after checking names, shapes and id range."""
    missing = [k for k in ("input", "target") if k not in batch]
    if missing:
        raise DataError(f"language-model batch lacks {', '.join(missing)} (has: {', '.join(sorted(batch))})")
    inp, tgt = batch["input"], batch["target"]
    if inp.dim() != 2 or inp.shape != tgt.shape:
        raise DataError(
            f"language-model batch needs input and target of one shape [B, T], got {tuple(inp.shape)} and {tuple(tgt.shape)}"
        )
    if inp.numel() and (int(inp.min()) < 0 or int(inp.max()) >= vocab_size):
        raise DataError(
            f"input ids must lie in 0..{vocab_size - 1} (model vocab_size), got {int(inp.min())}..{int(inp.max())}"
        )
    return inp, tgt


class TokenLM(nn.Module):
    """Base of the token language models: ``loss`` and parameter count on top of ``forward``."""

    config: Any

    def loss(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Next-token cross-entropy of ``batch`` (see :func:`lm_loss`)."""
        inp, tgt = check_lm_batch(batch, self.config.vocab_size)
        logits, _ = self(inp)
        return lm_loss(logits, tgt)

    def reorder_state(self, state: Any, indices: torch.Tensor) -> Any:
        raise NotImplementedError

    @property
    def max_context(self) -> int | None:
        return None

    def num_parameters(self) -> int:
        """Number of trainable parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

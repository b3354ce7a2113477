"""Pluggable hard constraints for decoding, shared by melodies and poems.

A constraint looks at a sequence (prompt + tokens generated so far) and says
which token ids may come next. The sampler intersects the masks of all active
constraints and never samples outside them, so constraints are *hard*: a
sequence that finishes obeys them. ``check`` runs once before generation and
raises :class:`muse.errors.ConstraintError` when the constraint cannot be met
with this tokenizer (e.g. a required character is not in the vocabulary).
"""
from __future__ import annotations

from typing import Sequence

import torch


class Constraint:
    def check(self, tokenizer) -> None:  # noqa: ANN001 - any Tokenizer
        """Raise ConstraintError if unsatisfiable with this tokenizer."""

    def max_tokens(self) -> int | None:
        """The most tokens a sequence this constraint accepts can take (None: no bound known).
        Callers size their generation budget with it, so a form never runs out of tokens."""
        return None

    def allowed(self, seq: Sequence[int]) -> torch.Tensor | None:
        """Bool mask ``[vocab_size]`` of ids allowed next, or None for no restriction."""
        raise NotImplementedError


def combine_masks(masks: list[torch.Tensor | None]) -> torch.Tensor | None:
    """AND of the non-None masks (None if all are None)."""
    out: torch.Tensor | None = None
    for m in masks:
        if m is None:
            continue
        out = m.clone() if out is None else out & m
    return out

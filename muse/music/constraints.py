"""Hard constraints for melody decoding: allowed pitches (key/scale, range) and length."""
from __future__ import annotations

from typing import Sequence

import torch

from muse.errors import ConstraintError
from muse.generate.constraints import Constraint
from muse.tokenizers.base import Tokenizer


class MelodyConstraint(Constraint):
    """Every note-on is one of ``pitches`` (model space); the melody ends after ``total_steps``.

    The first note comes within ``max_lead_in`` steps (0: the first step is a
    note; default: a pick-up of at most two bars and never the whole melody, so
    no melody is silent). Works with the melody-event tokenizer (one token per
    grid step) and with REMI (length counted in bars; no lead-in rule).
    """

    def __init__(self, tokenizer: Tokenizer, pitches: set[int] | None, total_steps: int, steps_per_bar: int,
                 max_lead_in: int | None = None):
        self.tok = tokenizer
        if max_lead_in is None:
            max_lead_in = min(2 * steps_per_bar, total_steps - steps_per_bar)
        self.max_lead_in = max(0, max_lead_in)
        self.total_steps, self.steps_per_bar = total_steps, steps_per_bar
        v = tokenizer.vocab_size
        self.base = torch.ones(v, dtype=torch.bool)
        self.base[[tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id]] = False
        self.pitch_ids = [i for i in range(v) if tokenizer.pitch_of(i) is not None]  # type: ignore[attr-defined]
        self._pitch_ids = set(self.pitch_ids)
        if pitches is not None:
            for i in self.pitch_ids:
                if tokenizer.pitch_of(i) not in pitches:  # type: ignore[attr-defined]
                    self.base[i] = False
        self.notes_only = torch.zeros(v, dtype=torch.bool)
        self.notes_only[self.pitch_ids] = True
        self.notes_only &= self.base
        self.only_eos = torch.zeros(v, dtype=torch.bool)
        self.only_eos[tokenizer.eos_id] = True
        self.remi = tokenizer.kind == "remi"
        if self.remi:
            self.bar_id = tokenizer.token_to_id("Bar")  # type: ignore[attr-defined]
            self.no_bar = self.base.clone()
            self.no_bar[self.bar_id] = False

    def check(self, tokenizer: Tokenizer) -> None:
        if not any(self.base[i] for i in self.pitch_ids):
            raise ConstraintError("no pitch of the requested key/scale/range is in the model's vocabulary "
                                  f"({self.tok.id_to_token(self.pitch_ids[0])}..{self.tok.id_to_token(self.pitch_ids[-1])})")

    def _body(self, seq: Sequence[int]) -> Sequence[int]:
        bos = self.tok.bos_id
        last = max((i for i, t in enumerate(seq) if t == bos), default=-1)
        return seq[last + 1:]

    def allowed(self, seq: Sequence[int]) -> torch.Tensor:
        body = self._body(seq)
        if not self.remi:
            if len(body) >= self.total_steps:
                return self.only_eos
            if len(body) == self.max_lead_in and not self._pitch_ids.intersection(body):
                return self.notes_only
            return self.base
        bars = sum(1 for t in body if t == self.bar_id)
        total_bars = -(-self.total_steps // self.steps_per_bar)
        if bars >= total_bars:
            # finish the last bar's notes, then end instead of starting another bar
            m = self.no_bar.clone()
            m[self.tok.eos_id] = True
            return m
        if len(body) == 0:
            return self.base
        return self.base

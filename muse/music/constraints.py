"""Hard constraints for melody decoding: allowed pitches (key/scale, range), length and pick-up."""
from __future__ import annotations

from typing import Sequence

import torch

from muse.errors import ConstraintError
from muse.sampling.constraints import Constraint
from muse.music.metrics import estimate_key
from muse.music.tokenizer import MusicTokenizer


class MelodyConstraint(Constraint):
    """Every note is one of ``pitches`` (model space); the melody ends after ``total_steps``.

    The first note comes within ``max_lead_in`` steps (0: the first step is a
    note; default: a pick-up of at most two bars and never the whole melody, so
    no melody is silent), where the tokenizer can tell how long the opening rest
    is. Where the melody must end, the tokenizer says
    (:meth:`~muse.music.tokenizer.MusicTokenizer.closing_mask`). With ``final_steps`` the
    melody ends on a cadence: its last note the tonic (``tonic_pc``, else the key the notes
    before the last bar suggest) starting on one of those steps and held to the end, where
    the tokenizer can steer endings (:meth:`~muse.music.tokenizer.MusicTokenizer.cadence_mask`).
    """

    def __init__(self, tokenizer: MusicTokenizer, pitches: set[int] | None, total_steps: int, steps_per_bar: int,
                 max_lead_in: int | None = None, *, final_steps: Sequence[int] = (), tonic_pc: int | None = None):
        self.tok = tokenizer
        self.final_steps = sorted(final_steps)
        """Cadence: grid steps on which the last note may start (empty: no cadence rule)."""
        self.tonic_pc = tonic_pc
        """The cadence's tonic in model space; None: the key the melody so far suggests."""
        self._tonics: dict[tuple[int, ...], int] = {}
        if max_lead_in is None:
            max_lead_in = min(2 * steps_per_bar, total_steps - steps_per_bar)
        self.max_lead_in = max(0, max_lead_in)
        self.total_steps, self.steps_per_bar = total_steps, steps_per_bar
        v = tokenizer.vocab_size
        self.base = torch.ones(v, dtype=torch.bool)
        self.base[[tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id]] = False
        self.pitch_ids = [i for i in range(v) if tokenizer.pitch_of(i) is not None]
        if pitches is not None:
            for i in self.pitch_ids:
                if tokenizer.pitch_of(i) not in pitches:
                    self.base[i] = False
        self.notes_only = torch.zeros(v, dtype=torch.bool)
        self.notes_only[self.pitch_ids] = True
        self.notes_only &= self.base

    def check(self, tokenizer: MusicTokenizer) -> None:
        if not any(self.base[i] for i in self.pitch_ids):
            raise ConstraintError("no pitch of the requested key/scale/range is in the model's vocabulary "
                                  f"({self.tok.id_to_token(self.pitch_ids[0])}..{self.tok.id_to_token(self.pitch_ids[-1])})")

    def _tonic(self, body: Sequence[int]) -> int:
        """The cadence's tonic: the one asked, else the key of the notes before the last bar (kept per prefix)."""
        if self.tonic_pc is not None:
            return self.tonic_pc
        body = self.tok.strip_controls(body)
        head = tuple(int(t) for t in body[: self.final_steps[0]]) if len(body) >= self.final_steps[0] else ()
        if head not in self._tonics:
            self._tonics[head] = estimate_key(self.tok.decode_ids(list(head)))[0]
        return self._tonics[head]

    def _body(self, seq: Sequence[int]) -> Sequence[int]:
        bos = self.tok.bos_id
        last = max((i for i, t in enumerate(seq) if t == bos), default=-1)
        return seq[last + 1:]

    def allowed(self, seq: Sequence[int]) -> torch.Tensor:
        body = self._body(seq)
        closing = self.tok.closing_mask(body, self.total_steps, self.steps_per_bar, self.base)
        if closing is not None:
            return closing
        if self.final_steps:
            cadence = self.tok.cadence_mask(body, self.total_steps, self.final_steps, self._tonic(body), self.base)
            if cadence is not None:
                return cadence
        if self.tok.opening_rest(body) == self.max_lead_in:
            return self.notes_only
        return self.base

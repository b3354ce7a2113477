"""The music-tokenizer protocol: what melody code may ask of any music tokenizer.

Code outside a tokenizer never branches on its kind. It encodes with
:meth:`MusicTokenizer.encode_melody`, which returns the ids *and* the
:class:`Transform` the tokenizer applied (transposition to a home key, octave
folding), and decodes with :meth:`MusicTokenizer.decode_melody`, which undoes
that transform. Constraints ask the tokenizer about structure (which ids are
pitches, where a melody must end, how long the opening rest is) through the
methods below.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch

from muse.errors import DataError
from muse.music.melody import Melody
from muse.tokenizers.base import Tokenizer


@dataclass(frozen=True)
class Transform:
    """What encoding did to pitches: model pitch = real pitch + ``semitones``."""

    semitones: int = 0

    def to_model(self, pitch: int) -> int:
        return pitch + self.semitones

    def to_real(self, pitch: int) -> int:
        return pitch - self.semitones


def check_melody(melody: Melody, steps_per_quarter: int) -> None:
    """DataError unless ``melody`` is monophonic and on a grid of ``steps_per_quarter``."""
    if melody.steps_per_quarter != steps_per_quarter:
        raise DataError(
            f"melody is on a grid of {melody.steps_per_quarter} steps per quarter; "
            f"this tokenizer uses {steps_per_quarter}"
        )
    try:
        melody.validate()
    except ValueError as err:
        raise DataError(f"not a monophonic melody: {err}") from None


class MusicTokenizer(Tokenizer):
    """Base of the melody tokenizers. Subclasses implement the methods that raise."""

    steps_per_quarter: int = 4

    # ---- encode / decode
    def encode_melody(self, melody: Melody) -> tuple[list[int], Transform]:
        """Ids of ``melody`` (no BOS/EOS) and the transform applied before encoding."""
        raise NotImplementedError

    def transform_for(self, key: tuple[int, str] | None) -> Transform:
        """The transform :meth:`encode_melody` applies to a melody in ``key`` (before octave folding)."""
        return Transform()

    def decode_ids(self, ids: Sequence[int]) -> Melody:
        """Melody of the ids in model space, metadata from the tokens where they carry it."""
        raise NotImplementedError

    def decode_melody(self, ids: Sequence[int], transform: Transform = Transform(),
                      like: Melody | None = None) -> Melody:
        """Melody of ``ids`` with ``transform`` undone. ``like`` gives the tempo, meter and key
        where the tokens carry none."""
        mel = self.decode_ids(ids)
        if transform.semitones:
            mel = mel.transpose(-transform.semitones)
            mel = replace(mel, notes=[replace(n, pitch=fold_pitch(n.pitch, 0, 127)) for n in mel.notes])
        if like is not None:
            mel = replace(mel, qpm=like.qpm if self.tempo_of_ids(ids) is None else mel.qpm,
                          time_signature=mel.time_signature if self.meter_of_ids(ids) else like.time_signature,
                          key=mel.key if self.key_of_ids(ids) else like.key)
        return mel

    def encode(self, item: Melody) -> list[int]:
        return self.encode_melody(item)[0]

    def decode(self, ids: Sequence[int]) -> Melody:
        return self.decode_ids(ids)

    # ---- what the tokens say about metadata (None: they say nothing)
    def tempo_of_ids(self, ids: Sequence[int]) -> float | None:
        return None

    def meter_of_ids(self, ids: Sequence[int]) -> tuple[int, int] | None:
        return None

    def key_of_ids(self, ids: Sequence[int]) -> tuple[int, str] | None:
        return None

    # ---- structure, for constraints and budgets
    def pitch_of(self, i: int) -> int | None:
        """Model-space pitch a note-starting id plays; None for any other id."""
        raise NotImplementedError

    def max_tokens(self, steps: int) -> int:
        """Upper bound on the tokens of a melody of ``steps`` grid steps (for generation budgets)."""
        raise NotImplementedError

    def closing_mask(self, body: Sequence[int], total_steps: int, steps_per_bar: int,
                     allowed: torch.Tensor) -> torch.Tensor | None:
        """Once ``body`` (tokens after BOS) reaches ``total_steps``, the ids allowed to finish it
        (derived from ``allowed``, always including EOS); None while the melody goes on."""
        raise NotImplementedError

    def opening_rest(self, body: Sequence[int]) -> int | None:
        """Grid steps of rest so far when ``body`` has no note yet, for the pick-up rule;
        None when a note has come, or when the tokenizer cannot tell."""
        return None

    def cadence_mask(self, body: Sequence[int], total_steps: int, final_steps: Sequence[int], tonic_pc: int,
                     allowed: torch.Tensor) -> torch.Tensor | None:
        """The ids allowed next so that the melody ends on a cadence: its last note a tonic
        (model-space pitch class ``tonic_pc``) starting on one of the grid steps ``final_steps``
        (strong beats of the last bar) and held to ``total_steps``. None where the rule does not
        restrict this step, and always None for a tokenizer that cannot steer endings (the default)."""
        return None


def close_at_bar(body: Sequence[int], bar_id: int, eos_id: int, total_steps: int, steps_per_bar: int,
                 allowed: torch.Tensor) -> torch.Tensor | None:
    """:meth:`MusicTokenizer.closing_mask` of bar-based tokens (REMI-like): in the last bar,
    finish its notes, then end instead of starting another bar."""
    bars = sum(1 for t in body if t == bar_id)
    if bars < -(-total_steps // steps_per_bar):
        return None
    m = allowed.clone()
    m[bar_id] = False
    m[eos_id] = True
    return m


def fold_pitch(pitch: int, low: int, high: int) -> int:
    """Move ``pitch`` by octaves into [low, high] (the range must span an octave)."""
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch

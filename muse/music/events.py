"""Magenta-style melody events: one token per grid step.

Each step is ``ON_p`` (a note of pitch p starts), ``OFF`` (the sounding note stops)
or ``HOLD`` (nothing changes: the note or the rest goes on). With ``squash=True``
the pitch range defaults to Magenta's [48, 84) and notes outside it are folded
by octaves; with ``transpose_to_key=True`` a melody whose key is known is first
moved to C major / A minor (and by whole octaves to sit best in the range).
:meth:`MelodyEventTokenizer.encode_melody` returns that transposition as a
:class:`~muse.music.tokenizer.Transform`, which ``decode_melody`` undoes.

With ``controls`` (``data.control``) the vocabulary ends with the control tokens
(:func:`~muse.music.tokenizer.control_names`): the prefix after BOS gives the
meter (decoded melodies take it), corpus, mode and tonic. Under
``transpose_to_key`` the tonic is the model-space one, always C (major-like) or A
(minor-like), so it only repeats the key's quality: ``mode`` is the control that
tells such a model something (major, minor, dorian, mixolydian...).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from muse.errors import ConfigError, DataError
from muse.music.melody import Melody, Note
from muse.music.tokenizer import MusicTokenizer, Transform, check_melody, control_names, fold_pitch, parse_controls

_SPECIALS = ("PAD", "BOS", "EOS")


def key_offset(key: tuple[int, str] | None) -> int:
    """Semitones (in -6..5) that move ``key`` to C major or A minor; 0 for no key."""
    if key is None:
        return 0
    tonic, mode = key
    target = 9 if mode == "minor" else 0
    return (target - tonic + 6) % 12 - 6


def best_octave(pitches: Sequence[int], low: int, high: int) -> int:
    """Multiple of 12 that puts most pitches in [low, high] (ties: closest to the middle);
    0 when all pitches already fit."""
    if not pitches or all(low <= p <= high for p in pitches):
        return 0
    mean = sum(pitches) / len(pitches)
    middle = (low + high) / 2

    def score(k: int) -> tuple[int, float]:
        inside = sum(low <= p + 12 * k <= high for p in pitches)
        return inside, -abs(mean + 12 * k - middle)

    return 12 * max(range(-11, 12), key=score)


class MelodyEventTokenizer(MusicTokenizer):
    """Ids: 0 PAD, 1 BOS, 2 EOS, 3 OFF, 4 HOLD, then ON_min_pitch .. ON_max_pitch, then the control tokens."""

    kind = "melody-events"
    off_id = 3
    hold_id = 4
    _first_pitch_id = 5

    def __init__(
        self,
        min_pitch: int | None = None,
        max_pitch: int | None = None,
        *,
        squash: bool = True,
        transpose_to_key: bool = True,
        steps_per_quarter: int = 4,
        controls: Sequence[str] | str = (),
        corpora: Sequence[str] = (),
    ):
        self.squash = squash
        self.transpose_to_key = transpose_to_key
        self.steps_per_quarter = steps_per_quarter
        self.min_pitch = (48 if squash else 0) if min_pitch is None else int(min_pitch)
        self.max_pitch = (83 if squash else 127) if max_pitch is None else int(max_pitch)
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise ConfigError(f"melody-events pitch range {self.min_pitch}..{self.max_pitch} must lie in 0..127")
        if squash and self.max_pitch - self.min_pitch < 11:
            raise ConfigError(f"squash needs a pitch range of at least an octave, not {self.min_pitch}..{self.max_pitch}")
        self.controls = parse_controls(controls)
        self.corpora = tuple(corpora) if "corpus" in self.controls else ()
        if "corpus" in self.controls and not self.corpora:
            raise ConfigError("a corpus control needs the corpus names (corpora)")
        self._controls_first = self._first_pitch_id + self.max_pitch - self.min_pitch + 1
        self._control_tokens = control_names(self.controls, self.corpora)
        self._control_index = {t: self._controls_first + k for k, t in enumerate(self._control_tokens)}

    # ---------------------------------------------------------------- vocabulary

    @property
    def vocab_size(self) -> int:
        return self._controls_first + len(self._control_tokens)

    def note_on_id(self, pitch: int) -> int | None:
        """Id of ``ON_pitch``, or None when the pitch is outside the vocabulary."""
        if self.min_pitch <= pitch <= self.max_pitch:
            return self._first_pitch_id + pitch - self.min_pitch
        return None

    def pitch_of(self, i: int) -> int | None:
        """Pitch of a note-on id, None for any other id."""
        if self._first_pitch_id <= i < self._controls_first:
            return self.min_pitch + i - self._first_pitch_id
        return None

    def id_to_token(self, i: int) -> str:
        if 0 <= i < len(_SPECIALS):
            return _SPECIALS[i]
        if i == self.off_id:
            return "OFF"
        if i == self.hold_id:
            return "HOLD"
        if self._controls_first <= i < self.vocab_size:
            return self._control_tokens[i - self._controls_first]
        pitch = self.pitch_of(i)
        if pitch is None:
            raise DataError(f"id {i} outside the melody-events vocabulary of {self.vocab_size}")
        return f"ON_{pitch}"

    def token_to_id(self, token: str) -> int:
        names = {**{s: i for i, s in enumerate(_SPECIALS)}, "OFF": self.off_id, "HOLD": self.hold_id}
        if token in names:
            return names[token]
        if token in self._control_index:
            return self._control_index[token]
        if token.startswith("ON_") and token[3:].lstrip("-").isdigit():
            i = self.note_on_id(int(token[3:]))
            if i is not None:
                return i
        raise DataError(f"unknown melody-events token {token!r}")

    # ---------------------------------------------------------------- encode / decode

    def transform_for(self, key: tuple[int, str] | None) -> Transform:
        return Transform(key_offset(key) if self.transpose_to_key else 0)

    def encode_melody(self, melody: Melody) -> tuple[list[int], Transform]:
        """Ids and the transposition applied before encoding (``transpose_to_key`` and ``squash``)."""
        check_melody(melody, self.steps_per_quarter)
        offset = self.transform_for(melody.key).semitones
        pitches = [p + offset for p in melody.pitches]
        if self.squash:
            octave = best_octave(pitches, self.min_pitch, self.max_pitch)
            offset += octave
            pitches = [fold_pitch(p + octave, self.min_pitch, self.max_pitch) for p in pitches]
        ids = [self.hold_id] * melody.length
        prev_end: int | None = None
        for note, pitch in zip(melody.notes, pitches):
            on = self.note_on_id(pitch)
            if on is None:
                raise DataError(f"pitch {pitch} outside melody-events range {self.min_pitch}..{self.max_pitch}")
            if prev_end is not None and prev_end < note.start:
                ids[prev_end] = self.off_id
            ids[note.start] = on
            prev_end = note.end
        if prev_end is not None and prev_end < len(ids):
            ids[prev_end] = self.off_id
        return ids, Transform(offset)

    def decode_ids(self, ids: Sequence[int]) -> Melody:
        """Melody of the events (specials and controls skipped), at 120 qpm with no key, in the
        meter of a ``TimeSig`` control, else 4/4."""
        meter = self.meter_of_ids(ids)
        notes: list[Note] = []
        current: tuple[int, int] | None = None
        step = 0
        for i in ids:
            i = int(i)
            if i < len(_SPECIALS) or self._controls_first <= i < self.vocab_size:
                continue
            if i != self.hold_id:
                if i != self.off_id and self.pitch_of(i) is None:
                    raise DataError(f"id {i} outside the melody-events vocabulary of {self.vocab_size}")
                if current is not None:
                    notes.append(Note(current[0], step, current[1]))
                    current = None
                if i != self.off_id:
                    current = (step, self.pitch_of(i))  # type: ignore[assignment]
            step += 1
        if current is not None:
            notes.append(Note(current[0], step, current[1]))
        return Melody(notes, self.steps_per_quarter, time_signature=meter or (4, 4), total_steps=step)

    def meter_of_ids(self, ids: Sequence[int]) -> tuple[int, int] | None:
        """The meter of a ``TimeSig`` control in ``ids``, None without one."""
        if "meter" not in self.controls:
            return None
        return self.controls_of_ids(ids).get("meter")

    # ---------------------------------------------------------------- structure

    def max_tokens(self, steps: int) -> int:
        return steps + 1

    def closing_mask(self, body: Sequence[int], total_steps: int, steps_per_bar: int,
                     allowed: torch.Tensor) -> torch.Tensor | None:
        body = self.strip_controls(body)
        if len(body) < total_steps:
            return None
        only_eos = torch.zeros_like(allowed)
        only_eos[self.eos_id] = True
        return only_eos

    def cadence_mask(self, body: Sequence[int], total_steps: int, final_steps: Sequence[int], tonic_pc: int,
                     allowed: torch.Tensor) -> torch.Tensor | None:
        body = self.strip_controls(body)
        t = len(body)  # one token per grid step
        if not final_steps or t < final_steps[0] or t >= total_steps:
            return None
        tonics = [i for i in range(self._first_pitch_id, self._controls_first)
                  if bool(allowed[i]) and self.pitch_of(i) % 12 == tonic_pc]
        if not tonics:
            return None
        only = torch.zeros_like(allowed)
        if any(int(body[s]) in tonics for s in final_steps if s < t):  # the final note has come: hold it
            only[self.hold_id] = True
            return only
        if t == final_steps[-1]:  # the last strong beat: the final note now
            only[tonics] = True
            return only
        return None

    def opening_rest(self, body: Sequence[int]) -> int | None:
        body = self.strip_controls(body)
        if any(self.pitch_of(int(t)) is not None for t in body):
            return None
        return len(body)

    # ---------------------------------------------------------------- state

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_pitch": self.min_pitch,
            "max_pitch": self.max_pitch,
            "squash": self.squash,
            "transpose_to_key": self.transpose_to_key,
            "steps_per_quarter": self.steps_per_quarter,
            **({"controls": list(self.controls)} if self.controls else {}),
            **({"corpora": list(self.corpora)} if self.corpora else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MelodyEventTokenizer":
        return cls(
            d.get("min_pitch"), d.get("max_pitch"), squash=d.get("squash", True),
            transpose_to_key=d.get("transpose_to_key", True), steps_per_quarter=d.get("steps_per_quarter", 4),
            controls=d.get("controls", ()), corpora=d.get("corpora", ()),
        )

"""REMI tokens for monophonic melodies: bars, positions in the bar, pitches, durations.

A melody becomes ``Bar TimeSig_n/d [Key_X] [Tempo_q] (Position_k Pitch_p Duration_d)*
Bar ...``: one ``Bar`` per bar (an empty bar is a lone ``Bar``), the time signature,
key and tempo after the first one, and three tokens per note. Positions count grid
steps from the bar line, so the vocabulary follows the meter; durations count grid
steps too. Notes longer than ``max_duration`` are *clipped* to it. Decoding gives
back the notes exactly (durations within range), the time signature and the key;
the melody's length comes back rounded up to whole bars, and the tempo as the
nearest tempo bin when ``tempo_bins`` is on.

With ``controls`` (``data.control``) a control prefix may come before the first
``Bar``: its meter is the vocabulary's own ``TimeSig`` token (so the prefix's meter
is the melody's), and ``Corpus_``, ``Mode_`` and ``Tonic_`` tokens are appended to
the vocabulary (``Tonic_D`` names a tonic, where ``Key_D`` is the key D major).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from muse.errors import ConfigError, DataError
from muse.music.melody import Melody, Note
from muse.music.theory import bar_steps, TIME_SIGNATURES, key_from_number, key_name, parse_time_signature, ts_name
from muse.music.tokenizer import MusicTokenizer, Transform, check_melody, close_at_bar, control_names, parse_controls

DEFAULT_TIME_SIGNATURES = TIME_SIGNATURES
_SPECIALS = ("PAD", "BOS", "EOS")


def _key_name(key: tuple[int, str]) -> str:
    return key_name(key, "short")


def tempo_values(bins: int, low: float = 40.0, high: float = 240.0) -> list[float]:
    """``bins`` tempi (qpm) spaced evenly in log scale from ``low`` to ``high``."""
    if bins == 1:
        return [120.0]
    return [round(low * (high / low) ** (i / (bins - 1)), 1) for i in range(bins)]


class RemiTokenizer(MusicTokenizer):
    """Meter-aware REMI vocabulary for :class:`~muse.music.melody.Melody`."""

    kind = "remi"

    def __init__(
        self,
        *,
        steps_per_quarter: int = 4,
        min_pitch: int = 0,
        max_pitch: int = 127,
        max_duration: int | None = None,
        time_signatures: Sequence[str | Sequence[int]] | None = None,
        use_key: bool = True,
        tempo_bins: int = 0,
        controls: Sequence[str] | str = (),
        corpora: Sequence[str] = (),
    ):
        if not 0 <= min_pitch <= max_pitch <= 127:
            raise ConfigError(f"REMI pitch range {min_pitch}..{max_pitch} must lie in 0..127")
        self.steps_per_quarter = int(steps_per_quarter)
        self.min_pitch, self.max_pitch = int(min_pitch), int(max_pitch)
        self.max_duration = int(max_duration or 16 * self.steps_per_quarter)
        sigs = [parse_time_signature(t) for t in (time_signatures or DEFAULT_TIME_SIGNATURES)]
        for ts in sigs:
            steps = ts[0] * self.steps_per_quarter * 4 / ts[1]
            if ts[0] <= 0 or steps != int(steps):
                raise ConfigError(f"time signature {ts_name(ts)} does not fit a grid of {steps_per_quarter} steps per quarter")
        self.time_signatures = list(dict.fromkeys(sigs))
        self.use_key = bool(use_key)
        self.tempo_bins = int(tempo_bins)
        self.max_positions = max(self._bar_steps(ts) for ts in self.time_signatures)

        tokens = list(_SPECIALS) + ["Bar"]
        tokens += [f"Position_{k}" for k in range(self.max_positions)]
        tokens += [f"Pitch_{p}" for p in range(self.min_pitch, self.max_pitch + 1)]
        tokens += [f"Duration_{d}" for d in range(1, self.max_duration + 1)]
        tokens += [f"TimeSig_{ts_name(ts)}" for ts in self.time_signatures]
        if self.use_key:
            tokens += [f"Key_{_key_name((pc, mode))}" for mode in ("major", "minor") for pc in range(12)]
        self._tempi = tempo_values(self.tempo_bins) if self.tempo_bins > 0 else []
        tokens += [f"Tempo_{q:g}" for q in self._tempi]
        self.controls = parse_controls(controls)
        self.corpora = tuple(corpora) if "corpus" in self.controls else ()
        if "corpus" in self.controls and not self.corpora:
            raise ConfigError("a corpus control needs the corpus names (corpora)")
        names = [n for n in control_names(self.controls, self.corpora) if not n.startswith("TimeSig_")]
        tokens += [n for n in names if n not in tokens]
        self._tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}
        self.bar_id = self._ids["Bar"]
        self._pos0 = self._ids["Position_0"]
        self._pitch0 = self._ids[f"Pitch_{self.min_pitch}"]
        self._dur1 = self._ids["Duration_1"]
        self._ts0 = self._ids[f"TimeSig_{ts_name(self.time_signatures[0])}"]
        self._key0 = self._ids["Key_C"] if self.use_key else -1
        self._tempo0 = self._ids[f"Tempo_{self._tempi[0]:g}"] if self._tempi else -1

    def _bar_steps(self, ts: tuple[int, int]) -> int:
        return bar_steps(ts, self.steps_per_quarter)

    # ---------------------------------------------------------------- vocabulary

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def id_to_token(self, i: int) -> str:
        if not 0 <= i < len(self._tokens):
            raise DataError(f"id {i} outside the REMI vocabulary of {self.vocab_size}")
        return self._tokens[i]

    def token_to_id(self, token: str) -> int:
        if token not in self._ids:
            raise DataError(f"unknown REMI token {token!r}")
        return self._ids[token]

    def note_on_id(self, pitch: int) -> int | None:
        """Id of ``Pitch_pitch`` (a note starts with it), None outside the range."""
        return self._pitch0 + pitch - self.min_pitch if self.min_pitch <= pitch <= self.max_pitch else None

    def pitch_of(self, i: int) -> int | None:
        """Pitch of a ``Pitch_p`` id, None for any other id."""
        k = i - self._pitch0
        return self.min_pitch + k if 0 <= k <= self.max_pitch - self.min_pitch else None

    def position_id(self, k: int) -> int | None:
        return self._pos0 + k if 0 <= k < self.max_positions else None

    def position_of(self, i: int) -> int | None:
        k = i - self._pos0
        return k if 0 <= k < self.max_positions else None

    def duration_id(self, steps: int) -> int | None:
        return self._dur1 + steps - 1 if 1 <= steps <= self.max_duration else None

    def duration_of(self, i: int) -> int | None:
        d = i - self._dur1 + 1
        return d if 1 <= d <= self.max_duration else None

    def time_signature_of(self, i: int) -> tuple[int, int] | None:
        k = i - self._ts0
        return self.time_signatures[k] if 0 <= k < len(self.time_signatures) else None

    def time_signature_id(self, ts: tuple[int, int]) -> int:
        """Id of ``TimeSig_n/d``; DataError naming the signature when unsupported."""
        ts = parse_time_signature(ts)
        if ts not in self.time_signatures:
            names = " ".join(ts_name(t) for t in self.time_signatures)
            raise DataError(f"time signature {ts_name(ts)} is not supported by this REMI vocabulary (supported: {names})")
        return self._ts0 + self.time_signatures.index(ts)

    def key_of(self, i: int) -> tuple[int, str] | None:
        if not self.use_key:
            return None
        k = i - self._key0
        return key_from_number(k) if 0 <= k < 24 else None

    def tempo_of(self, i: int) -> float | None:
        k = i - self._tempo0
        return self._tempi[k] if self._tempi and 0 <= k < len(self._tempi) else None

    # ---------------------------------------------------------------- encode / decode

    def encode_melody(self, melody: Melody) -> tuple[list[int], Transform]:
        """REMI keeps pitches as they are: the transform is always the identity."""
        return self._encode(melody), Transform()

    def _encode(self, melody: Melody) -> list[int]:
        check_melody(melody, self.steps_per_quarter)
        header = [self.time_signature_id(melody.time_signature)]
        if self.use_key and melody.key is not None:
            header.append(self._ids[f"Key_{_key_name(melody.key)}"])
        if self._tempi:
            nearest = min(range(len(self._tempi)), key=lambda k: abs(math.log(self._tempi[k] / melody.qpm)))
            header.append(self._tempo0 + nearest)
        bar = self._bar_steps(melody.time_signature)
        n_bars = max(1, math.ceil(melody.length / bar))
        by_bar: list[list[Note]] = [[] for _ in range(n_bars)]
        for n in melody.notes:
            by_bar[n.start // bar].append(n)
        ids: list[int] = []
        for b, notes in enumerate(by_bar):
            ids.append(self.bar_id)
            if b == 0:
                ids.extend(header)
            for n in notes:
                pitch_id = self.note_on_id(n.pitch)
                if pitch_id is None:
                    raise DataError(f"pitch {n.pitch} outside REMI range {self.min_pitch}..{self.max_pitch}")
                ids += [self._pos0 + n.start - b * bar, pitch_id, self._dur1 + min(n.duration, self.max_duration) - 1]
        return ids

    def decode_ids(
        self,
        ids: Sequence[int],
        *,
        qpm: float = 120.0,
        time_signature: tuple[int, int] = (4, 4),
        key: tuple[int, str] | None = None,
    ) -> Melody:
        """Melody of the tokens (specials skipped). Metadata tokens win over the keyword
        defaults; a ``TimeSig`` sets the meter of its bar (when it comes before the
        bar's first note) and of the bars after it.
        Overlapping notes are cut where the next starts (highest wins at one onset)."""
        first_ts: tuple[int, int] | None = None
        bar_len = self._bar_steps(tuple(time_signature))  # type: ignore[arg-type]
        tok_key: tuple[int, str] | None = None
        tok_qpm: float | None = None
        bar_start: int | None = None  # None until the first Bar (or Position)
        cur_len = bar_len
        pos: int | None = None
        pitch: int | None = None
        notes: list[Note] = []
        for raw in ids:
            i = int(raw)
            if i < len(_SPECIALS):
                continue
            if not 0 <= i < self.vocab_size:
                raise DataError(f"id {i} outside the REMI vocabulary of {self.vocab_size}")
            if i == self.bar_id or (bar_start is None and self.position_of(i) is not None):
                bar_start = 0 if bar_start is None else bar_start + cur_len
                cur_len = bar_len
                pos = pitch = None
                if i == self.bar_id:
                    continue
            if (ts := self.time_signature_of(i)) is not None:
                first_ts = first_ts or ts
                bar_len = self._bar_steps(ts)
                if pos is None:  # before any note of this bar: it is this bar's meter
                    cur_len = bar_len
            elif (k := self.position_of(i)) is not None:
                pos = k
            elif (p := self.pitch_of(i)) is not None:
                pitch = p
            elif (d := self.duration_of(i)) is not None:
                if pos is not None and pitch is not None and bar_start is not None:
                    notes.append(Note(bar_start + pos, bar_start + pos + d, pitch))
                pitch = None
            elif (kk := self.key_of(i)) is not None:
                tok_key = tok_key or kk
            elif (q := self.tempo_of(i)) is not None:
                tok_qpm = tok_qpm or q
        total = 0 if bar_start is None else bar_start + cur_len
        return Melody(
            _monophonic(notes),
            self.steps_per_quarter,
            tok_qpm if tok_qpm is not None else qpm,
            first_ts or tuple(time_signature),  # type: ignore[arg-type]
            tok_key if tok_key is not None else key,
            total_steps=total,
        )

    # ---------------------------------------------------------------- what the tokens say

    def _first(self, ids: Sequence[int], of) -> object:  # noqa: ANN001
        return next((v for i in ids if 0 <= int(i) < self.vocab_size and (v := of(int(i))) is not None), None)

    def tempo_of_ids(self, ids: Sequence[int]) -> float | None:
        return self._first(ids, self.tempo_of)  # type: ignore[return-value]

    def meter_of_ids(self, ids: Sequence[int]) -> tuple[int, int] | None:
        return self._first(ids, self.time_signature_of)  # type: ignore[return-value]

    def key_of_ids(self, ids: Sequence[int]) -> tuple[int, str] | None:
        return self._first(ids, self.key_of)  # type: ignore[return-value]

    def prefix_only_ids(self) -> list[int]:
        """Control ids but the ``TimeSig`` ones, which the bar headers use too."""
        return [i for i in super().prefix_only_ids() if self.time_signature_of(i) is None]

    # ---------------------------------------------------------------- structure

    def max_tokens(self, steps: int) -> int:
        return 4 * steps + 1

    def closing_mask(self, body: Sequence[int], total_steps: int, steps_per_bar: int,
                     allowed: torch.Tensor) -> torch.Tensor | None:
        """In the last bar: finish its notes, then end instead of starting another bar."""
        return close_at_bar(body, self.bar_id, self.eos_id, total_steps, steps_per_bar, allowed)

    # ---------------------------------------------------------------- state

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps_per_quarter": self.steps_per_quarter,
            "min_pitch": self.min_pitch,
            "max_pitch": self.max_pitch,
            "max_duration": self.max_duration,
            "time_signatures": [ts_name(ts) for ts in self.time_signatures],
            "use_key": self.use_key,
            "tempo_bins": self.tempo_bins,
            **({"controls": list(self.controls)} if self.controls else {}),
            **({"corpora": list(self.corpora)} if self.corpora else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RemiTokenizer":
        return cls(**d)


def _monophonic(notes: list[Note]) -> list[Note]:
    """Sorted, non-overlapping: highest note wins at one onset; a note ends where the next starts."""
    out: list[Note] = []
    for n in sorted(notes, key=lambda n: (n.start, -n.pitch)):
        if out and n.start == out[-1].start:
            continue
        if out and out[-1].end > n.start:
            out[-1] = Note(out[-1].start, n.start, out[-1].pitch, out[-1].velocity)
        out.append(n)
    return out

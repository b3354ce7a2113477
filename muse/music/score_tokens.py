"""Multi-track REMI tokens for :class:`~muse.music.score.Score`: bars, positions, tracks, notes.

A score becomes a header, then its bars::

    Program_p ... TimeSig_n/d [Key_K] [Tempo_q]          one Program per part, in part order
    Bar (Position_k (Track_i Pitch_p [Velocity_v] Duration_d)+)* Bar ...    order="remi"
    (Track_i (Bar (Position_k (Pitch_p [Velocity_v] Duration_d)+)*)*)*      order="mmm"

Part ``i`` is ``Track_i``; ``Program_128`` is a drum part
(:data:`~muse.music.score.DRUM_PROGRAM`). In ``remi`` order the notes of every part
share one timeline: at each onset a ``Position`` once, then every note starting
there by track (ascending) and pitch (descending). In ``mmm`` order (Ens et al.'s
MultiTrack Music Machine) the parts follow one another, each with all its bars.
Empty bars are a lone ``Bar``; a score has ``ceil(length / steps_per_bar)`` bars.
Notes longer than ``max_duration`` are *clipped* to it.

Decoding gives back exactly the parts (order, program, drum flag), the notes,
meter and key of a score on the grid whose durations are at most ``max_duration``;
velocities come back as their bin (100 without ``velocity_bins``), the tempo as
its bin with ``tempo_bins`` (else 120), the length rounded up to whole bars (in
``mmm`` order the bars live in the tracks, so a score without parts comes back empty).
Track names are not tokens: decoded parts are named after their program's
General MIDI family ("Piano", "Bass", ...) or "Drums". Decoding never raises on
model output: tokens out of grammar (a note without a position, a track with no
program, ids outside the vocabulary) are skipped.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

from muse.errors import ConfigError, DataError
from muse.music.melody import Note
from muse.music.remi import DEFAULT_TIME_SIGNATURES, tempo_values
from muse.music.score import DRUM_PROGRAM, Part, Score
from muse.music.theory import bar_steps, key_from_number, key_name, parse_time_signature, ts_name
from muse.tokenizers.base import Tokenizer

_SPECIALS = ("PAD", "BOS", "EOS")
_ORDERS = ("remi", "mmm")
GM_FAMILIES = ("Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble", "Brass",
               "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic", "Percussive", "Sound Effects")
"""General MIDI instrument families, eight programs each (program // 8); decoded parts are named by them."""

# kind codes of the id table (index into _KINDS)
_KINDS = ("special", "bar", "position", "track", "program", "pitch", "velocity", "duration", "timesig", "key", "tempo")
(_SPECIAL, _BAR, _POS, _TRACK, _PROGRAM, _PITCH, _VEL, _DUR, _TS, _KEY, _TEMPO) = range(len(_KINDS))
_NOTE_FIELDS = attrgetter("start", "end", "pitch", "velocity")


def part_name(program: int) -> str:
    """The name decoding gives a part of token program ``program``: its General MIDI family, or "Drums".

    Args:
        program: 0..127, or :data:`~muse.music.score.DRUM_PROGRAM` (128) for drums.

    Returns:
        str: e.g. "Piano" for 0..7, "Bass" for 32..39, "Drums" for 128.

    Example:
        >>> from muse.music.score_tokens import part_name
        >>> part_name(33), part_name(128)
        ('Bass', 'Drums')
    """
    return "Drums" if program == DRUM_PROGRAM else GM_FAMILIES[program // 8]


def velocity_values(bins: int) -> list[int]:
    """``bins`` velocities spaced evenly up to 127 (as MidiTok's velocity bins): 32 bins -> 3, 7, ..., 127.

    Args:
        bins: how many bins, 1..127.

    Returns:
        list[int]: the velocity each bin decodes to, ascending.

    Example:
        >>> from muse.music.score_tokens import velocity_values
        >>> velocity_values(4)
        [31, 63, 95, 127]
    """
    return [int(v) for v in np.linspace(0, 127, bins + 1)[1:]]


class ScoreTokenizer(Tokenizer):
    """Multi-track REMI (or MMM-ordered) vocabulary for :class:`~muse.music.score.Score`.

    Args:
        steps_per_quarter: grid steps per quarter note (scores must use the same grid).
        max_tracks: most parts a score may have (``Track_0`` .. ``Track_{max_tracks-1}``).
        min_pitch: lowest pitch token.
        max_pitch: highest pitch token.
        max_duration: longest duration token in steps (default 16 quarter notes); longer notes are clipped.
        velocity_bins: 0 for no velocity tokens (decoded velocity 100), else that many bins.
        time_signatures: the meters of the vocabulary (default :data:`muse.music.theory.TIME_SIGNATURES`).
        use_key: a ``Key_`` token in the header when the score has a key.
        tempo_bins: 0 for no tempo token, else that many log-spaced tempi (40..240 qpm).
        order: "remi" (one timeline, a ``Track`` per note) or "mmm" (part after part).

    Example:
        >>> import muse
        >>> from muse.music.score_tokens import ScoreTokenizer
        >>> tok = ScoreTokenizer()
        >>> s = muse.Score([muse.Part([muse.Note(0, 4, 60), muse.Note(0, 4, 64)]),
        ...                 muse.Part([muse.Note(0, 2, 36)], is_drum=True)])
        >>> [tok.id_to_token(i) for i in tok.encode_score(s)][:6]
        ['Program_0', 'Program_128', 'TimeSig_4/4', 'Bar', 'Position_0', 'Track_0']
        >>> [len(p.notes) for p in tok.decode_score(tok.encode_score(s)).parts]
        [2, 1]
    """

    kind = "score-remi"

    def __init__(
        self,
        *,
        steps_per_quarter: int = 4,
        max_tracks: int = 16,
        min_pitch: int = 0,
        max_pitch: int = 127,
        max_duration: int | None = None,
        velocity_bins: int = 0,
        time_signatures: Sequence[str | Sequence[int]] | None = None,
        use_key: bool = True,
        tempo_bins: int = 0,
        order: str = "remi",
    ):
        if not 0 <= min_pitch <= max_pitch <= 127:
            raise ConfigError(f"score tokenizer pitch range {min_pitch}..{max_pitch} must lie in 0..127")
        if order not in _ORDERS:
            raise ConfigError(f"score tokenizer order {order!r} must be one of {', '.join(_ORDERS)}")
        if int(max_tracks) < 1:
            raise ConfigError(f"score tokenizer max_tracks={max_tracks} must be at least 1")
        if not 0 <= int(velocity_bins) <= 127:
            raise ConfigError(f"score tokenizer velocity_bins={velocity_bins} must lie in 0..127")
        if int(tempo_bins) < 0:
            raise ConfigError(f"score tokenizer tempo_bins={tempo_bins} must be 0 or more")
        self.steps_per_quarter = int(steps_per_quarter)
        if self.steps_per_quarter < 1:
            raise ConfigError(f"score tokenizer steps_per_quarter={steps_per_quarter} must be at least 1")
        self.max_tracks = int(max_tracks)
        self.min_pitch, self.max_pitch = int(min_pitch), int(max_pitch)
        self.max_duration = int(max_duration or 16 * self.steps_per_quarter)
        if self.max_duration < 1:
            raise ConfigError(f"score tokenizer max_duration={max_duration} must be at least 1")
        self.velocity_bins = int(velocity_bins)
        sigs = [parse_time_signature(t) for t in (time_signatures or DEFAULT_TIME_SIGNATURES)]
        for ts in sigs:
            steps = ts[0] * self.steps_per_quarter * 4 / ts[1]
            if steps != int(steps):
                raise ConfigError(f"time signature {ts_name(ts)} does not fit a grid of {steps_per_quarter} "
                                  "steps per quarter")
        self.time_signatures = list(dict.fromkeys(sigs))
        self.use_key = bool(use_key)
        self.tempo_bins = int(tempo_bins)
        self.order = order
        self.max_positions = max(self._bar_steps(ts) for ts in self.time_signatures)
        self._velocities = velocity_values(self.velocity_bins) if self.velocity_bins else []
        self._tempi = tempo_values(self.tempo_bins) if self.tempo_bins else []

        table: list[tuple[str, int, Any]] = [(s, _SPECIAL, None) for s in _SPECIALS]
        table.append(("Bar", _BAR, None))
        table += [(f"Position_{k}", _POS, k) for k in range(self.max_positions)]
        table += [(f"Track_{i}", _TRACK, i) for i in range(self.max_tracks)]
        table += [(f"Program_{p}", _PROGRAM, p) for p in range(DRUM_PROGRAM + 1)]
        table += [(f"Pitch_{p}", _PITCH, p) for p in range(self.min_pitch, self.max_pitch + 1)]
        table += [(f"Velocity_{v}", _VEL, v) for v in self._velocities]
        table += [(f"Duration_{d}", _DUR, d) for d in range(1, self.max_duration + 1)]
        table += [(f"TimeSig_{ts_name(ts)}", _TS, ts) for ts in self.time_signatures]
        if self.use_key:
            keys = [key_from_number(n) for n in range(24)]
            table += [(f"Key_{key_name(k, 'short')}", _KEY, k) for k in keys]
        table += [(f"Tempo_{q:g}", _TEMPO, q) for q in self._tempi]
        self._tokens = [t[0] for t in table]
        self._kind = [t[1] for t in table]
        self._value = [t[2] for t in table]
        self._ids = {t: i for i, t in enumerate(self._tokens)}
        first = {}
        for i, k in enumerate(self._kind):
            first.setdefault(k, i)
        self._bar = first[_BAR]
        self._pos0, self._track0, self._prog0 = first[_POS], first[_TRACK], first[_PROGRAM]
        self._pitch0, self._dur1, self._ts0 = first[_PITCH], first[_DUR], first[_TS]
        self._vel0, self._key0, self._tempo0 = first.get(_VEL, -1), first.get(_KEY, -1), first.get(_TEMPO, -1)
        # velocity 0..127 -> id of its nearest bin (ties go to the lower bin)
        if self._velocities:
            vals = np.asarray(self._velocities)
            nearest = np.abs(np.arange(128)[:, None] - vals[None, :]).argmin(axis=1)
            self._vel_lut = self._vel0 + nearest
        self._width = (self.order == "remi") + 2 + bool(self.velocity_bins)  # tokens of one note

    def _bar_steps(self, ts: tuple[int, int]) -> int:
        return bar_steps(ts, self.steps_per_quarter)

    # ---------------------------------------------------------------- vocabulary

    @property
    def vocab_size(self) -> int:
        """Number of ids (specials included)."""
        return len(self._tokens)

    def id_to_token(self, i: int) -> str:
        """The name of id ``i``.

        Args:
            i: an id below :attr:`vocab_size` (DataError otherwise).

        Returns:
            str: e.g. "Bar", "Position_4", "Track_1", "Pitch_60", "TimeSig_3/4".

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> ScoreTokenizer().id_to_token(3)
            'Bar'
        """
        if not 0 <= i < len(self._tokens):
            raise DataError(f"id {i} outside the score vocabulary of {self.vocab_size}")
        return self._tokens[i]

    def token_to_id(self, token: str) -> int:
        """The id of a token name.

        Args:
            token: a name such as "Pitch_60" (DataError for an unknown one).

        Returns:
            int: its id.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> tok.token_to_id("Bar") == tok.bar_id
            True
        """
        if token not in self._ids:
            raise DataError(f"unknown score token {token!r}")
        return self._ids[token]

    def kind_of(self, i: int) -> tuple[str, int | tuple | float | None]:
        """What id ``i`` is, and its value.

        Args:
            i: an id below :attr:`vocab_size` (DataError otherwise).

        Returns:
            tuple: (kind, value): ("special", None) for PAD/BOS/EOS, ("bar", None), ("position", k),
            ("track", i), ("program", p) (128: drums), ("pitch", p), ("velocity", v), ("duration", d),
            ("timesig", (n, d)), ("key", (pitch class, mode)), ("tempo", qpm).

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> tok.kind_of(tok.pitch_id(60)), tok.kind_of(tok.timesig_id("3/4"))
            (('pitch', 60), ('timesig', (3, 4)))
        """
        if not 0 <= i < len(self._tokens):
            raise DataError(f"id {i} outside the score vocabulary of {self.vocab_size}")
        return _KINDS[self._kind[i]], self._value[i]

    @property
    def bar_id(self) -> int:
        """Id of ``Bar``."""
        return self._bar

    def position_id(self, k: int) -> int | None:
        """Id of ``Position_k``.

        Args:
            k: grid steps from the bar line.

        Returns:
            int | None: the id, None when ``k`` is not below :attr:`max_positions`.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> tok.id_to_token(tok.position_id(4))
            'Position_4'
        """
        return self._pos0 + k if 0 <= k < self.max_positions else None

    def track_id(self, i: int) -> int | None:
        """Id of ``Track_i`` (part ``i`` of the score).

        Args:
            i: the part index.

        Returns:
            int | None: the id, None when ``i`` is not below ``max_tracks``.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> ScoreTokenizer(max_tracks=4).track_id(4) is None
            True
        """
        return self._track0 + i if 0 <= i < self.max_tracks else None

    def program_id(self, p: int) -> int | None:
        """Id of ``Program_p``.

        Args:
            p: General MIDI program 0..127, or 128 (:data:`~muse.music.score.DRUM_PROGRAM`) for drums.

        Returns:
            int | None: the id, None outside 0..128.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> tok.id_to_token(tok.program_id(128))
            'Program_128'
        """
        return self._prog0 + p if 0 <= p <= DRUM_PROGRAM else None

    def pitch_id(self, p: int) -> int | None:
        """Id of ``Pitch_p``.

        Args:
            p: MIDI pitch.

        Returns:
            int | None: the id, None outside ``min_pitch..max_pitch``.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> ScoreTokenizer(min_pitch=21).pitch_id(20) is None
            True
        """
        return self._pitch0 + p - self.min_pitch if self.min_pitch <= p <= self.max_pitch else None

    def duration_id(self, d: int) -> int | None:
        """Id of ``Duration_d``.

        Args:
            d: grid steps.

        Returns:
            int | None: the id, None outside ``1..max_duration``.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> tok.id_to_token(tok.duration_id(4)), tok.duration_id(65)
            ('Duration_4', None)
        """
        return self._dur1 + d - 1 if 1 <= d <= self.max_duration else None

    def velocity_id(self, v: int) -> int | None:
        """Id of the velocity bin nearest ``v``.

        Args:
            v: MIDI velocity (clamped to 0..127).

        Returns:
            int | None: the id, None without velocity tokens (``velocity_bins=0``).

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer(velocity_bins=32)
            >>> tok.id_to_token(tok.velocity_id(100))
            'Velocity_99'
        """
        if not self._velocities:
            return None
        return int(self._vel_lut[min(max(int(v), 0), 127)])

    def timesig_id(self, ts: str | Sequence[int]) -> int:
        """Id of ``TimeSig_n/d``.

        Args:
            ts: "3/4" or (3, 4); DataError naming it when the vocabulary lacks it.

        Returns:
            int: the id.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> tok.id_to_token(tok.timesig_id((6, 8)))
            'TimeSig_6/8'
        """
        ts = parse_time_signature(ts)
        if ts not in self.time_signatures:
            names = " ".join(ts_name(t) for t in self.time_signatures)
            raise DataError(f"time signature {ts_name(ts)} is not supported by this score vocabulary "
                            f"(supported: {names})")
        return self._ts0 + self.time_signatures.index(ts)

    def key_id(self, key: tuple[int, str]) -> int | None:
        """Id of ``Key_K``.

        Args:
            key: (tonic pitch class 0..11, "major" or "minor").

        Returns:
            int | None: the id, None when ``use_key`` is off.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> tok.id_to_token(tok.key_id((2, "minor")))
            'Key_Dm'
        """
        if not self.use_key:
            return None
        return self._key0 + key[0] % 12 + (12 if key[1] == "minor" else 0)

    def tempo_id(self, qpm: float) -> int | None:
        """Id of the tempo bin nearest ``qpm`` (in log scale).

        Args:
            qpm: quarter notes per minute.

        Returns:
            int | None: the id, None without tempo tokens (``tempo_bins=0``).

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer(tempo_bins=3)
            >>> tok.id_to_token(tok.tempo_id(100))
            'Tempo_98'
        """
        if not self._tempi:
            return None
        q = max(float(qpm), 1e-6)
        return self._tempo0 + min(range(len(self._tempi)), key=lambda k: abs(math.log(self._tempi[k] / q)))

    # ---------------------------------------------------------------- structure

    def note_tokens(self, track: int, pitch: int, duration: int, velocity: int = 100) -> list[int]:
        """The ids of one note as ``remi`` order writes it: ``Track_i Pitch_p [Velocity_v] Duration_d``.

        Args:
            track: the part index (DataError when not below ``max_tracks``).
            pitch: MIDI pitch (DataError outside ``min_pitch..max_pitch``).
            duration: grid steps, at least 1; clipped to ``max_duration``.
            velocity: MIDI velocity, written as its bin when there are velocity tokens.

        Returns:
            list[int]: three ids, four with velocity tokens.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> [tok.id_to_token(i) for i in tok.note_tokens(1, 60, 100)]
            ['Track_1', 'Pitch_60', 'Duration_64']
        """
        t, p = self.track_id(track), self.pitch_id(pitch)
        if t is None:
            raise DataError(f"track {track} outside 0..{self.max_tracks - 1} (max_tracks={self.max_tracks})")
        if p is None or duration < 1:
            raise DataError(f"note pitch {pitch} duration {duration}: pitch must lie in "
                            f"{self.min_pitch}..{self.max_pitch} and duration be at least 1")
        ids = [t, p]
        if self._velocities:
            ids.append(self.velocity_id(velocity))  # type: ignore[arg-type]
        ids.append(self._dur1 + min(duration, self.max_duration) - 1)
        return ids

    def header_tokens(self, score: Score) -> list[int]:
        """The header of ``score``: ``Program_p`` per part, ``TimeSig``, then ``Key`` and ``Tempo`` where they apply.

        Args:
            score: the score (DataError for more than ``max_tracks`` parts or a meter outside the vocabulary).

        Returns:
            list[int]: the ids :meth:`encode_score` starts with.

        Example:
            >>> import muse
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> s = muse.Score([muse.Part(program=33), muse.Part(is_drum=True)], key=(7, "major"))
            >>> [tok.id_to_token(i) for i in tok.header_tokens(s)]
            ['Program_33', 'Program_128', 'TimeSig_4/4', 'Key_G']
        """
        if len(score.parts) > self.max_tracks:
            raise DataError(f"score has {len(score.parts)} parts; this tokenizer takes at most "
                            f"max_tracks={self.max_tracks}")
        ids = [self._prog0 + p.token_program for p in score.parts]
        for i, p in enumerate(score.parts):
            if not 0 <= p.token_program <= DRUM_PROGRAM:
                raise DataError(f"part {i} ({p.name or 'unnamed'}): program {p.program} outside 0..127")
        ids.append(self.timesig_id(score.time_signature))
        if self.use_key and score.key is not None:
            ids.append(self.key_id(score.key))  # type: ignore[arg-type]
        if self._tempi:
            ids.append(self.tempo_id(score.qpm))  # type: ignore[arg-type]
        return ids

    def max_tokens(self, steps: int, n_tracks: int, notes: int) -> int:
        """Upper bound on the ids of a score, in any meter of the vocabulary (for generation budgets).

        Args:
            steps: its length in grid steps.
            n_tracks: its parts.
            notes: its notes.

        Returns:
            int: at least ``len(encode_score(score))`` for every such score.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> ScoreTokenizer(time_signatures=["4/4"]).max_tokens(32, 2, 10)
            48
        """
        bars = -(-max(steps, 0) // min(self._bar_steps(ts) for ts in self.time_signatures))
        groups = max(n_tracks, 1) if self.order == "mmm" else 1
        return n_tracks + 3 + groups * (bars + 1) + notes * (self._width + 1)

    def steps_per_bar_of(self, ids: Sequence[int]) -> int | None:
        """Steps per bar of the first ``TimeSig`` id in ``ids`` (the meter :meth:`decode_score` uses).

        Args:
            ids: token ids (others, and ids outside the vocabulary, are passed over).

        Returns:
            int | None: grid steps per bar, None when there is no ``TimeSig``.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> tok.steps_per_bar_of([tok.bar_id, tok.timesig_id("6/8")])
            12
        """
        n = len(self._tokens)
        for raw in ids:
            i = int(raw)
            if 0 <= i < n and self._kind[i] == _TS:
                return self._bar_steps(self._value[i])
        return None

    # ---------------------------------------------------------------- encode

    def encode(self, item: Score) -> list[int]:
        """The base protocol's encode: :meth:`encode_score`.

        Args:
            item: a :class:`~muse.music.score.Score`.

        Returns:
            list[int]: its ids, without BOS/EOS.

        Example:
            >>> import muse
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> len(ScoreTokenizer().encode(muse.Score([muse.Part([muse.Note(0, 4, 60)])])))
            7
        """
        return self.encode_score(item)

    def decode(self, ids: Sequence[int]) -> Score:
        """The base protocol's decode: :meth:`decode_score`.

        Args:
            ids: token ids.

        Returns:
            Score: the decoded score.

        Example:
            >>> import muse
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> tok.decode(tok.encode(muse.Score([muse.Part([muse.Note(0, 4, 60)])]))).parts[0].notes
            [Note(start=0, end=4, pitch=60, velocity=100)]
        """
        return self.decode_score(ids)

    def encode_score(self, score: Score) -> list[int]:
        """The ids of ``score``, without BOS/EOS, in this tokenizer's order (see the module docstring).

        Args:
            score: the score; DataError for one this vocabulary cannot hold (another grid, more than
                ``max_tracks`` parts, a meter or pitch outside it, a note that is not ``0 <= start < end``).
                Notes longer than ``max_duration`` are clipped to it.

        Returns:
            list[int]: header, then ``ceil(length / steps_per_bar)`` bars.

        Example:
            >>> import muse
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer(order="mmm")
            >>> s = muse.Score([muse.Part([muse.Note(0, 4, 60)]), muse.Part([muse.Note(4, 8, 40)], program=33)])
            >>> [tok.id_to_token(i) for i in tok.encode_score(s)][3:]
            ['Track_0', 'Bar', 'Position_0', 'Pitch_60', 'Duration_4', 'Track_1', 'Bar', 'Position_4', 'Pitch_40', 'Duration_4']
        """
        if score.steps_per_quarter != self.steps_per_quarter:
            raise DataError(f"score is on a grid of {score.steps_per_quarter} steps per quarter; "
                            f"this tokenizer uses {self.steps_per_quarter}")
        header = self.header_tokens(score)
        spb = self._bar_steps(score.time_signature)
        mmm = self.order == "mmm"
        counts = [len(p.notes) for p in score.parts]
        n = sum(counts)
        a = np.fromiter(chain.from_iterable(map(_NOTE_FIELDS, chain.from_iterable(p.notes for p in score.parts))),
                        dtype=np.int64, count=4 * n).reshape(n, 4)
        st, en, pi, ve = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
        tr = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        if n:
            bad = (st < 0) | (en <= st) | (pi < self.min_pitch) | (pi > self.max_pitch)
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                part = score.parts[int(tr[j])]
                raise DataError(f"part {int(tr[j])} ({part.name or 'unnamed'}): note start {st[j]} end {en[j]} "
                                f"pitch {pi[j]} needs 0 <= start < end and a pitch in "
                                f"{self.min_pitch}..{self.max_pitch}")
        length = max(int(en.max()) if n else 0, score.total_steps or 0)
        n_bars = -(-length // spb)
        groups = len(counts) if mmm else 1
        g = tr if mmm else np.zeros(n, dtype=np.int64)
        order = np.lexsort((-pi, tr, st, g))
        st, pi, ve, tr, g = st[order], pi[order], ve[order], tr[order], g[order]
        dur = np.minimum(en[order] - st, self.max_duration)
        bar = st // spb
        bk = g * n_bars + bar                       # sorted: the bar (of the group) of each note
        pk = g * (n_bars * spb) + st                # sorted: the onset (of the group) of each note
        new = np.ones(n, dtype=bool)
        new[1:] = pk[1:] != pk[:-1]                 # the first note at its onset gets a Position
        prank = np.zeros(n + 1, dtype=np.int64)     # positions written up to and including note i-1
        np.cumsum(new, out=prank[1:])
        w, pre, H = self._width, int(mmm), len(header)
        note_at = H + pre * (g + 1) + bk + 1 + prank[1:] + w * np.arange(n)
        total = H + pre * groups + groups * n_bars + int(prank[-1]) + w * n
        out = np.empty(total, dtype=np.int64)
        out[:H] = header
        out[note_at[new] - 1] = self._pos0 + (st - bar * spb)[new]
        col = 0
        if not mmm:
            out[note_at] = self._track0 + tr
            col = 1
        out[note_at + col] = self._pitch0 - self.min_pitch + pi
        if self._velocities:
            out[note_at + col + 1] = self._vel_lut[np.clip(ve, 0, 127)]
        out[note_at + w - 1] = self._dur1 - 1 + dur
        c = np.arange(groups * n_bars, dtype=np.int64)
        before = np.searchsorted(bk, c)             # notes before bar c
        out[H + pre * (c // max(n_bars, 1) + 1) + c + prank[before] + w * before] = self._bar
        if mmm:
            gs = np.arange(groups, dtype=np.int64)
            before = np.searchsorted(bk, gs * n_bars)
            out[H + gs + gs * n_bars + prank[before] + w * before] = self._track0 + gs
        return out.tolist()

    # ---------------------------------------------------------------- decode

    def decode_score(self, ids: Sequence[int]) -> Score:
        """The score of ``ids``: the inverse of :meth:`encode_score`, tolerant of sampled garbage.

        Specials, ids outside the vocabulary and tokens out of grammar are skipped; it never raises
        on model output. The first ``TimeSig`` sets the meter (4/4 without one), the first ``Key``
        and ``Tempo`` the key and tempo (else none and 120 qpm); ``Program`` ids before the first
        ``Bar``/``Track`` make the parts, named by :func:`part_name`.

        Args:
            ids: token ids, with or without BOS/EOS.

        Returns:
            Score: parts with notes sorted by (start, pitch); ``total_steps`` is the bars times the steps per bar.

        Example:
            >>> import muse
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer()
            >>> s = tok.decode_score(tok.encode_score(muse.Score([muse.Part([muse.Note(0, 4, 60)], is_drum=True)])))
            >>> s.parts[0].name, s.parts[0].is_drum, s.total_steps
            ('Drums', True, 16)
        """
        kind, value, n_vocab = self._kind, self._value, len(self._tokens)
        clean = [i for i in map(int, ids) if 0 <= i < n_vocab]
        spb = self.steps_per_bar_of(clean) or self._bar_steps((4, 4))
        ts: tuple[int, int] | None = None
        key: tuple[int, str] | None = None
        qpm: float | None = None
        programs: list[int] = []
        notes: list[list[Note]] = []
        mmm = self.order == "mmm"
        body = False        # past the header: no more Program tokens
        bar = -1            # bar index of the current bar (-1: before the first Bar)
        bars = 0            # most bars of any track (mmm) / all bars (remi)
        track = -1 if mmm else None  # mmm: the current part; remi: the current note's part
        pos = pitch = vel = None
        default_vel = 100
        for i in clean:
            k = kind[i]
            if k == _PITCH:
                pitch, vel = value[i], None
                if pos is None or (not mmm and track is None):
                    pitch = None
            elif k == _DUR:
                if pitch is not None:
                    t = track
                    if t is not None and 0 <= t < len(programs):
                        start = bar * spb + pos  # type: ignore[operator]
                        notes[t].append(Note(start, start + value[i], pitch, default_vel if vel is None else vel))
                pitch = vel = None
                if not mmm:
                    track = None
            elif k == _VEL:
                if pitch is not None:
                    vel = value[i]
            elif k == _POS:
                pitch = vel = None
                if not mmm:
                    track = None
                pos = value[i] if bar >= 0 and value[i] < spb and (not mmm or track >= 0) else None  # type: ignore[operator]
            elif k == _TRACK:
                body = True
                pitch = vel = None
                if mmm:
                    track, bar, pos = value[i], -1, None
                else:
                    track = value[i] if pos is not None else None
            elif k == _BAR:
                body = True
                pitch = vel = pos = None
                if not mmm:
                    track = None
                if not mmm or track >= 0:  # type: ignore[operator]
                    bar += 1
                    bars = max(bars, bar + 1)
            elif k == _PROGRAM:
                if not body and len(programs) < self.max_tracks:
                    programs.append(value[i])
                    notes.append([])
            elif k == _TS:
                ts = ts or value[i]
            elif k == _KEY:
                key = key or value[i]
            elif k == _TEMPO:
                qpm = qpm or value[i]
        parts = [Part(sorted(ns, key=_part_order), program=0 if p == DRUM_PROGRAM else p,
                      is_drum=p == DRUM_PROGRAM, name=part_name(p)) for p, ns in zip(programs, notes)]
        return Score(parts, self.steps_per_quarter, qpm if qpm is not None else 120.0, ts or (4, 4), key,
                     total_steps=bars * spb)

    # ---------------------------------------------------------------- state

    def to_dict(self) -> dict[str, Any]:
        """The whole configuration, JSON-able (the vocabulary follows from it).

        Returns:
            dict: the keyword arguments that rebuild this tokenizer.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> ScoreTokenizer(order="mmm").to_dict()["order"]
            'mmm'
        """
        return {
            "steps_per_quarter": self.steps_per_quarter,
            "max_tracks": self.max_tracks,
            "min_pitch": self.min_pitch,
            "max_pitch": self.max_pitch,
            "max_duration": self.max_duration,
            "velocity_bins": self.velocity_bins,
            "time_signatures": [ts_name(ts) for ts in self.time_signatures],
            "use_key": self.use_key,
            "tempo_bins": self.tempo_bins,
            "order": self.order,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoreTokenizer:
        """The tokenizer of a :meth:`to_dict` dict.

        Args:
            d: what :meth:`to_dict` gave.

        Returns:
            ScoreTokenizer: one with the same vocabulary.

        Example:
            >>> from muse.music.score_tokens import ScoreTokenizer
            >>> tok = ScoreTokenizer(velocity_bins=32)
            >>> ScoreTokenizer.from_dict(tok.to_dict()).vocab_size == tok.vocab_size
            True
        """
        return cls(**d)


def _part_order(n: Note) -> tuple[int, int, int, int]:
    return n.start, n.pitch, n.end, n.velocity

"""One decoding constraint for every score task: notes that must be kept, cells the model writes.

A :class:`ScorePlan` names the piece's length in bars, its parts, the notes that
must come out exactly (*fixed*: a harmonization's soprano, the bars an infill
keeps, a primer) and the (part, bar) *cells* the model writes freely, with a
pitch range per part. :class:`ScorePlanConstraint` reads the REMI tokens
generated so far (:class:`~muse.music.score_tokens.ScoreTokenizer`, order
``remi``: bars, onsets in time order, parts in part order at each onset) and
allows only continuations that keep every fixed note, in its place, and put
free notes only in free cells, in range, ending by the last bar.

Why a constraint and not an infilling order (Coconet, DeepBach, MMM's bar
fill): it needs no training beyond the plain left-to-right model, and the same
mechanism gives harmonization, infilling of any bars or parts, and primed
composition. The price is that the model sees the kept notes only up to the
current onset (no look-ahead to the soprano's next phrase); bench/ measures what
that costs against Bach's own parts.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Sequence

import torch

from muse.errors import ConstraintError
from muse.music.melody import Note
from muse.music.voice_leading import CHORD_TEMPLATES
from muse.sampling.constraints import Constraint

_CHORDS = [frozenset((root + t) % 12 for t in shape) for shape in CHORD_TEMPLATES.values() for root in range(12)]
"""Pitch-class sets of every triad and seventh chord on every root."""


@dataclass(frozen=True, order=True)
class FixedNote:
    """A note the decoding must write, in token order ``(bar, position, part, -pitch)``."""

    bar: int
    position: int
    part: int
    neg_pitch: int
    duration: int
    velocity: int = 100

    @property
    def pitch(self) -> int:
        return -self.neg_pitch


@dataclass
class ScorePlan:
    """What a constrained score decoding must produce (see module doc)."""

    num_parts: int
    bars: int
    steps_per_bar: int
    fixed: list[FixedNote] = field(default_factory=list)
    free: set[tuple[int, int]] = field(default_factory=set)
    """(part, bar) cells the model writes."""
    ranges: list[tuple[int, int]] | None = None
    """Per part, the lowest and highest pitch of free notes (None: any)."""
    mono: list[bool] | None = None
    """Per part: at most one onset per position (choir voices); None: all polyphonic."""
    rules: bool = False
    """Four-part rules for free notes of one-voice parts: no parallel fifths or octaves with any voice whose
    note is known, no hidden fifth or octave between soprano and bass, no crossing a neighbour voice, on
    each beat the voices known so far fit one triad or seventh chord, a note outside the chord that starts
    off the beat ends by the next beat, and no bar is silent in every voice (a pitch rule is dropped at a
    step where it would leave no pitch: the chord first, then crossing, then parallels)."""
    beat: int = 4
    """Grid steps per beat (where the chord rule applies)."""

    @classmethod
    def build(cls, parts_notes: Sequence[Sequence[Note]], bars: int, steps_per_bar: int, free: set[tuple[int, int]],
              ranges: list[tuple[int, int]] | None = None, mono: list[bool] | None = None,
              max_duration: int | None = None, rules: bool = False, beat: int = 4) -> "ScorePlan":
        """A plan keeping every note of ``parts_notes`` that starts in a cell not in ``free``."""
        fixed = []
        for part, notes in enumerate(parts_notes):
            for n in notes:
                bar, pos = divmod(n.start, steps_per_bar)
                if bar >= bars or (part, bar) in free:
                    continue
                dur = min(n.duration, max_duration) if max_duration else n.duration
                fixed.append(FixedNote(bar, pos, part, -n.pitch, dur, n.velocity))
        return cls(len(parts_notes), bars, steps_per_bar, sorted(set(fixed)), set(free), ranges, mono, rules, beat)


@dataclass
class _State:
    n: int = 0
    """Tokens of the body read so far."""
    bar: int = -1
    pos: int = -1
    part: int = -1
    """Part of the last note at this position (-1: none yet)."""
    last_pitch: int = 128
    phase: str = "event"
    """event | pitch | velocity | duration."""
    note_part: int = -1
    note_pitch: int = -1
    next_fixed: int = 0
    """Index of the next fixed note not yet written."""
    notes: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    """Per part, the notes written so far as ``(start, end, pitch)``."""
    slice_prev: int | None = None
    """The last onset before the current one at which a note was written (the previous vertical slice)."""
    slice_now: int | None = None
    bar_notes: int = 0
    """Notes written in the current bar."""


class ScorePlanConstraint(Constraint):
    """Allows only REMI continuations that carry out ``plan`` (see module doc).

    ``body_start`` is the index of the first token after the header in every sequence
    (BOS + the tokenizer's header tokens).
    """

    def __init__(self, tokenizer, plan: ScorePlan, body_start: int):  # noqa: ANN001 - a ScoreTokenizer
        self.tok, self.plan, self.body_start = tokenizer, plan, int(body_start)
        if getattr(tokenizer, "order", "remi") != "remi":
            raise ConstraintError("harmonize, infill and primed composition need a model whose tokens interleave "
                                  "the parts (data.order=remi)")
        V = tokenizer.vocab_size
        self.V = V
        self.kinds: list[tuple[str, object]] = [tokenizer.kind_of(i) for i in range(V)]
        self.bar_id, self.eos_id = tokenizer.bar_id, tokenizer.eos_id
        spb = plan.steps_per_bar
        self.pos_ids = [tokenizer.position_id(k) for k in range(spb)]
        if any(i is None for i in self.pos_ids):
            raise ConstraintError(f"this model has no position tokens for bars of {spb} steps")
        self.part_ids = [tokenizer.track_id(i) for i in range(plan.num_parts)]
        self.pitch_ids = torch.tensor([tokenizer.pitch_id(p) if tokenizer.pitch_id(p) is not None else -1
                                       for p in range(128)])
        self.dur_ids = [tokenizer.duration_id(d) for d in range(1, tokenizer.max_duration + 1)]
        self.vel_bins = getattr(tokenizer, "velocity_bins", 0)
        self.vel_ids = [i for i, (k, _) in enumerate(self.kinds) if k == "velocity"]
        self.free_in_bar = [any((j, b) in plan.free for j in range(plan.num_parts)) for b in range(plan.bars)]
        self._fixed_onsets = [sorted(f.bar * spb + f.position for f in plan.fixed if f.part == j)
                              for j in range(plan.num_parts)]
        self._fixed_spans = [sorted((f.bar * spb + f.position, f.bar * spb + f.position + f.duration)
                                    for f in plan.fixed if f.part == j) for j in range(plan.num_parts)]
        self._fixed_at = {(f.part, f.bar * spb + f.position): f.pitch for f in plan.fixed}
        self._pitch_spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for f in plan.fixed:
            start = f.bar * spb + f.position
            self._pitch_spans.setdefault((f.part, f.pitch), []).append((start, start + f.duration))
        for spans in self._pitch_spans.values():
            spans.sort()
        self._cache: dict[int, _State] = {}
        for f in plan.fixed:
            if tokenizer.pitch_id(f.pitch) is None:
                raise ConstraintError(f"pitch {f.pitch} of a kept note is outside this model's range")

    def check(self, tokenizer) -> None:  # noqa: ANN001
        return None

    def max_tokens(self) -> int:
        p = self.plan
        free_cells = len(p.free)
        return p.bars + 2 + 5 * len(p.fixed) + free_cells * p.steps_per_bar * 5

    # ---------------------------------------------------------------- state
    def _advance(self, st: _State, t: int) -> None:
        kind, val = self.kinds[t]
        if st.phase == "event":
            if kind == "bar":
                st.bar, st.pos, st.part, st.last_pitch, st.bar_notes = st.bar + 1, -1, -1, 128, 0
            elif kind == "position":
                st.pos, st.part, st.last_pitch = int(val), -1, 128
            elif kind == "track":
                if int(val) != st.part:
                    st.last_pitch = 128
                st.note_part, st.phase = int(val), "pitch"
        elif st.phase == "pitch" and kind == "pitch":
            st.note_pitch = int(val)
            st.phase = "velocity" if self.vel_bins else "duration"
        elif st.phase == "velocity" and kind == "velocity":
            st.phase = "duration"
        elif st.phase == "duration" and kind == "duration":
            f = self._pending(st)
            if f is not None and (f.bar, f.position, f.part, f.pitch) == (st.bar, st.pos, st.note_part, st.note_pitch):
                st.next_fixed += 1
            onset = st.bar * self.plan.steps_per_bar + st.pos
            if st.slice_now != onset:
                st.slice_prev, st.slice_now = st.slice_now, onset
            st.notes.setdefault(st.note_part, []).append((onset, onset + int(val), st.note_pitch))
            st.bar_notes += 1
            st.part, st.last_pitch, st.phase = st.note_part, st.note_pitch, "event"
        st.n += 1

    def _state(self, seq: Sequence[int]) -> _State:
        body_len = len(seq) - self.body_start
        st = self._cache.get(id(seq))
        if st is None or st.n > body_len:
            st = _State()
        for t in seq[self.body_start + st.n:]:
            self._advance(st, int(t))
        self._cache[id(seq)] = st
        return st

    def _pending(self, st: _State):
        fx = self.plan.fixed
        return fx[st.next_fixed] if st.next_fixed < len(fx) else None

    # ---------------------------------------------------------------- four-part rules
    def _pitch_at(self, st: _State, part: int, step: int, onset: int) -> int | None:
        """The pitch ``part`` sounds at ``step`` (<= the current ``onset``): a note written so far, or a kept
        note starting at the current onset; None for a rest."""
        if step == onset:
            kept = self._fixed_at.get((part, onset))
            if kept is not None:
                return kept
        for a, b, pitch in reversed(st.notes.get(part, ())[-4:]):
            if a <= step < b:
                return pitch
        return None

    def _onset_pitch(self, st: _State, part: int, onset: int) -> int | None:
        """The pitch ``part`` starts at ``onset``, when known (written already, or kept)."""
        kept = self._fixed_at.get((part, onset))
        if kept is not None:
            return kept
        notes = st.notes.get(part)
        if notes and notes[-1][0] == onset:
            return notes[-1][2]
        return None

    def _four_part_rules(self, st: _State, onset: int, ids: torch.Tensor, base: int) -> torch.Tensor:
        """``ids`` (pitch ids from pitch ``base`` up; -1 for banned) with the pitches the four-part rules forbid
        for part ``st.note_part`` at ``onset`` banned too; a rule that would ban every pitch is dropped."""
        j, n = st.note_part, self.plan.num_parts
        cand = [base + k for k in range(ids.numel()) if int(ids[k]) >= 0]
        if not cand:
            return ids
        prev = st.slice_prev if st.slice_now == onset else st.slice_now
        pj = None if prev is None else self._pitch_at(st, j, prev, onset)
        parallel: set[int] = set()
        if pj is not None:
            for i in range(n):
                if i == j or not (self.plan.mono and self.plan.mono[i]):
                    continue
                qi, pi = self._onset_pitch(st, i, onset), self._pitch_at(st, i, prev, onset)
                if qi is None or pi is None or qi == pi:
                    continue  # voice i holds or rests: no parallel motion
                upper, was = (i < j), ((pi - pj) if i < j else (pj - pi)) % 12
                for q in cand:
                    if q == pj or (q > pj) != (qi > pi):
                        continue
                    now = ((qi - q) if upper else (q - qi)) % 12
                    if was in (0, 7) and now == was:
                        parallel.add(q)  # parallel fifth or octave
                    elif {i, j} == {0, n - 1} and now in (0, 7) and abs((qi - pi) if i == 0 else (q - pj)) > 2:
                        parallel.add(q)  # hidden fifth or octave, the soprano leaping
        above = self._pitch_at(st, j - 1, onset, onset) if j > 0 else None
        below = self._pitch_at(st, j + 1, onset, onset) if j + 1 < n else None
        crossing = {q for q in cand if (above is not None and q > above) or (below is not None and q < below)}
        chord: set[int] = set()
        if onset % max(1, self.plan.beat) == 0:
            known = self._sounding_classes(st, j, onset)
            chord = {q for q in cand if not any(known | {q % 12} <= tones for tones in _CHORDS)}
        for banned in (parallel | crossing | chord, parallel | crossing, parallel, crossing):
            if len(banned) < len(cand):
                break
        else:
            return ids
        out = ids.clone()
        for q in banned:
            out[q - base] = -1
        return out

    def _sounding_classes(self, st: _State, j: int, onset: int) -> set[int]:
        """Pitch classes the other one-voice parts sound at ``onset`` (a later voice with the note it holds:
        if it starts another here, that one is checked then)."""
        known = set()
        for i in range(self.plan.num_parts):
            if i != j and self.plan.mono and self.plan.mono[i]:
                pitch = self._pitch_at(st, i, onset, onset)
                if pitch is not None:
                    known.add(pitch % 12)
        return known

    def _in_chord(self, st: _State, j: int, pitch: int, onset: int) -> bool:
        """Whether ``pitch`` in part ``j`` and what the others sound at ``onset`` fit one triad or seventh chord."""
        known = self._sounding_classes(st, j, onset) | {pitch % 12}
        return any(known <= tones for tones in _CHORDS)

    def _sounds_in_bar(self, st: _State, bar: int) -> bool:
        """Whether a note written before ``bar`` still sounds at its first step."""
        start = bar * self.plan.steps_per_bar
        return any(b > start for notes in st.notes.values() for _, b, _ in notes[-2:])

    def _kept_sounds(self, part: int, step: int) -> bool:
        """Whether a kept note of ``part`` is still sounding at ``step`` (a one-voice part cannot start another)."""
        return _inside(self._fixed_spans[part], step)

    # ---------------------------------------------------------------- masks
    def allowed(self, seq: Sequence[int]) -> torch.Tensor | None:
        if len(seq) < self.body_start:
            return None
        st = self._state(seq)
        m = torch.zeros(self.V, dtype=torch.bool)
        f = self._pending(st)
        p = self.plan
        if st.phase == "pitch":
            if (st.note_part, st.bar) not in p.free:
                m[self.tok.pitch_id(f.pitch)] = True
                return m
            lo, hi = p.ranges[st.note_part] if p.ranges else (0, 127)
            hi = min(hi, st.last_pitch - 1) if st.part == st.note_part else hi
            onset = st.bar * p.steps_per_bar + st.pos
            ids = self.pitch_ids[max(lo, 0):max(min(hi, 127) + 1, 0)].clone()
            for (part, pitch), spans in self._pitch_spans.items():  # no onset under a kept note of that pitch
                if part == st.note_part and lo <= pitch <= hi and _inside(spans, onset):
                    ids[pitch - max(lo, 0)] = -1
            if p.rules and p.mono and p.mono[st.note_part]:
                ids = self._four_part_rules(st, onset, ids, max(lo, 0))
            ids = ids[ids >= 0]
            if ids.numel() == 0:
                raise ConstraintError(f"no pitch of this model lies in part {st.note_part + 1}'s range {lo}..{hi}")
            m[ids] = True
            return m
        if st.phase == "velocity":
            if (st.note_part, st.bar) not in p.free:
                m[self.tok.velocity_id(f.velocity)] = True
            else:
                m[self.vel_ids] = True
            return m
        if st.phase == "duration":
            if (st.note_part, st.bar) not in p.free:
                m[self.dur_ids[f.duration - 1]] = True
                return m
            onset = st.bar * p.steps_per_bar + st.pos
            longest = min(len(self.dur_ids), p.bars * p.steps_per_bar - onset)
            mono = bool(p.mono and p.mono[st.note_part])
            onsets = self._fixed_onsets[st.note_part] if mono else \
                [a for a, _ in self._pitch_spans.get((st.note_part, st.note_pitch), ())]
            k = bisect.bisect_right(onsets, onset)  # end before the part's next kept note (of this pitch)
            if k < len(onsets):
                longest = min(longest, onsets[k] - onset)
            beat = max(1, p.beat)
            if p.rules and mono and onset % beat and not self._in_chord(st, st.note_part, st.note_pitch, onset):
                longest = min(longest, beat - onset % beat)  # a note outside the chord ends before the next beat
            for d in range(max(1, longest)):
                m[self.dur_ids[d]] = True
            return m
        # an event: a bar line, a position, a part's note, or the end
        if st.bar < 0:
            m[self.bar_id] = True
            return m
        here = f is not None and (f.bar, f.position) == (st.bar, st.pos)
        if st.pos >= 0:
            for j in range(max(st.part, 0), p.num_parts):
                if j == st.part and ((p.mono and p.mono[j]) or (j, st.bar) not in p.free
                                     or st.last_pitch - 1 < (p.ranges[j][0] if p.ranges else 0)):
                    if not (here and f.part == j):
                        continue
                if here:
                    if j > f.part:
                        break
                    if j < f.part and (j, st.bar) not in p.free:
                        continue
                elif (j, st.bar) not in p.free:
                    continue
                if p.mono and p.mono[j] and (j, st.bar) in p.free and self._kept_sounds(j, st.bar * p.steps_per_bar + st.pos):
                    continue
                m[self.part_ids[j]] = True
        if not here:
            in_bar = f is not None and f.bar == st.bar
            last = f.position if in_bar else p.steps_per_bar - 1
            for q in range(st.pos + 1, last + 1):
                if (in_bar and q == f.position) or (st.bar < p.bars and self.free_in_bar[st.bar]):
                    m[self.pos_ids[q]] = True
            silent = (p.rules and st.bar < p.bars and self.free_in_bar[st.bar] and st.bar_notes == 0
                      and not self._sounds_in_bar(st, st.bar))  # the four-part rules leave no bar empty
            if not in_bar and not silent:
                if st.bar + 1 < p.bars:
                    m[self.bar_id] = True
                elif f is None:
                    m[self.eos_id] = True
        return m


def _inside(spans: list[tuple[int, int]], step: int) -> bool:
    """Whether ``step`` falls inside one of the sorted ``(start, end)`` spans (after its start, before its end)."""
    k = bisect.bisect_right(spans, (step, 1 << 30)) - 1
    return any(a < step < b for a, b in spans[max(0, k - 8):k + 1])

"""Fixed-length, bar-aligned windows of melodies: the unit a melody VAE reads and writes."""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from muse.errors import ConfigError, DataError
from muse.music.melody import Melody, Note

STEPS_PER_QUARTER = 4
BAR_STEPS = 4 * STEPS_PER_QUARTER
"""Steps in one 4/4 bar: the unit of every VAE slice."""


def rest_share(melody: Melody) -> float:
    """Share of the melody's steps where no note sounds (1.0 for an empty melody)."""
    length = melody.length
    if length <= 0:
        return 1.0
    sounding = sum(min(n.end, length) - n.start for n in melody.notes)
    return 1.0 - sounding / length


def melody_windows(melody: Melody, bars: int, *, hop_bars: int | None = None,
                   max_rest: float = 1.0) -> list[tuple[int, Melody]]:
    """Bar-aligned windows of ``bars`` 4/4 bars: ``[(start step, window)]``.

    Windows start every ``hop_bars`` bars (default: ``bars``, so they do not
    overlap) and lie wholly inside the melody. Windows with a larger share of
    silent steps than ``max_rest`` are left out. Each window starts at step 0 and
    is exactly ``bars * 16`` steps long (notes are clipped at its end).
    """
    if bars < 1:
        raise ConfigError(f"bars must be >= 1, got {bars}")
    hop = bars if hop_bars is None else hop_bars
    if hop < 1:
        raise ConfigError(f"hop_bars must be >= 1, got {hop}")
    size = bars * BAR_STEPS
    out = []
    for start in range(0, melody.length - size + 1, hop * BAR_STEPS):
        window = melody.slice(start, start + size)
        if rest_share(window) <= max_rest:
            out.append((start, window))
    return out


def concat_melodies(parts: Sequence[Melody]) -> Melody:
    """One melody playing ``parts`` one after another (each lasting its ``length``)."""
    if not parts:
        raise DataError("no melodies to join")
    notes: list[Note] = []
    t = 0
    for m in parts:
        notes += [Note(n.start + t, n.end + t, n.pitch, n.velocity) for n in m.notes]
        t += m.length
    return replace(parts[0], notes=notes, total_steps=t)



"""The melody as muse sees it: monophonic notes on a metrical grid.

Times are integer grid steps (``steps_per_quarter`` per quarter note, 4 = 16ths,
as Magenta's melodies). This is the currency between MIDI/MusicXML/ABC files,
tokenizers, models, metrics and renderers.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

@dataclass(frozen=True, order=True)
class Note:
    start: int
    """Onset in grid steps."""
    end: int
    """Offset in grid steps (exclusive); ``end > start``."""
    pitch: int
    """MIDI pitch 0..127."""
    velocity: int = 100

    @property
    def duration(self) -> int:
        return self.end - self.start


@dataclass
class Melody:
    """Monophonic melody: notes sorted by onset, never overlapping."""

    notes: list[Note] = field(default_factory=list)
    steps_per_quarter: int = 4
    qpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    key: tuple[int, str] | None = None
    """(tonic pitch class 0..11, "major"|"minor") when known."""
    total_steps: int | None = None
    """Length including any trailing rest; defaults to the last note's end."""

    @property
    def steps_per_bar(self) -> int:
        num, den = self.time_signature
        return int(round(num * self.steps_per_quarter * 4 / den))

    @property
    def length(self) -> int:
        end = self.notes[-1].end if self.notes else 0
        return max(end, self.total_steps or 0)

    @property
    def num_bars(self) -> float:
        return self.length / self.steps_per_bar

    @property
    def pitches(self) -> list[int]:
        return [n.pitch for n in self.notes]

    def transpose(self, semitones: int) -> "Melody":
        key = None if self.key is None else ((self.key[0] + semitones) % 12, self.key[1])
        notes = [replace(n, pitch=n.pitch + semitones) for n in self.notes]
        return replace(self, notes=notes, key=key)

    def slice(self, start: int, end: int) -> "Melody":
        """Notes with onset in [start, end), clipped at ``end`` and shifted to 0."""
        notes = [
            Note(n.start - start, min(n.end, end) - start, n.pitch, n.velocity)
            for n in self.notes
            if start <= n.start < end
        ]
        return replace(self, notes=notes, total_steps=end - start)

    def validate(self) -> None:
        """Raise ValueError unless notes are sorted, non-overlapping and in range."""
        prev_end = 0
        for n in self.notes:
            if not (0 <= n.pitch <= 127):
                raise ValueError(f"pitch {n.pitch} out of MIDI range")
            if n.end <= n.start or n.start < prev_end:
                raise ValueError(f"overlapping or empty note {n}")
            prev_end = n.end


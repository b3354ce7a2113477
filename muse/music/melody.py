"""The melody as muse sees it: monophonic notes on a metrical grid.

Times are integer grid steps (``steps_per_quarter`` per quarter note, 4 = 16ths,
as Magenta's melodies). This is the currency between MIDI/MusicXML/ABC files,
tokenizers, models, metrics and renderers.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pretty_midi
    from music21 import stream


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

    # ---- other libraries' objects (muse.music.interop; pretty_midi/music21 imported on use)
    def to_pretty_midi(self, program: int = 0) -> "pretty_midi.PrettyMIDI":
        """This melody as a ``pretty_midi.PrettyMIDI`` (one instrument of ``program``)."""
        from muse.music.interop import melody_to_pretty_midi

        return melody_to_pretty_midi(self, program=program)

    @classmethod
    def from_pretty_midi(cls, pm: "pretty_midi.PrettyMIDI", steps_per_quarter: int = 4) -> "Melody":
        """The melody line of a ``PrettyMIDI`` (multi-track/polyphonic: reduced as files are)."""
        from muse.music.interop import melody_from_pretty_midi

        return melody_from_pretty_midi(pm, steps_per_quarter)

    def to_music21(self, *, notation: bool = False) -> "stream.Score":
        """This melody as a music21 ``Score`` of one flat ``Part`` (laid out in measures with ``notation=True``)."""
        from muse.music.interop import melody_to_music21

        return melody_to_music21(self, notation=notation)

    @classmethod
    def from_music21(cls, obj: "stream.Stream", steps_per_quarter: int = 4) -> "Melody":
        """The melody line of a music21 Score/Part/Stream (read as score files are)."""
        from muse.music.interop import melody_from_music21

        return melody_from_music21(obj, steps_per_quarter)

    @classmethod
    def coerce(cls, obj: Any, *, what: str = "primer", steps_per_quarter: int = 4) -> "Melody":
        """A Melody from a path, Melody, PrettyMIDI or music21 stream (:func:`muse.music.interop.as_melody`)."""
        from muse.music.interop import as_melody

        return as_melody(obj, what=what, steps_per_quarter=steps_per_quarter)

    def validate(self) -> None:
        """Raise ValueError unless notes are sorted, non-overlapping and in range."""
        prev_end = 0
        for n in self.notes:
            if not (0 <= n.pitch <= 127):
                raise ValueError(f"pitch {n.pitch} out of MIDI range")
            if n.end <= n.start or n.start < prev_end:
                raise ValueError(f"overlapping or empty note {n}")
            prev_end = n.end


"""The score as muse sees it: parts (tracks) of notes on one metrical grid.

A :class:`Score` is the polyphonic currency, as note_seq's NoteSequence is:
files are read into one (:mod:`muse.music.score_io`), multi-track tokenizers
encode and decode one (:mod:`muse.music.score_tokens`), and a
:class:`~muse.music.melody.Melody` is a *view* of a score (:meth:`Score.melody`:
the extraction the melody models use). Times are integer grid steps,
``steps_per_quarter`` per quarter note; notes of one part may overlap (chords).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from muse.music.melody import Melody, Note
from muse.music.theory import bar_steps

DRUM_PROGRAM = 128
"""The program number muse gives drum parts in tokens and part lists (General MIDI has 0..127)."""


@dataclass(frozen=True)
class Part:
    """One track of a score: its notes (possibly overlapping) and how it sounds.

    Example:
        >>> import muse
        >>> bass = muse.Part([muse.Note(0, 8, 36), muse.Note(8, 16, 43)], program=33, name="Bass")
        >>> bass.is_drum, len(bass.notes)
        (False, 2)
    """

    notes: tuple[Note, ...] | list[Note] = ()
    """Notes on the score's grid, sorted by ``(start, pitch)``; may overlap (chords)."""
    program: int = 0
    """General MIDI program 0..127 (ignored for drums)."""
    is_drum: bool = False
    """A percussion part (MIDI channel 10): pitches name drum sounds."""
    name: str = ""
    """The part's name (MIDI track name, MusicXML part name), ``""`` when it has none."""

    @property
    def token_program(self) -> int:
        """``program``, or :data:`DRUM_PROGRAM` for a drum part."""
        return DRUM_PROGRAM if self.is_drum else self.program


@dataclass
class Score:
    """Polyphonic music: parts of notes on one grid, with tempo, meter and key.

    Example:
        >>> import muse
        >>> s = muse.Score([muse.Part([muse.Note(0, 16, 72)], name="Soprano"),
        ...                 muse.Part([muse.Note(0, 16, 48)], name="Bass")], qpm=80.0)
        >>> s.num_bars, [p.name for p in s.parts]
        (1.0, ['Soprano', 'Bass'])
        >>> s.transpose(2).parts[0].notes[0].pitch
        74
    """

    parts: list[Part] = field(default_factory=list)
    """The parts (tracks), in file order."""
    steps_per_quarter: int = 4
    """Grid steps per quarter note (4: a step is a sixteenth note)."""
    qpm: float = 120.0
    """Tempo, in quarter notes per minute."""
    time_signature: tuple[int, int] = (4, 4)
    """(numerator, denominator), e.g. ``(3, 4)``."""
    key: tuple[int, str] | None = None
    """(tonic pitch class 0..11, "major"|"minor") when known."""
    total_steps: int | None = None
    """Length including a trailing rest; defaults to the last note's end."""

    @property
    def steps_per_bar(self) -> int:
        """Grid steps in one bar of the time signature."""
        return bar_steps(self.time_signature, self.steps_per_quarter)

    @property
    def length(self) -> int:
        """Length in steps: the last note's end, or ``total_steps`` when later."""
        end = max((n.end for p in self.parts for n in p.notes), default=0)
        return max(end, self.total_steps or 0)

    @property
    def num_bars(self) -> float:
        """Length in bars (fractional for a partial last bar)."""
        return self.length / self.steps_per_bar

    @property
    def num_notes(self) -> int:
        """Notes in all parts together."""
        return sum(len(p.notes) for p in self.parts)

    def _meta(self) -> dict:
        return dict(steps_per_quarter=self.steps_per_quarter, qpm=self.qpm,
                    time_signature=self.time_signature, key=self.key)

    def transpose(self, semitones: int) -> "Score":
        """A copy shifted by ``semitones`` (drum parts unchanged), the key moved with it.

        Args:
            semitones: the shift, up when positive.

        Returns:
            Score: the transposed copy (this score is unchanged).

        Example:
            >>> import muse
            >>> s = muse.Score([muse.Part([muse.Note(0, 4, 60)])], key=(0, "major"))
            >>> s.transpose(-3).key
            (9, 'major')
        """
        parts = [p if p.is_drum else replace(p, notes=[replace(n, pitch=n.pitch + semitones) for n in p.notes])
                 for p in self.parts]
        key = None if self.key is None else ((self.key[0] + semitones) % 12, self.key[1])
        return replace(self, parts=parts, key=key)

    def part_melody(self, index: int) -> Melody:
        """Part ``index`` as a monophonic melody (its skyline: the highest note wins).

        Args:
            index: the part's position in :attr:`parts`.

        Returns:
            Melody: the part's line, with this score's grid, tempo, meter, key and length.

        Example:
            >>> import muse
            >>> s = muse.Score([muse.Part([muse.Note(0, 4, 60), muse.Note(0, 4, 67)])])
            >>> s.part_melody(0).pitches
            [67]
        """
        from muse.music.extract import skyline

        notes = skyline(sorted(self.parts[index].notes, key=lambda n: (n.start, n.pitch)))  # ties: part order
        total = self.total_steps
        if total is not None and notes and total < notes[-1].end:
            total = None  # as the melody extraction does: a length before the line's end is no length
        return Melody(notes, total_steps=total, **self._meta())

    def melody(self, voices: Literal["melody"] = "melody") -> Melody:
        """The melody the melody models would take from this score.

        Magenta's extraction, as :func:`muse.read_melodies` does on the file: drums
        ignored, the most melodic part chosen, its skyline; an empty melody when no
        pitched part has notes.

        Args:
            voices: ``"melody"`` (the only choice: the most melodic part).

        Returns:
            Melody: the melody, with this score's grid, tempo, meter, key and length.

        Example:
            >>> import muse
            >>> s = muse.Score([muse.Part([muse.Note(0, 16, 48)], name="Bass"),
            ...                 muse.Part([muse.Note(0, 8, 72), muse.Note(8, 16, 74)], name="Melody")])
            >>> s.melody().pitches
            [72, 74]
        """
        from muse.music.extract import Track, choose_melody_track

        spq = self.steps_per_quarter
        tracks = [Track([(n.start / spq, n.end / spq, n.pitch, n.velocity) for n in p.notes], p.name, p.is_drum,
                        p.program) for p in self.parts]
        best = choose_melody_track(tracks, bar_quarters=self.steps_per_bar / spq)
        if best is None:
            return Melody([], total_steps=self.total_steps, **self._meta())
        return self.part_melody(best)

    @classmethod
    def from_melody(cls, melody: Melody, *, program: int = 0, name: str = "Melody") -> "Score":
        """A one-part score of ``melody``.

        Args:
            melody: the melody; its grid, tempo, meter, key and length are the score's.
            program: General MIDI program of the part (0: piano).
            name: the part's name.

        Returns:
            Score: one part holding the melody's notes.

        Example:
            >>> import muse
            >>> s = muse.Score.from_melody(muse.parse_primer("C4 E4 G4"), program=73, name="Flute")
            >>> s.parts[0].program, s.num_notes
            (73, 3)
        """
        return cls([Part(list(melody.notes), program=program, name=name)], melody.steps_per_quarter, melody.qpm,
                   melody.time_signature, melody.key, melody.total_steps)

    def validate(self) -> None:
        """ValueError unless every note lies on the grid with ``0 <= start < end`` and a pitch in 0..127.

        Example:
            >>> import muse
            >>> muse.Score([muse.Part([muse.Note(0, 4, 60)])]).validate()
        """
        for i, p in enumerate(self.parts):
            if not 0 <= p.program <= 127:
                raise ValueError(f"part {i} ({p.name or 'unnamed'}): program {p.program} outside 0..127")
            for n in p.notes:
                if not (0 <= n.start < n.end and 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127):
                    raise ValueError(f"part {i} ({p.name or 'unnamed'}): bad note {n}")


def score_key(score: Score) -> tuple[int, str]:
    """The declared key, else the most likely major/minor key of all pitched notes."""
    if score.key is not None:
        return score.key
    from muse.music.metrics import estimate_key

    notes = sorted(n for p in score.parts if not p.is_drum for n in p.notes)
    return estimate_key(Melody(notes, steps_per_quarter=score.steps_per_quarter))


def home_shift(score: Score) -> int:
    """Semitones (in -6..5) that move the score's key to C major / A minor."""
    from muse.music.events import key_offset

    return key_offset(score_key(score))

"""The melody as muse sees it: monophonic notes on a metrical grid.

Times are integer grid steps (``steps_per_quarter`` per quarter note, 4 = 16ths,
as Magenta's melodies). This is the currency between MIDI/MusicXML/ABC files,
tokenizers, models, metrics and renderers.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from muse.music.theory import bar_steps

if TYPE_CHECKING:
    import pretty_midi
    from music21 import stream


@dataclass(frozen=True, order=True)
class Note:
    """One note of a melody: onset, offset, pitch and velocity on the grid.

    Times are integer grid steps of the melody it belongs to (its
    ``steps_per_quarter``: 4 steps per quarter note means a step is a 16th note).
    Notes are frozen (immutable, hashable) and order by ``(start, end, pitch,
    velocity)``, so ``sorted(notes)`` puts them in onset order.

    Example:
        >>> import muse
        >>> n = muse.Note(start=0, end=4, pitch=60)
        >>> n.duration, n.velocity
        (4, 100)
        >>> louder = muse.Note(4, 6, 62, velocity=110)
    """

    start: int
    """Onset in grid steps."""
    end: int
    """Offset in grid steps (exclusive); ``end > start``."""
    pitch: int
    """MIDI pitch 0..127 (60 is middle C)."""
    velocity: int = 100
    """MIDI velocity 1..127 (loudness); 100 when not given, as notes read from score files get."""

    @property
    def duration(self) -> int:
        """Length in grid steps, ``end - start`` (4 is a quarter note at 4 steps per quarter)."""
        return self.end - self.start


@dataclass
class Melody:
    """Monophonic melody: notes sorted by onset, never overlapping.

    Times are integer grid steps, ``steps_per_quarter`` to a quarter note. This is
    what every melody function of muse takes and returns: files read with
    :func:`muse.read_melodies`, melodies from :func:`muse.generate_melodies` and the
    VAE functions, and what :func:`muse.write_midi`, :func:`muse.render_wav` (through
    a MIDI file) and :func:`muse.compute_metrics` take. Build one from notes, or
    convert from ``pretty_midi``/``music21`` objects with :meth:`from_pretty_midi`,
    :meth:`from_music21` or :meth:`coerce`. :meth:`validate` checks the invariants.

    Example:
        >>> import muse
        >>> tune = muse.Melody([muse.Note(0, 4, 60), muse.Note(4, 8, 64), muse.Note(8, 16, 67)], qpm=96.0)
        >>> tune.length, tune.num_bars, tune.pitches
        (16, 1.0, [60, 64, 67])
        >>> tune.transpose(2).pitches
        [62, 66, 69]
        >>> path = muse.write_midi(tune, "arpeggio.mid")
    """

    notes: list[Note] = field(default_factory=list)
    """The notes, sorted by onset and never overlapping (one sounds at a time); may be empty."""
    steps_per_quarter: int = 4
    """Grid resolution: steps per quarter note (4: a step is a 16th note, as Magenta's melodies)."""
    qpm: float = 120.0
    """Tempo in quarter notes per minute (> 0)."""
    time_signature: tuple[int, int] = (4, 4)
    """Meter as ``(numerator, denominator)``, e.g. ``(3, 4)`` or ``(6, 8)``."""
    key: tuple[int, str] | None = None
    """(tonic pitch class 0..11, "major"|"minor") when known."""
    total_steps: int | None = None
    """Length including any trailing rest; defaults to the last note's end."""

    @property
    def steps_per_bar(self) -> int:
        """Grid steps in one bar of ``time_signature`` (16 for 4/4 at 4 steps per quarter, 12 for 3/4)."""
        return bar_steps(self.time_signature, self.steps_per_quarter)

    @property
    def length(self) -> int:
        """Length in grid steps: the last note's end, or ``total_steps`` when that is longer (a trailing rest)."""
        end = self.notes[-1].end if self.notes else 0
        return max(end, self.total_steps or 0)

    @property
    def num_bars(self) -> float:
        """Length in bars, ``length / steps_per_bar`` (fractional for a partial last bar)."""
        return self.length / self.steps_per_bar

    @property
    def pitches(self) -> list[int]:
        """The MIDI pitches of the notes, in order."""
        return [n.pitch for n in self.notes]

    def transpose(self, semitones: int) -> "Melody":
        """A copy shifted by ``semitones``, its key (when known) moved with it.

        Pitches are not clipped: a shift past 0..127 gives notes that
        :meth:`validate` rejects.

        Args:
            semitones: how far to shift every pitch, in semitones (positive: up,
                negative: down; 12 is an octave).

        Returns:
            Melody: a new melody with the same rhythm, tempo and meter; ``key``'s
            tonic is moved by ``semitones`` modulo 12 (the mode is kept). The
            melody itself is unchanged.

        Example:
            >>> import muse
            >>> tune = muse.Melody([muse.Note(0, 4, 60), muse.Note(4, 8, 64)], key=(0, "major"))
            >>> up = tune.transpose(7)
            >>> up.pitches, up.key
            ([67, 71], (7, 'major'))
        """
        key = None if self.key is None else ((self.key[0] + semitones) % 12, self.key[1])
        notes = [replace(n, pitch=n.pitch + semitones) for n in self.notes]
        return replace(self, notes=notes, key=key)

    def slice(self, start: int, end: int) -> "Melody":
        """Notes with onset in [start, end), clipped at ``end`` and shifted to 0.

        A note sounding into ``start`` from before it is left out; one sounding
        past ``end`` is cut short at ``end``. Tempo, meter and key are kept.

        Args:
            start: first grid step of the excerpt (inclusive, >= 0).
            end: grid step where the excerpt ends (exclusive, > ``start``); may lie
                beyond the melody's end, which gives a trailing rest.

        Returns:
            Melody: the excerpt, its times counted from ``start`` and its
            ``total_steps`` set to ``end - start``.

        Example:
            >>> import muse
            >>> tune = muse.Melody([muse.Note(0, 4, 60), muse.Note(4, 20, 64), muse.Note(20, 24, 67)])
            >>> bar1 = tune.slice(0, 16)
            >>> [(n.start, n.end, n.pitch) for n in bar1.notes], bar1.length
            ([(0, 4, 60), (4, 16, 64)], 16)
        """
        notes = [
            Note(n.start - start, min(n.end, end) - start, n.pitch, n.velocity)
            for n in self.notes
            if start <= n.start < end
        ]
        return replace(self, notes=notes, total_steps=end - start)

    # ---- other libraries' objects (muse.music.interop; pretty_midi/music21 imported on use)
    def to_pretty_midi(self, program: int = 0) -> "pretty_midi.PrettyMIDI":
        """This melody as a ``pretty_midi.PrettyMIDI`` (one instrument of ``program``).

        The object has one instrument named ``melody``, the tempo, time signature
        and key at time 0, and a text event ``"end"`` at the melody's end when it
        ends in a rest. :meth:`from_pretty_midi` reads it back exactly (notes,
        velocities, tempo to 0.01 qpm, meter, key, length). pretty_midi is
        imported here, on first use.

        Args:
            program: General MIDI program (instrument) number 0..127 (default 0,
                acoustic grand piano).

        Returns:
            pretty_midi.PrettyMIDI: the melody in seconds at its tempo. Raises
            :class:`~muse.errors.DataError` when the melody does not
            :meth:`validate`, or has a bad tempo, meter, key or ``program``.

        Example:
            >>> import muse
            >>> tune = muse.Melody([muse.Note(0, 4, 60), muse.Note(4, 8, 64)], qpm=120.0)
            >>> pm = tune.to_pretty_midi(program=73)
            >>> pm.instruments[0].program, pm.instruments[0].notes[1].start
            (73, 0.5)
            >>> pm.write("flute.mid")
        """
        from muse.music.interop import melody_to_pretty_midi

        return melody_to_pretty_midi(self, program=program)

    @classmethod
    def from_pretty_midi(cls, pm: "pretty_midi.PrettyMIDI", steps_per_quarter: int = 4) -> "Melody":
        """The melody line of a ``PrettyMIDI`` (multi-track/polyphonic: reduced as files are).

        A multi-track or polyphonic object is reduced to its melody line exactly
        as a MIDI file is by :func:`muse.read_melodies` (drums ignored, the most
        melodic track, highest note at each time); times are quantised to the grid.

        Args:
            pm: the ``pretty_midi.PrettyMIDI`` to read (from ``pretty_midi.PrettyMIDI("song.mid")``
                or built in memory).
            steps_per_quarter: grid resolution of the melody, in steps per quarter
                note (default 4: 16th notes).

        Returns:
            Melody: the melody line with the object's first tempo, time signature
            and key, and its length (a trailing rest included). Raises
            :class:`~muse.errors.DataError` for another type or an object without
            pitched notes.

        Example:
            >>> import muse
            >>> import pretty_midi
            >>> pm = pretty_midi.PrettyMIDI("song.mid")
            >>> tune = muse.Melody.from_pretty_midi(pm, steps_per_quarter=4)
            >>> same = muse.Melody.from_pretty_midi(tune.to_pretty_midi())
        """
        from muse.music.interop import melody_from_pretty_midi

        return melody_from_pretty_midi(pm, steps_per_quarter)

    def to_music21(self, *, notation: bool = False) -> "stream.Score":
        """This melody as a music21 ``Score`` of one flat ``Part`` (laid out in measures with ``notation=True``).

        The part (named ``melody``) holds the time signature, a quarter-note
        metronome mark, the key when known, then the notes (velocities set) and
        rests in order, with a final rest up to the melody's length.
        :meth:`from_music21` reads it back exactly. music21 is imported here, on
        first use.

        Args:
            notation: False (default): one flat element per note or rest; music21
                lays out measures itself when it writes or shows the score. True:
                lay out the measures now (notes across bar lines become tied
                notes); it reads back the same, but music21's MusicXML writer then
                pads a short last bar with rest.

        Returns:
            music21.stream.Score: the score. Raises :class:`~muse.errors.DataError`
            when the melody does not :meth:`validate`, or has a bad tempo, meter
            or key.

        Example:
            >>> import muse
            >>> tune = muse.Melody([muse.Note(0, 4, 60), muse.Note(4, 8, 64)], key=(0, "major"))
            >>> score = tune.to_music21(notation=True)
            >>> path = score.write("musicxml", fp="tune.musicxml")
        """
        from muse.music.interop import melody_to_music21

        return melody_to_music21(self, notation=notation)

    @classmethod
    def from_music21(cls, obj: "stream.Stream", steps_per_quarter: int = 4) -> "Melody":
        """The melody line of a music21 Score/Part/Stream (read as score files are).

        The stream is read by the same code as MusicXML/ABC files (ties merged,
        grace notes and chord symbols skipped, sounding pitch, every velocity 100);
        several parts or chords are reduced to the melody line as files are.

        Args:
            obj: a music21 ``Score``, ``Part``, ``Opus`` or plain ``Stream`` (from
                ``music21.converter.parse(...)``, ``music21.corpus.parse(...)`` or
                built in memory).
            steps_per_quarter: grid resolution of the melody, in steps per quarter
                note (default 4: 16th notes).

        Returns:
            Melody: the melody line with the stream's first tempo, time signature
            and key, and its length. Raises :class:`~muse.errors.DataError` for
            another type or a stream without pitched notes.

        Example:
            >>> import muse
            >>> from music21 import corpus
            >>> chorale = corpus.parse("bach/bwv66.6")
            >>> tune = muse.Melody.from_music21(chorale, steps_per_quarter=4)
            >>> soprano = muse.Melody.from_music21(chorale.parts[0])
        """
        from muse.music.interop import melody_from_music21

        return melody_from_music21(obj, steps_per_quarter)

    @classmethod
    def coerce(cls, obj: Any, *, what: str = "primer", steps_per_quarter: int = 4) -> "Melody":
        """A Melody from a path, Melody, PrettyMIDI or music21 stream (:func:`muse.music.interop.as_melody`).

        This is how every muse function taking a primer or an input melody reads
        it: a :class:`Melody` is returned as it is; a file is read with
        :func:`muse.read_melodies` (its first melody, logged when it holds more);
        a ``pretty_midi.PrettyMIDI`` or music21 stream is reduced to its melody line
        (:meth:`from_pretty_midi`, :meth:`from_music21`).

        Args:
            obj: a MIDI/MusicXML/ABC file path (``str`` or ``pathlib.Path``), a
                :class:`Melody`, a ``pretty_midi.PrettyMIDI`` or a music21 stream.
            what: how error and log messages name the input (default
                ``"primer"``; e.g. ``"melody"``, ``"theme"``).
            steps_per_quarter: grid resolution for files and foreign objects, in
                steps per quarter note (default 4); a :class:`Melody` keeps its own.

        Returns:
            Melody: the melody. Anything else raises a one-line
            :class:`~muse.errors.DataError` naming its type and the accepted ones.

        Example:
            >>> import muse
            >>> primer = muse.Melody.coerce("primer.mid")
            >>> same = muse.Melody.coerce(primer.to_pretty_midi(), what="melody")
        """
        from muse.music.interop import as_melody

        return as_melody(obj, what=what, steps_per_quarter=steps_per_quarter)

    def validate(self) -> None:
        """Raise ValueError unless notes are sorted, non-overlapping and in range.

        Checks that every pitch lies in 0..127 and that every note is non-empty
        (``end > start``) and starts at or after the previous note's end. Returns
        None when the melody is valid.

        Example:
            >>> import muse
            >>> muse.Melody([muse.Note(0, 4, 60), muse.Note(4, 8, 62)]).validate()
            >>> muse.Melody([muse.Note(0, 4, 60), muse.Note(2, 8, 62)]).validate()
            Traceback (most recent call last):
            ...
            ValueError: overlapping or empty note Note(start=2, end=8, pitch=62, velocity=100)
        """
        prev_end = 0
        for n in self.notes:
            if not (0 <= n.pitch <= 127):
                raise ValueError(f"pitch {n.pitch} out of MIDI range")
            if n.end <= n.start or n.start < prev_end:
                raise ValueError(f"overlapping or empty note {n}")
            prev_end = n.end


"""Melodies to and from pretty_midi and music21 objects, and one coercion for every melody input.

:func:`melody_to_pretty_midi` / :func:`melody_from_pretty_midi` and
:func:`melody_to_music21` / :func:`melody_from_music21` (also
``Melody.to_pretty_midi()``, ``Melody.from_pretty_midi(pm)``, ``Melody.to_music21()``,
``Melody.from_music21(stream)``) are exact on the grid: for a melody with at least
one note, ``from_X(to_X(m), steps_per_quarter=m.steps_per_quarter)`` gives back its
notes, tempo (to 0.01 qpm, what a MIDI tempo event keeps), time signature and key,
and its length: ``total_steps`` comes back as ``m.length`` (a melody read from a file
always has its length set), a trailing rest included. pretty_midi keeps the
trailing rest as a text event ``"end"`` at the melody's end (it counts in
``PrettyMIDI.get_end_time()`` and is written to files); music21 as a final rest.
Velocities survive pretty_midi; music21 objects are read as scores are (every note
velocity 100, as MusicXML/ABC files are read).

Reading a multi-track or polyphonic object gives its melody line exactly as reading
a file does: the same :class:`~muse.music.midi_io.Piece` (tracks in quarter notes,
first tempo, meter and key) goes through :func:`muse.music.extract.extract_melodies`
(drums ignored, the most melodic track, skyline). A music21 object is read by the
same code as MusicXML/ABC files (ties merged, grace notes and chord symbols
skipped, sounding pitch).

pretty_midi and music21 are imported only when one of these functions needs them.
"""
from __future__ import annotations

import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from muse.errors import DataError
from muse.music.extract import extract_melodies
from muse.music.melody import Melody

if TYPE_CHECKING:
    import pretty_midi
    from music21 import stream

    from muse.music.midi_io import Piece

MelodySource = Union[str, "os.PathLike[str]", Melody, "pretty_midi.PrettyMIDI", "stream.Stream"]
"""What every API taking a primer or an input melody accepts (see :func:`as_melody`)."""

ACCEPTED = ("a path to a MIDI/MusicXML/ABC file (str or Path), a muse Melody, a pretty_midi.PrettyMIDI "
            "or a music21 stream (Score, Part or Stream)")

END_MARKER = "end"
"""Text of the pretty_midi text event that marks the end of a melody with a trailing rest."""


# ---------------------------------------------------------------- coercion


def foreign_kind(obj: Any) -> str | None:
    """``"pretty_midi"`` for a ``pretty_midi.PrettyMIDI``, ``"music21"`` for a music21 stream,
    else None (without importing either library: an object of theirs means it is imported)."""
    pm = sys.modules.get("pretty_midi")
    if pm is not None and isinstance(obj, pm.PrettyMIDI):
        return "pretty_midi"
    m21 = sys.modules.get("music21.stream")
    if m21 is not None and isinstance(obj, m21.Stream):
        return "music21"
    return None


def is_melody_source(obj: Any) -> bool:
    """Whether ``obj`` is one melody input :func:`as_melody` takes (not a collection of them)."""
    return isinstance(obj, (Melody, str, os.PathLike)) or foreign_kind(obj) is not None


def type_name(obj: Any) -> str:
    t = type(obj)
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", "__main__") else f"{mod.split('.')[0]}.{t.__qualname__}"


def unsupported(obj: Any, what: str) -> DataError:
    """The one-line error for an input of a type no melody API takes."""
    return DataError(f"{what}: unsupported type {type_name(obj)}; give {ACCEPTED}")


def as_melody(obj: Any, *, what: str = "primer", steps_per_quarter: int = 4) -> Melody:
    """The melody of ``obj``: a :class:`Melody` as it is; a file path read with
    :func:`~muse.music.midi_io.read_melodies` (its first melody, on a grid of
    ``steps_per_quarter``); a ``pretty_midi.PrettyMIDI`` or a music21 stream reduced to
    its melody line as files are. Anything else raises a one-line
    :class:`~muse.errors.DataError` naming its type and the accepted ones; ``what``
    names the input in messages ("primer", "melody", ...)."""
    if isinstance(obj, Melody):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        from muse.data.report import warn
        from muse.music.midi_io import meter_changes, read_melodies
        from muse.music.theory import ts_name

        path = Path(obj)
        mels = read_melodies(path, steps_per_quarter=steps_per_quarter)
        if not mels:
            raise DataError(f"no melody found to use as the {what}", path)
        if len(mels) > 1:
            warn(f"{path}: holds {len(mels)} melodies; using the first as the {what}")
        changes = meter_changes(path)
        if changes:
            (bar, ts), more = changes[0], len(changes) - 1
            warn(f"{path}: the meter changes to {ts_name(ts)} at bar {bar}"
                 + (f" (and {more} more time{'s' if more > 1 else ''})" if more else "")
                 + f"; the {what} is read in {ts_name(mels[0].time_signature)} throughout")
        return mels[0]
    kind = foreign_kind(obj)
    if kind == "pretty_midi":
        return melody_from_pretty_midi(obj, steps_per_quarter)
    if kind == "music21":
        return melody_from_music21(obj, steps_per_quarter)
    raise unsupported(obj, what)


def object_piece(obj: Any, what: str = "melody") -> tuple[Piece, str]:
    """The parsed piece of a pretty_midi or music21 object and how errors name it."""
    kind = foreign_kind(obj)
    if kind == "pretty_midi":
        where = "pretty_midi.PrettyMIDI"
        return _checked(pretty_midi_piece(obj), where), where
    if kind == "music21":
        where = f"music21 {type(obj).__name__}"
        return _checked(music21_piece(obj, where), where), where
    raise unsupported(obj, what)


def _checked(piece: Piece, where: str) -> Piece:
    if not any(t.notes for t in piece.tracks):
        raise DataError(f"{where}: no notes")
    if not any(t.notes and not t.is_drum for t in piece.tracks):
        raise DataError(f"{where}: no pitched notes (drum-only)")
    return piece


def melody_line(piece: Piece, steps_per_quarter: int, where: str) -> Melody:
    """The melody line of a piece, as :func:`~muse.music.midi_io.read_melodies` takes it from a file."""
    mels = extract_melodies(piece.tracks, steps_per_quarter=steps_per_quarter, qpm=piece.qpm,
                            time_signature=piece.time_signature, key=piece.key, end_quarters=piece.end_quarters)
    if not mels:
        raise DataError(f"{where}: no melody found")
    return mels[0]


# ---------------------------------------------------------------- pretty_midi


def _check(melody: Melody, fmt: str) -> tuple[int, int]:
    from muse.errors import ConfigError
    from muse.music.theory import KEY_MODES, parse_time_signature

    if not isinstance(melody, Melody):
        raise unsupported(melody, f"melody to convert to {fmt}")
    try:
        melody.validate()
        ts = parse_time_signature(melody.time_signature)
    except (ValueError, ConfigError) as err:
        raise DataError(f"melody cannot become {fmt}: {err}") from None
    if melody.key is not None and (melody.key[1] not in KEY_MODES or not 0 <= melody.key[0] <= 11):
        raise DataError(f"melody cannot become {fmt}: key {melody.key} is not (0..11, major|minor)")
    if not melody.qpm > 0:
        raise DataError(f"melody cannot become {fmt}: tempo {melody.qpm} qpm")
    return ts


def melody_to_pretty_midi(melody: Melody, program: int = 0) -> pretty_midi.PrettyMIDI:
    """A ``PrettyMIDI`` of the melody: one instrument named ``melody`` (``program``), the
    tempo, time signature and key at time 0, and a text event ``"end"`` at the melody's
    end when it ends in a rest. Ticks per quarter as :func:`~muse.music.midi_io.write_midi`."""
    import pretty_midi

    num, den = _check(melody, "pretty_midi")
    if not 0 <= program <= 127:
        raise DataError(f"MIDI program {program} outside 0..127")
    spq = melody.steps_per_quarter
    resolution = 480 if 480 % spq == 0 else spq * 120
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=float(melody.qpm))
    pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, 0.0))
    if melody.key is not None:
        number = melody.key[0] + (12 if melody.key[1] == "minor" else 0)
        pm.key_signature_changes.append(pretty_midi.KeySignature(number, 0.0))
    sec = 60.0 / (float(melody.qpm) * spq)
    inst = pretty_midi.Instrument(program=program, name="melody")
    inst.notes = [pretty_midi.Note(velocity=max(1, min(127, n.velocity)), pitch=n.pitch, start=n.start * sec,
                                   end=n.end * sec) for n in melody.notes]
    pm.instruments.append(inst)
    last = melody.notes[-1].end if melody.notes else 0
    if melody.length > last:
        pm.text_events.append(pretty_midi.Text(END_MARKER, melody.length * sec))
    return pm


def pretty_midi_piece(pm: pretty_midi.PrettyMIDI) -> Piece:
    """The piece of a ``PrettyMIDI``, read as :mod:`muse.music.midi_io` reads a MIDI file."""
    from muse.music.midi_io import pretty_midi_piece as read

    return read(pm)


def melody_from_pretty_midi(pm: pretty_midi.PrettyMIDI, steps_per_quarter: int = 4) -> Melody:
    """The melody line of a ``PrettyMIDI`` on a grid of ``steps_per_quarter`` (a multi-track
    or polyphonic one is reduced as files are); DataError when it has no pitched notes."""
    if foreign_kind(pm) != "pretty_midi":
        raise unsupported(pm, "from_pretty_midi")
    piece, where = object_piece(pm)
    return melody_line(piece, steps_per_quarter, where)


# ---------------------------------------------------------------- music21


def melody_to_music21(melody: Melody, *, notation: bool = False) -> stream.Score:
    """A music21 ``Score`` with one ``Part`` (``melody``): time signature, tempo
    (a quarter-note metronome mark), key when known, then the notes and rests in
    order (velocities set), a final rest up to the melody's length; flat, one element
    per note or rest (music21 lays out measures when it writes or shows it: MusicXML
    written from it reads back as the same melody). ``notation=True`` lays out the
    measures now (notes across bar lines tied); it reads back the same, but music21's
    MusicXML writer then fills a short last bar with rest."""
    from music21 import duration, key, meter, note, pitch, stream, tempo

    num, den = _check(melody, "music21")
    spq = melody.steps_per_quarter

    def ql(steps: int) -> Fraction:
        return Fraction(steps, spq)

    part = stream.Part()
    part.partName = "melody"
    part.insert(0, meter.TimeSignature(f"{num}/{den}"))
    part.insert(0, tempo.MetronomeMark(number=float(melody.qpm), referent=duration.Duration(1.0)))
    if melody.key is not None:
        part.insert(0, key.Key(pitch.Pitch(melody.key[0]).name, melody.key[1]))
    t = 0
    for n in melody.notes:
        if n.start > t:
            part.insert(ql(t), note.Rest(quarterLength=ql(n.start - t)))
        el = note.Note(pitch.Pitch(midi=n.pitch), quarterLength=ql(n.duration))
        el.volume.velocity = n.velocity
        part.insert(ql(n.start), el)
        t = n.end
    if melody.length > t:
        part.insert(ql(t), note.Rest(quarterLength=ql(melody.length - t)))
    score = stream.Score()
    score.insert(0, part)
    if notation:
        score.makeNotation(inPlace=True)
    return score


def music21_piece(obj: stream.Stream, where: str = "music21 stream") -> Piece:
    """Tracks and metadata of a music21 Score/Part/Opus/Stream, read as MusicXML/ABC files are."""
    from music21 import stream

    from muse.music.midi_io import _score_piece

    if isinstance(obj, (stream.Opus, stream.Part)) or (isinstance(obj, stream.Score) and obj.parts):
        return _score_piece(obj, where)
    # a plain Stream (or Measure, Voice, a Score without parts): the score reader reads parts, so read it as one
    flat = obj.flatten()
    part = stream.Part()
    for el in flat:
        part.coreInsert(flat.elementOffset(el), el)
    part.coreElementsChanged()
    return _score_piece(part, where)


def melody_from_music21(obj: stream.Stream, steps_per_quarter: int = 4) -> Melody:
    """The melody line of a music21 stream (Score, Part, Opus or plain Stream) on a grid of
    ``steps_per_quarter``, read as score files are; DataError when it has no pitched notes."""
    if foreign_kind(obj) != "music21":
        raise unsupported(obj, "from_music21")
    piece, where = object_piece(obj)
    return melody_line(piece, steps_per_quarter, where)

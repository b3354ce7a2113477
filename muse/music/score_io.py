"""Scores in and out of files: MIDI, MusicXML and ABC in; type-1 MIDI and MusicXML out.

Reading parses a file into a :class:`~muse.music.midi_io.Piece` (tracks in quarter
notes, exactly as :func:`muse.read_melodies` does: symusic for MIDI, music21 for
MusicXML and ABC) and quantises every part to the grid, keeping its polyphony
(:func:`score_from_piece`). Writing gives one MIDI track (or one MusicXML part) per
part, with its name and program; drums go on MIDI channel 10.
"""
from __future__ import annotations

import io
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

from muse.errors import ConfigError, DataError
from muse.music.extract import _quantize
from muse.music.melody import Note
from muse.music.midi_io import (
    ABC_SUFFIXES,
    MIDI_SUFFIXES,
    SCORE_SUFFIXES,
    Piece,
    load_piece,
    mido_key,
)
from muse.music.score import Part, Score
from muse.music.theory import KEY_MODES, parse_time_signature

DRUM_CHANNEL = 9
"""MIDI channel (0-based) of drum parts: General MIDI's channel 10."""


# ---------------------------------------------------------------- reading


def score_from_piece(piece: Piece, steps_per_quarter: int = 4) -> Score:
    """The :class:`~muse.music.score.Score` of a parsed piece: every note on the grid
    (rounded to the nearest step, at least one step long; notes before time 0 dropped),
    parts without notes dropped; tempo, meter, key and the piece's end (``total_steps``;
    rounding may put it a step before the last note's end, which :attr:`Score.length` covers) carried.

    Identical duplicates (same start, end and pitch) of a part are kept once, the
    first in file order; notes are sorted by ``(start, pitch)``, file order kept
    among equals, so :meth:`Score.melody` picks the notes :func:`muse.read_melodies` picks."""
    parts: list[Part] = []
    for track in piece.tracks:
        seen: set[tuple[int, int, int]] = set()
        notes: list[Note] = []
        for s, e, p, v in _quantize(track.notes, steps_per_quarter):
            if (s, e, p) in seen:
                continue
            seen.add((s, e, p))
            notes.append(Note(s, e, p, v))
        if notes:
            notes.sort(key=lambda n: (n.start, n.pitch))
            parts.append(Part(tuple(notes), program=track.program, is_drum=track.is_drum, name=track.name))
    total = None if piece.end_quarters is None else math.floor(piece.end_quarters * steps_per_quarter + 0.5)
    return Score(parts, steps_per_quarter, piece.qpm, piece.time_signature, piece.key, total)


def read_score(path: str | Path, *, steps_per_quarter: int = 4) -> Score:
    """Read a .mid/.midi/.musicxml/.xml/.mxl file, or an .abc file of one tune, as a polyphonic score.

    Every part (MIDI track, MusicXML part) becomes a :class:`muse.Part` with its
    name, program and drum flag, its notes quantised to the grid and chords kept;
    the first tempo, time signature and declared key are kept.

    Args:
        path: the file to read (an unreadable, unsupported or note-less file, or
            an ABC file of several tunes, raises DataError naming it).
        steps_per_quarter: grid resolution, in steps per quarter note (4:
            sixteenth notes); onsets and offsets are rounded to it.

    Returns:
        Score: the parts in file order, with the file's tempo, meter, key and length.

    Example:
        >>> import muse
        >>> s = muse.Score([muse.Part([muse.Note(0, 8, 60), muse.Note(0, 8, 64)], name="Piano"),
        ...                 muse.Part([muse.Note(0, 4, 36)], is_drum=True, name="Drums")])
        >>> _ = muse.write_score(s, "two.mid")
        >>> [(p.name, p.is_drum, len(p.notes)) for p in muse.read_score("two.mid").parts]
        [('Piano', False, 2), ('Drums', True, 1)]
    """
    return score_from_piece(load_piece(path), steps_per_quarter)


# ---------------------------------------------------------------- checks


def _check_score(score: Score, where: str | Path | None) -> tuple[int, int]:
    """The score's (num, den) after checking it can be written; DataError naming ``where`` otherwise."""
    if not isinstance(score, Score):
        raise DataError(f"expected a muse.Score, not {type(score).__name__}", where)
    if not score.parts or not any(p.notes for p in score.parts):
        raise DataError("no notes to write (the score has no part with notes)", where)
    try:
        score.validate()
        ts = parse_time_signature(score.time_signature)
    except (ValueError, ConfigError) as err:
        raise DataError(f"score: {err}", where) from None
    if score.key is not None and (score.key[1] not in KEY_MODES or not 0 <= score.key[0] <= 11):
        raise DataError(f"score: key {score.key} is not (0..11, {'|'.join(map(repr, KEY_MODES))})", where)
    if score.steps_per_quarter < 1:
        raise DataError(f"score: steps_per_quarter {score.steps_per_quarter} is not positive", where)
    return ts


# ---------------------------------------------------------------- MIDI


def part_channels(score: Score) -> list[int]:
    """The MIDI channel of each part: drums on 9 (channel 10), the others 0, 1, ... skipping 9
    (cycling after 15 pitched parts)."""
    pitched = [c for c in range(16) if c != DRUM_CHANNEL]
    out, i = [], 0
    for p in score.parts:
        if p.is_drum:
            out.append(DRUM_CHANNEL)
        else:
            out.append(pitched[i % len(pitched)])
            i += 1
    return out


def score_midi_file(score: Score, *, where: str | Path | None = None) -> Any:
    """The type-1 ``mido.MidiFile`` of ``score``: a conductor track (tempo, time and key
    signatures) and one track per part (its name, program change and notes on its channel,
    :func:`part_channels`). ``where`` names the file in errors."""
    import mido

    from muse.music.midi_io import _track

    num, den = _check_score(score, where)
    spq = score.steps_per_quarter
    resolution = 480 if 480 % spq == 0 else spq * 120
    tps = resolution // spq
    end = score.length * tps
    meta = [(0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(score.qpm))),
            (0, 1, mido.MetaMessage("time_signature", numerator=num, denominator=den))]
    if score.key is not None:
        meta.append((0, 2, mido.MetaMessage("key_signature", key=mido_key(score.key))))
    midi = mido.MidiFile(type=1, ticks_per_beat=resolution)
    midi.tracks.append(_track(meta, end))
    for part, ch in zip(score.parts, part_channels(score)):
        events: list[tuple[int, int, Any]] = []
        for n in part.notes:
            events.append((n.start * tps, 1, mido.Message("note_on", channel=ch, note=n.pitch,
                                                          velocity=max(1, n.velocity))))
            events.append((n.end * tps, 0, mido.Message("note_off", channel=ch, note=n.pitch, velocity=0)))
        head = [(0, -1, mido.MetaMessage("track_name", name=part.name)),
                (0, -1, mido.Message("program_change", channel=ch, program=part.program))]
        midi.tracks.append(_track(head + sorted(events, key=lambda e: (e[0], e[1])), end))
    return midi


def score_midi_bytes(score: Score) -> bytes:
    """The standard MIDI file :func:`write_score_midi` writes, as bytes."""
    buf = io.BytesIO()
    score_midi_file(score).save(file=buf)
    return buf.getvalue()


def score_to_pretty_midi(score: Score) -> Any:
    """A ``pretty_midi.PrettyMIDI`` of ``score``: the MIDI file :func:`write_score_midi`
    writes, read back by pretty_midi (one instrument per part with notes)."""
    import pretty_midi

    return pretty_midi.PrettyMIDI(io.BytesIO(score_midi_bytes(score)))


def write_score_midi(score: Score, path: str | Path) -> Path:
    """Write ``score`` as a type-1 standard MIDI file (:func:`score_midi_file`); returns ``path``."""
    from muse.core.files import atomic_file, check_output_file

    path = check_output_file(path)
    midi = score_midi_file(score, where=path)
    with atomic_file(path) as tmp:  # one checked writer: OutputError naming path, never half a file
        midi.save(str(tmp))
    return path


# ---------------------------------------------------------------- MusicXML


def _voices(notes: list[Note]) -> list[list[tuple[int, int, list[Note]]]]:
    """Notes grouped into chords (same start and end), the chords laid into as few
    monophonic voices as hold them: ``[[(start, end, notes), ...], ...]``."""
    chords: dict[tuple[int, int], list[Note]] = {}
    for n in notes:
        chords.setdefault((n.start, n.end), []).append(n)
    voices: list[list[tuple[int, int, list[Note]]]] = []
    for (s, e), group in sorted(chords.items()):
        for v in voices:
            if v[-1][1] <= s:
                v.append((s, e, group))
                break
        else:
            voices.append([(s, e, group)])
    return voices


def score_to_music21(score: Score) -> Any:
    """A music21 ``Score`` of ``score``: one ``Part`` per part (its name, a General MIDI
    instrument of its program, time signature, tempo, key when known), notes sounding
    together for the same time as chords, overlapping ones in further voices, rests
    filling the gaps up to the score's length. Drum parts keep their pitches as notes
    (MusicXML read back gives them as pitched parts)."""
    from music21 import (
        chord,
        duration,
        instrument,
        key,
        meter,
        note,
        pitch,
        stream,
        tempo,
    )

    num, den = _check_score(score, "music21")
    spq = score.steps_per_quarter

    def ql(steps: int) -> Fraction:
        return Fraction(steps, spq)

    out = stream.Score()
    for i, p in enumerate(score.parts):
        part = stream.Part(id=f"P{i + 1}")
        part.partName = p.name or f"Part {i + 1}"
        try:
            inst = instrument.Percussion() if p.is_drum else instrument.instrumentFromMidiProgram(p.program)
        except Exception:  # noqa: BLE001 - music21 has no instrument for some programs
            inst = instrument.Instrument()
            inst.midiProgram = p.program
        inst.partName = part.partName
        part.insert(0, inst)
        part.insert(0, meter.TimeSignature(f"{num}/{den}"))
        if i == 0:
            part.insert(0, tempo.MetronomeMark(number=float(score.qpm), referent=duration.Duration(1.0)))
        if score.key is not None:
            part.insert(0, key.Key(pitch.Pitch(score.key[0]).name, score.key[1]))
        voices = _voices(list(p.notes))
        targets: list[Any] = [part] if len(voices) <= 1 else []
        if not targets:
            for v in range(len(voices)):
                voice = stream.Voice(id=str(v + 1))
                part.insert(0, voice)
                targets.append(voice)
        for target, chords in zip(targets, voices):
            t = 0
            for s, e, group in chords:
                if s > t:
                    target.insert(ql(t), note.Rest(quarterLength=ql(s - t)))
                if len(group) == 1:
                    el = note.Note(pitch.Pitch(midi=group[0].pitch), quarterLength=ql(e - s))
                    el.volume.velocity = group[0].velocity
                else:
                    el = chord.Chord([pitch.Pitch(midi=n.pitch) for n in group], quarterLength=ql(e - s))
                    el.volume.velocity = max(n.velocity for n in group)
                target.insert(ql(s), el)
                t = e
            if score.length > t:
                target.insert(ql(t), note.Rest(quarterLength=ql(score.length - t)))
        out.insert(0, part)
    return out


def write_score_musicxml(score: Score, path: str | Path) -> Path:
    """Write ``score`` as MusicXML (``.musicxml``/``.xml``, or compressed ``.mxl``) through
    music21 (:func:`score_to_music21`); returns ``path``."""
    from muse.core.files import atomic_file, check_output_file
    from muse.music.midi_io import quiet

    from music21 import metadata

    path = check_output_file(path)
    m21 = score_to_music21(score)
    m21.metadata = metadata.Metadata(title=path.stem, movementName=path.stem, composer="muse")  # not "Music21 Fragment"
    fmt = "mxl" if path.suffix.lower() == ".mxl" else "musicxml"
    with atomic_file(path) as tmp, quiet():
        m21.write(fmt, fp=str(tmp))
    return path


# ---------------------------------------------------------------- dispatch

WRITE_SUFFIXES = MIDI_SUFFIXES + SCORE_SUFFIXES


def write_score(score: Score, path: str | Path) -> Path:
    """Write a score as MIDI (``.mid``/``.midi``) or MusicXML (``.musicxml``/``.xml``/``.mxl``), by suffix.

    MIDI: type 1, a conductor track with tempo, time and key signatures, then one
    track per part with its name and program; drum parts on channel 10, the others
    on channels of their own. MusicXML: one part per part, chords as chords.
    :func:`muse.read_score` reads either back to the same grid notes.

    Args:
        score: the :class:`muse.Score` to write (DataError when it has no notes or a bad note).
        path: the file to write (parent folders are created; written atomically);
            another suffix raises ConfigError.

    Returns:
        Path: ``path``.

    Example:
        >>> import muse
        >>> s = muse.Score([muse.Part([muse.Note(0, 16, 72)], name="Soprano"),
        ...                 muse.Part([muse.Note(0, 16, 48)], program=32, name="Bass")], qpm=90.0)
        >>> muse.write_score(s, "out/duet.mid")
        PosixPath('out/duet.mid')
        >>> _ = muse.write_score(s, "out/duet.musicxml")
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return write_score_midi(score, p)
    if suffix in SCORE_SUFFIXES:
        return write_score_musicxml(score, p)
    hint = " (ABC is read, not written)" if suffix in ABC_SUFFIXES else ""
    raise ConfigError(f"cannot write a score as {p.suffix or 'a file without a suffix'!r}{hint}; "
                      f"use one of {', '.join(WRITE_SUFFIXES)}", p)

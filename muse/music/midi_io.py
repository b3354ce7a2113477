"""Melodies in and out of files: MIDI, MusicXML and ABC in; standard MIDI out.

Reading quantises every piece to the grid (``steps_per_quarter`` steps per quarter
note, following the beat through tempo changes) and reduces it to one monophonic
melody with :mod:`muse.music.extract` (drums ignored, the most melodic part chosen,
skyline). An ABC file may hold many tunes (an opus): one melody per tune.
The first tempo and time signature are kept, and the key when the file declares
one (no key analysis is run). Files that cannot give a melody raise
:class:`~muse.errors.DataError` naming the file and the reason.
MIDI is read with symusic (C++, a dependency of muse); where it cannot be
installed, pretty_midi reads the same notes, about 10x slower.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import re
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

from muse.data.report import SkipReport
from muse.errors import ConfigError, DataError
from muse.music.extract import Track, extract_melodies
from muse.music.melody import Melody, Note
from muse.music.theory import (KEY_MODES, MAJOR_MODES, MINOR_MODES, key_from_fifths, key_from_number, key_name,
                               parse_time_signature)

MIDI_SUFFIXES = (".mid", ".midi")
SCORE_SUFFIXES = (".musicxml", ".xml", ".mxl")
ABC_SUFFIXES = (".abc",)
SUPPORTED_SUFFIXES = MIDI_SUFFIXES + SCORE_SUFFIXES + ABC_SUFFIXES

HOLD_EVENT = -2
"""Magenta primer event: no event (the sounding note or rest continues)."""
OFF_EVENT = -1
"""Magenta primer event: note off."""

_MIDO_RESPELLED = {(1, "major"): "Db", (8, "minor"): "G#m"}
"""Where a key signature needs fewer accidentals than :func:`~muse.music.theory.key_name` spells
(Db major: 5 flats, not C# major's 7 sharps; G# minor: 5 sharps, not Ab minor's 7 flats)."""


def mido_key(key: tuple[int, str]) -> str:
    """mido's name of the key signature of ``key`` ((2, "minor") -> "Dm"): theory's short name,
    spelled with at most six sharps or flats."""
    return _MIDO_RESPELLED.get((key[0], key[1])) or key_name(key, "short")


@dataclass
class Piece:
    """One parsed piece before melody extraction: tracks in quarter notes + metadata."""

    tracks: list[Track] = field(default_factory=list)
    qpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    key: tuple[int, str] | None = None
    end_quarters: float | None = None


# ---------------------------------------------------------------- reading


def meter_changes(path: str | Path) -> list[tuple[int, tuple[int, int]]]:
    """The time-signature changes of a MIDI file after its first meter: ``[(bar number (1-based),
    (num, den)), ...]``, bars counted in the meters in force; [] for other files or unreadable ones
    (reading reports those)."""
    path = Path(path)
    if path.suffix.lower() not in (".mid", ".midi"):
        return []
    import mido

    try:
        mid = mido.MidiFile(path)
    except Exception:  # noqa: BLE001 - the reader reports unreadable files
        return []
    events = []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "time_signature":
                events.append((tick, (msg.numerator, msg.denominator)))
    events.sort()
    out, bar, last_tick, meter = [], 1.0, 0, None
    for tick, ts in events:
        if meter is None:
            meter, last_tick = ts, tick
            continue
        bar += (tick - last_tick) / mid.ticks_per_beat / (meter[0] * 4 / meter[1])
        last_tick = tick
        if ts != meter:
            out.append((int(math.floor(bar + 1e-6)), ts))
            meter = ts
    return out



def read_melodies(
    path: str | Path,
    *,
    steps_per_quarter: int = 4,
    min_bars: float = 0,
    min_pitches: int = 1,
    max_steps: int | None = None,
    split_silence_bars: float | None = None,
    voices: Literal["melody", "all", "satb"] = "melody",
) -> list[Melody]:
    """Melodies of a .mid/.midi/.musicxml/.xml/.mxl/.abc file (one per ABC tune).

    ``voices="all"`` gives every pitched part its own melody instead of the most
    melodic one (``"satb"``: the parts named Soprano/Alto/Tenor/Bass). Filters and
    splitting are those of :func:`muse.music.extract.extract_melodies`; a file whose
    melodies are all filtered out gives ``[]``. Bad tunes inside a multi-tune ABC
    file are skipped with a warning unless every tune is bad.

    Args:
        path: the score or MIDI file (an unreadable or unsupported file raises DataError).
        steps_per_quarter: grid resolution, in steps per quarter note (4:
            sixteenth notes); onsets and offsets are rounded to it.
        min_bars: drop melodies shorter than this many bars (0: keep all).
        min_pitches: drop melodies with fewer distinct pitches than this.
        max_steps: cut longer melodies at bar lines into consecutive segments of
            at most this many steps; None: no cut.
        split_silence_bars: split a part at rests of at least this many bars,
            each segment starting at its bar; None: one melody per part, keeping
            its position in the piece.
        voices: ``"melody"`` (the most melodic part), ``"all"`` (every pitched
            part) or ``"satb"`` (the Soprano/Alto/Tenor/Bass parts).

    Returns:
        list[Melody]: monophonic melodies with the file's tempo, time and key
        signature, in part then time order (ABC files: tune order).

    Example:
        >>> import muse
        >>> _ = muse.write_midi(muse.parse_primer("C4 D4 E4 F4 G4:2 r:2"), "tune.mid")
        >>> muse.read_melodies("tune.mid")[0].pitches
        [60, 62, 64, 65, 67]
        >>> tunes = muse.read_melodies("corpora/nottingham/abc/jigs.abc", min_bars=4, split_silence_bars=1.0)
    """
    path = check_source(path)
    opts: dict[str, Any] = dict(
        steps_per_quarter=steps_per_quarter, min_bars=min_bars, min_pitches=min_pitches,
        max_steps=max_steps, split_silence_bars=split_silence_bars, voices=voices,
    )
    if path.suffix.lower() not in ABC_SUFFIXES:
        return piece_melodies(path, **opts)
    tunes = abc_tunes(path)
    out: list[Melody] = []
    errors: list[DataError] = []
    for i, text in enumerate(tunes, 1):
        try:
            out.extend(piece_melodies(path, tune=text, tune_index=i, **opts))
        except DataError as err:
            errors.append(err)
    if errors and len(errors) == len(tunes):
        raise errors[0]
    report = SkipReport()
    for err in errors:
        report.skip(str(path), str(err).removeprefix(f"{path}: "))
    report.warn(f"while reading {path}")
    return out


def piece_melodies(path: str | Path, *, tune: str | None = None, tune_index: int | None = None,
                   **options: Any) -> list[Melody]:
    """Melodies of one piece: a MIDI/MusicXML file, or one ABC tune given as ``tune`` text;
    ``options`` are :func:`extract_piece`'s (grid, voices, splitting, filters)."""
    piece = load_piece(path, tune=tune, tune_index=tune_index, need_end=options.get("split_silence_bars") is None)
    return extract_piece(piece, **options)


def extract_piece(
    piece: Piece,
    *,
    steps_per_quarter: int = 4,
    voices: Literal["melody", "all", "satb"] = "melody",
    split_silence_bars: float | None = None,
    max_steps: int | None = None,
    min_bars: float = 0,
    min_pitches: int = 1,
) -> list[Melody]:
    """Melodies of a parsed :class:`Piece` (see :func:`muse.music.extract.extract_melodies`)."""
    return extract_melodies(
        piece.tracks, steps_per_quarter=steps_per_quarter, qpm=piece.qpm,
        time_signature=piece.time_signature, key=piece.key, voices=voices,
        end_quarters=piece.end_quarters, split_silence_bars=split_silence_bars,
        max_steps=max_steps, min_bars=min_bars, min_pitches=min_pitches,
    )


def check_source(path: str | Path) -> Path:
    """The path, if it is an existing, non-empty file of a supported type."""
    p = Path(path)
    if not p.is_file():
        raise DataError("file not found" if not p.exists() else "not a file", p)
    if p.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(f"unsupported file type {p.suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}", p)
    if p.stat().st_size == 0:
        raise DataError("empty file (0 bytes)", p)
    return p


def load_piece(
    path: str | Path, *, tune: str | None = None, tune_index: int | None = None, need_end: bool = True
) -> Piece:
    """Parse one piece into tracks + metadata; DataError when it holds no pitched notes."""
    p = Path(path) if tune is not None else check_source(path)
    where = f"{p}#{tune_index}" if tune_index is not None else p
    suffix = p.suffix.lower()
    if tune is not None:
        piece = _abc_piece(tune, where)
    elif suffix in MIDI_SUFFIXES:
        piece = _midi_piece(p, need_end)
    elif suffix in SCORE_SUFFIXES:
        piece = _score_piece(_parse_score_file(p), where)
    else:
        tunes = abc_tunes(p)
        if len(tunes) != 1:
            raise DataError(f"holds {len(tunes)} tunes; read it with read_melodies", p)
        piece = _abc_piece(tunes[0], where)
    if not any(t.notes for t in piece.tracks):
        raise DataError("no notes", where)
    if not any(t.notes and not t.is_drum for t in piece.tracks):
        raise DataError("no pitched notes (drum-only)", where)
    return piece


def abc_tunes(path: str | Path) -> list[str]:
    """Texts of the tunes of an ABC file, in file order (file-header fields copied into each)."""
    p = Path(path)
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    chunks = re.split(r"(?m)^(?=X:)", text)
    header, tunes = chunks[0], chunks[1:]
    if not tunes:
        if re.search(r"(?m)^K:", text):
            return [text]
        raise DataError("no ABC tunes (no X: or K: field)", p)
    fields = "".join(line + "\n" for line in header.splitlines() if re.match(r"[A-Za-z]:", line))
    if fields:
        tunes = [re.sub(r"^(X:[^\n]*\n)", lambda m: m.group(1) + fields, t, count=1) for t in tunes]
    return tunes


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence library warnings and music21's direct stderr chatter while parsing."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _short(err: BaseException) -> str:
    msg = " ".join(str(err).split()) or type(err).__name__
    return msg if len(msg) <= 160 else msg[:157] + "..."


def _midi_piece(path: Path, need_end: bool) -> Piece:
    """Tracks and metadata of a MIDI file: read by symusic (C++) when it is installed,
    else by pretty_midi; both give the same tracks, in quarter notes from the ticks."""
    try:
        data = path.read_bytes()
        reader = _symusic_piece if _HAVE_SYMUSIC else _pretty_midi_piece
        with quiet():
            piece, resolution = reader(data)
            if need_end:
                piece.end_quarters = midi_end_tick(data) / resolution
    except Exception as err:  # the MIDI libraries raise many kinds on corrupt data
        raise DataError(f"not a readable MIDI file ({_short(err)})", path) from None
    return piece


_HAVE_SYMUSIC = importlib.util.find_spec("symusic") is not None


def _symusic_piece(data: bytes) -> tuple[Piece, int]:
    import symusic

    score = symusic.Score.from_midi(data)
    res = score.ticks_per_quarter
    if res <= 0:
        raise ValueError("SMPTE time division is not supported")
    tracks = []
    for tr in score.tracks:
        a = tr.notes.numpy()
        if not len(a["time"]):
            continue  # pretty_midi leaves out tracks without notes too
        starts = a["time"].astype(float) / res
        ends = (a["time"].astype(float) + a["duration"]) / res
        notes = list(zip(starts.tolist(), ends.tolist(), a["pitch"].astype(int).tolist(),
                         a["velocity"].astype(int).tolist()))
        tracks.append(Track(notes, tr.name, bool(tr.is_drum), int(tr.program)))
    at_zero = [t for t in score.tempos if t.time == 0]
    qpm = round(float(at_zero[-1].qpm), 2) if at_zero else 120.0
    ts = (4, 4)
    if len(score.time_signatures):
        first = min(score.time_signatures, key=lambda t: t.time)
        ts = (int(first.numerator), int(first.denominator))
    key = None
    if len(score.key_signatures):
        k = min(score.key_signatures, key=lambda t: t.time)
        key = key_from_fifths(int(k.key), bool(k.tonality))
    return Piece(tracks, qpm, ts, key), res


def pretty_midi_piece(pm: Any, *, with_end: bool = True) -> Piece:
    """Tracks (in quarter notes, from the ticks) and the first tempo, meter and key of a
    ``pretty_midi.PrettyMIDI``; its end (``with_end``) is ``pm.get_end_time()`` (last note
    or event, a ``"end"`` text event included)."""
    res = pm.resolution

    def q(t: float) -> float:
        return pm.time_to_tick(t) / res

    tracks = [
        Track([(q(n.start), q(n.end), n.pitch, n.velocity) for n in inst.notes], inst.name, inst.is_drum, inst.program)
        for inst in pm.instruments if inst.notes
    ]
    _, tempi = pm.get_tempo_changes()
    qpm = round(float(tempi[0]), 2) if len(tempi) else 120.0
    ts = (4, 4)
    if pm.time_signature_changes:
        first = min(pm.time_signature_changes, key=lambda t: t.time)
        ts = (int(first.numerator), int(first.denominator))
    key = None
    if pm.key_signature_changes:
        key = key_from_number(min(pm.key_signature_changes, key=lambda t: t.time).key_number)
    return Piece(tracks, qpm, ts, key, q(pm.get_end_time()) if with_end else None)


def _pretty_midi_piece(data: bytes) -> tuple[Piece, int]:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    return pretty_midi_piece(pm, with_end=False), pm.resolution


def _varlen(data: bytes, i: int) -> tuple[int, int]:
    value = 0
    while True:
        b = data[i]
        i += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i


def midi_end_tick(data: bytes) -> int:
    """Length in ticks of the longest track of a standard MIDI file, end-of-track delta
    included (the file's end, trailing rests and all), by scanning the events' bytes."""
    if data[:4] != b"MThd":
        raise ValueError("no MThd header")
    pos = 8 + int.from_bytes(data[4:8], "big")
    longest = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if data[pos : pos + 4] == b"MTrk":
            longest = max(longest, _track_ticks(data, pos + 8, min(pos + 8 + size, len(data))))
        pos += 8 + size
    return longest


def _track_ticks(data: bytes, i: int, end: int) -> int:
    tick, status = 0, 0
    while i < end:
        b = data[i]  # delta time, a variable-length number (one byte almost always)
        i += 1
        if b < 0x80:
            tick += b
        else:
            value = b & 0x7F
            while b >= 0x80:
                b = data[i]
                i += 1
                value = (value << 7) | (b & 0x7F)
            tick += value
        b = data[i]
        if b >= 0x80:
            status = b
            i += 1
        elif status == 0:
            raise ValueError("data byte without a status byte")
        if status < 0xF0:
            i += 1 if 0xC0 <= status < 0xE0 else 2
        elif status == 0xFF:
            kind = data[i]
            size, i = _varlen(data, i + 1)
            i += size
            status = 0
            if kind == 0x2F:
                break
        elif status in (0xF0, 0xF7):
            size, i = _varlen(data, i)
            i += size
            status = 0
        else:
            i += 2
    return tick


def _parse_score_file(path: Path) -> Any:
    from music21 import converter

    try:
        with quiet():
            conv = converter.Converter()
            conv.parseFileNoPickle(path, forceSource=True)
            return conv.stream
    except Exception as err:  # music21 raises many kinds on malformed scores
        raise DataError(f"cannot parse score ({_short(err)})", path) from None


@contextlib.contextmanager
def _no_beaming() -> Iterator[None]:
    """Skip music21's beam layout during ABC import: notation only, half the parse time."""
    from music21 import stream

    original = stream.Stream.makeBeams

    def no_beams(self: Any, *args: Any, inPlace: bool = False, **kw: Any) -> Any:
        return None if inPlace else self

    stream.Stream.makeBeams = no_beams  # type: ignore[method-assign]
    try:
        yield
    finally:
        stream.Stream.makeBeams = original  # type: ignore[method-assign]


def _abc_piece(text: str, where: str | Path) -> Piece:
    from music21 import converter

    try:
        with quiet(), _no_beaming():
            score = converter.parseData(text, format="abc")
    except Exception as err:  # music21 raises many kinds on malformed ABC
        raise DataError(f"cannot parse ABC ({_short(err)})", where) from None
    return _score_piece(score, where)


def _score_piece(obj: Any, where: str | Path) -> Piece:
    """Tracks + metadata of a music21 Score/Part/Opus (an Opus's scores are played in turn)."""
    from music21 import key as m21key
    from music21 import meter, stream, tempo

    try:
        with quiet():
            scores = list(obj.scores) if isinstance(obj, stream.Opus) else [obj]
            tracks: list[Track] = []
            offset = 0.0
            for sc in scores:
                parts = list(sc.parts) if isinstance(sc, stream.Score) and sc.parts else [sc]
                end = offset
                for i, part in enumerate(parts):
                    tr, part_end = _part_track(part, offset)
                    if i < len(tracks):
                        tracks[i].notes.extend(tr.notes)
                    else:
                        tracks.append(tr)
                    end = max(end, part_end)
                offset = end
            first = scores[0]
            ts_el = first.recurse().getElementsByClass(meter.TimeSignature).first()
            ts = (int(ts_el.numerator), int(ts_el.denominator)) if ts_el is not None else (4, 4)
            mm = first.recurse().getElementsByClass(tempo.MetronomeMark).first()
            bpm = mm.getQuarterBPM() if mm is not None else None
            qpm = round(float(bpm), 2) if bpm else 120.0
            ks = first.recurse().getElementsByClass(m21key.KeySignature).first()
            key = _key_of(ks, tracks)
    except DataError:
        raise
    except Exception as err:  # malformed scores fail deep inside music21
        raise DataError(f"cannot read score ({_short(err)})", where) from None
    return Piece(tracks, qpm, ts, key, offset)


def _part_track(part: Any, offset: float) -> tuple[Track, float]:
    """Notes of one part (ties merged, grace notes and chord symbols skipped), shifted
    right by a pickup bar's missing beats so bar lines fall on the grid's bars; and
    the part's end."""
    from music21 import chord, note, stream
    from music21.harmony import Harmony
    from music21.percussion import PercussionChord

    if getattr(part, "atSoundingPitch", None) is False:
        part = part.toSoundingPitch()
    first_measure = part.getElementsByClass(stream.Measure).first()
    pad = float(first_measure.paddingLeft) if first_measure is not None else 0.0
    notes: list[tuple[float, float, int, int]] = []
    open_ties: dict[int, int] = {}
    unpitched = 0
    for el in part.flatten().notes:
        ql = float(el.quarterLength)
        if isinstance(el, (PercussionChord, note.Unpitched)):
            unpitched += 1
            continue
        if ql <= 0 or isinstance(el, Harmony) or not isinstance(el, (note.Note, chord.Chord)):
            continue  # grace notes, chord symbols
        start = float(el.offset) + pad + offset
        tie = el.tie.type if el.tie is not None else None
        for p in el.pitches:
            midi = int(p.midi)
            idx = open_ties.get(midi)
            if tie in ("stop", "continue") and idx is not None and abs(notes[idx][1] - start) < 1e-6:
                s, _, pitch, vel = notes[idx]
                notes[idx] = (s, start + ql, pitch, vel)
            else:
                notes.append((start, start + ql, midi, 100))
                open_ties[midi] = len(notes) - 1
    name = part.partName or (part.id if isinstance(part.id, str) else "")
    end = offset + pad + float(part.highestTime)
    return Track(notes, str(name or ""), is_drum=unpitched > 0 and not notes), end


def _key_of(ks: Any, tracks: list[Track]) -> tuple[int, str] | None:
    """(tonic, mode) of a declared key; a bare signature picks major or relative minor by the final note."""
    from music21 import key as m21key

    if ks is None:
        return None
    if isinstance(ks, m21key.Key):
        mode = (ks.mode or "").lower()
        if mode in MAJOR_MODES:
            return ks.tonic.pitchClass, "major"
        if mode in MINOR_MODES:
            return ks.tonic.pitchClass, "minor"
        return None
    major = ks.asKey("major").tonic.pitchClass
    minor = ks.asKey("minor").tonic.pitchClass
    last = max((n for t in tracks for n in t.notes), key=lambda n: (n[0], -n[2]), default=None)
    if last is not None and last[2] % 12 == minor:
        return minor, "minor"
    return major, "major"


# ---------------------------------------------------------------- writing


def write_midi(
    melodies: Melody | Sequence[Melody], path: str | Path, *, program: int = 0, gap_bars: float = 0
) -> Path:
    """Write one or several melodies as a type-1 standard MIDI file.

    The melodies follow one another, each from a bar line, with ``gap_bars``
    silent bars between; the file has tempo, time-signature and key-signature events.

    Args:
        melodies: a :class:`muse.Melody` or a sequence of them (at least one);
            tempo, time and key signatures come from each melody.
        path: the ``.mid`` file to write (parent folders are created).
        program: General MIDI program of the note track, 0..127 (0: Acoustic
            Grand Piano, 73: Flute).
        gap_bars: silent bars between consecutive melodies (default 0).

    Returns:
        Path: ``path``.

    Example:
        >>> import muse
        >>> melody = muse.parse_primer("C4 E4 G4 C5:2")
        >>> muse.write_midi(melody, "out/arpeggio.mid", program=73)
        PosixPath('out/arpeggio.mid')
        >>> tunes = muse.generate_melodies(bars=4, num=3, seed=0)
        >>> _ = muse.write_midi(tunes, "out/three.mid", gap_bars=1)
    """
    from muse.core.files import atomic_file

    path = Path(path)
    midi = midi_file(melodies, program=program, gap_bars=gap_bars, where=path)
    with atomic_file(path) as tmp:  # one checked writer: OutputError naming path, never half a file
        midi.save(str(tmp))
    return path


def midi_bytes(melodies: Melody | Sequence[Melody], *, program: int = 0, gap_bars: float = 0) -> bytes:
    """The standard MIDI file :func:`write_midi` writes, as bytes."""
    buf = io.BytesIO()
    midi_file(melodies, program=program, gap_bars=gap_bars).save(file=buf)
    return buf.getvalue()


def midi_file(
    melodies: Melody | Sequence[Melody], *, program: int = 0, gap_bars: float = 0, where: str | Path | None = None
) -> Any:
    """The ``mido.MidiFile`` of :func:`write_midi`: a conductor track (tempo, time and key
    signatures) and one note track. ``where`` names the file in errors."""
    import mido

    mels = [melodies] if isinstance(melodies, Melody) else list(melodies)
    if not mels:
        raise DataError("no melody to write", where)
    if not 0 <= program <= 127:
        raise DataError(f"MIDI program {program} outside 0..127", where)
    grid = math.lcm(*(m.steps_per_quarter for m in mels))
    resolution = 480 if 480 % grid == 0 else grid * 120

    meta: list[tuple[int, int, mido.MetaMessage]] = []
    events: list[tuple[int, int, mido.Message]] = []
    t0 = 0
    last: tuple[Any, ...] = ()
    for i, m in enumerate(mels):
        try:
            m.validate()
            num, den = parse_time_signature(m.time_signature)
        except (ValueError, ConfigError) as err:
            raise DataError(f"melody {i + 1}: {err}", where) from None
        if m.key is not None and (m.key[1] not in KEY_MODES or not 0 <= m.key[0] <= 11):
            raise DataError(f"melody {i + 1}: key {m.key} is not (0..11, {'|'.join(map(repr, KEY_MODES))})", where)
        tps = resolution // m.steps_per_quarter
        if (m.qpm, m.time_signature, m.key) != last:
            meta.append((t0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(m.qpm))))
            meta.append((t0, 1, mido.MetaMessage("time_signature", numerator=num, denominator=den)))
            if m.key is not None:
                meta.append((t0, 2, mido.MetaMessage("key_signature", key=mido_key(m.key))))
            last = (m.qpm, m.time_signature, m.key)
        for n in m.notes:
            events.append((t0 + n.start * tps, 1, mido.Message("note_on", note=n.pitch, velocity=max(1, n.velocity))))
            events.append((t0 + n.end * tps, 0, mido.Message("note_off", note=n.pitch, velocity=0)))
        bar = m.steps_per_bar
        if i + 1 < len(mels):
            t0 += (math.ceil(m.length / bar) * bar + round(gap_bars * bar)) * tps
        else:
            t0 += m.length * tps

    midi = mido.MidiFile(type=1, ticks_per_beat=resolution)
    conductor = _track(sorted(meta, key=lambda e: (e[0], e[1])), t0)
    notes = _track(
        [(0, -1, mido.MetaMessage("track_name", name="melody")), (0, -1, mido.Message("program_change", program=program))]
        + sorted(events, key=lambda e: (e[0], e[1])),
        t0,
    )
    midi.tracks.extend([conductor, notes])
    return midi


def _track(events: list[tuple[int, int, Any]], end_tick: int) -> Any:
    import mido

    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - now)))
    return track


# ---------------------------------------------------------------- primers


def melody_from_pitches(
    pitches: Sequence[int | None],
    durations: Sequence[float] | None = None,
    *,
    steps_per_quarter: int = 4,
    qpm: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
    key: tuple[int, str] | None = None,
) -> Melody:
    """Melody of consecutive notes, each a quarter note unless ``durations`` (in quarter
    notes) are given; ``None`` is a rest."""
    if durations is None:
        durations = [1.0] * len(pitches)
    if len(durations) != len(pitches):
        raise DataError(f"{len(pitches)} pitches but {len(durations)} durations")
    notes, t = [], 0
    for p, d in zip(pitches, durations):
        steps = Fraction(d).limit_denominator(1000) * steps_per_quarter
        if steps <= 0 or steps.denominator != 1:
            raise DataError(f"duration {d} quarter(s) is not a positive multiple of the grid step 1/{steps_per_quarter}")
        if p is not None:
            if not 0 <= p <= 127:
                raise DataError(f"pitch {p} outside MIDI range 0..127")
            notes.append(Note(t, t + int(steps), int(p)))
        t += int(steps)
    return Melody(notes, steps_per_quarter, qpm, time_signature, key, total_steps=t)


def melody_from_events(
    events: Sequence[int],
    *,
    steps_per_quarter: int = 4,
    qpm: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
    key: tuple[int, str] | None = None,
) -> Melody:
    """Melody from Magenta primer events, one per grid step: 0..127 note on,
    -1 note off, -2 no event (hold), e.g. ``[60, -2, 60, -2, 67, -2]``."""
    notes: list[Note] = []
    current: tuple[int, int] | None = None  # (start, pitch)
    for step, ev in enumerate(events):
        if ev == HOLD_EVENT:
            continue
        if not (ev == OFF_EVENT or 0 <= ev <= 127):
            raise DataError(f"primer event {ev} at step {step}: use 0..127, -1 (off) or -2 (hold)")
        if current is not None:
            notes.append(Note(current[0], step, current[1]))
            current = None
        if ev >= 0:
            current = (step, int(ev))
    if current is not None:
        notes.append(Note(current[0], len(events), current[1]))
    return Melody(notes, steps_per_quarter, qpm, time_signature, key, total_steps=len(events))


def parse_primer(text: str, **meta: Any) -> Melody:
    """Read a primer melody from text: Magenta events or a list of notes.

    Either a Magenta event list ``"[60, -2, 60, -2, 67, -2]"`` or space/comma
    separated notes ``"60 62 64"``, ``"C4 D4:0.5 r E4:1.5"`` (MIDI number or note
    name, ``r`` for a rest, optional ``:quarters`` duration, default 1).

    Args:
        text: the notes. Event lists hold one integer per grid step: 0..127 note
            on, -1 note off, -2 hold. Note lists hold MIDI numbers or names
            (``C4`` = 60, ``F#3``, ``Bb4``) or ``r``, each optionally with
            ``:quarters`` (a number or fraction such as ``1/3``).
        **meta: Melody settings: ``steps_per_quarter`` (default 4), ``qpm``
            (default 120.0), ``time_signature`` (default ``(4, 4)``) and ``key``
            (e.g. ``(2, "minor")``; default None).

    Returns:
        Melody: the primer melody (DataError for text that cannot be read).

    Example:
        >>> import muse
        >>> muse.parse_primer("C4 D4:0.5 r E4:1.5").pitches
        [60, 62, 64]
        >>> primer = muse.parse_primer("[60, -2, 60, -2, 67, -2]", qpm=90)
        >>> tunes = muse.generate_melodies(primer=primer, bars=4, seed=0)
    """
    import pretty_midi

    s = text.strip()
    if s.startswith("["):
        try:
            events = [int(x) for x in s.strip("[]").replace(",", " ").split()]
        except ValueError:
            raise DataError(f"primer {text!r}: event lists hold integers only") from None
        return melody_from_events(events, **meta)
    pitches: list[int | None] = []
    durations: list[float] = []
    for tok in s.replace(",", " ").split():
        name, _, dur = tok.partition(":")
        try:
            durations.append(float(Fraction(dur)) if dur else 1.0)
            if name.lower() in ("r", "rest"):
                pitches.append(None)
            elif re.fullmatch(r"-?\d+", name):
                pitches.append(int(name))
            else:
                pitches.append(int(pretty_midi.note_name_to_number(name)))
        except (ValueError, ZeroDivisionError):
            raise DataError(f"primer note {tok!r}: use a MIDI number, a note name like C4 or r, with optional :quarters") from None
    if not pitches:
        raise DataError("empty primer")
    return melody_from_pitches(pitches, durations, **meta)

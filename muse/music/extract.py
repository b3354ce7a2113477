"""Monophonic melodies from polyphonic, multi-track note data (Magenta-style).

Input is a list of :class:`Track` whose times are in quarter notes, so the grid
follows the beat whatever the tempo. :func:`extract_melodies` then

1. ignores drum tracks and picks the most melodic remaining track
   (:func:`melody_score`), or keeps every track with ``voices="all"``, or the
   tracks named Soprano/Alto/Tenor/Bass with ``voices="satb"`` (all when none is);
2. quantises onsets and offsets to the nearest grid step (a note keeps >= 1 step;
   nothing is dropped at the start: a note at time 0 stays at step 0);
3. makes the line monophonic with a skyline (:func:`skyline`);
4. optionally splits at long silences, cuts melodies longer than ``max_steps`` at
   bar lines into consecutive segments, and keeps only melodies with at least
   ``min_bars`` bars and ``min_pitches`` distinct pitches.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from muse.errors import ConfigError
from muse.music.melody import Melody, Note

RawNote = tuple[float, float, int, int]
"""(start, end, pitch, velocity); times in quarter notes."""

MELODY_NAME = re.compile(r"\b(soprano|sopran|melody|melodie|lead|vocals?|voices?|solo|singers?|canto|cantus)\d*\b",
                         re.I)
"""Track names that mark the melody (melody/lead/vocal/voice/solo/singer..., any case, as a word,
possibly numbered: "Lead Vocals", "Voice1"); such a track wins over pitch statistics when it is substantial
(:func:`choose_melody_track`)."""
NAMED_MIN_NOTES = 0.3
"""A named melody track wins only with at least this fraction of the notes of the most-noted pitched track..."""
NAMED_MIN_BARS = 0.5
"""...and notes in at least this fraction of the piece's bars; else it competes on pitch statistics alone."""
MOSTLY_REST = 0.75
"""A chosen melody line silent on more than this fraction of its steps gets a warning."""
SATB_NAME = re.compile(r"^\s*(soprano|alto|tenor|bass)\b", re.I)
"""Choir voices, for ``voices="satb"``."""


@dataclass
class Track:
    """One instrument/part: raw notes in quarter notes, possibly polyphonic."""

    notes: list[RawNote] = field(default_factory=list)
    name: str = ""
    is_drum: bool = False
    program: int = 0


def melody_score(track: Track, *, named: bool | None = None) -> float:
    """How melodic a track looks: mean pitch + 12 x fraction of notes overlapping no other,
    + 48 when its name says melody/soprano/lead/vocal/voice/solo/singer.

    So a monophonic line beats a chordal track an octave higher, and a named
    melody track wins outright. ``named`` overrides the name test (False: no
    bonus, as :func:`choose_melody_track` does for a near-empty named track).
    Drum or empty tracks score ``-inf``.
    """
    if track.is_drum or not track.notes:
        return -math.inf
    notes = sorted(track.notes)
    mean_pitch = sum(n[2] for n in notes) / len(notes)
    eps = 1e-6
    overlapping = [False] * len(notes)
    max_end = -math.inf
    for i, (start, end, _, _) in enumerate(notes):
        if start < max_end - eps:
            overlapping[i] = True
            # the earlier note still sounding overlaps too
            j = i - 1
            while j >= 0 and notes[j][1] > start + eps:
                overlapping[j] = True
                j -= 1
        if end > max_end:
            max_end = end
    mono = 1.0 - sum(overlapping) / len(notes)
    if named is None:
        named = bool(MELODY_NAME.search(track.name or ""))
    bonus = 48.0 if named else 0.0
    return mean_pitch + 12.0 * mono + bonus


def substantial(track: Track, tracks: list[Track], bar_quarters: float = 4.0) -> bool:
    """Whether ``track`` carries enough of the piece to be its melody: at least
    :data:`NAMED_MIN_NOTES` of the notes of the most-noted pitched track, and notes in at
    least :data:`NAMED_MIN_BARS` of the piece's bars (``bar_quarters`` quarters each)."""
    pitched = [t for t in tracks if not t.is_drum and t.notes]
    if not track.notes or not pitched:
        return False
    most = max(len(t.notes) for t in pitched)
    if len(track.notes) < NAMED_MIN_NOTES * most:
        return False
    end = max(n[1] for t in tracks for n in t.notes)
    bars = max(1, math.ceil(end / bar_quarters - 1e-9))
    used = {int(n[0] // bar_quarters) for n in track.notes}
    return len(used) >= NAMED_MIN_BARS * bars


def choose_melody_track(tracks: list[Track], min_notes: int = 8, bar_quarters: float = 4.0) -> int | None:
    """Index of the most melodic non-drum track, or None when no track has pitched notes.

    Tracks with fewer than ``min_notes`` notes only compete when no track has that many.
    A track named like a melody (:data:`MELODY_NAME`) wins when it is
    :func:`substantial` (bars of ``bar_quarters`` quarter notes); a near-empty one (a
    "Lead Guitar" playing a few bars) competes on its pitch statistics alone.
    """
    pitched = [i for i, t in enumerate(tracks) if not t.is_drum and t.notes]
    if not pitched:
        return None
    enough = [i for i in pitched if len(tracks[i].notes) >= min_notes] or pitched

    def score(i: int) -> tuple[float, int]:
        t = tracks[i]
        named = bool(MELODY_NAME.search(t.name or "")) and substantial(t, tracks, bar_quarters)
        return melody_score(t, named=named), -i

    return max(enough, key=score)


def rest_fraction(melody: Melody) -> float:
    """Fraction of ``melody``'s steps where no note sounds (1.0 for an empty melody)."""
    if melody.length <= 0:
        return 1.0
    sounding = sum(n.end - n.start for n in melody.notes)  # a monophonic line: notes do not overlap
    return max(0.0, 1.0 - sounding / melody.length)


GridNote = tuple[int, int, int, int]
"""(start, end, pitch, velocity) in grid steps: a :class:`Note` before it is made one."""


def _quantize(notes: list[RawNote], steps_per_quarter: int) -> list[GridNote]:
    floor, spq = math.floor, steps_per_quarter
    out = []
    for start, end, pitch, velocity in notes:
        s = floor(float(start) * spq + 0.5)
        if s < 0:
            continue
        e = floor(float(end) * spq + 0.5)
        out.append((s, e if e > s else s + 1, int(pitch), int(velocity)))
    return out


def quantize(notes: list[RawNote], steps_per_quarter: int) -> list[Note]:
    """Round onsets/offsets to the nearest step; notes keep at least one step."""
    return [Note(*n) for n in _quantize(notes, steps_per_quarter)]


def _skyline(notes: list[GridNote]) -> list[GridNote]:
    out: list[GridNote] = []
    for _, group in itertools.groupby(sorted(notes, key=lambda n: (n[0], -n[2])), key=lambda n: n[0]):
        for n in group:
            if out:
                prev = out[-1]
                if n[0] < prev[1]:
                    if n[2] < prev[2] and prev[1] >= n[1]:
                        continue  # covered by a higher sounding note; try the next lower one
                    out[-1] = (prev[0], n[0], prev[2], prev[3])
            out.append(n)
            break
    return out


def skyline(notes: list[Note]) -> list[Note]:
    """Monophonic line from grid notes.

    Among notes starting together the highest wins. A note starting while a higher
    note sounds *and outlasts it* is dropped (accompaniment under the melody);
    otherwise the sounding note is cut where the new one starts (legato overlap).
    """
    return [Note(*n) for n in _skyline([(n.start, n.end, n.pitch, n.velocity) for n in notes])]


def split_at_silences(notes: list[Any], gap_steps: int) -> list[list[Any]]:
    """Split a monophonic line wherever a rest lasts >= ``gap_steps`` steps (its :class:`Note` s,
    or ``(start, end, pitch, velocity)`` grid tuples)."""
    parts: list[list[Any]] = []
    if not notes:
        return parts
    tuples = isinstance(notes[0], tuple)
    for n in notes:
        start = n[0] if tuples else n.start
        if parts:
            last = parts[-1][-1]
            if start - (last[1] if tuples else last.end) < gap_steps:
                parts[-1].append(n)
                continue
        parts.append([n])
    return parts


def cut_long(melody: Melody, max_steps: int) -> list[Melody]:
    """Consecutive segments of at most ``max_steps`` steps, cut at bar lines when a bar fits.

    Notes crossing a cut are clipped there. Melodies within the limit come back unchanged.
    """
    length = melody.length
    if length <= max_steps:
        return [melody]
    bar = melody.steps_per_bar
    size = (max_steps // bar) * bar if max_steps >= bar else max_steps
    out = []
    for start in range(0, length, size):
        seg = melody.slice(start, min(start + size, length))
        if seg.notes:
            out.append(seg)
    return out


def keep_melody(melody: Melody, *, min_bars: float = 0, min_pitches: int = 1) -> bool:
    """Magenta's filters: enough bars and enough distinct pitches."""
    return (
        bool(melody.notes)
        and melody.num_bars >= min_bars
        and len(set(melody.pitches)) >= min_pitches
    )


def extract_melodies(
    tracks: list[Track],
    *,
    steps_per_quarter: int = 4,
    qpm: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
    key: tuple[int, str] | None = None,
    voices: Literal["melody", "all", "satb"] = "melody",
    end_quarters: float | None = None,
    split_silence_bars: float | None = None,
    max_steps: int | None = None,
    min_bars: float = 0,
    min_pitches: int = 1,
) -> list[Melody]:
    """Monophonic melodies from ``tracks`` (see module doc), in track then time order.

    Without ``split_silence_bars`` each chosen track gives one melody that keeps its
    position on the grid (total length from ``end_quarters`` when later than the last
    note). With it, each segment is moved to start at the bar holding its first note
    and padded to a whole number of bars, as Magenta's extractor does.
    """
    bar_quarters = time_signature[0] * 4 / time_signature[1]
    if voices == "melody":
        best = choose_melody_track(tracks, bar_quarters=bar_quarters)
        chosen = [] if best is None else [tracks[best]]
    elif voices in ("all", "satb"):
        chosen = [t for t in tracks if not t.is_drum and t.notes]
        if voices == "satb":
            chosen = [t for t in chosen if SATB_NAME.match(t.name or "")] or chosen
    else:
        raise ConfigError(f"voices must be 'melody', 'all' or 'satb', not {voices!r}")

    meta = dict(steps_per_quarter=steps_per_quarter, qpm=qpm, time_signature=time_signature, key=key)
    melodies: list[Melody] = []
    for track in chosen:
        grid = _skyline(_quantize(track.notes, steps_per_quarter))
        if not grid:
            continue
        if split_silence_bars is None:
            line = [Note(*n) for n in grid]
            end = None
            if end_quarters is not None:
                end = math.floor(end_quarters * steps_per_quarter + 0.5)
            total = end if end is not None and end >= line[-1].end else None
            pieces = [Melody(line, total_steps=total, **meta)]
            silent = rest_fraction(pieces[0])
            if voices == "melody" and silent > MOSTLY_REST:
                from muse.data.report import warn

                name = f"track {track.name!r}" if track.name else "the melody track"
                warn(f"{name} chosen as the melody is silent on {silent:.0%} of its steps; "
                     "the piece may have no clear melody track")
        else:
            probe = Melody([], **meta)
            bar = probe.steps_per_bar
            gap = max(1, math.ceil(split_silence_bars * bar))
            pieces = []
            for seg in split_at_silences(grid, gap):
                shift = (seg[0][0] // bar) * bar
                notes = [Note(s - shift, e - shift, p, v) for s, e, p, v in seg]
                total = math.ceil(notes[-1].end / bar) * bar
                pieces.append(Melody(notes, total_steps=total, **meta))
        for mel in pieces:
            segments = cut_long(mel, max_steps) if max_steps else [mel]
            melodies.extend(m for m in segments if keep_melody(m, min_bars=min_bars, min_pitches=min_pitches))
    return melodies

"""Chord symbols: parsing, voicing, recognition, progressions, and Nottingham's chords.

A :class:`Chord` is a root pitch class and a quality of
:data:`~muse.music.voice_leading.CHORD_TEMPLATES` (the four triads and five seventh
chords); any symbol music21 reads (``"G7"``, ``"F#m"``, ``"Bbmaj7"``, ``"D/F#"``) is
reduced to the nearest one (a slash chord's bass is dropped, added notes beyond the
seventh too). A chord *part* is the same chords as block notes in one register, the
form in which lead-sheet models (``muse train score --corpus nottingham``) learn and
write them: one chord per span, root position, root between C3 and B3.

Nottingham's chord symbols live in ``corpora/nottingham/chords.json`` (built by
``scripts/build_corpora.py --only nottingham-chords`` from the ABC with music21, in
the time base of the pre-parsed notes); :func:`with_chord_part` puts them into a
Nottingham :class:`~muse.music.score.Score` as its first part.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Iterable, Sequence

from muse.errors import ConfigError
from muse.music.melody import Note
from muse.music.score import Part, Score
from muse.music.theory import PITCH_CLASS_NAMES
from muse.music.voice_leading import CHORD_TEMPLATES, match_chord

SUFFIXES = {"maj": "", "min": "m", "dim": "dim", "aug": "aug", "7": "7", "maj7": "maj7", "min7": "m7",
            "hdim7": "m7b5", "dim7": "dim7"}
"""How each quality is written after the root (``"A" + "m"``)."""
CHORD_PART_NAME = "Chords"
CHORD_PROGRAM = 24
"""General MIDI program of a chord part (nylon-string guitar)."""
CHORD_LOW = 48
"""A chord part's roots lie in CHORD_LOW..CHORD_LOW + 11 (C3..B3)."""
CHORDS_FILE = "nottingham/chords.json"
CHORDS_FORMAT = 1


@dataclass(frozen=True, order=True)
class Chord:
    """A chord: root pitch class 0..11 and a quality of :data:`~muse.music.voice_leading.CHORD_TEMPLATES`.

    Example:
        >>> from muse.music.chords import Chord, parse_chord
        >>> parse_chord("Am").name, parse_chord("G7").pitch_classes
        ('Am', (7, 11, 2, 5))
        >>> Chord(2, "maj").voicing()
        [50, 54, 57]
    """

    root: int
    quality: str = "maj"

    @property
    def name(self) -> str:
        """The symbol, e.g. ``"F#m7"``."""
        return PITCH_CLASS_NAMES[self.root % 12] + SUFFIXES[self.quality]

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """The chord's pitch classes, root first."""
        return tuple((self.root + t) % 12 for t in CHORD_TEMPLATES[self.quality])

    def voicing(self, low: int = CHORD_LOW) -> list[int]:
        """Root-position block chord: the root in ``low..low+11``, the other tones stacked above it."""
        root = low + (self.root - low) % 12
        return [root + t for t in CHORD_TEMPLATES[self.quality]]

    def transpose(self, semitones: int) -> "Chord":
        """The same quality on a root ``semitones`` higher."""
        return Chord((self.root + semitones) % 12, self.quality)


@dataclass(frozen=True)
class ChordSpan:
    """A chord from grid step ``start`` to ``end`` (exclusive)."""

    start: int
    end: int
    chord: Chord


def nearest_chord(root: int, pitch_classes: Iterable[int]) -> Chord:
    """The quality on ``root`` that best fits ``pitch_classes``: most shared tones, then fewest missing."""
    pcs = {int(p) % 12 for p in pitch_classes} | {root % 12}
    best, best_key = "maj", None
    for i, (quality, template) in enumerate(CHORD_TEMPLATES.items()):
        tones = {(root + t) % 12 for t in template}
        key = (len(tones & pcs), -len(tones - pcs), -len(tones), -i)
        if best_key is None or key > best_key:
            best, best_key = quality, key
    return Chord(root % 12, best)


@lru_cache(maxsize=512)
def parse_chord(symbol: str) -> Chord:
    """A chord symbol as music21 reads it (``"C"``, ``"Am"``, ``"G7"``, ``"Bbmaj7"``, ``"D/F#"``...).

    Raises:
        ConfigError: naming the symbol, when music21 cannot read it or it is "N.C.".
    """
    from music21 import harmony

    text = symbol.strip()
    m21 = re.sub(r"^([A-Ga-g])b", r"\1-", text)  # music21 writes flats as "-": Bb -> B-
    m21 = re.sub(r"/([A-Ga-g])b", r"/\1-", m21)
    try:
        cs = harmony.ChordSymbol(m21)
        pcs = [p.pitchClass for p in cs.pitches]
        root = cs.root().pitchClass
    except Exception:  # music21 raises many kinds on unknown figures
        raise ConfigError(f"chord {symbol!r}: not a chord symbol music21 reads (try C, Am, G7, F#dim, Bbmaj7)") from None
    if isinstance(cs, harmony.NoChord) or not pcs:
        raise ConfigError(f"chord {symbol!r}: no chord (N.C.) is not supported; give a chord for every span")
    return nearest_chord(root, pcs)


def parse_progression(text: str | Sequence[str], *, steps_per_bar: int, steps_per_beat: int) -> list[ChordSpan]:
    """``"C G Am F"`` (a bar each) or ``"C:2 G:2 | Am F"`` (``:n`` = n beats) as chord spans on the grid.

    Bar lines (``|``) are optional and only checked: a bar that the beats do not fill is an error.

    Raises:
        ConfigError: for an empty progression, a bad ``:n`` or a symbol music21 cannot read.
    """
    items = text.replace("|", " | ").split() if isinstance(text, str) else list(text)
    spans: list[ChordSpan] = []
    t = 0
    for item in items:
        if item == "|":
            if t % steps_per_bar:
                raise ConfigError(f"chords: a bar line falls {t % steps_per_bar} steps into a bar; "
                                  f"the beats before it do not fill the bar")
            continue
        sym, _, beats = item.partition(":")
        if beats:
            try:
                n = float(beats)
            except ValueError:
                n = 0
            if n <= 0:
                raise ConfigError(f"chords: {item!r}: the beats after ':' must be a positive number")
            length = int(round(n * steps_per_beat))
        else:
            length = steps_per_bar
        spans.append(ChordSpan(t, t + length, parse_chord(sym)))
        t += length
    if not spans:
        raise ConfigError("chords: no chord given (write e.g. --chords \"C G Am F\")")
    return spans


def chord_part(spans: Sequence[ChordSpan], *, low: int = CHORD_LOW, program: int = CHORD_PROGRAM) -> Part:
    """Block chords, one per span, held for the span."""
    notes = [Note(s.start, s.end, p) for s in spans if s.end > s.start for p in s.chord.voicing(low)]
    return Part(tuple(sorted(notes, key=lambda n: (n.start, n.pitch))), program=program, name=CHORD_PART_NAME)


def chord_spans(part: Part | Sequence[Note], end: int | None = None) -> list[ChordSpan]:
    """The chords of a block-chord part: the notes starting together, recognised
    (:func:`~muse.music.voice_leading.match_chord`), each lasting to the next onset (or ``end``)."""
    notes = list(part.notes if isinstance(part, Part) else part)
    onsets = sorted({n.start for n in notes})
    spans = []
    for i, t in enumerate(onsets):
        chord = match_chord(n.pitch for n in notes if n.start == t)
        stop = onsets[i + 1] if i + 1 < len(onsets) else max([end or 0, *(n.end for n in notes if n.start == t)])
        if chord is not None and (not spans or spans[-1].chord != Chord(*chord) or spans[-1].end != t):
            spans.append(ChordSpan(t, stop, Chord(*chord)))
        elif chord is not None:
            spans[-1] = ChordSpan(spans[-1].start, stop, spans[-1].chord)
    return spans


def chord_at(spans: Sequence[ChordSpan], step: int) -> Chord | None:
    """The chord sounding at ``step``, None between or outside spans."""
    for s in spans:
        if s.start <= step < s.end:
            return s.chord
    return None


def progression_text(spans: Sequence[ChordSpan], steps_per_bar: int, steps_per_beat: int) -> str:
    """Spans written back as a progression, bars separated by ``|`` (``C:2 G:2 | Am | F``): a span
    crossing a bar line is written in each bar it sounds in; a chord filling its bar has no ``:n``."""
    bars: dict[int, list[str]] = {}
    for s in spans:
        t = s.start
        while t < s.end:
            bar = t // steps_per_bar
            stop = min(s.end, (bar + 1) * steps_per_bar)
            whole = t == bar * steps_per_bar and stop - t == steps_per_bar
            label = s.chord.name if whole else f"{s.chord.name}:{(stop - t) / steps_per_beat:g}"
            bars.setdefault(bar, []).append(label)
            t = stop
    return " | ".join(" ".join(v) for _, v in sorted(bars.items()))


# ------------------------------------------------------------------ Nottingham's chords

JUKEDECK_FIXES = ((re.compile(r'"([A-Ga-g][#b]?)d"'), r'"\1dim"'),
                  (re.compile(r'"([A-Ga-g][#b]?)a"'), r'"\1aug"'),
                  (re.compile(r'"([^"/]+)/([a-gA-G])\+"'), r'"\1/\2#"'))
"""Jukedeck's spellings that music21 misreads: ``"Cd"`` (dim), ``"Ca"`` (aug), ``"D/f+"`` (bass F#)."""


def abc_chord_symbols(text: str) -> list[tuple[float, int, list[int]]]:
    """``(quarter, root pc, pitch classes)`` of each chord symbol of one ABC tune, in the time base of
    :func:`muse.music.midi_io.load_piece` (a pick-up bar's missing beats added); bracketed (alternative)
    chords are skipped."""
    from music21 import converter, harmony, stream

    from muse.music.midi_io import _no_beaming, quiet

    for pattern, repl in JUKEDECK_FIXES:
        text = pattern.sub(repl, text)
    text = re.sub(r'"\([^"]*\)"', "", text)
    with quiet(), _no_beaming():
        score = converter.parseData(text, format="abc")
    parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    part = parts[0]
    first = part.getElementsByClass(stream.Measure).first()
    pad = float(first.paddingLeft) if first is not None else 0.0
    out = []
    for cs in part.flatten().getElementsByClass(harmony.ChordSymbol):
        if isinstance(cs, harmony.NoChord) or not cs.pitches:
            continue
        out.append((float(cs.offset) + pad, int(cs.root().pitchClass), sorted({p.pitchClass for p in cs.pitches})))
    return out


@lru_cache(maxsize=1)
def nottingham_chords() -> dict[str, list[tuple[float, Chord]]]:
    """Nottingham's chords by piece id (``abc/jigs.abc#3``), from the shipped ``chords.json``."""
    from muse.music.prepared import prepared_path

    path = prepared_path(CHORDS_FILE)
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != CHORDS_FORMAT:
        raise ConfigError(f"{path}: chord file format {data.get('format')!r}; this muse reads {CHORDS_FORMAT}")
    return {pid: [(float(q), nearest_chord(int(root), pcs)) for q, root, pcs in rows]
            for pid, rows in data["pieces"].items()}


def symbols_to_spans(symbols: Sequence[tuple[float, Chord]], steps_per_quarter: int, end: int) -> list[ChordSpan]:
    """Chord symbols at quarter-note times as spans on the grid, each to the next (the last to ``end``);
    a repeated chord continues its span."""
    spans: list[ChordSpan] = []
    starts = [(int(round(q * steps_per_quarter)), c) for q, c in sorted(symbols, key=lambda x: x[0])]
    for i, (t, c) in enumerate(starts):
        stop = starts[i + 1][0] if i + 1 < len(starts) else end
        if stop <= t:
            continue
        if spans and spans[-1].chord == c and spans[-1].end == t:
            spans[-1] = ChordSpan(spans[-1].start, stop, c)
        else:
            spans.append(ChordSpan(t, stop, c))
    return spans


def with_chord_part(score: Score, symbols: Sequence[tuple[float, Chord]] | None) -> Score:
    """``score`` with its chord symbols as a block-chord part in front (unchanged when it has none);
    unnamed parts are named ``Melody``."""
    if not symbols:
        return score
    spans = symbols_to_spans(symbols, score.steps_per_quarter, score.length)
    if not spans:
        return score
    parts = [p if p.name else replace(p, name="Melody") for p in score.parts]
    return Score([chord_part(spans), *parts], score.steps_per_quarter, score.qpm, score.time_signature,
                 score.key, score.total_steps)


def chord_tone_share(melody_notes: Iterable[Note], spans: Sequence[ChordSpan], beats: Iterable[int]) -> tuple[int, int]:
    """(chord tones, notes) among melody notes sounding at the given steps (e.g. beats 1 and 3) under a chord."""
    notes = sorted(melody_notes)
    hits = total = 0
    for t in beats:
        chord = chord_at(spans, t)
        if chord is None:
            continue
        for n in notes:
            if n.start <= t < n.end:
                total += 1
                hits += n.pitch % 12 in chord.pitch_classes
                break
    return hits, total


def spans_to_json(spans: Sequence[ChordSpan]) -> list[dict[str, Any]]:
    """Spans as plain data (``start``, ``end``, ``chord``)."""
    return [{"start": s.start, "end": s.end, "chord": s.chord.name} for s in spans]

"""Four-part writing measured the way theorists judge Bach chorales.

Pure functions on a :class:`~muse.music.score.Score` of four voices (soprano, alto,
tenor, bass; :func:`satb_parts` finds them). Each voice is read as a line on the
score's grid (the highest note where a part holds a chord). Definitions, one line each:

- *slice*: the four voices' sounding pitches at a grid step where any voice has an onset.
- *move* (of a voice pair): two consecutive slices where both voices sound and both change pitch.
- *parallel fifth / octave*: a move whose two intervals (``abs(upper - lower) % 12``) are both 7,
  or both 0 (octaves and unisons), the voices moving in the same direction; per 100 moves, 6 pairs.
- *hidden (direct) fifth / octave*: soprano and bass move in the same direction, the soprano by
  a leap (more than 2 semitones), into a perfect interval (7 or 0) from another interval; per 100
  soprano-bass moves.
- *crossing*: share of slices where some voice sounds above the next-higher voice (A > S, T > A, B > T).
- *spacing fault*: share of slices where soprano-alto or alto-tenor lie more than 12 semitones apart.
- *range violation*: share of notes outside the voice's range, MIDI S 60-81 (C4-A5),
  A 53-74 (F3-D5), T 48-69 (C3-A4), B 40-64 (E2-E4) (:data:`RANGES`).
- *chord tone*: on each beat with sounding notes, share of those notes whose pitch class belongs
  to the best-matching triad or seventh chord (:func:`match_chord`, any root).
- *notes per bar*: onsets per voice per bar of the score's meter.

:func:`harmonization_agreement` compares a harmonization with the original one;
:func:`aggregate_stats` and :func:`compare_stats` put many scores side by side.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from muse.errors import DataError
from muse.music.extract import SATB_NAME
from muse.music.metrics import beat_steps
from muse.music.score import Score

VOICES = ("S", "A", "T", "B")
"""Voice letters, highest first, in the order :func:`satb_parts` returns the parts."""
RANGES = {"S": (60, 81), "A": (53, 74), "T": (48, 69), "B": (40, 64)}
"""The standard choir ranges (inclusive MIDI pitches) used for range violations."""
PAIRS = tuple((i, j) for i in range(4) for j in range(i + 1, 4))
"""The six voice pairs (upper index, lower index)."""
CHORD_TEMPLATES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10), "hdim7": (0, 3, 6, 10), "dim7": (0, 3, 6, 9),
}
"""Chord qualities as pitch-class sets above the root: the four triads and five seventh chords."""
FUNCTIONS = {"major": {0: "T", 4: "T", 9: "T", 2: "S", 5: "S", 7: "D", 11: "D"},
             "minor": {0: "T", 3: "T", 8: "T", 2: "S", 5: "S", 7: "D", 11: "D", 10: "D"}}
"""Harmonic function of a chord root by its degree above the tonic (semitones); others are "other"."""
REST = -1

_RATIOS: dict[str, tuple[str, str, float]] = {
    "parallel_fifths_per_100": ("parallel_fifths", "pair_moves", 100.0),
    "parallel_octaves_per_100": ("parallel_octaves", "pair_moves", 100.0),
    "hidden_perfect_per_100": ("hidden_perfect", "outer_moves", 100.0),
    "crossing_share": ("crossing_slices", "slices", 1.0),
    "spacing_fault_share": ("spacing_slices", "slices", 1.0),
    "range_violation_share": ("notes_out_of_range", "notes", 1.0),
    "chord_tone_share": ("chord_tones", "beat_notes", 1.0),
    **{f"range_violation_{v}": (f"notes_out_of_range_{v}", f"notes_{v}", 1.0) for v in VOICES},
    **{f"notes_per_bar_{v}": (f"notes_{v}", "bars", 1.0) for v in VOICES},
}


def _pitched(score: Score) -> list[int]:
    return [i for i, p in enumerate(score.parts) if not p.is_drum and p.notes]


def satb_parts(score: Score) -> list[int]:
    """Indices of the soprano, alto, tenor and bass parts of ``score``.

    Parts named Soprano/Alto/Tenor/Bass (first word, any case) are taken by name when each
    name occurs once among the pitched parts; otherwise the score must hold exactly four
    pitched parts, ordered by mean pitch, highest first.

    Args:
        score: the score.

    Returns:
        list[int]: four part indices, soprano first.

    Raises:
        DataError: when the score has no four pitched parts to take.

    Example:
        >>> import muse
        >>> from muse.music.voice_leading import satb_parts
        >>> parts = [muse.Part([muse.Note(0, 4, p)]) for p in (48, 72, 40, 60)]
        >>> satb_parts(muse.Score(parts))
        [1, 3, 0, 2]
    """
    pitched = _pitched(score)
    by_name: dict[str, list[int]] = {}
    for i in pitched:
        m = SATB_NAME.match(score.parts[i].name or "")
        if m:
            by_name.setdefault(m.group(1).lower(), []).append(i)
    if all(len(by_name.get(v, [])) == 1 for v in ("soprano", "alto", "tenor", "bass")):
        return [by_name[v][0] for v in ("soprano", "alto", "tenor", "bass")]
    if len(pitched) != 4:
        names = ", ".join(score.parts[i].name or "unnamed" for i in pitched) or "none"
        raise DataError(f"four-part analysis needs 4 pitched parts (or parts named Soprano, Alto, Tenor, Bass); "
                        f"this score has {len(pitched)} ({names})")
    return sorted(pitched, key=lambda i: -float(np.mean([n.pitch for n in score.parts[i].notes])))


def voice_grid(score: Score, parts: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The voices as grid lines: pitch per step (-1 for a rest; the highest note of a chord) and onsets.

    Args:
        score: the score.
        parts: part indices, one per voice; default :func:`satb_parts`.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``pitch`` (int, voices x steps) and ``onset`` (bool, same shape).

    Example:
        >>> import muse
        >>> from muse.music.voice_leading import voice_grid
        >>> s = muse.Score([muse.Part([muse.Note(0, 2, 60), muse.Note(3, 4, 62)])])
        >>> pitch, onset = voice_grid(s, [0])
        >>> pitch.tolist(), onset.astype(int).tolist()
        ([[60, 60, -1, 62]], [[1, 0, 0, 1]])
    """
    parts = satb_parts(score) if parts is None else list(parts)
    length = score.length
    pitch = np.full((len(parts), length), REST, dtype=np.int64)
    onset = np.zeros((len(parts), length), dtype=bool)
    for v, i in enumerate(parts):
        for n in sorted(score.parts[i].notes, key=lambda n: n.pitch):  # higher notes overwrite lower
            pitch[v, n.start:n.end] = n.pitch
            onset[v, n.start] = True
    return pitch, onset


def match_chord(pitches: Iterable[int]) -> tuple[int, str] | None:
    """The triad or seventh chord that best explains sounding pitches.

    Ranked by: notes whose pitch class the chord holds (more is better), chord tones left
    unsounded (fewer), the root in the bass, triads before seventh chords, then template order.

    Args:
        pitches: MIDI pitches sounding together (rests, -1, ignored).

    Returns:
        tuple[int, str] | None: ``(root pitch class, quality)`` (a key of :data:`CHORD_TEMPLATES`),
        None when nothing sounds.

    Example:
        >>> from muse.music.voice_leading import match_chord
        >>> match_chord([43, 59, 62, 65])   # G B D F
        (7, '7')
        >>> match_chord([48, 64, 67, 72])   # C E G C
        (0, 'maj')
    """
    ps = [int(p) for p in pitches if p >= 0]
    if not ps:
        return None
    pcs = [p % 12 for p in ps]
    sounding = set(pcs)
    bass = min(ps) % 12
    best, best_key = None, None
    for q_index, (quality, template) in enumerate(CHORD_TEMPLATES.items()):
        for root in range(12):
            tones = {(root + t) % 12 for t in template}
            key = (sum(pc in tones for pc in pcs), -len(tones - sounding), root == bass, -len(tones), -q_index)
            if best_key is None or key > best_key:
                best, best_key = (root, quality), key
    return best


def _chord_tone_count(pitches: Sequence[int]) -> tuple[int, int]:
    chord = match_chord(pitches)
    ps = [p for p in pitches if p >= 0]
    if chord is None:
        return 0, 0
    tones = {(chord[0] + t) % 12 for t in CHORD_TEMPLATES[chord[1]]}
    return sum(p % 12 in tones for p in ps), len(ps)


def _beats(score: Score) -> np.ndarray:
    step = beat_steps(score)  # type: ignore[arg-type] - needs only the meter and the grid
    return np.unique(np.round(np.arange(0, score.length, step)).astype(np.int64))


def voice_leading_stats(score: Score) -> dict:
    """Voice-leading statistics of one four-part score (definitions in the module docstring).

    Args:
        score: a score with four pitched parts (see :func:`satb_parts`).

    Returns:
        dict: ``parallel_fifths_per_100``, ``parallel_octaves_per_100``, ``hidden_perfect_per_100``,
        ``crossing_share``, ``spacing_fault_share``, ``range_violation_share`` (and per voice
        ``range_violation_S`` ...), ``chord_tone_share``, ``notes_per_bar_S`` ... ``notes_per_bar_B``
        (NaN where the denominator is 0), and ``counts``: the numerators and denominators, which
        :func:`aggregate_stats` pools.

    Raises:
        DataError: when the score has no four pitched parts.

    Example:
        >>> import muse
        >>> from muse.music.voice_leading import voice_leading_stats
        >>> line = lambda *ps: muse.Part([muse.Note(4 * i, 4 * i + 4, p) for i, p in enumerate(ps)])
        >>> s = muse.Score([line(72, 74), line(67, 69), line(64, 65), line(48, 50)])
        >>> st = voice_leading_stats(s)    # octaves S-B and fifths A-B, moving up a step
        >>> st["counts"]["parallel_fifths"], st["counts"]["parallel_octaves"], st["counts"]["pair_moves"]
        (1, 1, 6)
    """
    pitch, onset = voice_grid(score)
    slice_steps = np.flatnonzero(onset.any(axis=0))
    sl = pitch[:, slice_steps]  # voices x slices
    counts: dict[str, float] = {k: 0 for k in ("pair_moves", "parallel_fifths", "parallel_octaves", "outer_moves",
                                               "hidden_perfect", "slices", "crossing_slices", "spacing_slices")}
    if sl.shape[1] >= 2:
        a, b = sl[:, :-1], sl[:, 1:]
        sounding = (a >= 0) & (b >= 0)
        moving = sounding & (a != b)
        direction = np.sign(b - a)
        for i, j in PAIRS:
            both = moving[i] & moving[j]
            same_dir = both & (direction[i] == direction[j])
            ic0, ic1 = np.abs(a[i] - a[j]) % 12, np.abs(b[i] - b[j]) % 12
            counts["pair_moves"] += int(both.sum())
            counts["parallel_fifths"] += int((same_dir & (ic0 == 7) & (ic1 == 7)).sum())
            counts["parallel_octaves"] += int((same_dir & (ic0 == 0) & (ic1 == 0)).sum())
            if (i, j) == (0, 3):
                counts["outer_moves"] += int(both.sum())
                leap = np.abs(b[i] - a[i]) > 2
                into = ((ic1 == 7) | (ic1 == 0)) & (ic0 != ic1)
                counts["hidden_perfect"] += int((same_dir & leap & into).sum())
    counts["slices"] = int(sl.shape[1])
    crossed = np.zeros(sl.shape[1], dtype=bool)
    for v in range(3):
        ok = (sl[v] >= 0) & (sl[v + 1] >= 0)
        crossed |= ok & (sl[v + 1] > sl[v])
    counts["crossing_slices"] = int(crossed.sum())
    wide = np.zeros(sl.shape[1], dtype=bool)
    for v in (0, 1):
        ok = (sl[v] >= 0) & (sl[v + 1] >= 0)
        wide |= ok & (sl[v] - sl[v + 1] > 12)
    counts["spacing_slices"] = int(wide.sum())

    parts = satb_parts(score)
    counts["notes"] = counts["notes_out_of_range"] = 0
    for v, i in zip(VOICES, parts):
        lo, hi = RANGES[v]
        ps = [n.pitch for n in score.parts[i].notes]
        counts[f"notes_{v}"] = len(ps)
        counts[f"notes_out_of_range_{v}"] = sum(not lo <= p <= hi for p in ps)
        counts["notes"] += len(ps)
        counts["notes_out_of_range"] += counts[f"notes_out_of_range_{v}"]
    counts["bars"] = score.num_bars

    counts["chord_tones"] = counts["beat_notes"] = 0
    for t in _beats(score):
        tones, total = _chord_tone_count(pitch[:, t].tolist())
        counts["chord_tones"] += tones
        counts["beat_notes"] += total
    return {**_ratios(counts), "counts": counts}


def _ratios(counts: Mapping[str, float]) -> dict[str, float]:
    return {name: (scale * counts[num] / counts[den] if counts.get(den) else float("nan"))
            for name, (num, den, scale) in _RATIOS.items()}


def _on_sixteenths(pitch: np.ndarray, score: Score, n: int) -> np.ndarray:
    """The voices' pitches at the first ``n`` 16th notes of ``score`` (rests past its end)."""
    steps = np.floor(np.arange(n) * score.steps_per_quarter / 4).astype(np.int64)
    out = np.full((pitch.shape[0], n), REST, dtype=np.int64)
    inside = steps < pitch.shape[1]
    out[:, inside] = pitch[:, steps[inside]]
    return out


def _function(root: int, key: tuple[int, str]) -> str:
    return FUNCTIONS["minor" if key[1] == "minor" else "major"].get((root - key[0]) % 12, "other")


def harmonization_agreement(generated: Score, reference: Score) -> dict:
    """How closely a harmonization of a melody matches the reference one (Bach's) on the same soprano.

    Per-voice accuracy: share of 16th-note steps (up to the longer score's end) where the
    generated voice's pitch equals the reference's, a rest matching a rest. Chords are compared
    on the reference's beats where it sounds: same root and quality under :func:`match_chord`
    (``chord``), same root (``root``), and the same function T/S/D (I, iii, vi = T; ii, IV = S;
    V, vii = D, and VII in minor; anything else "other") relative to the reference's key,
    or the generated score's, when one is known (else ``function`` is NaN).

    Args:
        generated: the harmonization to judge (four pitched parts).
        reference: the original (four pitched parts).

    Returns:
        dict: ``soprano``, ``alto``, ``tenor``, ``bass`` (accuracies), ``chord``, ``root``,
        ``function`` (agreements), ``steps`` and ``beats`` (how many were compared).

    Raises:
        DataError: when either score has no four pitched parts.

    Example:
        >>> import muse
        >>> from muse.music.voice_leading import harmonization_agreement
        >>> line = lambda *ps: muse.Part([muse.Note(4 * i, 4 * i + 4, p) for i, p in enumerate(ps)])
        >>> s = muse.Score([line(72, 71), line(67, 67), line(64, 62), line(48, 55)], key=(0, "major"))
        >>> harmonization_agreement(s, s)["chord"]
        1.0
    """
    gp, _ = voice_grid(generated)
    rp, _ = voice_grid(reference)
    quarters = max(generated.length / generated.steps_per_quarter, reference.length / reference.steps_per_quarter)
    n = int(np.ceil(quarters * 4))
    g16, r16 = _on_sixteenths(gp, generated, n), _on_sixteenths(rp, reference, n)
    out: dict = {name: float(np.mean(g16[v] == r16[v])) if n else float("nan")
                 for v, name in enumerate(("soprano", "alto", "tenor", "bass"))}
    out["steps"] = n

    key = reference.key or generated.key
    same = same_root = same_fn = beats = 0
    for t in _beats(reference):
        ref_chord = match_chord(rp[:, t].tolist())
        if ref_chord is None:
            continue
        tg = round(int(t) * generated.steps_per_quarter / reference.steps_per_quarter)
        gen_chord = match_chord(gp[:, tg].tolist()) if tg < gp.shape[1] else None
        beats += 1
        same += gen_chord == ref_chord
        same_root += gen_chord is not None and gen_chord[0] == ref_chord[0]
        if key is not None:
            same_fn += gen_chord is not None and _function(gen_chord[0], key) == _function(ref_chord[0], key)
    nan = float("nan")
    out["chord"] = same / beats if beats else nan
    out["root"] = same_root / beats if beats else nan
    out["function"] = same_fn / beats if beats and key is not None else nan
    out["beats"] = beats
    return out


def aggregate_stats(stats: Iterable[Mapping]) -> dict:
    """Aggregate :func:`voice_leading_stats` (or :func:`harmonization_agreement`) results of many scores.

    Args:
        stats: one result per score.

    Returns:
        dict: ``pieces`` (how many), ``mean`` (each metric's mean over pieces, NaNs skipped) and,
        for voice-leading stats, ``pooled`` (each ratio from the summed counts: every move,
        slice or note weighs the same) and ``counts`` (the sums).

    Example:
        >>> from muse.music.voice_leading import aggregate_stats
        >>> agg = aggregate_stats([{"chord": 1.0}, {"chord": 0.5}])
        >>> agg["pieces"], agg["mean"]["chord"]
        (2, 0.75)
    """
    stats = list(stats)
    names = [k for k in (stats[0] if stats else {}) if k != "counts"]
    mean = {}
    for k in names:
        vals = np.array([s[k] for s in stats], dtype=float)
        vals = vals[~np.isnan(vals)]
        mean[k] = float(vals.mean()) if len(vals) else float("nan")
    out: dict = {"pieces": len(stats), "mean": mean}
    if stats and all("counts" in s for s in stats):
        counts = {k: float(sum(s["counts"][k] for s in stats)) for k in stats[0]["counts"]}
        out["pooled"] = _ratios(counts)
        out["counts"] = counts
    return out


def compare_stats(a: Mapping, b: Mapping, *, how: str = "pooled") -> dict[str, dict[str, float]]:
    """Two aggregates side by side, metric by metric (e.g. generated chorales vs Bach's).

    Args:
        a: an :func:`aggregate_stats` result (or a single score's stats).
        b: another one, the reference.
        how: ``"pooled"`` or ``"mean"``, which figures of an aggregate to compare.

    Returns:
        dict[str, dict[str, float]]: per metric ``{"a": ..., "b": ..., "diff": a - b}``.

    Example:
        >>> from muse.music.voice_leading import compare_stats
        >>> compare_stats({"chord_tone_share": 0.8}, {"chord_tone_share": 0.9})["chord_tone_share"]["diff"]
        -0.1
    """
    def figures(x: Mapping) -> Mapping:
        if "mean" in x and isinstance(x["mean"], Mapping):
            return x.get(how, x["mean"])
        return {k: v for k, v in x.items() if k != "counts"}

    fa, fb = figures(a), figures(b)
    return {k: {"a": float(fa[k]), "b": float(fb[k]), "diff": round(float(fa[k]) - float(fb[k]), 12)}
            for k in fa if k in fb}

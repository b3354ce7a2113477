"""Objective melody metrics named and defined as in MusPy 0.5, plus latent-space attributes.

Every function in :data:`ALL_METRICS` gives the value that the MusPy function of
the same name gives on :func:`to_muspy` of the melody (one track, ``resolution``
= ``steps_per_quarter``, the same note times); ``tests/test_music_muspy.py``
checks this against muspy itself. MusPy's conventions, which they follow:

* a *beat* is a quarter note (MusPy's ``resolution`` steps); a *measure* is
  ``measure_resolution`` steps, by default ``melody.steps_per_bar`` (MusPy takes
  it as an argument and ignores the time signature);
* the song ends where its last note ends: a trailing rest (``total_steps``) is
  not counted;
* beats (measures) are numbered 0 through the one holding the song's end,
  ``end // unit + 1`` of them, and a note fills every one from the beat holding
  its onset through the beat holding its offset, inclusive, so a note that ends
  on a beat line also fills the beat that begins there;
* :func:`polyphony_rate` counts steps with *more than* ``threshold`` (default
  2) pitches sounding;
* for a melody without notes ``pitch_range``, ``n_pitches_used`` and
  ``n_pitch_classes_used`` are 0 and the others are NaN (undefined).

NaN values are left out of means.

``ATTRIBUTES`` are cheap, always-finite descriptors (0 for an empty melody)
meant for attribute-controlled latent models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from muse.errors import ConfigError, DataError, require
from muse.music.melody import Melody
from muse.music.theory import KEY_MODES, scale_pitch_classes

NAN = float("nan")


def beat_steps(melody: Melody) -> float:
    """Grid steps per metrical beat: the denominator's note, or its dotted value in compound meter."""
    num, den = melody.time_signature
    unit = melody.steps_per_quarter * 4 / den
    return unit * 3 if num % 3 == 0 and num > 3 and den >= 8 else unit


def strong_steps(melody: Melody) -> list[int]:
    """Grid steps within a bar where a final note may start: the downbeat, and the middle of a bar
    of four or more beats in an even count (beat 3 of 4/4, the second half of 12/8)."""
    bar = melody.steps_per_bar
    beats = round(bar / beat_steps(melody))
    return [0, bar // 2] if beats >= 4 and beats % 2 == 0 else [0]


def estimate_key(melody: Melody) -> tuple[int, str]:
    """Most likely major/minor key: most notes in scale, ties broken by tonic/final-note weight."""
    pcs = [p % 12 for p in melody.pitches]
    if not pcs:
        return 0, "major"
    final = pcs[-1]

    def score(k: tuple[int, str]) -> tuple[float, float]:
        scale = scale_pitch_classes(*k)
        return sum(pc in scale for pc in pcs), (pcs.count(k[0]) + 2 * (final == k[0]))

    return max(((t, m) for t in range(12) for m in KEY_MODES), key=score)


def _entropy(values: Sequence[int]) -> float:
    if not values:
        return NAN
    _, counts = np.unique(np.asarray(values), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def song_end(melody: Melody) -> int:
    """End of the last note in grid steps (0 without notes): MusPy's song length.

    Unlike ``melody.length`` it leaves out a trailing rest."""
    return max((n.end for n in melody.notes), default=0)


def _roll(melody: Melody) -> np.ndarray:
    """Boolean (song_end, 128) piano roll of sounding pitches."""
    roll = np.zeros((song_end(melody), 128), dtype=bool)
    for n in melody.notes:
        roll[n.start : n.end, n.pitch] = True
    return roll


def _measure_resolution(melody: Melody, measure_resolution: int | None) -> int:
    res = melody.steps_per_bar if measure_resolution is None else measure_resolution
    if res < 1:
        raise ConfigError(f"measure_resolution must be a positive number of steps, not {res}")
    return res


# ------------------------------------------------------------------ pitch
def pitch_range(melody: Melody) -> float:
    """Highest minus lowest pitch, in semitones (0 without notes, as MusPy)."""
    p = melody.pitches
    return float(max(p) - min(p)) if p else 0.0


def n_pitches_used(melody: Melody) -> float:
    """Number of distinct pitches (0 without notes)."""
    return float(len(set(melody.pitches)))


def n_pitch_classes_used(melody: Melody) -> float:
    """Number of distinct pitch classes (0 without notes)."""
    return float(len({p % 12 for p in melody.pitches}))


def pitch_entropy(melody: Melody) -> float:
    """Shannon entropy (bits) of the note-count histogram over pitches."""
    return _entropy(melody.pitches)


def pitch_class_entropy(melody: Melody) -> float:
    """Shannon entropy (bits) of the note-count histogram over the 12 pitch classes."""
    return _entropy([p % 12 for p in melody.pitches])


def pitch_in_scale_rate(melody: Melody, root: int, mode: str) -> float:
    """Fraction of notes whose pitch class lies in the ``root`` ``mode`` ("major"/"minor") scale
    (:data:`muse.music.theory.SCALES`; minor is the natural minor)."""
    if mode not in KEY_MODES:
        raise ConfigError(f"unknown scale mode {mode!r}; use {' or '.join(KEY_MODES)}")
    if not melody.notes:
        return NAN
    scale = scale_pitch_classes(root, mode)
    return sum(p % 12 in scale for p in melody.pitches) / len(melody.notes)


def scale_consistency(melody: Melody) -> float:
    """Largest pitch-in-scale rate over the 24 major and minor scales."""
    if not melody.notes:
        return NAN
    return max(pitch_in_scale_rate(melody, r, m) for r in range(12) for m in KEY_MODES)


# ------------------------------------------------------------------ rhythm
def _empty_rate(melody: Melody, unit: int) -> float:
    """Share of the ``end // unit + 1`` units that no note touches; a note touches the
    units holding its onset and its offset and all between."""
    end = song_end(melody)
    if end < 1:
        return NAN
    touched = np.zeros(end // unit + 1, dtype=bool)
    for n in melody.notes:
        touched[n.start // unit : n.end // unit + 1] = True
    return 1.0 - np.count_nonzero(touched) / touched.size


def empty_beat_rate(melody: Melody) -> float:
    """Fraction of beats (quarter notes, up to the song's end) in which no note sounds.

    MusPy's counting (see the module notes): ``end // steps_per_quarter + 1`` beats,
    a note fills the beats of its onset through its offset inclusive."""
    return _empty_rate(melody, melody.steps_per_quarter)


def empty_measure_rate(melody: Melody, measure_resolution: int | None = None) -> float:
    """Fraction of measures (``measure_resolution`` steps, default ``steps_per_bar``) in
    which no note sounds, counted as :func:`empty_beat_rate` counts beats."""
    return _empty_rate(melody, _measure_resolution(melody, measure_resolution))


def polyphony(melody: Melody) -> float:
    """Mean number of pitches sounding, over the steps where at least one sounds."""
    counts = _roll(melody).sum(axis=1)
    on = counts[counts > 0]
    return float(on.mean()) if on.size else NAN


def polyphony_rate(melody: Melody, threshold: int = 2) -> float:
    """Fraction of the steps up to the song's end in which more than ``threshold`` pitches
    sound (MusPy's default 2 counts three or more; ``threshold=1`` counts two or more)."""
    counts = _roll(melody).sum(axis=1)
    return float(np.count_nonzero(counts > threshold) / counts.size) if counts.size else NAN


def groove_consistency(melody: Melody, measure_resolution: int | None = None) -> float:
    """1 minus the mean Hamming distance between consecutive measures' onset patterns,
    over ``measure_resolution`` (default ``steps_per_bar``) positions per measure.

    The measures are the ``end // measure_resolution + 1`` of MusPy, so a song whose last
    note ends on a bar line gets a final, onset-free measure; NaN under two measures."""
    res = _measure_resolution(melody, measure_resolution)
    n_measures = song_end(melody) // res + 1
    if n_measures < 2:
        return NAN
    onsets = np.zeros((n_measures, res), dtype=bool)
    for n in melody.notes:
        onsets[n.start // res, n.start % res] = True
    distance = np.count_nonzero(onsets[:-1] != onsets[1:])
    return 1.0 - distance / (res * (n_measures - 1))


ALL_METRICS: dict[str, Callable[[Melody], float]] = {
    "pitch_range": pitch_range,
    "n_pitches_used": n_pitches_used,
    "n_pitch_classes_used": n_pitch_classes_used,
    "pitch_entropy": pitch_entropy,
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "empty_beat_rate": empty_beat_rate,
    "empty_measure_rate": empty_measure_rate,
    "polyphony": polyphony,
    "polyphony_rate": polyphony_rate,
    "groove_consistency": groove_consistency,
}


def to_muspy(melody: Melody):  # -> muspy.Music; muspy is optional, imported on call
    """The melody as a :class:`muspy.Music` on which MusPy's metrics give this module's values.

    One non-drum track, ``resolution`` = ``steps_per_quarter``, the same note times,
    pitches and velocities, the tempo, the time signature and the key when known.
    Needs muspy (in muse's ``test`` extra)."""
    muspy = require("muspy", "test", "to_muspy")
    num, den = melody.time_signature
    notes = [muspy.Note(time=n.start, pitch=n.pitch, duration=n.end - n.start, velocity=n.velocity)
             for n in melody.notes]
    keys = [] if melody.key is None else [muspy.KeySignature(0, root=melody.key[0], mode=melody.key[1])]
    return muspy.Music(
        resolution=melody.steps_per_quarter,
        tempos=[muspy.Tempo(0, float(melody.qpm))],
        key_signatures=keys,
        time_signatures=[muspy.TimeSignature(0, num, den)],
        tracks=[muspy.Track(program=0, is_drum=False, notes=notes)],
    )


# -------------------------------------------------------------- attributes
def note_density(melody: Melody) -> float:
    """Notes per bar."""
    bars = melody.num_bars
    return len(melody.notes) / bars if bars > 0 else 0.0


def mean_interval(melody: Melody) -> float:
    """Mean absolute interval between consecutive notes, in semitones."""
    p = np.asarray(melody.pitches)
    return float(np.abs(np.diff(p)).mean()) if p.size > 1 else 0.0


def syncopation(melody: Melody) -> float:
    """Share of onsets that fall off the metrical beat."""
    if not melody.notes:
        return 0.0
    beat = beat_steps(melody)
    off = [abs(n.start / beat - round(n.start / beat)) > 1e-9 for n in melody.notes]
    return sum(off) / len(off)


def pitch_span(melody: Melody) -> float:
    """Highest minus lowest pitch in semitones (0 for an empty melody)."""
    p = melody.pitches
    return float(max(p) - min(p)) if p else 0.0


ATTRIBUTES: dict[str, Callable[[Melody], float]] = {
    "note_density": note_density,
    "mean_interval": mean_interval,
    "syncopation": syncopation,
    "pitch_span": pitch_span,
}


# ------------------------------------------------------------ aggregation
def _select(names: Iterable[str] | None) -> list[str]:
    names = list(ALL_METRICS) if names is None else list(names)
    unknown = [n for n in names if n not in ALL_METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(ALL_METRICS)}")
    return names


def metric_values(melodies: Iterable[Melody], names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Per-melody values of each metric (NaN where undefined)."""
    items = list(melodies)
    if not items:
        raise DataError("no melodies to compute metrics on")
    return {n: np.array([ALL_METRICS[n](m) for m in items], dtype=float) for n in _select(names)}


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    v = values[~np.isnan(values)]
    return (float(v.mean()), float(v.std())) if v.size else (NAN, NAN)


def compute_metrics(melodies: Iterable[Melody], names: Iterable[str] | None = None) -> dict[str, tuple[float, float]]:
    """Metric name -> (mean, std) over the melodies where it is defined.

    Values are those MusPy 0.5 gives (see the module doc); a melody where a
    metric is undefined (NaN, e.g. entropy of a melody without notes) is left out
    of that metric's mean and std.

    Args:
        melodies: the melodies to measure (at least one, else DataError).
        names: metrics to compute, from :data:`~muse.music.metrics.ALL_METRICS`
            (``"pitch_range"``, ``"n_pitches_used"``, ``"pitch_entropy"``,
            ``"scale_consistency"``, ``"empty_beat_rate"``,
            ``"groove_consistency"``...); None: all of them. Unknown names raise
            ConfigError.

    Returns:
        dict[str, tuple[float, float]]: metric name -> (mean, population std)
        over the melodies, in the order of ``names``; (nan, nan) when the metric
        is defined for none.

    Example:
        >>> import muse
        >>> melody = muse.parse_primer("C4 D4 E4 F4 G4:2 r:2")
        >>> muse.compute_metrics([melody], names=["pitch_range", "n_pitches_used"])
        {'pitch_range': (7.0, 0.0), 'n_pitches_used': (5.0, 0.0)}
    """
    return {n: _mean_std(v) for n, v in metric_values(melodies, names).items()}


@dataclass(frozen=True)
class MetricRow:
    name: str
    generated_mean: float
    generated_std: float
    reference_mean: float
    reference_std: float
    rel_diff: float
    """(generated - reference) / |reference|; 0 when both are 0, +-inf when only reference is 0."""


def _rel_diff(gen: float, ref: float) -> float:
    if math.isnan(gen) or math.isnan(ref):
        return NAN
    if ref == 0:
        return 0.0 if gen == 0 else math.copysign(math.inf, gen)
    return (gen - ref) / abs(ref)


def compare_metrics(
    generated: Iterable[Melody], reference: Iterable[Melody], names: Iterable[str] | None = None
) -> list[MetricRow]:
    """One row per metric: mean/std of both sets and the relative difference of the means.

    Args:
        generated: the melodies to judge (at least one).
        reference: the melodies to compare with, e.g. a held-out corpus split
            (at least one).
        names: metrics to compare (see :func:`compute_metrics`); None: all.

    Returns:
        list[MetricRow]: one row per metric with ``name``, ``generated_mean``,
        ``generated_std``, ``reference_mean``, ``reference_std`` and ``rel_diff``
        (``(generated - reference) / |reference|``); print them with
        :func:`muse.music.metrics.format_table`.

    Example:
        >>> import muse
        >>> from muse.music.metrics import format_table
        >>> generated = muse.generate_melodies(bars=8, num=10, seed=0)
        >>> reference = [m for _, m in muse.iter_corpus("nottingham", limit=10, progress=False)]
        >>> rows = muse.compare_metrics(generated, reference, names=["pitch_entropy", "scale_consistency"])
        >>> print(format_table(rows))
    """
    gen = compute_metrics(generated, names)
    ref = compute_metrics(reference, names)
    return [MetricRow(n, *gen[n], *ref[n], _rel_diff(gen[n][0], ref[n][0])) for n in gen]


def format_table(rows: Sequence[MetricRow]) -> str:
    """Markdown table of :func:`compare_metrics` rows."""
    header = ["metric", "generated", "reference", "rel. diff"]
    body = [
        [
            r.name,
            f"{r.generated_mean:.3f} ± {r.generated_std:.3f}",
            f"{r.reference_mean:.3f} ± {r.reference_std:.3f}",
            "n/a" if math.isnan(r.rel_diff) else f"{r.rel_diff:+.1%}",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(header), sep, *(fmt(line) for line in body)])


def plot_metrics(
    generated: Iterable[Melody],
    reference: Iterable[Melody],
    path: str | Path,
    names: Iterable[str] | None = None,
) -> Path:
    """Box plots of each metric, generated beside reference, saved as one PNG."""
    from matplotlib.figure import Figure  # plotting only; keeps metric imports light

    gen = metric_values(generated, names)
    ref = metric_values(reference, names)
    cols = 4
    rows = math.ceil(len(gen) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, gen):
        data = [v[~np.isnan(v)] for v in (gen[name], ref[name])]
        labels = ["generated", "reference"]
        # Matplotlib cannot box an empty array; show an empty slot instead.
        ax.boxplot([d if d.size else [np.nan] for d in data], tick_labels=labels, widths=0.6)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in axes[len(gen) :]:
        ax.set_visible(False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path

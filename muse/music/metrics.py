"""Objective melody metrics named and defined as in MusPy, plus latent-space attributes.

The metrics follow MusPy's documented definitions (Dong et al., 2020), computed
on :class:`Melody` grids: a *beat* is a quarter note (MusPy's ``resolution``), a
*measure* is ``melody.steps_per_bar`` steps, and the song length is
``melody.length`` (it includes an explicit trailing rest). A metric that is
undefined for a melody (no notes, fewer than two bars for groove) is NaN and is
left out of means.

``ATTRIBUTES`` are cheap, always-finite descriptors (0 for an empty melody)
meant for attribute-controlled latent models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from muse.errors import ConfigError, DataError
from muse.music.melody import Melody
from muse.music.theory import KEY_MODES, scale_pitch_classes

NAN = float("nan")


def beat_steps(melody: Melody) -> float:
    """Grid steps per metrical beat: the denominator's note, or its dotted value in compound meter."""
    num, den = melody.time_signature
    unit = melody.steps_per_quarter * 4 / den
    return unit * 3 if num % 3 == 0 and num > 3 and den >= 8 else unit


def _entropy(values: Sequence[int]) -> float:
    if not values:
        return NAN
    _, counts = np.unique(np.asarray(values), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def _roll(melody: Melody) -> np.ndarray:
    """Boolean (steps, 128) piano roll of sounding pitches."""
    roll = np.zeros((melody.length, 128), dtype=bool)
    for n in melody.notes:
        roll[n.start : n.end, n.pitch] = True
    return roll


# ------------------------------------------------------------------ pitch
def pitch_range(melody: Melody) -> float:
    """Highest minus lowest pitch, in semitones."""
    p = melody.pitches
    return float(max(p) - min(p)) if p else NAN


def n_pitches_used(melody: Melody) -> float:
    """Number of distinct pitches."""
    return float(len(set(melody.pitches))) if melody.notes else NAN


def n_pitch_classes_used(melody: Melody) -> float:
    """Number of distinct pitch classes."""
    return float(len({p % 12 for p in melody.pitches})) if melody.notes else NAN


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
    length = melody.length
    if length < 1:
        return NAN
    n_units = math.ceil(length / unit)
    empty = np.ones(n_units, dtype=bool)
    for n in melody.notes:
        empty[n.start // unit : math.ceil(n.end / unit)] = False
    return float(empty.mean())


def empty_beat_rate(melody: Melody) -> float:
    """Fraction of beats (quarter notes) in which no note sounds."""
    return _empty_rate(melody, melody.steps_per_quarter)


def empty_measure_rate(melody: Melody) -> float:
    """Fraction of measures in which no note sounds."""
    return _empty_rate(melody, melody.steps_per_bar)


def polyphony(melody: Melody) -> float:
    """Mean number of pitches sounding, over the steps where at least one sounds."""
    counts = _roll(melody).sum(axis=1)
    on = counts[counts > 0]
    return float(on.mean()) if on.size else NAN


def polyphony_rate(melody: Melody) -> float:
    """Fraction of all steps in which more than one pitch sounds."""
    counts = _roll(melody).sum(axis=1)
    return float((counts > 1).mean()) if counts.size else NAN


def groove_consistency(melody: Melody) -> float:
    """1 minus the mean Hamming distance between consecutive measures' onset patterns / steps per measure."""
    spb = melody.steps_per_bar
    n_bars = math.ceil(melody.length / spb)
    if n_bars < 2:
        return NAN
    grooves = np.zeros((n_bars, spb), dtype=bool)
    for n in melody.notes:
        grooves[n.start // spb, n.start % spb] = True
    distance = np.count_nonzero(grooves[:-1] != grooves[1:])
    return 1.0 - distance / (spb * (n_bars - 1))


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
    """Metric name -> (mean, std) over the melodies where it is defined."""
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
    """One row per metric: mean/std of both sets and the relative difference of the means."""
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

"""Distributions of per-melody features, compared by overlapping area (Yang & Lerch 2020).

Yang & Lerch ("On the evaluation of generative models in music", Neural
Computing and Applications, 2020) judge a generator not by the mean of a
feature but by how much the distribution of the feature over its melodies
overlaps the distribution over real tunes: each sample of per-melody values is
smoothed with a Gaussian kernel density estimate and the overlapping area

    OA(p, q) = integral of min(p(x), q(x)) dx

is 1 for identical distributions and 0 for disjoint ones. This module computes
it with numpy alone (:func:`overlapping_area`): Scott's rule bandwidth, as
``scipy.stats.gaussian_kde`` (``std(ddof=1) * n ** -0.2``), both densities on one
fine grid over the union of the two samples' ranges widened by
:data:`KDE_MARGIN` bandwidths, integrated with the trapezoid rule. (Yang &
Lerch's code integrates over the union range without margins, which leaves out
the tails: two identical samples then overlap a little less than 1.)

The features (:data:`FEATURES`, one value per melody, NaN where undefined) are
measured on the grid of the melody; lengths are in metrical beats
(:func:`muse.music.metrics.beat_steps`: a quarter in 2/4, 3/4, 4/4, a dotted
quarter in 6/8). :func:`onset_profile` is the share of onsets at each position
of the bar, compared across melodies by :func:`profile_correlation`, not by OA.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy as np

from muse.errors import ConfigError, DataError
from muse.music.melody import Melody
from muse.music.metrics import beat_steps, mean_interval, note_density, pitch_class_entropy, pitch_range

NAN = float("nan")
KDE_MARGIN = 6.0
"""Bandwidths added below the lowest and above the highest value of the integration grid."""
GRID_POINTS = 2048
"""Points of the grid the two densities are integrated on."""
PROFILE_BINS = 48
"""Bins of the bar-fraction onset grid on which all meters' profiles can be correlated
(48 is divisible by the 8, 12 and 16 sixteenth steps of a 2/4, 3/4 or 6/8, and 4/4 bar)."""


# ------------------------------------------------------------------ features
def _intervals(melody: Melody) -> np.ndarray:
    return np.diff(np.asarray(melody.pitches, dtype=float))


def mean_note_length(melody: Melody) -> float:
    """Mean note duration in metrical beats (NaN without notes)."""
    if not melody.notes:
        return NAN
    return float(np.mean([n.duration for n in melody.notes])) / beat_steps(melody)


def mean_ioi(melody: Melody) -> float:
    """Mean inter-onset interval (onset to next onset, rests included) in beats (NaN under two notes)."""
    if len(melody.notes) < 2:
        return NAN
    return float(np.mean(np.diff([n.start for n in melody.notes]))) / beat_steps(melody)


def longest_inner_note(melody: Melody) -> float:
    """Longest note but the last one (a final note is held to the end), in beats (NaN under two notes)."""
    if len(melody.notes) < 2:
        return NAN
    return max(n.duration for n in melody.notes[:-1]) / beat_steps(melody)


def mean_abs_interval(melody: Melody) -> float:
    """Mean absolute interval between consecutive notes in semitones (NaN under two notes)."""
    return mean_interval(melody) if len(melody.notes) >= 2 else NAN


def step_share(melody: Melody) -> float:
    """Share of intervals of at most 2 semitones, repeated notes included (NaN under two notes)."""
    iv = _intervals(melody)
    return float(np.mean(np.abs(iv) <= 2)) if iv.size else NAN


def leap_share(melody: Melody) -> float:
    """Share of intervals of 5 semitones (a fourth) or more (NaN under two notes)."""
    iv = _intervals(melody)
    return float(np.mean(np.abs(iv) >= 5)) if iv.size else NAN


FEATURES: dict[str, Callable[[Melody], float]] = {
    "notes_per_bar": note_density,  # notes per bar of the melody's length (num_bars, trailing rest included)
    "mean_note_length": mean_note_length,
    "mean_ioi": mean_ioi,
    "longest_inner_note": longest_inner_note,
    "mean_abs_interval": mean_abs_interval,
    "step_share": step_share,
    "leap_share": leap_share,
    "pitch_range": pitch_range,  # highest minus lowest pitch, semitones
    "pitch_class_entropy": pitch_class_entropy,  # bits, of the 12-bin pitch-class histogram (NaN without notes)
}
"""Per-melody scalar features compared by overlapping area, by name."""


def feature_values(melodies: Iterable[Melody], names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Per-melody values of each feature.

    Args:
        melodies: the melodies (at least one, else DataError).
        names: features from :data:`FEATURES`; None: all. Unknown names raise ConfigError.

    Returns:
        dict[str, np.ndarray]: feature name -> float array, one value per melody
        (NaN where the feature is undefined, e.g. intervals of a one-note melody).

    Example:
        >>> import muse
        >>> from muse.music.distributions import feature_values
        >>> feature_values([muse.parse_primer("C4 D4 E4 G4")], ["step_share"])["step_share"]
        array([0.66666667])
    """
    chosen = {n: FEATURES.get(n) for n in (FEATURES if names is None else names)}
    if None in chosen.values():
        unknown = ", ".join(n for n, f in chosen.items() if f is None)
        raise ConfigError(f"unknown feature(s) {unknown}; known: {', '.join(FEATURES)}")
    items = list(melodies)
    if not items:
        raise DataError("no melodies to compute features on")
    return {n: np.array([f(m) for m in items], dtype=float) for n, f in chosen.items()}


# ------------------------------------------------------------- onset profile
def onset_profile(melody: Melody, bins: int | None = None) -> np.ndarray:
    """Share of the melody's onsets at each position of the bar.

    Args:
        melody: the melody; positions are ``start % steps_per_bar``.
        bins: None: one bin per grid step of the bar (8 for 2/4, 12 for 3/4 and
            6/8, 16 for 4/4 at 4 steps per quarter); else the bar cut into
            ``bins`` equal parts, a step falling in the part that holds its
            start, so that meters with different bar lengths share one grid
            (:data:`PROFILE_BINS`).

    Returns:
        np.ndarray: ``bins`` (or ``steps_per_bar``) shares summing to 1; all
        zeros without notes.

    Example:
        >>> import muse
        >>> from muse.music.distributions import onset_profile
        >>> onset_profile(muse.parse_primer("C4 D4 E4:2"))[[0, 4, 8]]
        array([0.33333333, 0.33333333, 0.33333333])
    """
    bar = melody.steps_per_bar
    size = bar if bins is None else int(bins)
    if size < 1:
        raise ConfigError(f"bins must be a positive number, not {bins}")
    out = np.zeros(size)
    for n in melody.notes:
        out[(n.start % bar) * size // bar] += 1
    total = out.sum()
    return out / total if total else out


def mean_onset_profile(melodies: Iterable[Melody], bins: int | None = PROFILE_BINS) -> np.ndarray:
    """Mean of the melodies' :func:`onset_profile` (each melody weighs the same).

    Args:
        melodies: melodies with notes (at least one); with ``bins=None`` all of one bar length.
        bins: as :func:`onset_profile`; default :data:`PROFILE_BINS`.

    Returns:
        np.ndarray: the mean profile, summing to 1.

    Example:
        >>> import muse
        >>> from muse.music.distributions import mean_onset_profile
        >>> mean_onset_profile([muse.parse_primer("C4 D4:3")], bins=4)
        array([0.5, 0.5, 0. , 0. ])
    """
    profiles = [onset_profile(m, bins) for m in melodies if m.notes]
    if not profiles:
        raise DataError("no melodies with notes to take an onset profile of")
    if len({p.size for p in profiles}) > 1:
        raise ConfigError("melodies of several bar lengths: give bins= to put their profiles on one grid")
    return np.mean(profiles, axis=0)


def profile_correlation(p: Sequence[float], q: Sequence[float]) -> float:
    """Pearson correlation of two onset profiles of equal length (NaN when one is constant).

    Args:
        p: a profile, e.g. :func:`mean_onset_profile` of generated melodies.
        q: a profile on the same bins, e.g. of real tunes.

    Returns:
        float: the correlation in [-1, 1], NaN when either profile is constant.

    Example:
        >>> from muse.music.distributions import profile_correlation
        >>> round(profile_correlation([1, 0, 1, 0], [2, 0, 2, 1]), 3)
        0.905
    """
    a, b = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if a.shape != b.shape:
        raise ConfigError(f"profiles of {a.size} and {b.size} bins cannot be correlated")
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / den if den > 0 else NAN


# ------------------------------------------------------------------- the KDE
def _clean(sample: Sequence[float]) -> np.ndarray:
    x = np.asarray(sample, dtype=float).ravel()
    return x[~np.isnan(x)]


def scott_bandwidth(sample: Sequence[float]) -> float:
    """Scott's rule kernel width of a 1-d sample, as ``scipy.stats.gaussian_kde``: ``std(ddof=1) * n ** -0.2``.

    Args:
        sample: values (NaN left out); at least two for a non-zero width.

    Returns:
        float: the Gaussian kernel's standard deviation; 0 for fewer than two
        values or a constant sample.

    Example:
        >>> from muse.music.distributions import scott_bandwidth
        >>> round(scott_bandwidth([0.0, 1.0, 2.0, 3.0]), 4)
        0.9784
    """
    x = _clean(sample)
    return float(x.std(ddof=1) * x.size ** -0.2) if x.size > 1 else 0.0


def kde_density(sample: Sequence[float], grid: Sequence[float], bandwidth: float | None = None) -> np.ndarray:
    """Gaussian kernel density estimate of ``sample`` evaluated at ``grid``.

    Args:
        sample: values (NaN left out; at least one).
        grid: where to evaluate the density.
        bandwidth: kernel standard deviation (> 0); None: :func:`scott_bandwidth`.

    Returns:
        np.ndarray: the density at each grid point (integrates to 1 over the line).

    Example:
        >>> from muse.music.distributions import kde_density
        >>> round(float(kde_density([0.0], [0.0], bandwidth=1.0)[0]), 6)  # 1 / sqrt(2 pi)
        0.398942
    """
    x = _clean(sample)
    if not x.size:
        raise DataError("a density needs at least one value")
    h = scott_bandwidth(x) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise ConfigError(f"the kernel bandwidth must be > 0, not {h} (a constant sample: give bandwidth=)")
    g = np.asarray(grid, dtype=float).ravel()
    out = np.empty(g.size)
    step = max(1, 4_000_000 // x.size)  # grid points per chunk: at most ~4 M kernel values at a time
    for i in range(0, g.size, step):
        z = (g[i : i + step, None] - x[None, :]) / h
        out[i : i + step] = np.exp(-0.5 * z * z).sum(axis=1)
    return out / (x.size * h * math.sqrt(2 * math.pi))


def overlapping_area(a: Sequence[float], b: Sequence[float], *, grid_points: int = GRID_POINTS) -> float:
    """Overlapping area of the Gaussian KDEs of two samples of one feature (Yang & Lerch 2020).

    Each density has its own Scott's rule bandwidth (:func:`scott_bandwidth`). A
    constant sample (bandwidth 0) takes the other sample's bandwidth; two
    constant samples overlap fully (1.0) when they hold the same value, else not (0.0).

    Args:
        a: one sample, e.g. a feature's values over generated melodies (NaN left out).
        b: the other, e.g. the same feature over real tunes.
        grid_points: points of the integration grid (>= 16): the union of the
            two ranges widened by :data:`KDE_MARGIN` bandwidths on each side.

    Returns:
        float: the area under ``min(p_a, p_b)``, in [0, 1] (1: identical).

    Example:
        >>> from muse.music.distributions import overlapping_area
        >>> overlapping_area([1, 2, 3, 4], [1, 2, 3, 4]) > 0.999
        True
        >>> overlapping_area([1, 2, 3, 4], [101, 102, 103, 104]) < 1e-6
        True
    """
    x, y = _clean(a), _clean(b)
    if not x.size or not y.size:
        raise DataError("overlapping area: each sample needs at least one value")
    if grid_points < 16:
        raise ConfigError(f"grid_points must be >= 16, not {grid_points}")
    hx, hy = scott_bandwidth(x), scott_bandwidth(y)
    if hx == 0 and hy == 0:  # two constants (or single values): the same one or not
        return 1.0 if x.min() == x.max() == y.min() == y.max() else 0.0
    hx, hy = hx or hy, hy or hx
    margin = KDE_MARGIN * max(hx, hy)
    grid = np.linspace(min(x.min(), y.min()) - margin, max(x.max(), y.max()) + margin, grid_points)
    low = np.minimum(kde_density(x, grid, hx), kde_density(y, grid, hy))
    area = float(np.sum((low[1:] + low[:-1]) * np.diff(grid)) / 2)
    return min(1.0, max(0.0, area))


def compare_distributions(generated: Iterable[Melody], reference: Iterable[Melody],
                          names: Iterable[str] | None = None) -> dict[str, float]:
    """Overlapping area of each feature's distribution over two sets of melodies.

    Args:
        generated: the melodies to judge (at least one).
        reference: the melodies to compare with, e.g. held-out real tunes.
        names: features from :data:`FEATURES`; None: all.

    Returns:
        dict[str, float]: feature name -> overlapping area in [0, 1]; NaN where
        a feature is undefined for every melody of one set.

    Example:
        >>> import muse
        >>> from muse.music.distributions import compare_distributions
        >>> tunes = [m for _, m in muse.iter_corpus("nottingham", limit=40, progress=False)]
        >>> oa = compare_distributions(tunes[:20], tunes[20:])
        >>> sorted(oa) == sorted(muse.music.distributions.FEATURES)
        True
    """
    gen, ref = feature_values(generated, names), feature_values(reference, names)
    out = {}
    for n in gen:
        g, r = _clean(gen[n]), _clean(ref[n])
        out[n] = overlapping_area(g, r) if g.size and r.size else NAN
    return out

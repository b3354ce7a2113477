"""Per-melody feature distributions and their overlapping area (muse.music.distributions)."""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from muse.errors import ConfigError, DataError
from muse.music.distributions import (FEATURES, PROFILE_BINS, compare_distributions, feature_values, kde_density,
                                      mean_onset_profile, onset_profile, overlapping_area, profile_correlation,
                                      scott_bandwidth)
from muse.music.melody import Melody, Note


def normal_sample(n: int, mean: float = 0.0) -> np.ndarray:
    """n quantiles of N(mean, 1) at (i + 0.5) / n: a deterministic 'sample' of a unit normal."""
    dist = NormalDist(mean, 1.0)
    return np.array([dist.inv_cdf((i + 0.5) / n) for i in range(n)])


# ------------------------------------------------------------------ the estimator
def test_identical_samples_overlap_fully():
    x = normal_sample(300)
    assert overlapping_area(x, x) == pytest.approx(1.0, abs=1e-4)
    assert overlapping_area([3, 1, 4, 1, 5], [5, 1, 4, 1, 3]) == pytest.approx(1.0, abs=1e-4)


def test_far_apart_samples_do_not_overlap():
    assert overlapping_area(normal_sample(200), normal_sample(200, mean=50.0)) < 1e-9
    assert overlapping_area([0, 0, 0], [10, 10, 10]) < 1e-9  # two different constants


def test_one_constant_in_both_overlaps_fully():
    assert overlapping_area([2.0] * 5, [2.0] * 7) == 1.0
    # a constant against a spread sample is smoothed with the spread sample's bandwidth
    spread = normal_sample(100, mean=2.0)
    oa = overlapping_area([2.0] * 5, spread)
    assert 0.0 < oa < 1.0
    assert oa == pytest.approx(overlapping_area([2.0], spread), abs=1e-12)


@pytest.mark.parametrize("d", [0.5, 1.0, 2.0])
def test_shifted_unit_normals(d):
    n = 4000
    oa = overlapping_area(normal_sample(n), normal_sample(n, mean=d))
    # The KDE of a large N(0, 1) sample is about N(0, 1 + h^2): the estimator's own answer...
    h = scott_bandwidth(normal_sample(n))
    assert oa == pytest.approx(2 * NormalDist().cdf(-d / (2 * math.sqrt(1 + h * h))), abs=3e-3)
    # ...close to that of the true densities, 2 Phi(-d/2).
    assert oa == pytest.approx(2 * NormalDist().cdf(-d / 2), abs=0.02)


def test_overlap_is_symmetric_and_ignores_nan():
    a, b = [0.1, 0.5, 0.9, 1.4, 2.0], [0.7, 1.1, 1.9, 2.5, 2.6, 3.0]
    assert overlapping_area(a, b) == pytest.approx(overlapping_area(b, a), abs=1e-12)
    assert overlapping_area(a + [float("nan")], b) == overlapping_area(a, b)
    with pytest.raises(DataError):
        overlapping_area([float("nan")], b)
    with pytest.raises(ConfigError):
        overlapping_area(a, b, grid_points=3)


def test_kde_integrates_to_one_with_scotts_bandwidth():
    x = normal_sample(50) * 3 + 1
    assert scott_bandwidth(x) == pytest.approx(np.std(x, ddof=1) * 50 ** -0.2)
    grid = np.linspace(-30, 30, 20001)
    dens = kde_density(x, grid)
    assert float(np.sum((dens[1:] + dens[:-1]) * np.diff(grid)) / 2) == pytest.approx(1.0, abs=1e-9)
    assert kde_density([0.0], [1.0], bandwidth=2.0)[0] == pytest.approx(math.exp(-1 / 8) / (2 * math.sqrt(2 * math.pi)))


def test_matches_scipy_gaussian_kde():
    stats = pytest.importorskip("scipy.stats")
    integrate = pytest.importorskip("scipy.integrate")
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2.0, 1.0, 120), rng.normal(2.5, 0.8, 90)
    grid = np.linspace(-3, 12, 301)
    np.testing.assert_allclose(kde_density(a, grid), stats.gaussian_kde(a)(grid), rtol=1e-10, atol=1e-14)
    pa, pb = stats.gaussian_kde(a), stats.gaussian_kde(b)
    lo, hi = -6.0, 16.0
    expected, _ = integrate.quad(lambda x: min(pa(x)[0], pb(x)[0]), lo, hi, limit=200, points=[2.5])
    assert overlapping_area(a, b) == pytest.approx(expected, abs=2e-4)


# ------------------------------------------------------------------ features
def four_four() -> Melody:
    # bar 1: C4 q, D4 e, E4 e, G4 h; bar 2: C5 q, then rest to the end of bar 2
    notes = [Note(0, 4, 60), Note(4, 6, 62), Note(6, 8, 64), Note(8, 16, 67), Note(16, 20, 72)]
    return Melody(notes, time_signature=(4, 4), total_steps=32)


def six_eight() -> Melody:
    # C4 dotted quarter, C4 eighth, B3 eighth: one 6/8 bar
    return Melody([Note(0, 6, 60), Note(6, 9, 60), Note(9, 12, 59)], time_signature=(6, 8))


def test_features_of_a_four_four_melody():
    v = {k: float(a[0]) for k, a in feature_values([four_four()]).items()}
    pc = np.array([2, 1, 1, 1]) / 5
    assert v == pytest.approx({
        "notes_per_bar": 2.5, "mean_note_length": 1.0, "mean_ioi": 1.0, "longest_inner_note": 2.0,
        "mean_abs_interval": 3.0, "step_share": 0.5, "leap_share": 0.25, "pitch_range": 12.0,
        "pitch_class_entropy": float(-(pc * np.log2(pc)).sum()),
    })


def test_features_of_a_six_eight_melody_count_dotted_quarter_beats():
    v = {k: float(a[0]) for k, a in feature_values([six_eight()]).items()}
    assert v["notes_per_bar"] == 3.0
    assert v["mean_note_length"] == pytest.approx(4 / 6)  # 6, 3, 3 steps; a beat is 6 steps
    assert v["mean_ioi"] == pytest.approx(4.5 / 6)
    assert v["longest_inner_note"] == 1.0  # the final B3 is not counted
    assert (v["step_share"], v["leap_share"], v["mean_abs_interval"], v["pitch_range"]) == (1.0, 0.0, 0.5, 1.0)


def test_undefined_features_are_nan_and_left_out():
    one = Melody([Note(0, 16, 60)])
    v = feature_values([one])
    assert v["notes_per_bar"][0] == 1.0 and v["mean_note_length"][0] == 4.0
    for name in ("mean_ioi", "longest_inner_note", "mean_abs_interval", "step_share", "leap_share"):
        assert math.isnan(v[name][0]), name
    oa = compare_distributions([one, one], [four_four(), four_four()])
    assert math.isnan(oa["step_share"]) and oa["pitch_range"] < 1e-6
    assert compare_distributions([four_four()] * 2, [four_four()] * 3)["pitch_range"] == 1.0
    with pytest.raises(ConfigError):
        feature_values([one], ["no_such_feature"])
    with pytest.raises(DataError):
        feature_values([])


def test_every_feature_is_documented():
    assert all((f.__doc__ or "").strip() for f in FEATURES.values())


# ------------------------------------------------------------------ onset profiles
def test_onset_profile_on_the_bar_grid_and_on_the_common_grid():
    p = onset_profile(four_four())
    assert p.size == 16
    np.testing.assert_array_equal(np.nonzero(p)[0], [0, 4, 6, 8])
    assert p[0] == pytest.approx(2 / 5)  # bar 1 and bar 2 both start with a note
    q = onset_profile(six_eight(), bins=PROFILE_BINS)
    np.testing.assert_allclose(q[[0, 24, 36]], [1 / 3] * 3)  # steps 0, 6, 9 of a 12-step bar
    assert q.sum() == pytest.approx(1.0)
    assert onset_profile(Melody([]), bins=4).tolist() == [0, 0, 0, 0]


def test_mean_profile_and_correlation():
    waltz = Melody([Note(0, 4, 60), Note(4, 8, 62), Note(8, 12, 64)], time_signature=(3, 4))
    jig = six_eight()
    assert profile_correlation(mean_onset_profile([waltz]), mean_onset_profile([waltz, waltz])) == pytest.approx(1.0)
    assert profile_correlation([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    assert math.isnan(profile_correlation([1, 1, 1], [1, 2, 3]))
    both = mean_onset_profile([waltz, jig])
    np.testing.assert_allclose(both[[0, 16, 24, 32, 36]], [1 / 3, 1 / 6, 1 / 6, 1 / 6, 1 / 6])
    with pytest.raises(ConfigError):
        mean_onset_profile([waltz, four_four()], bins=None)
    with pytest.raises(ConfigError):
        profile_correlation([1, 2], [1, 2, 3])

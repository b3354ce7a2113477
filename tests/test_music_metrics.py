import math

import matplotlib.image as mpimg
import numpy as np
import pytest

from muse.errors import ConfigError, DataError
from muse.music.melody import Melody, Note
from muse.music.metrics import (
    ALL_METRICS,
    ATTRIBUTES,
    beat_steps,
    compare_metrics,
    compute_metrics,
    empty_beat_rate,
    empty_measure_rate,
    format_table,
    groove_consistency,
    mean_interval,
    note_density,
    n_pitch_classes_used,
    n_pitches_used,
    pitch_class_entropy,
    pitch_entropy,
    pitch_in_scale_rate,
    pitch_range,
    pitch_span,
    plot_metrics,
    polyphony,
    polyphony_rate,
    scale_consistency,
    song_end,
    syncopation,
)

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def quarters(pitches, start=0):
    """Quarter notes (4 steps each at 4 steps per quarter)."""
    return [Note(start + 4 * i, start + 4 * i + 4, p) for i, p in enumerate(pitches)]


def test_c_major_scale():
    m = Melody(quarters(C_MAJOR))
    assert pitch_range(m) == 12
    assert n_pitches_used(m) == 8
    assert n_pitch_classes_used(m) == 7
    assert pitch_entropy(m) == pytest.approx(3.0)  # 8 equiprobable pitches
    # Pitch classes: C twice (1/4), six others once (1/8): 0.5 + 6 * 3/8 = 2.75 bits.
    assert pitch_class_entropy(m) == pytest.approx(2.75)
    assert scale_consistency(m) == 1.0
    assert pitch_in_scale_rate(m, 9, "minor") == 1.0  # relative minor: same notes
    # C# major holds C (as B#) and F (as E#) only: C, F, C -> 3 of 8.
    assert pitch_in_scale_rate(m, 1, "major") == pytest.approx(3 / 8)
    assert empty_beat_rate(m) == 0.0 and empty_measure_rate(m) == 0.0
    assert polyphony(m) == 1.0 and polyphony_rate(m) == 0.0
    # Two equal bars, then MusPy's onset-free measure after a last note ending on the bar line.
    assert groove_consistency(m) == pytest.approx(1 - 4 / 32)


def test_entropy_of_skewed_histogram():
    m = Melody(quarters([60, 72, 62, 64]))
    assert pitch_entropy(m) == pytest.approx(2.0)
    assert pitch_class_entropy(m) == pytest.approx(1.5)  # C 1/2, D 1/4, E 1/4


def test_empty_bar_and_beats():
    # Bar 1: three quarters and an eighth, bar 2 silent, bar 3 a half note, then a trailing rest.
    notes = quarters([60, 62, 64]) + [Note(12, 14, 65), Note(32, 40, 67)]
    m = Melody(notes, total_steps=48)
    assert song_end(m) == 40 and m.length == 48
    # MusPy's song ends with the last note: measures 0..40 // 16 = 3, beats 0..10 = 11.
    assert empty_measure_rate(m) == pytest.approx(1 / 3)
    # Each quarter also fills the beat its offset falls in: beats 0-3 and 8-10 sound.
    assert empty_beat_rate(m) == pytest.approx(4 / 11)
    # A note held over the bar line fills the next bar and its beats; the trailing rest is not counted.
    held = Melody([Note(0, 20, 60)], total_steps=32)
    assert empty_measure_rate(held) == 0.0 and empty_beat_rate(held) == 0.0
    # A note ending on the bar line fills the bar after it too.
    assert empty_measure_rate(Melody(quarters([60, 62, 64, 65]) + [Note(32, 36, 67)])) == 0.0
    assert empty_measure_rate(m, measure_resolution=8) == pytest.approx(2 / 6)  # half-bar measures
    assert math.isnan(empty_beat_rate(Melody([], total_steps=16)))


def test_groove_consistency():
    bar = [Note(0, 2, 60), Note(4, 6, 62), Note(10, 12, 64)]
    same = Melody([Note(n.start + 16 * b, n.end + 16 * b, n.pitch) for b in range(3) for n in bar])
    assert groove_consistency(same) == 1.0
    # Onsets {0,4,8,12} then {0,8}, the song ending inside bar 2: 2 of 16 positions differ.
    m = Melody(quarters([60, 62, 64, 65]) + [Note(16, 24, 67), Note(24, 31, 65)])
    assert groove_consistency(m) == pytest.approx(1 - 2 / 16)
    # Ending on the bar line adds MusPy's onset-free measure {} (2 + 2 of 2 x 16 differ);
    # the trailing rest after it is no measure at all.
    m = Melody(quarters([60, 62, 64, 65]) + [Note(16, 24, 67), Note(24, 32, 65)], total_steps=48)
    assert groove_consistency(m) == pytest.approx(1 - 4 / 32)
    # 3/4 time: 12 steps a bar; onsets {0}, {0, 6}, {0}, then {}: 3 differences over 3 pairs.
    waltz = Melody([Note(0, 12, 60), Note(12, 18, 62), Note(18, 24, 64), Note(24, 36, 60)], time_signature=(3, 4))
    assert groove_consistency(waltz) == pytest.approx(1 - 3 / (12 * 3))
    # Half-bar measures of 8 steps: {0, 4} then {0, 4} then {} (end 16).
    assert groove_consistency(Melody(quarters([60, 62, 64, 65])), measure_resolution=8) == pytest.approx(1 - 2 / 16)
    assert math.isnan(groove_consistency(Melody(quarters([60, 62]), total_steps=16)))  # one measure only
    with pytest.raises(ConfigError, match="measure_resolution"):
        groove_consistency(m, measure_resolution=0)


def test_polyphony_is_computed_from_overlaps():
    m = Melody([Note(0, 4, 60), Note(2, 6, 64)])  # counts per step: 1 1 2 2 1 1
    assert polyphony(m) == pytest.approx(8 / 6)
    assert polyphony_rate(m) == 0.0  # MusPy's default threshold 2 counts three or more pitches
    assert polyphony_rate(m, threshold=1) == pytest.approx(2 / 6)
    gap = Melody([Note(0, 2, 60), Note(4, 6, 62)])  # silent steps are skipped by polyphony only
    assert polyphony(gap) == 1.0
    assert polyphony_rate(gap, threshold=1) == 0.0
    chord = Melody([Note(0, 4, 60), Note(0, 4, 64), Note(0, 4, 67), Note(4, 8, 72)], total_steps=16)
    assert polyphony(chord) == pytest.approx(16 / 8)
    assert polyphony_rate(chord) == pytest.approx(4 / 8)  # steps up to the last note's end only


def test_empty_melody_is_undefined_and_skipped_in_means():
    counts = {"pitch_range", "n_pitches_used", "n_pitch_classes_used"}  # 0 without notes, as in MusPy
    for empty in (Melody([]), Melody([], total_steps=32)):
        for name, fn in ALL_METRICS.items():
            assert (fn(empty) == 0.0) if name in counts else math.isnan(fn(empty)), name
        for name, fn in ATTRIBUTES.items():
            assert fn(empty) == 0.0, name
    stats = compute_metrics([Melody(quarters(C_MAJOR)), Melody([]), Melody(quarters([60, 67]))])
    assert stats["pitch_range"] == pytest.approx((19 / 3, float(np.std([12, 0, 7]))))
    assert stats["pitch_entropy"] == pytest.approx((2.0, 1.0))  # 3 and 1 bits; the NaN is left out
    assert set(stats) == set(ALL_METRICS)


def test_attributes():
    m = Melody([Note(0, 2, 60), Note(2, 4, 64), Note(4, 7, 62), Note(7, 8, 67)], total_steps=32)
    assert note_density(m) == pytest.approx(2.0)  # 4 notes in 2 bars
    assert mean_interval(m) == pytest.approx((4 + 2 + 5) / 3)
    assert syncopation(m) == pytest.approx(0.5)  # onsets 2 and 7 are off the quarter beat
    assert pitch_span(m) == 7
    # 6/8 at 4 steps a quarter: beats are dotted quarters of 6 steps.
    jig = Melody([Note(0, 2, 60), Note(2, 4, 62), Note(6, 8, 64)], time_signature=(6, 8))
    assert beat_steps(jig) == 6
    assert syncopation(jig) == pytest.approx(1 / 3)


def test_compare_format_and_plot(tmp_path):
    gen = [Melody(quarters(C_MAJOR)), Melody(quarters([60, 64, 67, 72]))]
    ref = [Melody(quarters([60, 62, 64, 65]))]
    rows = compare_metrics(gen, ref)
    by_name = {r.name: r for r in rows}
    r = by_name["pitch_range"]
    assert (r.generated_mean, r.generated_std, r.reference_mean) == (12.0, 0.0, 5.0)
    assert r.rel_diff == pytest.approx((12 - 5) / 5)
    assert by_name["polyphony_rate"].rel_diff == 0.0  # both zero
    table = format_table(rows)
    lines = table.splitlines()
    assert len(lines) == 2 + len(ALL_METRICS)
    assert "pitch_range" in table and "+140.0%" in table
    assert len({len(line) for line in lines}) == 1  # aligned columns
    png = plot_metrics(gen, ref, tmp_path / "metrics.png")
    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert np.ptp(img[..., :3]) > 0.5


def test_bad_arguments():
    m = Melody(quarters(C_MAJOR))
    with pytest.raises(ConfigError, match="unknown scale mode 'dorian'"):
        pitch_in_scale_rate(m, 0, "dorian")
    with pytest.raises(ConfigError, match="unknown metric"):
        compute_metrics([m], names=["pitch_range", "tension"])
    with pytest.raises(DataError, match="no melodies"):
        compute_metrics([])


def test_scale_metrics_use_the_theory_table():
    from muse.music.theory import KEY_MODES, scale_pitches

    m = Melody(quarters([60, 61, 63, 66, 68, 70, 71, 74, 77]))
    for mode in KEY_MODES:
        for root in range(12):
            inside = scale_pitches(root, mode)
            assert pitch_in_scale_rate(m, root, mode) == sum(p in inside for p in m.pitches) / len(m.notes)
    assert scale_consistency(m) == max(pitch_in_scale_rate(m, r, k) for r in range(12) for k in KEY_MODES)

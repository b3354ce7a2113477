"""Every MusPy-named metric of muse.music.metrics gives muspy's own value on the same music."""
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

muspy = pytest.importorskip("muspy", minversion="0.5", reason="cross-check against MusPy needs muspy (muse[test])")

from muse.music import metrics as M
from muse.music.melody import Melody, Note
from muse.music.midi_io import read_melodies

FIXTURE = Path(__file__).parent / "fixtures" / "music" / "two_tunes.abc"
MEASURE_METRICS = ("empty_measure_rate", "groove_consistency")
"""MusPy takes the steps per measure as an argument; muse defaults it to ``steps_per_bar``."""
METERS = [(2, 4), (3, 4), (4, 4), (6, 8)]


def same(a: float, b: float) -> bool:
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9


def assert_matches_muspy(mel: Melody, measure_resolution: int | None = None) -> None:
    music = M.to_muspy(mel)
    res = mel.steps_per_bar if measure_resolution is None else measure_resolution
    for name, fn in M.ALL_METRICS.items():
        if name in MEASURE_METRICS:
            ours = fn(mel) if measure_resolution is None else fn(mel, measure_resolution=res)
            theirs = getattr(muspy, name)(music, res)
        else:
            ours, theirs = fn(mel), getattr(muspy, name)(music)
        assert same(ours, theirs), f"{name}: muse {ours!r} != muspy {theirs!r} for {mel}"
    for threshold in (1, 2):
        assert same(M.polyphony_rate(mel, threshold), muspy.polyphony_rate(music, threshold))
    for mode in ("major", "minor"):
        for root in range(12):
            assert same(M.pitch_in_scale_rate(mel, root, mode), muspy.pitch_in_scale_rate(music, root, mode))


@st.composite
def melodies(draw, polyphonic: bool = False) -> Melody:
    """Random melodies: varied meters and resolutions, rests (also leading and trailing),
    notes that end on or across beat and bar lines; overlapping notes when ``polyphonic``."""
    meter = draw(st.sampled_from(METERS))
    spq = draw(st.sampled_from([1, 2, 3, 4, 12]))
    spb = round(meter[0] * spq * 4 / meter[1])
    pitch = st.sampled_from([55, 57, 60, 62, 64, 65, 67, 69, 71, 72, 74, 79, 84])
    notes, t = [], draw(st.integers(0, spb))
    for _ in range(draw(st.integers(0, 14))):
        if polyphonic:
            t += draw(st.integers(0, spq))
        else:
            t += draw(st.sampled_from([0, 0, 1, spq, spb]))
        dur = draw(st.sampled_from([1, spq, 2 * spq, spb, max(1, spq // 2), spb + 1]))
        notes.append(Note(t, t + dur, draw(pitch), draw(st.integers(1, 127))))
        if not polyphonic:
            t += dur
    notes.sort()
    end = max((n.end for n in notes), default=0)
    trailing = draw(st.sampled_from([None, 0, 1, spq, spb, 2 * spb]))
    total = None if trailing is None else end + trailing
    key = draw(st.sampled_from([None, (2, "major"), (9, "minor")]))
    return Melody(notes, steps_per_quarter=spq, time_signature=meter, total_steps=total, key=key)


def test_every_metric_carries_a_muspy_name():
    for name in [*M.ALL_METRICS, "pitch_in_scale_rate"]:
        assert callable(getattr(muspy, name, None)), name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(melodies())
def test_random_melodies_match_muspy(mel):
    mel.validate()
    assert_matches_muspy(mel)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(melodies(polyphonic=True), st.sampled_from([None, 1, 3, 4, 7, 16]))
def test_overlapping_notes_and_other_measures_match_muspy(mel, measure_resolution):
    assert_matches_muspy(mel, measure_resolution)


def test_edge_cases_match_muspy():
    cases = [
        Melody([]),
        Melody([], total_steps=32),
        Melody([Note(0, 1, 60)]),
        Melody([Note(0, 16, 60)]),  # ends on the bar line: MusPy adds an empty final measure
        Melody([Note(15, 16, 60)], total_steps=64),
        Melody([Note(3, 5, 60)], steps_per_quarter=1, time_signature=(6, 8)),
        Melody([Note(0, 4, 60), Note(0, 4, 64), Note(0, 4, 67)], total_steps=8),  # a chord
    ]
    for mel in cases:
        assert_matches_muspy(mel)


def test_fixture_tunes_match_muspy():
    tunes = read_melodies(FIXTURE)
    assert [m.time_signature for m in tunes] == [(4, 4), (3, 4)]
    for mel in tunes:
        assert_matches_muspy(mel)
        assert_matches_muspy(mel, measure_resolution=mel.steps_per_quarter)  # beat-long "measures"
    # Hand-checked: the scale tune's bars hold 8 eighth onsets, 1, 8, 1, then comes the empty
    # measure after the last note (it ends on the bar line): 7 + 7 + 7 + 1 positions differ
    # over 4 pairs of 16.
    assert M.groove_consistency(tunes[0]) == pytest.approx(1 - 22 / 64)


def test_to_muspy_keeps_times_meter_tempo_and_key():
    mel = Melody([Note(2, 5, 61, 90), Note(6, 12, 66)], steps_per_quarter=2, qpm=96.0,
                 time_signature=(6, 8), key=(9, "minor"), total_steps=20)
    music = M.to_muspy(mel)
    assert music.resolution == 2 and len(music.tracks) == 1 and not music.tracks[0].is_drum
    assert [(n.time, n.end, n.pitch, n.velocity) for n in music.tracks[0].notes] == [(2, 5, 61, 90), (6, 12, 66, 100)]
    ts = music.time_signatures[0]
    assert (ts.time, ts.numerator, ts.denominator) == (0, 6, 8)
    assert music.tempos[0].qpm == 96.0
    assert (music.key_signatures[0].root, music.key_signatures[0].mode) == (9, "minor")
    assert music.get_end_time() == M.song_end(mel) == 12  # the trailing rest is not MusPy's song

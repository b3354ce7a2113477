"""Four-part voice-leading statistics and harmonization agreement (muse.music.voice_leading)."""
from __future__ import annotations

import math

import pytest

from muse.errors import DataError
from muse.music.melody import Note
from muse.music.score import Part, Score
from muse.music.voice_leading import (
    aggregate_stats,
    compare_stats,
    harmonization_agreement,
    match_chord,
    satb_parts,
    voice_leading_stats,
)


def line(*pitches: int | None, dur: int = 4, name: str = "") -> Part:
    """A voice of equal notes (None: a rest) of ``dur`` steps each."""
    return Part([Note(dur * i, dur * (i + 1), p) for i, p in enumerate(pitches) if p is not None], name=name)


def satb(s, a, t, b, **kw) -> Score:
    return Score([line(*s, name="Soprano"), line(*a, name="Alto"), line(*t, name="Tenor"), line(*b, name="Bass")],
                 **kw)


def test_parallel_fifth_counted_once_among_six_pair_moves():
    st = voice_leading_stats(satb((74, 76), (67, 69), (60, 59), (50, 48)))
    c = st["counts"]
    assert (c["pair_moves"], c["parallel_fifths"], c["parallel_octaves"]) == (6, 1, 0)
    assert st["parallel_fifths_per_100"] == pytest.approx(100 / 6)
    assert st["parallel_octaves_per_100"] == 0.0
    assert (st["crossing_share"], st["spacing_fault_share"], st["range_violation_share"]) == (0.0, 0.0, 0.0)


def test_held_voice_makes_no_moves():
    # the tenor holds its note: only the 3 pairs of moving voices move
    st = voice_leading_stats(satb((74, 76), (67, 69), (60, 60), (50, 48)))
    assert (st["counts"]["pair_moves"], st["counts"]["parallel_fifths"]) == (3, 1)


def test_parallel_octaves_unisons_and_contrary_octaves():
    # S-T octave up a step (parallel); A-T unison up a step (parallel unison); S-B 24 -> 36 in
    # contrary motion (not parallel), and the bass's 38 lies below the bass range
    st = voice_leading_stats(satb((72, 74), (60, 62), (60, 62), (48, 38)))
    c = st["counts"]
    assert (c["pair_moves"], c["parallel_octaves"], c["parallel_fifths"]) == (6, 3, 0)  # S-A, S-T, A-T
    assert c["notes_out_of_range"] == 1 and st["range_violation_share"] == pytest.approx(1 / 8)
    assert st["range_violation_B"] == 0.5 and st["range_violation_S"] == 0.0


def test_crossing_and_spacing_shares():
    # slice 0: tenor above alto (crossing); slice 1: 14 semitones soprano-alto (spacing fault); slice 2: clean
    st = voice_leading_stats(satb((72, 76, 72), (60, 62, 67), (64, 55, 60), (48, 43, 48)))
    assert st["counts"]["slices"] == 3
    assert st["crossing_share"] == pytest.approx(1 / 3)
    assert st["spacing_fault_share"] == pytest.approx(1 / 3)


def test_hidden_octave_outer_voices_by_soprano_leap():
    # S leaps 67 -> 72 while B rises 48 -> 60: a fifth-plus-octave becomes two octaves (hidden octave)
    st = voice_leading_stats(satb((67, 72), (64, 67), (55, 64), (48, 60)))
    assert st["counts"]["outer_moves"] == 1 and st["counts"]["hidden_perfect"] == 1
    assert st["counts"]["parallel_octaves"] == 0


def test_rests_slices_onsets_and_notes_per_bar():
    # alto rests in the second quarter: no moves with the alto there; slices at every onset only
    st = voice_leading_stats(satb((72, 74, 76, 77), (67, None, 72, 72), (64, 65, 67, 69), (48, 50, 52, 53)))
    assert st["counts"]["slices"] == 4
    assert st["notes_per_bar_S"] == 4.0 and st["notes_per_bar_A"] == 3.0
    # moves: slice 0->1: S,T,B move (3 pairs); 1->2: alto absent at 1 (3 pairs); 2->3: S,T,B (3 pairs)
    assert st["counts"]["pair_moves"] == 9


def test_chord_tones_on_beats():
    # beat 1: C E G C (all chord tones); beat 2: C E G D (D is not in C major)
    st = voice_leading_stats(satb((72, 74), (67, 67), (64, 64), (48, 48)))
    assert st["chord_tone_share"] == pytest.approx(7 / 8)
    assert match_chord([43, 59, 62, 65]) == (7, "7")
    assert match_chord([50, 65, 69, 74]) == (2, "min")
    assert match_chord([]) is None


def test_satb_by_name_or_by_pitch_and_dataerror():
    named = Score([line(60, name="Tenor"), line(72, name="Soprano"), line(50, name="Horn 2"),
                   line(48, name="Bass"), line(67, name="Alto")])
    assert satb_parts(named) == [1, 4, 0, 3]
    unnamed = Score([line(48), line(72), line(60), line(67)])
    assert satb_parts(unnamed) == [1, 3, 2, 0]
    with pytest.raises(DataError, match="4 pitched parts") as err:
        voice_leading_stats(Score([line(72), line(67), line(48)]))
    assert "\n" not in str(err.value) and "3 (" in str(err.value)
    drums = Score([line(72), line(67), line(60), Part([Note(0, 4, 36)], is_drum=True)])
    with pytest.raises(DataError):
        satb_parts(drums)


def test_agreement_with_itself_and_one_changed_note():
    s = satb((72, 74, 76, 72), (67, 67, 67, 67), (64, 65, 64, 64), (48, 47, 48, 48), key=(0, "major"))
    same = harmonization_agreement(s, s)
    assert {k: same[k] for k in ("soprano", "alto", "tenor", "bass", "chord", "root", "function")} == \
        dict.fromkeys(("soprano", "alto", "tenor", "bass", "chord", "root", "function"), 1.0)
    assert same["steps"] == 16 and same["beats"] == 4
    other = satb((72, 74, 76, 72), (67, 67, 67, 67), (64, 65, 64, 64), (48, 43, 48, 48), key=(0, "major"))
    got = harmonization_agreement(other, s)
    assert got["bass"] == pytest.approx(12 / 16) and got["alto"] == 1.0


def test_chord_and_function_agreement():
    # Bach: I IV V I in C; generated: I ii V vi - same functions T S D T, two of four chords
    ref = satb((72, 72, 71, 72), (67, 69, 67, 67), (64, 65, 62, 64), (48, 53, 55, 48), key=(0, "major"))
    gen = satb((72, 72, 71, 72), (67, 69, 67, 69), (64, 65, 62, 64), (48, 50, 55, 45), key=(0, "major"))
    got = harmonization_agreement(gen, ref)
    assert got["chord"] == 0.5 and got["root"] == 0.5 and got["function"] == 1.0
    keyless = [[n.pitch for n in part.notes] for sc in (gen, ref) for part in sc.parts]
    got = harmonization_agreement(satb(*keyless[:4]), satb(*keyless[4:]))
    assert got["chord"] == 0.5 and math.isnan(got["function"])


def test_agreement_on_different_grids():
    s = satb((72, 74), (67, 67), (64, 65), (48, 47))
    fine = Score([Part([Note(2 * n.start, 2 * n.end, n.pitch) for n in p.notes], name=p.name) for p in s.parts],
                 steps_per_quarter=8)
    got = harmonization_agreement(fine, s)
    assert (got["alto"], got["bass"], got["chord"], got["steps"]) == (1.0, 1.0, 1.0, 8)


def test_aggregate_mean_and_pooled():
    a = voice_leading_stats(satb((74, 76), (67, 69), (60, 59), (50, 48)))   # 1 fifth in 6 moves
    b = voice_leading_stats(satb((74, 76), (67, 69), (60, 60), (50, 48)))   # 1 fifth in 3 moves
    agg = aggregate_stats([a, b])
    assert agg["pieces"] == 2
    assert agg["mean"]["parallel_fifths_per_100"] == pytest.approx((100 / 6 + 100 / 3) / 2)
    assert agg["pooled"]["parallel_fifths_per_100"] == pytest.approx(200 / 9)
    cmp = compare_stats(agg, aggregate_stats([a]))
    assert cmp["parallel_fifths_per_100"]["diff"] == pytest.approx(200 / 9 - 100 / 6)
    assert compare_stats(agg, agg, how="mean")["chord_tone_share"]["diff"] == 0.0


def _music21_score(name: str) -> Score:
    """A music21 corpus chorale as a Score on a 16th grid (parts with their names, key from music21)."""
    music21 = pytest.importorskip("music21")
    m21 = music21.corpus.parse(name)
    parts = []
    for p in m21.parts:
        notes = [Note(round(float(n.offset) * 4), round(float(n.offset + n.quarterLength) * 4), n.pitch.midi)
                 for n in p.flatten().notes if n.isNote and n.quarterLength > 0]
        parts.append(Part(notes, name=p.partName or ""))
    k = m21.analyze("key")
    return Score(parts, steps_per_quarter=4, time_signature=(4, 4), key=(k.tonic.pitchClass, k.mode))


def test_real_bach_chorale_near_zero_parallels():
    s = _music21_score("bach/bwv66.6")
    assert [s.parts[i].name for i in satb_parts(s)] == ["Soprano", "Alto", "Tenor", "Bass"]
    st = voice_leading_stats(s)
    assert st["counts"]["pair_moves"] > 100
    assert st["parallel_fifths_per_100"] < 1.0 and st["parallel_octaves_per_100"] < 1.0
    assert st["range_violation_share"] < 0.05 and st["chord_tone_share"] > 0.85
    same = harmonization_agreement(s, s)
    assert all(same[k] == 1.0 for k in ("soprano", "alto", "tenor", "bass", "chord", "root", "function"))


def test_corpus_chorales_through_score_io_near_zero_parallels():
    from muse.music.corpora import iter_corpus_scores

    stats = [voice_leading_stats(s) for _, s in iter_corpus_scores("bach", limit=8, workers=1, progress=False)]
    agg = aggregate_stats(stats)
    assert agg["pieces"] == 8 and agg["counts"]["pair_moves"] > 1000
    assert agg["pooled"]["parallel_fifths_per_100"] < 0.5 and agg["pooled"]["parallel_octaves_per_100"] < 0.5
    assert agg["pooled"]["crossing_share"] < 0.1 and agg["pooled"]["chord_tone_share"] > 0.9

"""Melodies to and from pretty_midi / music21 objects, and every melody input taking any of them."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import music21
import pretty_midi
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from muse.errors import DataError
from muse.music.interop import as_melody, is_melody_source
from muse.music.melody import Melody, Note
from muse.music.midi_io import read_melodies, write_midi

TIME_SIGNATURES = [(2, 4), (3, 4), (4, 4), (5, 4), (6, 8), (9, 8), (12, 8), (3, 8), (2, 2)]


@st.composite
def melodies(draw: st.DrawFn, max_notes: int = 16, velocity: bool = True) -> Melody:
    """Random monophonic melodies on a grid, with a pick-up rest, inner rests, metadata and a trailing rest."""
    spq = draw(st.sampled_from([4, 4, 2, 3, 8]))
    t, notes = draw(st.integers(0, 7)), []
    for _ in range(draw(st.integers(1, max_notes))):
        dur = draw(st.integers(1, 5 * spq))
        vel = draw(st.integers(1, 127)) if velocity else 100
        notes.append(Note(t, t + dur, draw(st.integers(0, 127)), vel))
        t += dur + draw(st.integers(0, 6))
    key = draw(st.none() | st.tuples(st.integers(0, 11), st.sampled_from(["major", "minor"])))
    total = draw(st.none() | st.integers(0, 3 * spq).map(lambda r: notes[-1].end + r))
    return Melody(notes, spq, qpm=draw(st.sampled_from([60.0, 72.25, 96.5, 120.0, 133.33, 180.0])),
                  time_signature=draw(st.sampled_from(TIME_SIGNATURES)), key=key, total_steps=total)


def as_read(m: Melody) -> Melody:
    """What reading gives back: the length always set (as from a file)."""
    return replace(m, total_steps=m.length)


# ---------------------------------------------------------------- pretty_midi


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(melodies())
def test_pretty_midi_round_trip_is_exact(m: Melody) -> None:
    pm = m.to_pretty_midi()
    assert isinstance(pm, pretty_midi.PrettyMIDI)
    assert Melody.from_pretty_midi(pm, steps_per_quarter=m.steps_per_quarter) == as_read(m)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(m=melodies())
def test_pretty_midi_written_to_a_file_reads_back_the_melody(m: Melody, tmp_path: Path) -> None:
    path = tmp_path / "pm.mid"
    m.to_pretty_midi(program=40).write(str(path))
    (back,) = read_melodies(path, steps_per_quarter=m.steps_per_quarter)
    assert back == as_read(m)
    assert Melody.from_pretty_midi(pretty_midi.PrettyMIDI(str(path)), m.steps_per_quarter) == as_read(m)


def test_trailing_rest_rides_on_an_end_text_event() -> None:
    m = Melody([Note(0, 4, 60)], total_steps=16)
    pm = m.to_pretty_midi()
    assert [(e.text, e.time) for e in pm.text_events] == [("end", 2.0)] and pm.get_end_time() == 2.0
    assert Melody.from_pretty_midi(pm).total_steps == 16
    assert not Melody([Note(0, 4, 60)]).to_pretty_midi().text_events  # no rest, no marker
    assert pm.instruments[0].program == 0 and Melody([Note(0, 4, 60)]).to_pretty_midi(7).instruments[0].program == 7


def band() -> pretty_midi.PrettyMIDI:
    """Drums, low piano chords and a flute melody at 120 qpm (0.5 s a quarter)."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    drums.notes = [pretty_midi.Note(100, 36, i * 0.5, i * 0.5 + 0.1) for i in range(16)]
    piano = pretty_midi.Instrument(program=0, name="piano")
    piano.notes = [pretty_midi.Note(80, p, b * 2.0, b * 2.0 + 2.0) for b in range(4) for p in (48, 52, 55)]
    flute = pretty_midi.Instrument(program=73, name="flute")
    flute.notes = [pretty_midi.Note(90, p, i * 0.5, i * 0.5 + 0.5) for i, p in enumerate([72, 74, 76, 77] * 3)]
    flute.notes.append(pretty_midi.Note(90, 79, 6.0, 6.25))
    flute.notes.append(pretty_midi.Note(90, 67, 6.0, 6.25))  # a chord in the melody: the skyline keeps 79
    pm.instruments += [drums, piano, flute]
    return pm


def test_multitrack_pretty_midi_gives_the_melody_line_a_file_gives(tmp_path: Path) -> None:
    pm = band()
    pm.write(str(tmp_path / "band.mid"))
    (from_file,) = read_melodies(tmp_path / "band.mid")
    mel = Melody.from_pretty_midi(pm)
    assert mel == from_file
    assert mel.pitches == [72, 74, 76, 77] * 3 + [79] and mel.notes[-1] == Note(48, 50, 79, 90)
    assert mel.length == 64  # the piano's last chord ends the piece


def test_pretty_midi_without_pitched_notes_is_a_clean_error() -> None:
    pm = pretty_midi.PrettyMIDI()
    with pytest.raises(DataError, match="no notes"):
        Melody.from_pretty_midi(pm)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes = [pretty_midi.Note(100, 36, 0.0, 0.1)]
    pm.instruments.append(drums)
    with pytest.raises(DataError, match="drum-only"):
        Melody.from_pretty_midi(pm)


# ---------------------------------------------------------------- music21


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(melodies())
def test_music21_round_trip_is_exact(m: Melody) -> None:
    score = m.to_music21()
    assert isinstance(score, music21.stream.Score) and len(score.parts) == 1
    back = Melody.from_music21(score, steps_per_quarter=m.steps_per_quarter)
    # scores carry no velocities: they are read as 100, as MusicXML/ABC files are
    assert back == as_read(replace(m, notes=[replace(n, velocity=100) for n in m.notes]))
    assert Melody.from_music21(score.parts[0], m.steps_per_quarter) == back
    assert [n.volume.velocity for n in score.flatten().notes] == [n.velocity for n in m.notes]
    measured = m.to_music21(notation=True)
    assert not score.parts[0].getElementsByClass("Measure") and measured.parts[0].getElementsByClass("Measure")
    assert Melody.from_music21(measured, m.steps_per_quarter) == back


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(m=melodies(max_notes=10, velocity=False))
def test_music21_score_written_as_musicxml_reads_back_the_melody(m: Melody, tmp_path: Path) -> None:
    assume(m.length >= m.steps_per_bar)  # in MusicXML a lone short first bar is a pick-up bar
    path = tmp_path / "m.musicxml"
    m.to_music21().write("musicxml", fp=str(path))
    (back,) = read_melodies(path, steps_per_quarter=m.steps_per_quarter)
    assert back == as_read(m)


def quartet() -> music21.stream.Score:
    """A piano part of chords under a flute melody that ends in a rest."""
    from music21 import chord, meter, note, stream

    piano, flute = stream.Part(), stream.Part()
    piano.partName, flute.partName = "Piano", "Flute"
    for part in (piano, flute):
        part.insert(0, meter.TimeSignature("3/4"))
    for b in range(4):
        piano.insert(3.0 * b, chord.Chord([48, 52, 55], quarterLength=3.0))
    for i, p in enumerate([72, 74, 76, 77, 79, 81, 83, 84, 86, 84]):
        flute.insert(1.0 * i, note.Note(p, quarterLength=1.0))
    flute.insert(10.0, note.Rest(quarterLength=2.0))
    score = stream.Score()
    score.insert(0, piano)
    score.insert(0, flute)
    return score


def test_multipart_music21_score_gives_the_melody_line_a_file_gives(tmp_path: Path) -> None:
    score = quartet()
    score.write("musicxml", fp=str(tmp_path / "q.musicxml"))
    (from_file,) = read_melodies(tmp_path / "q.musicxml")
    mel = Melody.from_music21(score)
    assert mel == from_file
    assert mel.pitches == [72, 74, 76, 77, 79, 81, 83, 84, 86, 84] and mel.time_signature == (3, 4)
    assert mel.length == 48


def test_a_plain_music21_stream_is_read_with_default_metadata() -> None:
    from music21 import note, stream

    s = stream.Stream([note.Note("C4", quarterLength=1), note.Rest(quarterLength=0.5), note.Note("E4", quarterLength=0.5)])
    assert Melody.from_music21(s) == Melody([Note(0, 4, 60), Note(6, 8, 64)], total_steps=8)


# ---------------------------------------------------------------- coercion


def test_importing_melody_and_interop_loads_no_music_library() -> None:
    code = ("import sys, muse.music.melody, muse.music.interop; "
            "print(sorted(m for m in ('pretty_midi', 'music21', 'miditok', 'symusic', 'torch', 'mido') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


PRIMER = Melody([Note(0, 4, 60), Note(4, 8, 62), Note(8, 12, 64)], total_steps=16)
"""C4 D4 E4 and a quarter rest: one bar of 4/4 at 120 qpm."""


def primer_sources(tmp_path: Path) -> dict[str, object]:
    """The primer as every input type the APIs take."""
    mid = write_midi(PRIMER, tmp_path / "primer.mid")
    pm_file = tmp_path / "primer-pm.mid"  # pretty_midi keeps no end-of-track time: the rest rides on its end marker
    PRIMER.to_pretty_midi().write(str(pm_file))
    score = PRIMER.to_music21()
    xml = tmp_path / "primer.musicxml"
    score.write("musicxml", fp=str(xml))
    from music21 import note, stream

    plain = stream.Stream([note.Note(60, quarterLength=1), note.Note(62, quarterLength=1),
                           note.Note(64, quarterLength=1), note.Rest(quarterLength=1)])
    return {"melody": PRIMER, "str path": str(mid), "Path": mid, "musicxml path": xml,
            "PrettyMIDI": PRIMER.to_pretty_midi(), "PrettyMIDI of a file": pretty_midi.PrettyMIDI(str(pm_file)),
            "music21 Score": score, "music21 Part": score.parts[0], "music21 Stream": plain}


def test_as_melody_takes_every_source_type(tmp_path: Path) -> None:
    for name, src in primer_sources(tmp_path).items():
        assert is_melody_source(src), name
        assert as_melody(src) == as_read(PRIMER) or src is PRIMER, name
    assert as_melody(PRIMER) is PRIMER
    assert not is_melody_source([PRIMER]) and not is_melody_source(3)


@pytest.mark.parametrize("bad", [42, [PRIMER], {"notes": []}, b"MThd", torch.zeros(3)])
def test_a_foreign_type_is_a_one_line_error_naming_it(bad: object) -> None:
    with pytest.raises(DataError) as err:
        as_melody(bad, what="primer")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("primer: unsupported type ")
    assert type(bad).__name__ in msg and "pretty_midi.PrettyMIDI" in msg and "music21" in msg and "Melody" in msg
    with pytest.raises(DataError, match="file not found"):
        as_melody("no/such/file.mid")


@pytest.fixture(scope="module")
def melody_model():
    from muse.recipes.hub import load_model

    return load_model("melody-transformer", expect_kind="melody")


def test_every_primer_type_is_continued_with_its_notes_kept(melody_model, tmp_path: Path) -> None:
    from muse.music.compose import generate_melodies

    (ref,) = generate_melodies(melody_model, bars=3, seed=0, primer=PRIMER)  # 1 primer bar + 3 new ones
    assert ref.notes[:3] == PRIMER.notes and all(n.start >= 16 for n in ref.notes[3:]) and ref.notes[3:]
    assert ref.length == 64
    for name, src in primer_sources(tmp_path).items():
        (mel,) = generate_melodies(melody_model, bars=3, seed=0, primer=src)
        assert mel == ref, name


@pytest.mark.parametrize("bad", [42, [PRIMER], "no/such/primer.mid"])
def test_a_bad_primer_is_a_clean_error(melody_model, bad: object) -> None:
    from muse.music.compose import generate_melodies

    with pytest.raises(DataError) as err:
        generate_melodies(melody_model, bars=4, seed=0, primer=bad)
    assert "\n" not in str(err.value) and ("primer: unsupported type" in str(err.value) or "file not found" in str(err.value))


# ---------------------------------------------------------------- the VAE's latent space


TWO_BARS = Melody([Note(2 * i, 2 * i + 2, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72] * 2)],
                  total_steps=32)


@pytest.fixture(scope="module")
def vae():
    from muse.music.latent_space import load_vae

    return load_vae("vae-2bar")


def test_latent_space_takes_every_source_type(vae, tmp_path: Path) -> None:
    from muse.music import latent_space as ls

    mid = write_midi(TWO_BARS, tmp_path / "two.mid")
    sources = {"Path": mid, "str": str(mid), "PrettyMIDI": TWO_BARS.to_pretty_midi(), "Score": TWO_BARS.to_music21(),
               "Part": TWO_BARS.to_music21().parts[0]}
    z = ls.encode_melodies(vae, TWO_BARS)
    rec = ls.reconstruct(vae, TWO_BARS)
    name = vae.attributes.names()[0]
    steered = ls.apply_attribute(vae, TWO_BARS, name, 1.0)
    path = ls.interpolate_melodies(vae, TWO_BARS, TWO_BARS.transpose(5), steps=3)
    for label, src in sources.items():
        assert ls.read_input_melody(src) == as_read(TWO_BARS), label
        assert torch.equal(ls.encode_melodies(vae, src), z), label
        assert ls.reconstruct(vae, src) == rec, label
        assert ls.apply_attribute(vae, src, name, 1.0) == steered, label
        assert ls.interpolate_melodies(vae, src, TWO_BARS.transpose(5).to_pretty_midi(), steps=3) == path, label
    mixed = ls.encode_melodies(vae, [mid, TWO_BARS.to_pretty_midi(), TWO_BARS.to_music21()])
    assert torch.allclose(mixed, z.repeat(3, 1), atol=1e-5)
    corpus = [TWO_BARS.transpose(k) for k in range(-4, 5)]
    a = ls.attribute_vectors(vae, corpus, ["note_density"])
    b = ls.attribute_vectors(vae, [m.to_pretty_midi() for m in corpus], ["note_density"])
    assert a.to_dict() == b.to_dict()


def test_latent_space_refuses_a_foreign_type_in_one_line(vae) -> None:
    from muse.music import latent_space as ls

    for call in (lambda: ls.encode_melodies(vae, 42), lambda: ls.reconstruct(vae, {"a": 1}),
                 lambda: ls.interpolate_melodies(vae, TWO_BARS, 3.5), lambda: ls.read_input_melody(7),
                 lambda: ls.apply_attribute(vae, object(), vae.attributes.names()[0])):
        with pytest.raises(DataError) as err:
            call()
        assert "\n" not in str(err.value) and "unsupported type" in str(err.value) and "PrettyMIDI" in str(err.value)

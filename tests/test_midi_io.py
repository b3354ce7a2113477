"""Reading and writing melodies: MIDI/ABC/MusicXML in, standard MIDI out, extraction."""
from __future__ import annotations

import tempfile
from pathlib import Path

import music21
import pretty_midi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from muse.errors import DataError
from muse.music.extract import Track, choose_melody_track, extract_melodies, quantize, skyline
from muse.music.melody import Melody, Note
from muse.music.midi_io import (
    melody_from_events,
    melody_from_pitches,
    midi_bytes,
    mido_key,
    parse_primer,
    read_melodies,
    write_midi,
)
from muse.music.theory import KEY_MODES, key_name, parse_key

FIXTURES = Path(__file__).parent / "fixtures" / "music"
TIME_SIGNATURES = [(2, 4), (3, 4), (4, 4), (5, 4), (6, 8), (9, 8), (12, 8), (3, 8), (2, 2)]


@st.composite
def melodies(draw: st.DrawFn, max_notes: int = 24) -> Melody:
    """Random monophonic melodies on a 16th grid, with rests, metadata and trailing rest."""
    n = draw(st.integers(1, max_notes))
    t, notes = 0, []
    for _ in range(n):
        t += draw(st.integers(0, 6))  # rest before the note
        dur = draw(st.integers(1, 20))
        notes.append(Note(t, t + dur, draw(st.integers(21, 108)), draw(st.integers(1, 127))))
        t += dur
    key = draw(st.none() | st.tuples(st.integers(0, 11), st.sampled_from(["major", "minor"])))
    return Melody(
        notes,
        qpm=draw(st.sampled_from([60.0, 90.0, 96.5, 120.0, 133.33, 180.0])),
        time_signature=draw(st.sampled_from(TIME_SIGNATURES)),
        key=key,
        total_steps=t + draw(st.integers(0, 9)),
    )


def _pm_file(path: Path, tracks: list[tuple[int, bool, list[tuple[float, float, int]]]], *, name: str = "") -> Path:
    """A pretty_midi file: tracks of (program, is_drum, [(start_s, end_s, pitch)]) at 120 qpm."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for program, is_drum, notes in tracks:
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)
        inst.notes = [pretty_midi.Note(velocity=90, pitch=p, start=s, end=e) for s, e, p in notes]
        pm.instruments.append(inst)
    pm.write(str(path))
    return path


# ---------------------------------------------------------------- MIDI round trip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(melodies())
def test_write_then_read_gives_back_the_same_melody(mel: Melody) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_midi(mel, Path(tmp) / "m.mid")
        (back,) = read_melodies(path)
    assert back.notes == mel.notes
    assert back.qpm == mel.qpm
    assert back.time_signature == mel.time_signature
    assert back.key == mel.key
    assert back.length == mel.length
    assert back == mel  # total_steps, steps_per_quarter too


def test_written_midi_opens_in_pretty_midi_and_music21_with_same_notes(tmp_path: Path) -> None:
    mel = parse_primer("C4 D4:0.5 r:2 E4:1.5 G5:3", key=(2, "minor"), time_signature=(3, 4), qpm=96)
    path = write_midi(mel, tmp_path / "out.mid", program=73)

    pm = pretty_midi.PrettyMIDI(str(path))
    (inst,) = pm.instruments
    assert inst.program == 73
    sec = 60 / 96 / 4
    assert [(round(n.start / sec), round(n.end / sec), n.pitch) for n in inst.notes] == [
        (n.start, n.end, n.pitch) for n in mel.notes
    ]
    assert pm.get_tempo_changes()[1][0] == pytest.approx(96)
    assert (pm.time_signature_changes[0].numerator, pm.time_signature_changes[0].denominator) == (3, 4)
    assert pm.key_signature_changes[0].key_number == 12 + 2  # D minor

    score = music21.converter.parse(str(path))
    got = [(float(n.offset) * 4, float(n.offset + n.quarterLength) * 4, n.pitch.midi)
           for n in score.stripTies().flatten().notes]
    assert got == [(n.start, n.end, n.pitch) for n in mel.notes]
    k = score.recurse().getElementsByClass(music21.key.KeySignature).first()
    assert (k.tonic.pitchClass, k.mode) == (2, "minor")
    ts = score.recurse().getElementsByClass(music21.meter.TimeSignature).first()
    assert ts.ratioString == "3/4"
    assert score.recurse().getElementsByClass(music21.tempo.MetronomeMark).first().number == 96


def test_key_signatures_are_theory_keys_spelled_for_mido_and_read_back(tmp_path: Path) -> None:
    import mido

    respelled = []
    for mode in KEY_MODES:
        for pc in range(12):
            name = mido_key((pc, mode))
            assert parse_key(name) == (pc, mode)  # the theory table reads mido's spelling back
            mido.MetaMessage("key_signature", key=name)  # and mido knows it
            if name != key_name((pc, mode), "short"):
                respelled.append(name)
            mel = melody_from_pitches([60 + pc, 64], key=(pc, mode))
            (back,) = read_melodies(write_midi(mel, tmp_path / f"{pc}{mode}.mid"))
            assert back.key == (pc, mode)
    assert sorted(respelled) == ["Db", "G#m"]  # five accidentals, not seven


def test_midi_bytes_are_the_written_file(tmp_path: Path) -> None:
    mel = parse_primer("C4 D4:0.5 r:2 E4:1.5", key=(9, "minor"), time_signature=(6, 8), qpm=100)
    assert midi_bytes([mel, mel], gap_bars=1) == write_midi([mel, mel], tmp_path / "m.mid", gap_bars=1).read_bytes()


def test_several_melodies_are_concatenated_from_bar_lines_with_a_gap(tmp_path: Path) -> None:
    a = melody_from_pitches([60, 62, 64])  # 3 quarters -> padded to one 4/4 bar
    b = melody_from_pitches([67, 65], [2, 2])
    (both,) = read_melodies(write_midi([a, b], tmp_path / "ab.mid", gap_bars=1))
    bar = 16
    assert both.notes == a.notes + [Note(n.start + 2 * bar, n.end + 2 * bar, n.pitch) for n in b.notes]


def test_first_note_at_time_zero_is_kept(tmp_path: Path) -> None:
    primer = melody_from_events([60, -2, 60, -2, 67, -2])
    assert primer.notes[0] == Note(0, 2, 60)
    (back,) = read_melodies(write_midi(primer, tmp_path / "p.mid"))
    assert back.notes == primer.notes
    # and from a file written by another library, note exactly at 0.0 s
    path = _pm_file(tmp_path / "z.mid", [(0, False, [(0.0, 0.25, 72), (0.25, 0.5, 74)])])
    assert read_melodies(path)[0].notes == [Note(0, 2, 72, 90), Note(2, 4, 74, 90)]


# ---------------------------------------------------------------- primers


def test_primers_from_text() -> None:
    assert parse_primer("[60, -2, -1, -2, 67]").notes == [Note(0, 2, 60), Note(4, 5, 67)]
    m = parse_primer("60 62 64")
    assert m.notes == [Note(0, 4, 60), Note(4, 8, 62), Note(8, 12, 64)] and m.total_steps == 12
    m = parse_primer("C4 r:0.5 E4:1.5, G4:1/2")
    assert m.notes == [Note(0, 4, 60), Note(6, 12, 64), Note(12, 14, 67)]
    with pytest.raises(DataError, match="H9"):
        parse_primer("C4 H9")
    with pytest.raises(DataError, match="grid"):
        melody_from_pitches([60], [0.3])
    with pytest.raises(DataError, match="-3"):
        melody_from_events([60, -3])


# ---------------------------------------------------------------- extraction


def test_multitrack_midi_picks_the_melody_and_ignores_drums(tmp_path: Path) -> None:
    q = 0.5  # seconds per quarter at 120 qpm
    bass = [(i * q, (i + 1) * q, 36 + (i % 3)) for i in range(16)]
    chords = [(i * 2 * q, (i + 1) * 2 * q, p) for i in range(8) for p in (55, 59, 62)]
    tune = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72]
    melody = [(i * q, (i + 1) * q, p) for i, p in enumerate(tune)]
    drums = [(i * q / 2, i * q / 2 + 0.1, 81) for i in range(32)]  # high drum "pitches"
    path = _pm_file(tmp_path / "band.mid", [(33, False, bass), (0, False, chords), (73, False, melody), (0, True, drums)])
    (mel,) = read_melodies(path)
    assert mel.pitches == tune
    assert mel.notes[0].start == 0 and all(n.duration == 4 for n in mel.notes)


def test_named_melody_track_wins_and_skyline_keeps_top_line() -> None:
    piano = Track([(0, 2, 72, 80), (0, 1, 48, 80), (1, 2, 52, 80), (2, 3.5, 74, 80), (3, 4, 76, 80)], "Piano")
    voice = Track([(0, 1, 60, 80), (1, 2, 62, 80)] * 1 + [(2, 4, 64, 80)] * 4, "Soprano")
    assert choose_melody_track([piano, voice], min_notes=1) == 1
    line = skyline(quantize(piano.notes, 4))
    # 48 loses to 72 at onset 0; 52 is under the sounding 72 and dropped;
    # 74 is cut where 76 starts
    assert [(n.start, n.end, n.pitch) for n in line] == [(0, 8, 72), (8, 12, 74), (12, 16, 76)]


def test_legato_overlap_is_cut_not_dropped() -> None:
    line = skyline(quantize([(0, 1.25, 67, 90), (1, 2, 64, 90)], 4))
    assert [(n.start, n.end, n.pitch) for n in line] == [(0, 4, 67), (4, 8, 64)]


def test_filters_split_and_cut() -> None:
    # 2 bars of notes, 2 silent bars, 9 bars of a 5-pitch tune, in 4/4 quarters
    first = [(i, i + 1, 60 + i % 3, 90) for i in range(8)]
    second = [(16 + i, 17 + i, 60 + 2 * (i % 5), 90) for i in range(36)]
    tracks = [Track(first + second)]
    kept = extract_melodies(tracks, split_silence_bars=1.0, min_bars=7, min_pitches=5)
    assert len(kept) == 1
    assert kept[0].notes[0] == Note(0, 4, 60, 90)  # moved to its own first bar
    assert kept[0].length == 9 * 16
    cut = extract_melodies(tracks, split_silence_bars=1.0, max_steps=64, min_pitches=1)
    assert [m.length for m in cut] == [32, 64, 64, 16]
    assert all(n.end <= m.length for m in cut for n in m.notes)
    assert len(extract_melodies(tracks, min_pitches=6)) == 1  # unsplit: 6 distinct pitches
    assert extract_melodies(tracks, min_pitches=7) == []


# ---------------------------------------------------------------- other formats


def test_abc_opus_gives_one_melody_per_tune() -> None:
    a, b = read_melodies(FIXTURES / "two_tunes.abc")
    assert a.key == (2, "major") and a.time_signature == (4, 4) and a.qpm == 90
    assert a.pitches[:8] == [62, 64, 66, 67, 69, 71, 73, 74]
    assert a.notes[8] == Note(16, 32, 74)
    assert b.key == (9, "minor") and b.time_signature == (3, 4)
    # pickup quarter: the first bar line falls on step 12
    assert b.notes[0] == Note(8, 12, 64) and b.notes[1] == Note(12, 16, 69)
    assert b.length == 60


def test_musicxml_round_trip_through_music21(tmp_path: Path) -> None:
    mel = Melody([Note(0, 6, 67), Note(6, 8, 69), Note(12, 28, 71)], qpm=100.0, time_signature=(6, 8), key=(7, "major"))
    score = music21.converter.parse(str(write_midi(mel, tmp_path / "m.mid")))
    xml = Path(score.write("musicxml", fp=str(tmp_path / "m.musicxml")))
    (back,) = read_melodies(xml)
    assert back.notes == mel.notes
    assert (back.time_signature, back.key, back.qpm) == ((6, 8), (7, "major"), 100.0)


# ---------------------------------------------------------------- errors


def test_bad_files_raise_data_error_naming_file_and_reason(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06garbage" * 3)
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    drums = _pm_file(tmp_path / "drums.mid", [(0, True, [(0, 0.5, 36), (0.5, 1, 38)])])
    silent = _pm_file(tmp_path / "silent.mid", [(0, False, [])])
    bad_abc = tmp_path / "bad.abc"
    bad_abc.write_text("just some text\nwithout tunes\n")
    cases = {
        corrupt: "not a readable MIDI file",
        empty: "empty file",
        drums: r"no pitched notes \(drum-only\)",
        silent: "no notes",
        bad_abc: "no ABC tunes",
        tmp_path / "missing.mid": "file not found",
        tmp_path / "notes.txt": "unsupported file type",
    }
    (tmp_path / "notes.txt").write_text("60 62")
    for path, reason in cases.items():
        with pytest.raises(DataError, match=reason) as info:
            read_melodies(path)
        msg = str(info.value)
        assert path.name in msg and "\n" not in msg


def test_write_rejects_bad_melodies(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="overlapping"):
        write_midi(Melody([Note(0, 4, 60), Note(2, 6, 62)]), tmp_path / "x.mid")
    with pytest.raises(DataError, match="7/6"):
        write_midi(Melody([Note(0, 4, 60)], time_signature=(7, 6)), tmp_path / "x.mid")


def _smf(*tracks: bytes, division: int = 480) -> bytes:
    head = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(tracks).to_bytes(2, "big") + \
        division.to_bytes(2, "big")
    return head + b"".join(b"MTrk" + len(t).to_bytes(4, "big") + t for t in tracks)


@pytest.mark.filterwarnings("ignore:.*silent on")
def test_midi_end_tick_reads_running_status_long_deltas_sysex_and_meta(tmp_path: Path) -> None:
    import mido

    from muse.music.midi_io import midi_end_tick, read_melodies

    conductor = (b"\x00\xff\x51\x03\x07\xa1\x20"                 # tempo
                 b"\x00\xff\x58\x04\x04\x02\x18\x08"             # 4/4
                 b"\x00\xff\x2f\x00")
    notes = (b"\x00\xc0\x05"                                    # program change: one data byte
             b"\x00\x90\x3c\x64"                                # note on
             b"\x81\x70\x3c\x00"                                # 240 ticks, running status: note off
             b"\x00\x3e\x64"                                    # running status again: note on
             b"\x83\x60\x80\x3e\x00"                            # 480 ticks, note off
             b"\x00\xf0\x03\x7e\x7f\xf7"                        # sysex
             b"\x00\xe0\x00\x40"                                # pitch bend: two data bytes
             b"\x00\xff\x01\x05hello"                           # text meta
             b"\x82\x80\x00\xff\x2f\x00")                       # 2^15 = 32768 ticks of trailing silence
    data = _smf(conductor, notes)
    path = tmp_path / "odd.mid"
    path.write_bytes(data)
    expected = max(sum(m.time for m in tr) for tr in mido.MidiFile(str(path)).tracks)
    assert midi_end_tick(data) == expected == 240 + 480 + 32768
    (mel,) = read_melodies(path)
    assert mel.pitches == [60, 62] and mel.length == expected // 120  # the trailing rest is kept


def test_midi_is_read_through_symusic_on_a_default_install() -> None:
    import tomllib

    import muse.music.midi_io as midi_io

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.split(">")[0].split("=")[0].strip() == "symusic" for d in deps)
    assert midi_io._HAVE_SYMUSIC

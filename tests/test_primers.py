"""Real songs as primers: `bars` counts the new bars, long primers are cut (primer_bars / primer_from),
the melody track is the named, substantial one, and bad files are one-line errors."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from muse.cli import main as muse_main
from muse.data.report import MuseWarning
from muse.errors import ConfigError
from muse.music.compose import MelodyRequest, generate_melodies, primer_excerpt
from muse.music.extract import Track, choose_melody_track
from muse.music.melody import Melody, Note
from muse.music.midi_io import read_melodies

MODEL = "melody-transformer"


def song_midi(path: Path, *, bars: int = 40, meter: tuple[int, int] = (4, 4), qpm: float = 120.0,
              kind: str = "band") -> Path:
    """A synthetic "real song": ``band`` (drums, bass, a "Melody" track from bar 2 to the end and a
    sparse, higher "Lead Guitar" from bar 30), ``piano`` (right and left hand) or ``plain`` (one line)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(meter[0], meter[1], 0.0))
    q = 60.0 / qpm
    bar_q = meter[0] * 4 / meter[1]  # quarters per bar
    beats = int(round(bar_q))  # quarter-note slots per bar (3 for 3/4 and 6/8)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]

    def add(inst, start_q: float, dur_q: float, pitch: int, vel: int = 90) -> None:
        inst.notes.append(pretty_midi.Note(vel, pitch, start_q * q, (start_q + dur_q) * q))

    if kind == "band":
        kit = pretty_midi.Instrument(0, is_drum=True, name="Drums")
        bass = pretty_midi.Instrument(33, name="Bass")
        mel = pretty_midi.Instrument(73, name="Melody")
        lead = pretty_midi.Instrument(29, name="Lead Guitar")
        for b in range(bars):
            for k in range(beats):
                add(kit, b * bar_q + k, 0.25, 36 if k == 0 else 42)
                add(bass, b * bar_q + k, 1, [36, 43, 41, 38][b % 4])
            if b >= 1:  # the tune enters in bar 2
                for k in range(beats):
                    add(mel, b * bar_q + k, 1, scale[(b + k) % len(scale)])
            if b >= 30:  # a guitar fill near the end, an octave and more above the tune
                add(lead, b * bar_q, 0.5, 86 + b % 3)
                add(lead, b * bar_q + 1, 0.5, 88)
        pm.instruments += [kit, bass, mel, lead]
    elif kind == "piano":
        rh = pretty_midi.Instrument(0, name="Piano RH")
        lh = pretty_midi.Instrument(0, name="Piano LH")
        for b in range(bars):
            for k in range(beats * 2):
                add(rh, b * bar_q + k / 2, 0.5, scale[(b * 2 + k) % len(scale)] + 12)
            for chord in (48, 52, 55):
                add(lh, b * bar_q, bar_q, chord + (b % 2) * 2)
        pm.instruments += [rh, lh]
    else:
        line = pretty_midi.Instrument(0, name="Flute")
        for b in range(bars):
            for k in range(beats):
                add(line, b * bar_q + k, 1 if k else 0.5, scale[(b * beats + k) % len(scale)])
        pm.instruments.append(line)
    pm.write(str(path))
    return path


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = muse_main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_back(path: Path) -> Melody:
    (mel,) = read_melodies(path, min_pitches=1)
    return mel


def assert_primer_kept(mel: Melody, primer: Melody) -> None:
    """``mel`` opens with ``primer``'s notes exactly (a last note may be held on), then new notes after it."""
    head, tail = mel.notes[:len(primer.notes)], mel.notes[len(primer.notes):]
    assert [(n.start, n.end, n.pitch) for n in head[:-1]] == [(n.start, n.end, n.pitch) for n in primer.notes[:-1]]
    assert (head[-1].start, head[-1].pitch) == (primer.notes[-1].start, primer.notes[-1].pitch)
    assert head[-1].end >= primer.notes[-1].end
    assert tail and all(n.start >= primer.length for n in tail)


SONGS = {
    "band 4/4": dict(kind="band"),
    "piano two hands": dict(kind="piano", bars=16),
    "waltz 3/4": dict(kind="plain", bars=24, meter=(3, 4), qpm=150.0),
    "jig 6/8": dict(kind="plain", bars=16, meter=(6, 8)),
    "8/4 (a meter the models are not asked for)": dict(kind="plain", bars=12, meter=(8, 4)),
}


@pytest.mark.parametrize("name", SONGS)
def test_a_whole_song_primes_4_bars_then_8_new_ones_by_default(tmp_path, capsys, name):
    song = song_midi(tmp_path / "song.mid", **SONGS[name])
    full = read_back(song)
    bar = full.steps_per_bar
    out = tmp_path / "out"
    code, _, err = cli(capsys, "melody", "--model", MODEL, "--primer", song, "--bars", 8, "--num", 2, "--seed", 3,
                       "--out", out, "--no-wav", "--no-png")
    assert code == 0, err
    assert str(song) in err and f"{full.num_bars:.1f} bars long" in err and "--primer-bars" in err
    assert err.count("bars long") == 1  # one warning, not one per melody
    expected = primer_excerpt(full, 4)
    first = (full.notes[0].start // bar) * bar
    assert expected.notes == full.slice(first, first + 4 * bar).notes and expected.length == 4 * bar
    mids = sorted(out.glob("*.mid"))
    assert len(mids) == 2
    for mid in mids:
        mel = read_back(mid)
        assert mel.time_signature == full.time_signature
        assert mel.length == (4 + 8) * bar
        assert_primer_kept(mel, expected)


def test_primer_bars_from_the_end_takes_the_last_bars(tmp_path, capsys):
    song = song_midi(tmp_path / "song.mid")
    full = read_back(song)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "melody", "--model", MODEL, "--primer", song, "--primer-bars", 2, "--primer-from",
                       "end", "--bars", 8, "--seed", 1, "--out", out, "--no-wav", "--no-png")
    assert code == 0, err
    assert "bars long" not in err  # asked for explicitly: no warning
    last2 = full.slice(38 * 16, 40 * 16)
    assert last2.notes and primer_excerpt(full, 2, "end").notes == last2.notes
    mel = read_back(out / "melody_001.mid")
    assert mel.length == (2 + 8) * 16
    assert_primer_kept(mel, last2)


def test_primer_bars_from_the_start_skip_the_silent_intro(tmp_path):
    full = read_back(song_midi(tmp_path / "song.mid"))
    assert full.notes[0].start == 16  # the tune enters in bar 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuseWarning)
        (mel,) = generate_melodies(MODEL, primer=full, primer_bars=3, bars=2, seed=0)
    excerpt = full.slice(16, 4 * 16)
    assert mel.length == (3 + 2) * 16
    assert_primer_kept(mel, excerpt)


def test_the_named_melody_track_beats_a_sparse_lead_guitar(tmp_path):
    song = song_midi(tmp_path / "song.mid")
    full = read_back(song)
    assert max(full.pitches) <= 72 and len(full.notes) == 39 * 4  # the "Melody" track, not the guitar (86+)
    melody = Track([(b * 4.0 + k, b * 4.0 + k + 1, 60 + k, 90) for b in range(1, 40) for k in range(4)], "Melody")
    guitar = Track([(b * 4.0, b * 4.0 + 0.5, 88, 90) for b in range(30, 40)] * 2, "Lead Guitar")
    drums = Track([(b * 4.0, b * 4.0 + 0.25, 36, 90) for b in range(40)], "Drums", is_drum=True)
    assert choose_melody_track([drums, guitar, melody]) == 2
    # a named line that carries the piece still wins over a higher unnamed one
    flute = Track([(b * 4.0 + k, b * 4.0 + k + 1, 84, 90) for b in range(40) for k in range(4)], "Flute")
    assert choose_melody_track([flute, melody]) == 1
    voice = Track(melody.notes, "Lead Vocals")
    assert choose_melody_track([flute, voice]) == 1


def test_a_mostly_silent_melody_line_warns_once(tmp_path):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(0, name="Solo")
    for b in range(16):
        inst.notes.append(pretty_midi.Note(90, 60 + b % 5, b * 2.0, b * 2.0 + 0.125))  # a 16th note a bar
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "sparse.mid"))
    with pytest.warns(MuseWarning, match="silent on") as record:
        read_melodies(tmp_path / "sparse.mid")
    assert len([w for w in record if "silent on" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuseWarning)
        read_back(song_midi(tmp_path / "song.mid", bars=8))  # a busy line: no warning


def test_a_primer_in_another_meter_shorter_than_the_bars_is_not_refused(tmp_path, capsys):
    # the audit's case: 4 bars of 4/4 (64 steps) asked as 5 bars of 3/4 (60 steps) used to be refused
    primer = read_back(song_midi(tmp_path / "four.mid", bars=4, kind="plain"))
    assert primer.length == 64 and primer.time_signature == (4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuseWarning)  # 4 bars: used whole, no warning
        (mel,) = generate_melodies(MODEL, primer=primer, bars=5, time_signature="3/4", seed=0)
    assert mel.time_signature == (3, 4) and mel.length == (6 + 5) * 12  # 64 steps round up to 6 bars of 3/4
    assert_primer_kept(mel, primer)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "melody", "--model", MODEL, "--primer", tmp_path / "four.mid", "--bars", 5,
                       "--time-signature", "3/4", "--seed", 0, "--out", out, "--no-wav", "--no-png")
    assert code == 0, err
    assert read_back(out / "melody_001.mid").length == (6 + 5) * 12


def test_a_short_primer_is_used_whole_and_bars_are_new_bars():
    primer = Melody([Note(0, 4, 60), Note(4, 8, 62), Note(8, 12, 64)])  # three quarters: rounds up to 1 bar
    (mel,) = generate_melodies(MODEL, primer=primer, bars=2, seed=0)
    assert mel.length == (1 + 2) * 16 and mel.notes[:2] == primer.notes[:2]
    (plain,) = generate_melodies(MODEL, bars=2, seed=0)
    assert plain.length == 2 * 16  # without a primer nothing changes


@pytest.mark.parametrize("fields, named", [(dict(primer_bars=0), "primer_bars"),
                                           (dict(primer_from="middle"), "'middle'")])
def test_bad_primer_options_are_config_errors(fields, named):
    with pytest.raises(ConfigError, match=named):
        MelodyRequest(**fields).validate()


def test_bad_primer_flags_exit_2(tmp_path, capsys):
    song = song_midi(tmp_path / "song.mid", bars=8)
    code, _, err = cli(capsys, "melody", "--model", MODEL, "--primer", song, "--primer-bars", 0,
                       "--out", tmp_path / "out", "--no-wav", "--no-png")
    assert code == 2 and err.startswith("muse: error:") and "primer_bars" in err
    code, _, err = cli(capsys, "melody", "--primer", song, "--primer-from", "middle")
    assert code == 2 and err.count("\n") == 1 and err.startswith("muse: error: argument --primer-from")


@pytest.mark.parametrize("kind", ["corrupt", "empty", "garbage", "drums"])
def test_unusable_song_files_are_one_line_errors(tmp_path, capsys, kind):
    import pretty_midi

    bad = tmp_path / f"{kind}.mid"
    if kind == "corrupt":
        bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "garbage":
        bad.write_bytes(b"this is not a MIDI file at all\n" * 10)
    else:
        pm = pretty_midi.PrettyMIDI()
        kit = pretty_midi.Instrument(0, is_drum=True, name="Drums")
        kit.notes += [pretty_midi.Note(90, 36, t * 0.5, t * 0.5 + 0.1) for t in range(16)]
        pm.instruments.append(kit)
        pm.write(str(bad))
    code, out, err = cli(capsys, "melody", "--model", MODEL, "--primer", bad, "--out", tmp_path / "out",
                         "--no-wav", "--no-png")
    assert code == 2
    assert err.startswith("muse: error:") and str(bad) in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_meter_change_inside_a_primer_is_reported_with_its_bar(tmp_path):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)  # a quarter is 0.5 s
    pm.time_signature_changes += [pretty_midi.TimeSignature(3, 4, 0.0), pretty_midi.TimeSignature(5, 8, 6 * 1.5),
                                  pretty_midi.TimeSignature(3, 4, 6 * 1.5 + 2 * 1.25)]
    line = pretty_midi.Instrument(0, name="Flute")
    line.notes += [pretty_midi.Note(90, 60 + k % 7, k * 0.5, k * 0.5 + 0.45) for k in range(24)]
    pm.instruments.append(line)
    pm.write(str(tmp_path / "changes.mid"))
    with pytest.warns(MuseWarning) as caught:
        generate_melodies(MODEL, primer=tmp_path / "changes.mid", bars=2, seed=0)
    msgs = [str(w.message) for w in caught]
    assert any("meter changes to 5/8 at bar 7 (and 1 more time); the primer is read in 3/4" in m for m in msgs), msgs

"""Scores in and out of files: exact MIDI round trips, MusicXML that music21 opens, corpora of scores."""
from __future__ import annotations

from pathlib import Path

import pytest

import muse
from muse.errors import ConfigError, DataError
from muse.music.corpora import CorpusReport, iter_corpus, iter_corpus_scores
from muse.music.extract import SATB_NAME
from muse.music.melody import Note
from muse.music.midi_io import load_piece
from muse.music.score import Part, Score
from muse.music.score_io import (
    part_channels,
    read_score,
    score_from_piece,
    score_to_music21,
    write_score,
)

BENCH_MIDI = Path("/work/bench_midi/miditok-multitrack")


def three_parts() -> Score:
    """Piano with chords and an overlapping note, drums, a bass; 3/4 in D minor at 100 qpm, a trailing rest."""
    piano = Part((Note(0, 8, 62, 80), Note(0, 8, 65, 80), Note(0, 8, 69, 80), Note(4, 12, 74, 100),
                  Note(8, 16, 64, 70), Note(8, 16, 67, 70), Note(12, 14, 76, 110)), program=4, name="Piano")
    drums = Part((Note(0, 2, 36, 120), Note(0, 1, 42, 60), Note(2, 3, 42, 60), Note(4, 6, 38, 100),
                  Note(4, 5, 42, 60), Note(8, 10, 36, 120)), program=0, is_drum=True, name="Drums")
    bass = Part((Note(0, 12, 38, 90), Note(12, 24, 33, 90)), program=33, name="Bass")
    return Score([piano, drums, bass], steps_per_quarter=4, qpm=100.0, time_signature=(3, 4),
                 key=(2, "minor"), total_steps=36)


def canon(score: Score) -> tuple:
    """What a score means: parts (notes sorted), grid, tempo, meter, key, length."""
    parts = tuple((tuple(sorted(p.notes)), p.program, p.is_drum, p.name) for p in score.parts)
    return parts, score.steps_per_quarter, score.qpm, score.time_signature, score.key, score.length


# ---------------------------------------------------------------- MIDI


def test_midi_round_trip_is_exact(tmp_path):
    s = three_parts()
    path = write_score(s, tmp_path / "three.mid")
    back = read_score(path)
    assert canon(back) == canon(s)
    assert back.total_steps == 36
    assert [p.notes == tuple(sorted(p.notes, key=lambda n: (n.start, n.pitch))) for p in back.parts] == [True] * 3


def test_midi_file_layout(tmp_path):
    """Type 1: a conductor track, then one track per part with its name, program and channel (drums on 10)."""
    import mido
    import pretty_midi

    s = three_parts()
    mid = mido.MidiFile(write_score(s, tmp_path / "three.mid"))
    assert mid.type == 1 and len(mid.tracks) == 4
    conductor = {m.type: m for m in mid.tracks[0] if m.is_meta}
    assert mido.tempo2bpm(conductor["set_tempo"].tempo) == pytest.approx(100.0)
    assert (conductor["time_signature"].numerator, conductor["time_signature"].denominator) == (3, 4)
    assert conductor["key_signature"].key == "Dm"
    channels = [{m.channel for m in tr if not m.is_meta} for tr in mid.tracks[1:]]
    assert channels == [{0}, {9}, {1}] == [{c} for c in part_channels(s)]
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "three.mid"))
    assert [(i.name, i.program, i.is_drum, len(i.notes)) for i in pm.instruments] == [
        ("Piano", 4, False, 7), ("Drums", 0, True, 6), ("Bass", 33, False, 2)]


def test_more_pitched_parts_skip_the_drum_channel():
    parts = [Part((Note(0, 4, 60 + i),), name=f"p{i}") for i in range(11)] + [Part((Note(0, 4, 36),), is_drum=True)]
    assert part_channels(Score(parts)) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 9]


def test_round_trip_at_other_grids(tmp_path):
    s = Score([Part((Note(0, 3, 60), Note(0, 3, 64), Note(3, 5, 67)), program=40, name="Violin")],
              steps_per_quarter=3, qpm=72.5, time_signature=(6, 8), key=(9, "major"))
    back = read_score(write_score(s, tmp_path / "six8.midi"), steps_per_quarter=3)
    assert canon(back) == canon(s)


def test_write_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"\.wav.*\.mid"):
        write_score(three_parts(), tmp_path / "x.wav")
    with pytest.raises(DataError, match="no notes"):
        write_score(Score([]), tmp_path / "empty.mid")
    bad = Score([Part((Note(4, 2, 60),))])
    with pytest.raises(DataError, match="bad note") as err:
        write_score(bad, tmp_path / "bad.mid")
    assert "bad.mid" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "bad.mid").exists()


# ---------------------------------------------------------------- MusicXML


@pytest.mark.parametrize("suffix", [".musicxml", ".mxl"])
def test_musicxml_opens_in_music21_with_every_part(tmp_path, suffix):
    from music21 import chord, converter

    s = three_parts()
    path = write_score(s, tmp_path / f"three{suffix}")
    m21 = converter.parse(str(path))
    assert [p.partName for p in m21.parts] == ["Piano", "Drums", "Bass"]
    for part, mine in zip(m21.parts, s.parts):
        pitches = sorted(p.midi for el in part.stripTies().flatten().notes for p in el.pitches)
        assert pitches == sorted(n.pitch for n in mine.notes)
    assert any(isinstance(el, chord.Chord) for el in m21.parts[0].flatten().notes)
    back = read_score(path)
    assert [sorted((n.start, n.end, n.pitch) for n in p.notes) for p in back.parts] == [
        sorted((n.start, n.end, n.pitch) for n in p.notes) for p in s.parts]
    assert (back.qpm, back.time_signature, back.key, back.length) == (100.0, (3, 4), (2, "minor"), 36)


def test_score_to_music21_keeps_names_and_meter():
    from music21 import key, meter

    m21 = score_to_music21(three_parts())
    assert len(m21.parts) == 3
    first = m21.parts[2]
    assert first.partName == "Bass"
    assert first.recurse().getElementsByClass(meter.TimeSignature).first().ratioString == "3/4"
    k = first.recurse().getElementsByClass(key.Key).first()
    assert (k.tonic.name, k.mode) == ("D", "minor")


# ---------------------------------------------------------------- reading


def _multitrack_midis(tmp_path: Path, count: int = 3) -> list[Path]:
    """Real multi-track MIDI files when the bench folder is there, else files made with pretty_midi."""
    if BENCH_MIDI.is_dir():
        found = sorted(BENCH_MIDI.glob("*.mid"))[:count]
        if found:
            return found
    import pretty_midi

    out = []
    for k in range(count):
        pm = pretty_midi.PrettyMIDI(initial_tempo=110)
        for prog, drum, base in ((0, False, 60), (33, False, 36), (0, True, 36)):
            inst = pretty_midi.Instrument(program=prog, is_drum=drum, name=f"track{prog}{drum}")
            for i in range(16):
                t = i * 0.5 + 0.01 * k
                inst.notes.append(pretty_midi.Note(velocity=90, pitch=base + (i * 3) % 12, start=t, end=t + 0.4))
                if not drum and prog == 0:
                    inst.notes.append(pretty_midi.Note(velocity=90, pitch=base + 4 + (i * 3) % 12, start=t, end=t + 0.4))
            pm.instruments.append(inst)
        p = tmp_path / f"made{k}.mid"
        pm.write(str(p))
        out.append(p)
    return out


def test_real_multitrack_midi(tmp_path):
    for path in _multitrack_midis(tmp_path):
        piece = load_piece(path)
        score = read_score(path)
        assert len(score.parts) == sum(1 for t in piece.tracks if t.notes) >= 2
        assert any(p.is_drum for p in score.parts)
        assert score.num_notes > 0 and score.length >= max(n.end for p in score.parts for n in p.notes)
        for part, track in zip(score.parts, [t for t in piece.tracks if t.notes]):
            assert (part.name, part.program, part.is_drum) == (track.name, track.program, track.is_drum)
            assert all(n.end > n.start >= 0 for n in part.notes)
            assert len({(n.start, n.end, n.pitch) for n in part.notes}) == len(part.notes)
            assert part.notes == tuple(sorted(part.notes, key=lambda n: (n.start, n.pitch)))
        # polyphony is kept: some part has notes sounding together
        assert any(a.start < b.end and b.start < a.end
                   for p in score.parts for a, b in zip(p.notes, p.notes[1:]))
        # written back and read again, the grid notes are the same
        again = read_score(write_score(score, tmp_path / "again.mid"))
        assert canon(again)[0] == canon(score)[0]


def test_duplicates_removed_and_short_notes_kept():
    from muse.music.extract import Track
    from muse.music.midi_io import Piece

    piece = Piece([Track([(0.0, 1.0, 64, 90), (0.0, 1.0, 60, 90), (0.01, 0.99, 60, 50), (1.0, 1.05, 62, 90),
                          (0.0, 2.0, 60, 70), (-0.5, 0.5, 59, 90)], "keys", False, 2), Track([], "empty")],
                  qpm=90.0, end_quarters=4.0)
    s = score_from_piece(piece)
    assert len(s.parts) == 1  # the empty track is dropped
    # the repeated (0, 4, 60) is kept once (the first); the longer 60 and the one-step 62 stay; before 0 dropped
    assert s.parts[0].notes == (Note(0, 4, 60, 90), Note(0, 8, 60, 70), Note(0, 4, 64, 90), Note(4, 5, 62, 90))
    assert (s.parts[0].name, s.parts[0].program, s.qpm, s.total_steps) == ("keys", 2, 90.0, 16)


@pytest.mark.filterwarnings("ignore:.*chosen as the melody is silent")
def test_melody_is_a_view_of_the_score(tmp_path):
    files = _multitrack_midis(tmp_path, count=6) + [write_score(three_parts(), tmp_path / "three.mid")]
    for path in files:
        assert read_score(path).melody() == muse.read_melodies(path)[0], path


def test_bad_file_raises_data_error_naming_it(tmp_path):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd this is not midi")
    with pytest.raises(DataError) as err:
        read_score(bad)
    assert str(err.value).startswith(str(bad)) and "\n" not in str(err.value)


# ---------------------------------------------------------------- corpora


def test_bach_scores_have_satb_parts():
    report = CorpusReport()
    pairs = list(iter_corpus_scores("bach", limit=12, progress=False, report=report))
    assert len(pairs) == report.pieces == 12 and not report.skipped
    for _, score in pairs:
        names = [p.name for p in score.parts]
        assert [n for n in names if SATB_NAME.match(n)] == ["Soprano", "Alto", "Tenor", "Bass"]
        assert score.num_notes > 0 and score.key is not None
    # same ids as the melody corpus, so the same hash splits
    mel_ids = {pid for pid, _ in iter_corpus("bach", limit=12, progress=False)}
    assert mel_ids <= {pid for pid, _ in pairs}
    # the shipped pre-parsed form gives exactly what parsing the files gives
    parsed = list(iter_corpus_scores("bach", limit=3, progress=False, prepared=False, workers=1))
    assert [(pid, canon(x)) for pid, x in parsed] == [(pid, canon(x)) for pid, x in pairs[:3]]
    # the Soprano part's line is bach's melody
    pid, score = pairs[0]
    melodies = [m for p, m in iter_corpus("bach", limit=1, progress=False, split_silence_bars=None, max_steps=None,
                                          min_bars=0, min_pitches=1) if p == pid]
    assert score.part_melody([p.name for p in score.parts].index("Soprano")) == melodies[0]


def test_folder_of_scores_skips_bad_files(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    s = three_parts()
    write_score(s, folder / "a.mid")
    write_score(s.transpose(2), folder / "sub" / "b.musicxml")
    (folder / "c.mid").write_bytes(b"not a midi file")
    report = CorpusReport()
    pairs = list(iter_corpus_scores(folder, progress=False, report=report, workers=2, chunk_size=1))
    assert [pid for pid, _ in pairs] == ["a.mid", "sub/b.musicxml"]
    assert canon(pairs[0][1]) == canon(s)
    assert [n.pitch for n in pairs[1][1].parts[2].notes] == [40, 35]
    assert report.pieces == 3 and [pid for pid, _ in report.skipped] == ["c.mid"]
    assert "not a readable MIDI file" in report.skipped[0][1]
    inline = list(iter_corpus_scores(folder, progress=False, workers=1))
    assert [canon(x) for _, x in inline] == [canon(x) for _, x in pairs]


# ---------------------------------------------------------------- piano roll and audio


def test_pianoroll_of_a_score_colours_each_part(tmp_path):
    from PIL import Image

    from muse.music.pianoroll import _PART_COLORS

    s = three_parts()
    path = muse.plot_pianoroll(s, tmp_path / "roll.png", titles=["three"])
    img = Image.open(path).convert("RGB")
    colours = {c for _, c in img.getcolors(1 << 20)}

    def rgb(h: str) -> tuple[int, int, int]:
        return tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))

    # piano and bass in their colours; the drum part (the second) is not drawn, so its colour is unused
    assert rgb(_PART_COLORS[0]) in colours and rgb(_PART_COLORS[2]) in colours
    assert rgb(_PART_COLORS[1]) not in colours
    # a melody still draws as before, and mixed panels work
    mel = muse.plot_pianoroll([s.melody(), s], tmp_path / "both.png")
    assert Image.open(mel).size[1] > img.size[1]


def _band_energy(audio, sr, f0):
    import numpy as np

    spec = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    return spec[(freqs > f0 * 0.97) & (freqs < f0 * 1.03)].sum() / spec.sum()


def test_render_score_builtin_plays_every_pitched_part(tmp_path):
    import soundfile as sf

    from muse.music.render import render_score_wav

    high = Part((Note(0, 16, 81),), name="A5")  # 880 Hz
    low = Part((Note(0, 16, 45),), program=33, name="A2")  # 110 Hz
    wav = render_score_wav(Score([high, low]), tmp_path / "two.wav", synth="builtin", sample_rate=16000)
    audio, sr = sf.read(str(wav))
    assert wav.synth == "builtin"
    assert _band_energy(audio, sr, 880.0) > 0.05 and _band_energy(audio, sr, 110.0) > 0.05
    solo = render_score_wav(Score([high]), tmp_path / "one.wav", synth="builtin", sample_rate=16000)
    assert _band_energy(sf.read(str(solo))[0], sr, 110.0) < 0.01


@pytest.mark.skipif(__import__("shutil").which("fluidsynth") is None
                    or __import__("muse.music.render", fromlist=["x"]).find_soundfont() is None,
                    reason="needs the fluidsynth binary and a General MIDI soundfont")
def test_render_score_fluidsynth_uses_each_program_and_drums(tmp_path):
    import numpy as np
    import soundfile as sf

    from muse.music.render import render_score_wav

    notes = (Note(0, 8, 69), Note(8, 16, 72))
    flute = render_score_wav(Score([Part(notes, program=73)]), tmp_path / "flute.wav", synth="fluidsynth",
                             sample_rate=22050)
    organ = render_score_wav(Score([Part(notes, program=19)]), tmp_path / "organ.wav", synth="fluidsynth",
                             sample_rate=22050)
    a, b = sf.read(str(flute))[0], sf.read(str(organ))[0]
    n = min(len(a), len(b))
    assert flute.synth == "fluidsynth" and not np.allclose(a[:n], b[:n], atol=0.05)
    drums = Part((Note(0, 2, 36), Note(4, 6, 38)), is_drum=True, name="Drums")
    both = render_score_wav(Score([Part(notes, program=73), drums]), tmp_path / "both.wav", synth="fluidsynth",
                            sample_rate=22050)
    c = sf.read(str(both))[0]
    m = min(len(a), len(c))
    assert not np.allclose(a[:m], c[:m], atol=0.05)  # the kit sounds too

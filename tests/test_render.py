import logging
import shutil

import matplotlib.image as mpimg
import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from muse.errors import ConfigError, DataError, MuseError
from muse.music.melody import Melody, Note
from muse.music.pianoroll import plot_pianoroll
from muse.music import render
from muse.music.midi_io import write_midi
from muse.music.render import find_soundfont, melody_to_pretty_midi, render_melody_wav, render_wav

SR = 16000


def have_fluidsynth() -> bool:
    try:
        return shutil.which("fluidsynth") is not None and find_soundfont() is not None
    except ConfigError:
        return False


def scale_melody() -> Melody:
    # Eight eighth notes at 120 qpm (0.25 s each) then a half-note A4: 2 s + 1 s.
    notes = [Note(2 * i, 2 * i + 2, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    return Melody(notes + [Note(16, 24, 69, velocity=90)], steps_per_quarter=4, qpm=120)


def loudness(audio: np.ndarray, sr: int, start: float, end: float) -> float:
    seg = audio[int(start * sr) : int(end * sr)]
    return float(np.sqrt(np.mean(seg**2)))


def test_builtin_synth_duration_pitch_and_level(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="muse.music.render")
    out = render_melody_wav(scale_melody(), tmp_path / "m.wav", synth="builtin", sample_rate=SR)
    assert out.synth == "builtin"
    assert "builtin" in caplog.text
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    assert 3.0 <= info.duration <= 3.0 + 0.3  # notes end at 3 s, plus the release
    audio, _ = sf.read(out)
    assert 0.85 < np.abs(audio).max() <= 0.91  # normalised without clipping
    assert loudness(audio, SR, 0.0, 2.9) > 0.05
    # The A4 half note (2..3 s) has its strongest partial at 440 Hz.
    seg = audio[int(2.2 * SR) : int(2.8 * SR)]
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    peak_hz = np.fft.rfftfreq(len(seg), 1 / SR)[spectrum.argmax()]
    assert abs(peak_hz - 440.0) < 5.0


def test_velocity_scales_builtin_loudness(tmp_path):
    loud = Melody([Note(0, 4, 60, 120), Note(8, 12, 60, 30)], qpm=120)
    out = render_melody_wav(loud, tmp_path / "v.wav", synth="builtin", sample_rate=SR)
    audio, _ = sf.read(out)
    assert loudness(audio, SR, 0.0, 0.45) > 3 * loudness(audio, SR, 1.0, 1.45)


@pytest.mark.skipif(not have_fluidsynth(), reason="fluidsynth binary or General MIDI soundfont not installed")
def test_fluidsynth_render(tmp_path):
    midi = tmp_path / "m.mid"
    melody_to_pretty_midi(scale_melody()).write(str(midi))
    out = render_wav(midi, tmp_path / "m.wav", sample_rate=SR, synth="fluidsynth")
    assert out.synth == "fluidsynth"
    info = sf.info(out)
    assert (info.samplerate, info.subtype) == (SR, "PCM_16")
    assert 3.0 <= info.duration <= 3.0 + 3.0  # soundfont release/reverb tail is trimmed at silence
    audio, _ = sf.read(out, always_2d=True)
    assert loudness(audio, SR, 0.0, 2.9) > 0.02
    assert render_wav(midi, tmp_path / "auto.wav", sample_rate=SR).synth == "fluidsynth"


def test_auto_falls_back_to_builtin_and_explicit_fluidsynth_fails_cleanly(tmp_path, monkeypatch):
    midi = tmp_path / "m.mid"
    melody_to_pretty_midi(scale_melody()).write(str(midi))
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth binary here
    assert render_wav(midi, tmp_path / "a.wav", sample_rate=SR).synth == "builtin"
    with pytest.raises(ConfigError, match="no fluidsynth binary"):
        render_wav(midi, tmp_path / "b.wav", synth="fluidsynth")
    with pytest.raises(ConfigError, match="soundfont not found"):
        render_wav(midi, tmp_path / "c.wav", soundfont=tmp_path / "none.sf2")
    with pytest.raises(ConfigError, match="unknown synth"):
        render_wav(midi, tmp_path / "d.wav", synth="organ")


def test_fluidsynth_failure_falls_back_or_raises(tmp_path, monkeypatch, caplog):
    midi = tmp_path / "m.mid"
    melody_to_pretty_midi(scale_melody()).write(str(midi))
    font = tmp_path / "fake.sf2"
    font.write_bytes(b"RIFF\0\0\0\0sfbk")
    fake = tmp_path / "bin" / "fluidsynth"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'fluidsynth: error: cannot render' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    out = render_wav(midi, tmp_path / "a.wav", sample_rate=SR, soundfont=font)
    assert out.synth == "builtin" and sf.info(out).duration >= 3.0
    assert "cannot render" in caplog.text
    with pytest.raises(MuseError, match="m.mid: fluidsynth failed: fluidsynth: error: cannot render"):
        render_wav(midi, tmp_path / "b.wav", soundfont=font, synth="fluidsynth")
    garbage = tmp_path / "garbage.sf2"
    garbage.write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="garbage.sf2: not a SoundFont 2"):
        render_wav(midi, tmp_path / "c.wav", soundfont=garbage)
    monkeypatch.setenv("MUSE_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(ConfigError, match=r"gone.sf2: soundfont not found \(from \$MUSE_SOUNDFONT\)"):
        render_wav(midi, tmp_path / "d.wav")


def test_missing_and_corrupt_midi(tmp_path):
    with pytest.raises(DataError, match="none.mid: MIDI file not found"):
        render_wav(tmp_path / "none.mid", tmp_path / "x.wav")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    with pytest.raises(DataError, match="bad.mid: unreadable MIDI file"):
        render_wav(bad, tmp_path / "x.wav")
    with pytest.raises(DataError, match="empty melody"):
        render_melody_wav(Melody([]), tmp_path / "x.wav")


def test_melody_to_pretty_midi_timing():
    m = Melody([Note(0, 2, 60), Note(6, 12, 64, 70)], steps_per_quarter=4, qpm=90, time_signature=(3, 4))
    pm = melody_to_pretty_midi(m)
    notes = pm.instruments[0].notes
    step = 60 / 90 / 4
    assert [(n.pitch, n.velocity) for n in notes] == [(60, 100), (64, 70)]
    assert [n.start for n in notes] == pytest.approx([0, 6 * step])
    assert [n.end for n in notes] == pytest.approx([2 * step, 12 * step])
    assert pm.get_tempo_changes()[1][0] == pytest.approx(90)
    assert (pm.time_signature_changes[0].numerator, pm.time_signature_changes[0].denominator) == (3, 4)
    assert isinstance(pm, pretty_midi.PrettyMIDI)


def test_melodies_reach_midi_through_the_one_writer(tmp_path, monkeypatch):
    m = Melody([Note(0, 2, 60), Note(6, 12, 64, 70)], qpm=90, time_signature=(3, 4), key=(2, "minor"))
    pm = melody_to_pretty_midi(m, program=73)
    written = pretty_midi.PrettyMIDI(str(write_midi(m, tmp_path / "w.mid", program=73)))
    assert [(n.pitch, n.velocity, n.start, n.end) for n in pm.instruments[0].notes] == \
        [(n.pitch, n.velocity, n.start, n.end) for n in written.instruments[0].notes]
    assert pm.instruments[0].program == 73
    assert pm.key_signature_changes[0].key_number == 12 + 2  # the writer's key signature too
    calls = []

    def spy(*args, **kw):
        calls.append(args)
        return write_midi(*args, **kw)

    monkeypatch.setattr(render, "write_midi", spy)
    assert render_melody_wav(m, tmp_path / "m.wav", synth="builtin", sample_rate=SR).synth == "builtin"
    assert len(calls) == 1


def test_pianoroll_png(tmp_path):
    m = scale_melody()
    one = mpimg.imread(plot_pianoroll(m, tmp_path / "one.png"))
    three = mpimg.imread(
        plot_pianoroll([m, m.transpose(2), m.transpose(4)], tmp_path / "three.png", titles=["a", "b", "c"])
    )
    assert one.shape[0] > 50 and one.shape[1] > 50
    assert np.ptp(one[..., :3]) > 0.5  # drawn, not blank
    assert three.shape[1] == one.shape[1]
    assert three.shape[0] > 2 * one.shape[0]  # one row per melody
    # Note rectangles use the note colour; out-of-scale notes a different one when a key is given.
    keyed = mpimg.imread(plot_pianoroll(m.transpose(1), tmp_path / "keyed.png", key="C major"))
    plain = mpimg.imread(plot_pianoroll(m.transpose(1), tmp_path / "plain.png"))
    red = lambda img: np.sum((img[..., 0] > 0.7) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3))  # noqa: E731
    assert red(keyed) > 100 and red(plain) == 0


def test_pianoroll_bad_input(tmp_path):
    with pytest.raises(DataError, match="no melodies"):
        plot_pianoroll([], tmp_path / "x.png")
    with pytest.raises(ConfigError, match="2 titles given for 1 melodies"):
        plot_pianoroll([scale_melody()], tmp_path / "x.png", titles=["a", "b"])
    with pytest.raises(ConfigError, match="bad key 'H major'"):
        plot_pianoroll(scale_melody(), tmp_path / "x.png", key="H major")

"""MIDI -> WAV: FluidSynth with a General MIDI soundfont when installed, else a small additive synth.

Both paths end the same way: the audio is trimmed of trailing silence (never
before the last MIDI note ends), peak-normalised to 0.9 and written by
soundfile as 16-bit PCM. The returned path tells which synth made it
(``path.synth`` is ``"fluidsynth"`` or ``"builtin"``).
"""
from __future__ import annotations

import glob
import io
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import soundfile as sf

from muse.core.files import atomic_file, check_output_file
from muse.errors import ConfigError, DataError, MuseError
from muse.music.melody import Melody
from muse.music.midi_io import midi_bytes, write_midi

log = logging.getLogger(__name__)

SOUNDFONT_ENV = "MUSE_SOUNDFONT"
_SOUNDFONT_PATHS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")
_SOUNDFONT_GLOB = "/usr/share/soundfonts/*.sf2"
_PEAK = 0.9
_SILENCE = 1e-3  # relative to peak: -60 dB
_FLUIDSYNTH_TIMEOUT_S = 300

# Built-in synth voice: harmonic amplitudes and ADSR (seconds, sustain level).
_HARMONICS = (1.0, 0.5, 0.3, 0.15, 0.08)
_ATTACK, _DECAY, _SUSTAIN, _RELEASE = 0.01, 0.12, 0.6, 0.2


class RenderedWav(type(Path())):  # type: ignore[misc]
    """A WAV path that also records the synth that rendered it."""

    synth: str | None = None


def _is_soundfont(path: Path) -> bool:
    """True for a RIFF file of form 'sfbk' (SoundFont 2)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[:4] == b"RIFF" and head[8:12] == b"sfbk"


def find_soundfont(soundfont: str | Path | None = None) -> Path | None:
    """The first General MIDI soundfont: argument, $MUSE_SOUNDFONT, then system paths.

    A soundfont named explicitly (argument or environment) must exist and be a
    SoundFont 2 file, else ConfigError; system paths are only tried.
    """
    named = soundfont if soundfont is not None else os.environ.get(SOUNDFONT_ENV) or None
    if named is not None:
        p = Path(named)
        where = "" if soundfont is not None else f" (from ${SOUNDFONT_ENV})"
        if not p.is_file():
            raise ConfigError(f"soundfont not found{where}", p)
        if not _is_soundfont(p):
            raise ConfigError(f"not a SoundFont 2 (.sf2) file{where}", p)
        return p
    for cand in (*_SOUNDFONT_PATHS, *sorted(glob.glob(_SOUNDFONT_GLOB))):
        if Path(cand).is_file() and _is_soundfont(Path(cand)):
            return Path(cand)
    return None


_FORMAT_ALIASES = {"aif": "AIFF", "aiff": "AIFF", "aifc": "AIFF", "oga": "OGG", "opus": "OGG", "snd": "AU",
                   "sf": "IRCAM", "mat": "MAT5"}


def audio_format(path: str | Path) -> tuple[str, str]:
    """The soundfile format and subtype a WAV-like file is written with, from its suffix.

    16-bit PCM where the format has it (``.wav``, ``.flac``, ``.aiff``...), else the
    format's own default (``.mp3``: MPEG layer III, ``.ogg``: Vorbis).

    Args:
        path: the audio file to write.

    Returns:
        tuple[str, str]: soundfile's ``(format, subtype)``, e.g. ``("WAV", "PCM_16")``.

    Raises:
        ConfigError: a suffix the installed libsndfile cannot write; the message
            lists the suffixes it can.

    Example:
        >>> audio_format("song.flac")
        ('FLAC', 'PCM_16')
    """
    p = Path(path)
    ext = p.suffix.lower().lstrip(".")
    fmt = _FORMAT_ALIASES.get(ext, ext.upper())
    formats = sf.available_formats()
    if fmt not in formats or fmt == "RAW":
        names = ", ".join(f".{f.lower()}" for f in sorted(formats) if f != "RAW")
        raise ConfigError(f"cannot write audio as {p.suffix or 'a file without a suffix'!r}; this soundfile "
                          f"(libsndfile {sf.__libsndfile_version__}) writes: {names}", p)
    subtype = "PCM_16" if sf.check_format(fmt, "PCM_16") else sf.default_subtype(fmt)
    return fmt, subtype


def check_audio_path(path: str | Path) -> Path:
    """Check, before any rendering, that ``path`` is an audio file soundfile can write in a writable place.

    Args:
        path: the audio file to write.

    Returns:
        Path: ``path``.

    Example:
        >>> check_audio_path("out/song.wav")
        PosixPath('out/song.wav')
    """
    p = check_output_file(path)
    audio_format(p)
    return p


def _read_midi(midi_path: Path) -> pretty_midi.PrettyMIDI:
    if not midi_path.is_file():
        raise DataError("MIDI file not found", midi_path)
    try:
        return pretty_midi.PrettyMIDI(str(midi_path))
    except Exception as e:  # mido/pretty_midi raise many types on bad files
        detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise DataError(f"unreadable MIDI file ({detail})", midi_path) from None


def synth_builtin(pm: pretty_midi.PrettyMIDI, sample_rate: int = 44100) -> np.ndarray:
    """Mono float audio: each note a few harmonics under an ADSR envelope, scaled by velocity."""
    end = pm.get_end_time() + _RELEASE
    out = np.zeros(int(np.ceil(end * sample_rate)) + 1)
    weights = np.asarray(_HARMONICS)
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for note in inst.notes:
            start = int(round(note.start * sample_rate))
            held = max(note.end - note.start, 1.0 / sample_rate)
            n = int(round((held + _RELEASE) * sample_rate))
            t = np.arange(n) / sample_rate
            f0 = 440.0 * 2.0 ** ((note.pitch - 69) / 12.0)
            ks = np.arange(1, len(weights) + 1)
            w = np.where(ks * f0 < sample_rate / 2, weights, 0.0)  # no aliasing partials
            # Higher partials decay faster, as on a plucked/struck string.
            decay = np.exp(-np.outer(ks - 1, t) * 3.0)
            wave = (w[:, None] * decay * np.sin(2 * np.pi * f0 * np.outer(ks, t))).sum(0)
            env = np.interp(
                t,
                [0.0, _ATTACK, _ATTACK + _DECAY, max(held, _ATTACK + _DECAY), held + _RELEASE],
                [0.0, 1.0, _SUSTAIN, _SUSTAIN, 0.0],
            )
            if held < _ATTACK + _DECAY:  # short note: release from wherever the envelope is
                level = np.interp(held, [0.0, _ATTACK, _ATTACK + _DECAY], [0.0, 1.0, _SUSTAIN])
                env = np.where(t <= held, env, level * np.clip(1 - (t - held) / _RELEASE, 0, 1))
            seg = out[start : start + n]
            seg += (note.velocity / 127.0) * (env * wave)[: len(seg)]
    return out


def _run_fluidsynth(midi_path: Path, soundfont: Path, sample_rate: int, expect_sound: bool) -> np.ndarray:
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise ConfigError("fluidsynth binary not found on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "fluidsynth.wav"
        cmd = [binary, "-ni", "-q", "-F", str(raw), "-r", str(sample_rate), "-T", "wav", "-O", "s16",
               str(soundfont), str(midi_path)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=_FLUIDSYNTH_TIMEOUT_S,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise MuseError(f"fluidsynth took longer than {_FLUIDSYNTH_TIMEOUT_S} s", midi_path) from None
        if res.returncode != 0 or not raw.is_file():
            msg = (res.stderr or res.stdout).strip().splitlines()
            raise MuseError(f"fluidsynth failed: {msg[-1] if msg else f'exit {res.returncode}'}", midi_path)
        audio, _ = sf.read(str(raw), dtype="float64", always_2d=True)
    if expect_sound and not np.any(audio):
        raise MuseError(f"fluidsynth rendered silence with soundfont {soundfont}", midi_path)
    return audio


def _finish(audio: np.ndarray, min_seconds: float, sample_rate: int) -> np.ndarray:
    """Trim trailing silence (keeping ``min_seconds``) and normalise the peak."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak <= 0.0:
        return audio
    level = np.abs(audio) if audio.ndim == 1 else np.abs(audio).max(axis=1)
    last = int(np.nonzero(level > peak * _SILENCE)[0][-1]) + 1
    keep = max(last + int(0.05 * sample_rate), int(np.ceil(min_seconds * sample_rate)))
    return audio[:keep] * (_PEAK / peak)


def render_wav(
    midi_path: str | Path,
    wav_path: str | Path,
    *,
    sample_rate: int = 44100,
    soundfont: str | Path | None = None,
    synth: str = "auto",
) -> RenderedWav:
    """Render a MIDI file to a 16-bit WAV; ``synth`` is "auto", "fluidsynth" or "builtin".

    "auto" uses FluidSynth when the binary and a soundfont are found (falling
    back to the built-in synth if it fails); "fluidsynth" insists on it.
    Every track of a multi-part file sounds: FluidSynth plays each channel with
    its program (drums on channel 10 with the soundfont's kit); the built-in synth
    plays every pitched track with its one additive voice, whatever the program,
    and skips drum tracks. The audio is trimmed of trailing silence and
    peak-normalised to 0.9.

    Args:
        midi_path: the MIDI file to render (e.g. from :func:`muse.write_midi`).
        wav_path: the audio file to write (parent folders are created): ``.wav``
            (16-bit PCM), or any suffix the installed soundfile writes (``.flac``,
            ``.ogg``, ``.mp3``...; :func:`audio_format`); written atomically.
        sample_rate: samples per second, at least 8000 (default 44100).
        soundfont: a General MIDI SoundFont 2 (``.sf2``) file for FluidSynth;
            None: ``$MUSE_SOUNDFONT``, then the usual system paths
            (``/usr/share/sounds/sf2/FluidR3_GM.sf2``...).
        synth: ``"auto"``, ``"fluidsynth"`` (ConfigError when the binary or a
            soundfont is missing) or ``"builtin"`` (a small additive synth, no
            dependencies).

    Returns:
        RenderedWav: the WAV path (a ``pathlib.Path``) whose ``synth`` attribute
        says which synth rendered it, ``"fluidsynth"`` or ``"builtin"``.

    Example:
        >>> import muse
        >>> midi = muse.write_midi(muse.parse_primer("C4 E4 G4 C5:2"), "arpeggio.mid")
        >>> wav = muse.render_wav(midi, "arpeggio.wav", sample_rate=22050, synth="builtin")
        >>> wav.synth
        'builtin'
    """
    if synth not in ("auto", "fluidsynth", "builtin"):
        raise ConfigError(f"unknown synth {synth!r}; use auto, fluidsynth or builtin")
    if sample_rate < 8000:
        raise ConfigError(f"sample rate {sample_rate} is too low; use at least 8000 Hz")
    midi_path, wav_path = Path(midi_path), check_output_file(wav_path, try_write=False)
    fmt, subtype = audio_format(wav_path)
    pm = _read_midi(midi_path)
    used = "builtin"
    audio: np.ndarray | None = None
    if synth in ("auto", "fluidsynth"):
        font = find_soundfont(soundfont)
        have_binary = shutil.which("fluidsynth") is not None
        if synth == "fluidsynth" and (font is None or not have_binary):
            missing = "fluidsynth binary" if not have_binary else "General MIDI soundfont"
            raise ConfigError(f"synth 'fluidsynth' requested but no {missing} was found", midi_path)
        if font is not None and have_binary:
            try:
                has_notes = any(inst.notes for inst in pm.instruments)
                audio = _run_fluidsynth(midi_path, font, sample_rate, expect_sound=has_notes)
                used = "fluidsynth"
            except MuseError as e:
                if synth == "fluidsynth":
                    raise
                log.warning("%s; using the built-in synth", e)
    if audio is None:
        audio = synth_builtin(pm, sample_rate)
    audio = _finish(audio, pm.get_end_time(), sample_rate)
    with atomic_file(wav_path) as tmp:
        sf.write(str(tmp), audio, sample_rate, format=fmt, subtype=subtype)
    log.info("rendered %s -> %s with the %s synth", midi_path, wav_path, used)
    out = RenderedWav(wav_path)
    out.synth = used
    return out


def melody_to_pretty_midi(melody: Melody, program: int = 0) -> pretty_midi.PrettyMIDI:
    """One-instrument PrettyMIDI of ``melody`` at its tempo and time signature: the MIDI file
    :func:`muse.music.midi_io.write_midi` writes, read back by pretty_midi."""
    return pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(melody, program=program)))


def render_score_wav(score: Any, wav_path: str | Path, **kw: Any) -> RenderedWav:
    """Render a :class:`~muse.music.score.Score` to WAV via a temporary type-1 MIDI file
    (:func:`muse.music.score_io.write_score_midi`: every part on its channel with its program;
    ``kw`` go to :func:`render_wav`)."""
    from muse.music.score_io import write_score_midi

    check_output_file(wav_path, try_write=False)
    with tempfile.TemporaryDirectory() as tmp:
        midi = write_score_midi(score, Path(tmp) / "score.mid")
        return render_wav(midi, wav_path, **kw)


def render_melody_wav(melody: Melody, wav_path: str | Path, *, program: int = 0, **kw: object) -> RenderedWav:
    """Render a :class:`Melody` to WAV via a temporary MIDI file (``kw`` go to :func:`render_wav`)."""
    if not melody.notes:
        raise DataError("cannot render an empty melody", wav_path)
    with tempfile.TemporaryDirectory() as tmp:
        midi = write_midi(melody, Path(tmp) / "melody.mid", program=program)
        return render_wav(midi, wav_path, **kw)  # type: ignore[arg-type]

"""Music theory tables, once: pitch-class names, keys, modes, scales and time signatures."""
from __future__ import annotations

from typing import Sequence

from muse.errors import ConfigError

PITCH_CLASSES = {
    "C": 0, "B#": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "FB": 4,
    "F": 5, "E#": 5, "F#": 6, "GB": 6, "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10,
    "BB": 10, "B": 11, "CB": 11,
}
"""Note names (upper case, ``B`` for flat after the letter) -> pitch class."""
PITCH_CLASS_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
"""Pitch class -> the name muse writes."""
KEY_MODES = ("major", "minor")
"""The modes of a key (a melody's ``key`` is ``(tonic pitch class, mode)``)."""
MAJOR_MODES = {"major", "ionian", "lydian", "mixolydian"}
MINOR_MODES = {"minor", "aeolian", "dorian", "phrygian", "locrian"}

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic_minor": (0, 2, 3, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)),
}
MINOR_LIKE = {"minor", "harmonic_minor", "melodic_minor", "dorian", "phrygian", "minor_pentatonic", "blues"}
"""Scales whose key signature is written as a minor key."""

TIME_SIGNATURES: tuple[tuple[int, int], ...] = (
    (1, 4), (2, 4), (3, 4), (4, 4), (5, 4), (6, 4), (7, 4),
    (2, 8), (3, 8), (4, 8), (5, 8), (6, 8), (7, 8), (9, 8), (12, 8),
    (2, 2), (3, 2), (4, 2), (6, 2), (2, 1), (3, 1), (4, 1),
)
"""Every meter of the built-in corpora (the Essen collection writes some in 4/1, 6/2...)."""
GENERATION_TIME_SIGNATURES = {(2, 4), (3, 4), (4, 4), (5, 4), (6, 8), (9, 8), (12, 8), (3, 8), (2, 2), (6, 4), (7, 8)}
"""Meters a melody can be asked for."""


def pitch_class(name: str) -> int:
    """'C', 'F#', 'Bb', 'E♭' -> pitch class (ConfigError for anything else)."""
    pc = PITCH_CLASSES.get(name.strip().upper().replace("♯", "#").replace("♭", "B"))
    if pc is None:
        raise ConfigError(f"unknown key {name!r}; use a note name such as C, F#, Bb")
    return pc


tonic_pitch_class = pitch_class


def pitch_name(pitch: int) -> str:
    """MIDI pitch -> scientific name as muse writes it: 60 -> 'C4', 70 -> 'Bb4'."""
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


def parse_key(name: str) -> tuple[int, str]:
    """'D', 'D minor', 'Eb major', 'f#m', 'A:minor' -> (pitch class, mode); ValueError otherwise."""
    s = name.strip().replace(":", " ").replace("_", " ")
    parts = s.split()
    if not parts:
        raise ValueError("empty key name")
    tonic = parts[0]
    mode = parts[1].lower() if len(parts) > 1 else "major"
    if len(parts) == 1 and len(tonic) > 1 and tonic.endswith("m") and tonic[:-1].upper() in PITCH_CLASSES:
        tonic, mode = tonic[:-1], "minor"
    pc = PITCH_CLASSES.get(tonic.upper())
    if pc is None:
        raise ValueError(f"unknown key tonic {tonic!r}; use A-G with optional # or b")
    if mode not in KEY_MODES:
        raise ValueError(f"unknown mode {mode!r}; use {' or '.join(KEY_MODES)}")
    return pc, mode


def key_name(key: tuple[int, str], style: str = "long") -> str:
    """(2, 'minor') -> 'D minor' (long), 'Dm' (short)."""
    name = PITCH_CLASS_NAMES[key[0] % 12]
    if style == "short":
        return name + ("m" if key[1] == "minor" else "")
    return f"{name} {key[1]}"


def key_from_fifths(sharps: int, minor: bool) -> tuple[int, str]:
    """Key of a key signature with ``sharps`` (negative: flats)."""
    return ((7 * sharps + 9) % 12, "minor") if minor else ((7 * sharps) % 12, "major")


def key_from_number(number: int) -> tuple[int, str]:
    """Key of a pretty_midi key number (0..11: C..B major, 12..23: C..B minor)."""
    return number % 12, (KEY_MODES[0] if number < 12 else KEY_MODES[1])


def scale_intervals(name: str) -> tuple[int, ...]:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = {"aeolian": "minor", "ionian": "major", "natural_minor": "minor"}.get(key, key)
    if key not in SCALES:
        raise ConfigError(f"unknown scale {name!r}; choose one of: {', '.join(SCALES)}")
    return SCALES[key]


def scale_pitch_classes(tonic: int, scale: str) -> set[int]:
    """Pitch classes of ``scale`` (a name of :data:`SCALES`, or an alias such as aeolian) on ``tonic``."""
    return {(tonic + i) % 12 for i in scale_intervals(scale)}


def scale_pitches(tonic: int, scale: str, low: int = 0, high: int = 127) -> set[int]:
    """MIDI pitches in ``[low, high]`` that belong to ``scale`` on ``tonic`` (pitch class)."""
    pcs = scale_pitch_classes(tonic, scale)
    return {p for p in range(max(0, low), min(127, high) + 1) if p % 12 in pcs}


def bar_steps(time_signature: Sequence[int], steps_per_quarter: int) -> int:
    """Grid steps in one bar of ``time_signature`` at ``steps_per_quarter`` (16 for 4/4 at 4, 12 for 3/4)."""
    num, den = time_signature
    return int(round(num * steps_per_quarter * 4 / den))


def ts_name(ts: Sequence[int]) -> str:
    return f"{ts[0]}/{ts[1]}"


def parse_time_signature(value: str | Sequence[int], allowed: set[tuple[int, int]] | None = None) -> tuple[int, int]:
    """'3/4' or (3, 4) -> (3, 4). ConfigError when malformed, or not in ``allowed`` (if given)."""
    try:
        if isinstance(value, str):
            num, sep, den = value.strip().partition("/")
            if not sep:
                raise ValueError
            ts = (int(num), int(den))
        else:
            ts = (int(value[0]), int(value[1]))
    except (ValueError, TypeError, IndexError):
        raise ConfigError(f"time signature {value!r} must look like 3/4") from None
    if ts[0] <= 0 or ts[1] <= 0 or ts[1] & (ts[1] - 1):
        raise ConfigError(f"time signature {ts_name(ts)} needs a positive numerator and a power-of-two denominator")
    if allowed is not None and ts not in allowed:
        raise ConfigError(f"time signature {ts_name(ts)} is not supported; use one of "
                          + ", ".join(ts_name(t) for t in sorted(allowed)))
    return ts

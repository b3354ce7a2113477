"""Scales by name, and the pitch sets they allow."""
from __future__ import annotations

from muse.errors import ConfigError
from muse.music.melody import PITCH_CLASSES

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


def scale_intervals(name: str) -> tuple[int, ...]:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = {"aeolian": "minor", "ionian": "major", "natural_minor": "minor"}.get(key, key)
    if key not in SCALES:
        raise ConfigError(f"unknown scale {name!r}; choose one of: {', '.join(SCALES)}")
    return SCALES[key]


def tonic_pitch_class(name: str) -> int:
    pc = PITCH_CLASSES.get(name.strip().upper().replace("♯", "#").replace("♭", "B"))
    if pc is None:
        raise ConfigError(f"unknown key {name!r}; use a note name such as C, F#, Bb")
    return pc


def scale_pitches(tonic: int, scale: str, low: int = 0, high: int = 127) -> set[int]:
    """MIDI pitches in ``[low, high]`` that belong to ``scale`` on ``tonic`` (pitch class)."""
    pcs = {(tonic + i) % 12 for i in scale_intervals(scale)}
    return {p for p in range(max(0, low), min(127, high) + 1) if p % 12 in pcs}

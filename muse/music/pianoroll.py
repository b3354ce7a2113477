"""Piano-roll PNGs of melodies: bars across, named pitches up, one row per melody."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pretty_midi
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from muse.errors import ConfigError, DataError
from muse.music.melody import Melody
from muse.music.metrics import beat_steps
from muse.music.theory import parse_key, scale_pitch_classes

_NOTE_COLOR = "#3a6ea5"
_OUT_OF_SCALE_COLOR = "#c0392b"
_SCALE_ROW_COLOR = "#eef3e2"


def _resolve_key(key: str | tuple[int, str] | None) -> tuple[int, str] | None:
    if key is None or isinstance(key, tuple):
        return key
    try:
        return parse_key(key)
    except ValueError as e:
        raise ConfigError(f"bad key {key!r}: {e}") from None


def plot_pianoroll(
    melodies: Melody | Sequence[Melody],
    path: str | Path,
    *,
    titles: Sequence[str] | None = None,
    key: str | tuple[int, str] | None = None,
) -> Path:
    """Draw one piano roll per melody, stacked with a shared pitch axis, and save a PNG.

    ``key`` ("D minor" or ``(2, "minor")``) shades the scale's rows and marks
    notes outside it in red.

    Args:
        melodies: a :class:`muse.Melody` or a sequence of them (at least one);
            each gets its own panel, with bar lines.
        path: the PNG file to write (parent folders are created).
        titles: one title per melody (the count must match); None: no titles.
        key: the key to shade: a name (``"D"``, ``"D minor"``, ``"Eb major"``,
            ``"f#m"``) or ``(tonic pitch class, scale)`` such as ``(2, "minor")``
            or ``(7, "dorian")``; None: no shading.

    Returns:
        Path: ``path``.

    Example:
        >>> import muse
        >>> tunes = muse.generate_melodies(bars=4, num=2, key="D", scale="minor", seed=0)
        >>> muse.plot_pianoroll(tunes, "out/rolls.png", titles=["first", "second"], key="D minor")
        PosixPath('out/rolls.png')
    """
    items = [melodies] if isinstance(melodies, Melody) else list(melodies)
    path = Path(path)
    if not items:
        raise DataError("no melodies to plot", path)
    if titles is not None and len(titles) != len(items):
        raise ConfigError(f"{len(titles)} titles given for {len(items)} melodies", path)
    scale_key = _resolve_key(key)
    in_scale = None
    if scale_key is not None:
        in_scale = scale_pitch_classes(*scale_key)

    pitches = [p for m in items for p in m.pitches]
    lo, hi = (min(pitches) - 1, max(pitches) + 1) if pitches else (59, 73)
    span = hi - lo + 1
    bars = max(max(m.num_bars for m in items), 1.0)
    n_bars = math.ceil(bars - 1e-9)
    row_h = float(np.clip(0.9 + 0.09 * span, 1.6, 4.0))
    fig = Figure(figsize=(min(3.0 + 1.6 * n_bars, 24.0), 0.6 + row_h * len(items)), dpi=100)
    axes = fig.subplots(len(items), 1, sharex=True, sharey=True, squeeze=False)[:, 0]

    for i, (ax, mel) in enumerate(zip(axes, items)):
        spb = mel.steps_per_bar
        if in_scale is not None:
            for p in range(lo, hi + 1):
                if p % 12 in in_scale:
                    ax.axhspan(p - 0.5, p + 0.5, color=_SCALE_ROW_COLOR, zorder=0, lw=0)
        beat = beat_steps(mel) / spb
        for b in np.arange(0.0, n_bars + 1e-9, beat):
            is_bar = abs(b - round(b)) < 1e-9
            ax.axvline(b, color="#555555" if is_bar else "#cccccc", lw=1.0 if is_bar else 0.5, zorder=1)
        rects, colors = [], []
        for n in mel.notes:
            rects.append(Rectangle((n.start / spb, n.pitch - 0.4), n.duration / spb, 0.8))
            out = in_scale is not None and n.pitch % 12 not in in_scale
            colors.append(_OUT_OF_SCALE_COLOR if out else _NOTE_COLOR)
        if rects:
            ax.add_collection(PatchCollection(rects, facecolors=colors, edgecolors="black", lw=0.5, zorder=2))
        ax.set_xlim(0, n_bars)
        ax.set_ylim(lo - 0.5, hi + 0.5)
        step = 1 if span <= 25 else 12
        ticks = [p for p in range(lo, hi + 1) if step == 1 or p % 12 == 0]
        ax.set_yticks(ticks, [pretty_midi.note_number_to_name(p) for p in ticks], fontsize=7)
        ax.set_xticks(np.arange(n_bars) + 0.5, [str(b + 1) for b in range(n_bars)], fontsize=8)
        ax.tick_params(axis="x", length=0)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9, loc="left")
    axes[-1].set_xlabel("bar")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path

"""Piano-roll PNGs of melodies and scores: bars across, named pitches up, one row per melody or score.

Drawn with Pillow (a few milliseconds, no plotting library to import), so a
``muse melody`` that writes its PNG costs little more than one that does not.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from muse.core.files import atomic_file, check_output_file
from muse.errors import ConfigError, DataError
from muse.music.melody import Melody, Note
from muse.music.metrics import beat_steps
from muse.music.score import Score
from muse.music.theory import parse_key, pitch_name, scale_pitch_classes

_NOTE_COLOR = "#3a6ea5"
_OUT_OF_SCALE_COLOR = "#c0392b"
_SCALE_ROW_COLOR = "#eef3e2"
_BAR_COLOR, _BEAT_COLOR, _TEXT_COLOR = "#555555", "#cccccc", "#222222"
_PART_COLORS = ("#3a6ea5", "#e08a1e", "#2e9e5b", "#8e5bb5", "#17a2b8", "#d35d9b", "#8c6d46", "#6c757d")
"""Colours of a score's parts, in part order (cycling); red stays for notes out of the key."""
_BAR_PX = 120  # pixels per bar
_LEFT, _RIGHT, _TITLE, _BOTTOM = 44, 10, 18, 22  # margins


def _resolve_key(key: str | tuple[int, str] | None) -> tuple[int, str] | None:
    if key is None or isinstance(key, tuple):
        return key
    try:
        return parse_key(key)
    except ValueError as e:
        raise ConfigError(f"bad key {key!r}: {e}") from None


def _layers(item: Melody | Score) -> list[tuple[str, Sequence[Note], str | None]]:
    """What one panel draws: ``(name, notes, colour)`` per layer; a melody is one layer coloured
    by key, a score one layer per pitched part in :data:`_PART_COLORS` (drum parts left out)."""
    if isinstance(item, Melody):
        return [("", item.notes, None)]
    if isinstance(item, Score):
        return [(p.name or f"part {i + 1}", p.notes, _PART_COLORS[i % len(_PART_COLORS)])
                for i, p in enumerate(item.parts) if not p.is_drum]
    raise DataError(f"cannot plot a {type(item).__name__}; give muse.Melody or muse.Score objects")


def plot_pianoroll(
    melodies: Melody | Score | Sequence[Melody | Score],
    path: str | Path,
    *,
    titles: Sequence[str] | None = None,
    key: str | tuple[int, str] | None = None,
) -> Path:
    """Draw one piano roll per melody, stacked with a shared pitch axis, and save a PNG.

    ``key`` ("D minor" or ``(2, "minor")``) shades the scale's rows and marks
    notes outside it in red. A :class:`muse.Score` panel draws each pitched part
    in its own colour, named in a legend above the panel (drum parts are not drawn;
    notes outside the key get a red outline).

    Args:
        melodies: a :class:`muse.Melody` or :class:`muse.Score`, or a sequence of
            them (at least one); each gets its own panel, with bar lines.
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
        >>> duet = muse.Score([muse.Part([muse.Note(0, 16, 72)], name="Soprano"),
        ...                    muse.Part([muse.Note(0, 8, 48), muse.Note(8, 16, 43)], name="Bass")])
        >>> _ = muse.plot_pianoroll(duet, "out/duet.png")
    """
    items = [melodies] if isinstance(melodies, (Melody, Score)) else list(melodies)
    path = check_output_file(path, try_write=False)
    if not items:
        raise DataError("no melodies to plot", path)
    if titles is not None and len(titles) != len(items):
        raise ConfigError(f"{len(titles)} titles given for {len(items)} melodies", path)
    scale_key = _resolve_key(key)
    in_scale = scale_pitch_classes(*scale_key) if scale_key is not None else None

    from PIL import Image, ImageDraw, ImageFont

    layers = [_layers(m) for m in items]
    pitches = [n.pitch for panel_layers in layers for _, notes, _ in panel_layers for n in notes]
    lo, hi = (min(pitches) - 1, max(pitches) + 1) if pitches else (59, 73)
    span = hi - lo + 1
    n_bars = math.ceil(max(max(m.num_bars for m in items), 1.0) - 1e-9)
    row = max(4, min(12, 360 // span))  # pixels per semitone
    has_legend = any(isinstance(m, Score) for m in items)
    top = _TITLE if titles is not None or has_legend else 6
    panel = top + span * row + 6
    width = _LEFT + n_bars * _BAR_PX + _RIGHT
    img = Image.new("RGB", (width, panel * len(items) + _BOTTOM), "white")
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=10)
    except (TypeError, OSError):  # Pillow without FreeType: the bitmap font
        font = ImageFont.load_default()
    label_every = 1 if span * row <= 25 * 12 and row >= 9 else 12

    for i, mel in enumerate(items):
        y0 = i * panel + top
        y_of = lambda p: y0 + (hi - p) * row  # noqa: E731 - top edge of pitch p's row
        x_of = lambda steps: _LEFT + steps / mel.steps_per_bar * _BAR_PX  # noqa: E731
        x_text = _LEFT
        if titles is not None:
            draw.text((x_text, y0 - _TITLE + 3), str(titles[i]), fill=_TEXT_COLOR, font=font)
            x_text += draw.textlength(str(titles[i]), font=font) + 12
        if isinstance(mel, Score):  # legend: each part's name in its colour
            for name, _, color in layers[i]:
                draw.rectangle([x_text, y0 - _TITLE + 5, x_text + 8, y0 - _TITLE + 13], fill=color, outline="black")
                draw.text((x_text + 11, y0 - _TITLE + 3), name, fill=_TEXT_COLOR, font=font)
                x_text += 11 + draw.textlength(name, font=font) + 10
        for p in range(lo, hi + 1):
            if in_scale is not None and p % 12 in in_scale:
                draw.rectangle([_LEFT, y_of(p), width - _RIGHT, y_of(p) + row - 1], fill=_SCALE_ROW_COLOR)
            if label_every == 1 or p % 12 == 0:
                draw.text((4, y_of(p) + row / 2), pitch_name(p), fill=_TEXT_COLOR, font=font, anchor="lm")
        beat = beat_steps(mel)
        n_beats = round(n_bars * mel.steps_per_bar / beat)
        for b in range(n_beats + 1):
            is_bar = (b * beat) % mel.steps_per_bar == 0
            x = round(x_of(b * beat))
            draw.line([x, y0, x, y0 + span * row], fill=_BAR_COLOR if is_bar else _BEAT_COLOR, width=1)
        for _, notes, color in layers[i]:
            for n in notes:
                out = in_scale is not None and n.pitch % 12 not in in_scale
                box = [x_of(n.start), y_of(n.pitch) + 1, max(x_of(n.end) - 1, x_of(n.start) + 1), y_of(n.pitch) + row - 1]
                if color is None:
                    draw.rectangle(box, fill=_OUT_OF_SCALE_COLOR if out else _NOTE_COLOR, outline="black")
                else:
                    draw.rectangle(box, fill=color, outline=_OUT_OF_SCALE_COLOR if out else "black",
                                   width=2 if out else 1)
        draw.rectangle([_LEFT, y0, width - _RIGHT, y0 + span * row], outline=_BAR_COLOR)
    for b in range(n_bars):  # bar numbers under the last panel
        draw.text((_LEFT + (b + 0.5) * _BAR_PX, img.height - _BOTTOM / 2), str(b + 1), fill=_TEXT_COLOR,
                  font=font, anchor="mm")
    with atomic_file(path) as tmp:
        img.save(tmp, format="PNG")
    return path

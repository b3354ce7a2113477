"""Sample grids and latent-walk strips written as PNG with PIL."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from muse.core.files import atomic_file, check_output_file
from muse.errors import DataError


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 0.0) -> np.ndarray:
    """Tile ``[N, C, H, W]`` images in ``[-1, 1]`` into one uint8 array ``[H', W', C]``.

    ``nrow`` is the number of images per row (default: a near-square grid);
    ``pad_value`` is the border colour in ``[0, 1]``.
    """
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise DataError(f"expected images [N, C, H, W] with N > 0 and C in (1, 3), got shape {tuple(images.shape)}")
    if padding < 0:
        raise DataError(f"padding must be >= 0, got {padding}")
    n, c, h, w = images.shape
    ncol = nrow if nrow is not None else math.ceil(math.sqrt(n))
    if ncol < 1:
        raise DataError(f"nrow must be >= 1, got {nrow}")
    nrows = math.ceil(n / ncol)
    x = ((images.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 0.5).numpy().transpose(0, 2, 3, 1)
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, c), pad_value, dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        grid[top:top + h, left:left + w] = x[i]
    return (grid * 255.0 + 0.5).astype(np.uint8)


def _write_png(arr: np.ndarray, path: str | Path) -> Path:
    p = check_png_path(path, try_write=False)
    im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    with atomic_file(p) as tmp:
        im.save(tmp, format="PNG")
    return p


def check_png_path(path: str | Path, *, try_write: bool = True) -> Path:
    """Check, before any work, that ``path`` names a PNG file that can be written (DataError/OutputError if not).

    Args:
        path: the grid or strip file to write.
        try_write: also try creating a file there (see :func:`muse.core.files.check_output_file`).

    Returns:
        Path: ``path``.

    Example:
        >>> check_png_path("out/grid.png")
        PosixPath('out/grid.png')
    """
    p = check_output_file(path, try_write=try_write)
    if p.suffix.lower() != ".png":
        raise DataError(f"image grids are PNG files: name it with .png, not {p.suffix or 'no suffix'!r}", p)
    return p


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, padding: int = 2) -> Path:
    """Save ``[N, C, H, W]`` images in ``[-1, 1]`` as one PNG grid, ``nrow`` images per row."""
    return _write_png(make_grid(images, nrow=nrow, padding=padding), path)


def save_strip(images: torch.Tensor, path: str | Path, padding: int = 2) -> Path:
    """Save a latent walk as a PNG strip.

    ``[steps, C, H, W]`` gives one row; ``[walks, steps, C, H, W]`` gives one row per walk.
    Images are in ``[-1, 1]``.
    """
    if images.dim() == 5:
        walks, steps = images.shape[:2]
        return _write_png(make_grid(images.reshape(walks * steps, *images.shape[2:]), nrow=steps, padding=padding), path)
    if images.dim() == 4:
        return _write_png(make_grid(images, nrow=images.shape[0], padding=padding), path)
    raise DataError(f"expected a walk [steps, C, H, W] or [walks, steps, C, H, W], got shape {tuple(images.shape)}")

"""Image data: folders of pictures, scikit-learn digits, scikit-image samples.

Training data is returned as float tensors ``[N, C, H, W]`` scaled to ``[-1, 1]``
(what a tanh generator produces); style-transfer images are ``[1, 3, H, W]`` in
``[0, 1]``. Nothing here downloads: the digits ship with scikit-learn and only the
sample pictures bundled in the scikit-image wheel are used.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from muse.data.report import SkipReport
from muse.errors import DataError, require

SKIMAGE_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel")


@dataclass
class LoadReport(SkipReport):
    """What :func:`load_image_folder` read and what it skipped (file, reason)."""

    files: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    """Names of the first-level subfolders that held images (sorted)."""
    labels: list[int] = field(default_factory=list)
    """Per loaded file, the index of its first-level subfolder in ``classes`` (-1 at top level)."""

    def __str__(self) -> str:
        return "\n".join([f"{self.source}: {len(self.files)} image(s) loaded, {len(self.skipped)} skipped",
                          *self.lines()])

    @property
    def root(self) -> str:
        return self.source


def _open_rgb_or_l(path: Path, mode: str) -> Image.Image:
    """Open ``path`` with PIL, apply EXIF rotation, flatten alpha on white, convert to ``mode``."""
    with Image.open(path) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        return im.convert(mode)


def _center_square(im: Image.Image, size: int) -> Image.Image:
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side))
    return im.resize((size, size), Image.Resampling.LANCZOS if side > size else Image.Resampling.BICUBIC)


def _to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL image -> float tensor ``[C, H, W]`` in ``[0, 1]``."""
    arr = np.asarray(im, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


def load_image_folder(
    path: str | Path, size: int, channels: int = 3, recursive: bool = True
) -> tuple[torch.Tensor, LoadReport]:
    """Load every readable picture under ``path`` as a square ``size`` x ``size`` image.

    Each picture is centre-cropped to a square and resized. Files PIL cannot read are
    skipped and listed in the report. Returns ``(images [N, C, size, size] in [-1, 1], report)``.
    """
    root = Path(path)
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}", root)
    if size < 1:
        raise DataError(f"image size must be positive, got {size}", root)
    if not root.is_dir():
        raise DataError("not a folder" if root.exists() else "folder does not exist", root)
    pattern = "**/*" if recursive else "*"
    candidates = sorted(
        p for p in root.glob(pattern)
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    report = LoadReport(source=str(root))
    mode = "RGB" if channels == 3 else "L"
    images: list[torch.Tensor] = []
    class_of: list[str | None] = []
    for p in candidates:
        rel = str(p.relative_to(root))
        try:
            im = _open_rgb_or_l(p, mode)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
            reason = "not an image PIL can read" if isinstance(e, UnidentifiedImageError) else str(e).splitlines()[0]
            report.skip(rel, reason)
            continue
        images.append(_to_tensor(_center_square(im, size)))
        report.files.append(rel)
        parts = p.relative_to(root).parts
        class_of.append(parts[0] if len(parts) > 1 else None)
    if not images:
        extra = f" ({len(report.skipped)} unreadable file(s) skipped)" if report.skipped else ""
        raise DataError(f"no readable images found{extra}", root)
    report.classes = sorted({c for c in class_of if c is not None})
    index = {c: i for i, c in enumerate(report.classes)}
    report.labels = [index[c] if c is not None else -1 for c in class_of]
    return torch.stack(images) * 2.0 - 1.0, report


def load_digits_images(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 bundled 8x8 digits, upsampled bilinearly to ``size``.

    Returns ``(images [1797, 1, size, size] in [-1, 1], labels [1797] int64)``.
    """
    load_digits = require("sklearn.datasets", "image", "the digits corpus").load_digits

    if size < 1:
        raise DataError(f"image size must be positive, got {size}")
    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x * 2.0 - 1.0).clamp_(-1.0, 1.0)
    return x, torch.from_numpy(digits.target.astype(np.int64))


def _bundled_skimage(name: str) -> np.ndarray | None:
    """A scikit-image sample picture if its file ships with the wheel, else ``None``."""
    skdata = require("skimage.data", "image", "the skimage corpus")

    data_dir = Path(skdata.__file__).parent
    if not any(data_dir.glob(f"{name}.*")) or not callable(getattr(skdata, name, None)):
        return None
    return np.asarray(getattr(skdata, name)())


def load_skimage_patches(
    size: int,
    n: int,
    seed: int = 0,
    names: tuple[str, ...] = SKIMAGE_NAMES,
    channels: int = 3,
) -> torch.Tensor:
    """``n`` random ``size`` x ``size`` crops from scikit-image's bundled sample pictures.

    Pictures are chosen uniformly; grey pictures are repeated to RGB when ``channels=3``
    and colour ones converted to luminance when ``channels=1``. Names whose file is not
    in the installed wheel are skipped with a warning (nothing is downloaded).
    Returns ``[n, channels, size, size]`` in ``[-1, 1]``.
    """
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    if size < 1 or n < 1:
        raise DataError(f"size and n must be positive, got size={size}, n={n}")
    pictures: list[torch.Tensor] = []
    for name in names:
        arr = _bundled_skimage(name)
        if arr is None:
            warnings.warn(f"scikit-image sample {name!r} is not bundled with the installed wheel; skipped", stacklevel=2)
            continue
        im = Image.fromarray(arr.astype(np.uint8)).convert("RGB" if channels == 3 else "L")
        if min(im.size) < size:  # upscale small pictures so a crop fits
            scale = size / min(im.size)
            im = im.resize((max(size, round(im.width * scale)), max(size, round(im.height * scale))), Image.Resampling.BICUBIC)
        pictures.append(_to_tensor(im))
    if not pictures:
        raise DataError(f"none of the scikit-image samples {', '.join(names)} is bundled with the installed wheel")
    rng = np.random.default_rng(seed)
    out = torch.empty(n, channels, size, size)
    for i in range(n):
        pic = pictures[int(rng.integers(len(pictures)))]
        top = int(rng.integers(pic.shape[1] - size + 1))
        left = int(rng.integers(pic.shape[2] - size + 1))
        out[i] = pic[:, top:top + size, left:left + size]
    return out * 2.0 - 1.0


def load_skimage_image(name: str, size: int | None = None) -> torch.Tensor:
    """A whole scikit-image sample picture as ``[1, 3, H, W]`` in ``[0, 1]`` (longer side ``size``)."""
    arr = _bundled_skimage(name)
    if arr is None:
        raise DataError(f"scikit-image sample {name!r} is not bundled with the installed wheel")
    im = Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    if size is not None:
        scale = size / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
    return _to_tensor(im).unsqueeze(0)


def load_image(path: str | Path, size: int | None = None) -> torch.Tensor:
    """Read one picture as ``[1, 3, H, W]`` in ``[0, 1]``.

    With ``size``, the picture is resized (aspect kept) so its longer side is ``size``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("image file does not exist" if not p.exists() else "not a file", p)
    try:
        im = _open_rgb_or_l(p, "RGB")
    except UnidentifiedImageError:
        raise DataError("not an image PIL can read", p) from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot read image: {str(e).splitlines()[0]}", p) from None
    if size is not None:
        if size < 1:
            raise DataError(f"image size must be positive, got {size}", p)
        scale = size / max(im.size)
        new = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        if new != im.size:
            im = im.resize(new, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    return _to_tensor(im).unsqueeze(0)


def to_pil(image: torch.Tensor) -> Image.Image:
    """``[1, C, H, W]``, ``[C, H, W]`` or ``[H, W]`` in ``[0, 1]`` -> 8-bit PIL image (C is 1 or 3)."""
    t = image.detach().float().cpu()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise DataError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise DataError(f"expected an image tensor [C, H, W] with C in (1, 3), got shape {tuple(image.shape)}")
    arr = (t.clamp(0.0, 1.0).numpy().transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Write an image in ``[0, 1]`` (see :func:`to_pil`) to ``path``, atomically; the format follows the suffix."""
    from PIL import Image

    from muse.core.files import atomic_file, check_output_file

    p = Path(path)
    Image.init()
    if p.suffix.lower() not in Image.registered_extensions():
        raise DataError("unknown image file extension (use .png or .jpg)", p)
    check_output_file(p)
    im = to_pil(image)
    with atomic_file(p) as tmp:
        im.save(tmp)
    return p

"""Gatys-style neural style transfer by optimising the image itself.

The image starts as the content picture and is optimised (L-BFGS or Adam) so that its
features match the content picture's at the content layer and the style pictures'
statistics (Gram matrices, or channel mean/std) at the style layers, with a small
total-variation penalty. Features come from VGG19 when local weights exist, otherwise
from a seeded random multi-scale network (see :func:`muse.models.style_nets.feature_net`).

* Coarse to fine (the default): the picture is optimised at half the working size first,
  and each level stops once its loss stops falling (see :func:`stylize`).
* Several styles are blended by averaging their statistics with the given weights.
* ``preserve_colors`` transfers luminance only: the optimisation runs on the luminance
  of content and styles, and the result takes the content's chroma (YUV's U and V).
* Pictures larger than ``size`` are stylised at ``size`` and upscaled; with ``tile`` a
  final full-resolution pass refines overlapping tiles one at a time, so memory stays
  bounded by the tile size whatever the picture's size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from muse.errors import ConfigError, DataError
from muse.image.data import load_image
from muse.models.style_nets import (
    STYLE_LOSSES,
    FeatureNet,
    content_loss,
    feature_net,
    style_loss,
    style_statistics,
    tv_loss,
)

DEFAULT_STEPS = 100
"""Most loss evaluations per coarse-to-fine level."""
DEFAULT_LEVELS = 2
"""Coarse-to-fine levels: half the working size, then the working size."""
DEFAULT_TOL = 5e-3
"""A level stops when its loss fell by less than this (relative) over :data:`PATIENCE` evaluations."""
PATIENCE = 20
MIN_LEVEL_SIDE = 64
"""Coarse levels smaller than this (longer side, pixels) are not used."""

_RGB2YUV = torch.tensor([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]])


def rgb_to_yuv(x: torch.Tensor) -> torch.Tensor:
    """RGB ``[B, 3, H, W]`` in ``[0, 1]`` -> YUV (BT.601)."""
    return torch.einsum("ij,bjhw->bihw", _RGB2YUV.to(x), x)


def yuv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_yuv` (not clamped)."""
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB2YUV).to(x), x)


def _as_image(img: torch.Tensor | str | Path, what: str) -> torch.Tensor:
    if isinstance(img, (str, Path)):
        return load_image(img)
    t = img if img.dim() == 4 else img.unsqueeze(0)
    if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] not in (1, 3):
        raise DataError(f"{what} must be an image [1, 3, H, W] in [0, 1], got shape {tuple(img.shape)}")
    return (t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t).float()


def _resize_long(x: torch.Tensor, long_side: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    scale = long_side / max(h, w)
    if scale == 1.0:
        return x
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1).clamp(0, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    return rgb_to_yuv(x)[:, :1]


def _luminance_only(content: torch.Tensor, styles: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Grey versions of content and styles, each style's luminance matched to the content's mean/std."""
    yc = _grey(content)
    out = []
    for s in styles:
        ys = _grey(s)
        ys = (ys - ys.mean()) / ys.std().clamp_min(1e-6) * yc.std() + yc.mean()
        out.append(ys.clamp(0, 1).expand(-1, 3, -1, -1))
    return yc.expand(-1, 3, -1, -1), out


def _tiles(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


@torch.no_grad()
def _style_stats(net: FeatureNet, image: torch.Tensor, tile: int | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Style statistics of ``image``; with ``tile``, averaged over non-overlapping tiles (bounded memory)."""
    if tile is None or max(image.shape[-2:]) <= tile:
        feats, _ = net.style_and_content(image)
        return [tuple(t[0] for t in style_statistics(f)) for f in feats]  # type: ignore[misc]
    h, w = image.shape[-2:]
    sums: list[list[torch.Tensor]] | None = None
    total: list[float] = []
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            patch = image[..., top:top + tile, left:left + tile]
            if min(patch.shape[-2:]) < 16:
                continue
            feats, _ = net.style_and_content(patch)
            stats = [style_statistics(f) for f in feats]
            npos = [f.shape[-1] * f.shape[-2] for f in feats]
            if sums is None:
                sums = [[g[0] * n, m[0] * n] for (g, m), n in zip(stats, npos)]
                total = [float(n) for n in npos]
            else:
                for i, ((g, m), n) in enumerate(zip(stats, npos)):
                    sums[i][0] += g[0] * n
                    sums[i][1] += m[0] * n
                    total[i] += n
    assert sums is not None
    return [(g / n, m / n) for (g, m), n in zip(sums, total)]


def _blend(stats: list[list[tuple[torch.Tensor, torch.Tensor]]], weights: list[float]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [
        (sum(w * s[i][0] for s, w in zip(stats, weights)), sum(w * s[i][1] for s, w in zip(stats, weights)))  # type: ignore[misc]
        for i in range(len(stats[0]))
    ]


class _Objective:
    """Weighted content + style + TV loss for one image against fixed targets."""

    def __init__(self, net: FeatureNet, content_img: torch.Tensor, targets: list[tuple[torch.Tensor, torch.Tensor]],
                 kind: str, cw: float, sw: float, tw: float):
        self.net, self.targets, self.kind = net, targets, kind
        self.cw, self.sw, self.tw = cw, sw, tw
        with torch.no_grad():
            self.content_t = net.style_and_content(content_img)[1]

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        sf, cf = self.net.style_and_content(x)
        c, s, t = content_loss(cf, self.content_t), style_loss(sf, self.targets, self.kind), tv_loss(x)
        total = self.cw * c + self.sw * s + self.tw * t
        return total, {"loss": total.item(), "content": c.item(), "style": s.item(), "tv": t.item()}


class _Plateau(Exception):
    """Raised from the closure to end an optimisation whose loss stopped falling."""


def _optimise(x0: torch.Tensor, objective: _Objective, steps: int, optimizer: str, lr: float, bar: tqdm,
              history: list[dict], phase: str, tol: float = 0.0,
              patience: int = PATIENCE) -> tuple[torch.Tensor, dict]:
    """Optimise pixels from ``x0`` for at most ``steps`` loss evaluations, recording each in ``history``.

    With ``tol > 0`` it stops early once the best total loss fell by less than ``tol``
    (relative) over the last ``patience`` evaluations, and then returns the best image
    seen; otherwise the last one. Returns the image and the ``history`` entry it stands for.
    """
    x = x0.clone().requires_grad_(True)
    evals = 0
    best: list[float] = []
    best_x = x0.clone()
    best_at = len(history)

    def closure() -> torch.Tensor:
        nonlocal evals, best_at
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        opt.zero_grad()
        loss, parts = objective(x)
        loss.backward()
        evals += 1
        history.append({"phase": phase, "step": evals, **parts})
        bar.update(1)
        bar.set_postfix(style=f"{parts['style']:.3g}", content=f"{parts['content']:.3g}", refresh=False)
        if not best or parts["loss"] < best[-1]:
            best.append(parts["loss"])
            best_x.copy_(x.detach())
            best_at = len(history) - 1
        else:
            best.append(best[-1])
        if tol > 0 and evals > patience and best[-1 - patience] - best[-1] < tol * abs(best[-1]):
            raise _Plateau
        return loss

    try:
        if optimizer == "lbfgs":
            opt = torch.optim.LBFGS([x], lr=1.0, max_iter=steps, max_eval=steps, history_size=50,
                                    tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
            while evals < steps:
                before = evals
                opt.step(closure)
                if evals == before:
                    break
        else:
            opt = torch.optim.Adam([x], lr=lr)
            for _ in range(steps):
                opt.step(closure)
    except _Plateau:
        bar.total -= steps - evals  # the bar ends full when a level stops early
        bar.refresh()
        return best_x.clamp_(0.0, 1.0), history[best_at]
    return x.detach().clamp_(0.0, 1.0), history[-1]


def _level_sides(long_side: int, levels: int) -> list[int]:
    """Longer sides of the coarse-to-fine levels, coarsest first, ending at ``long_side``.

    Each level halves the one above it; levels whose side would fall below
    :data:`MIN_LEVEL_SIDE` are dropped (a small picture is optimised at one scale).
    """
    sides = [long_side]
    while len(sides) < levels and sides[0] // 2 >= MIN_LEVEL_SIDE:
        sides.insert(0, sides[0] // 2)
    return sides


def stylize(
    content: torch.Tensor | str | Path,
    styles: Sequence[torch.Tensor | str | Path],
    weights: Sequence[float] | None = None,
    *,
    size: int = 256,
    steps: int = DEFAULT_STEPS,
    levels: int = DEFAULT_LEVELS,
    tol: float = DEFAULT_TOL,
    optimizer: str = "lbfgs",
    style_weight: float = 5.0,
    content_weight: float = 1.0,
    tv_weight: float = 1.0,
    style_loss: str = "gram",
    preserve_colors: bool = False,
    vgg_weights: str | Path | None = None,
    seed: int = 0,
    tile: int | None = None,
    lr: float = 0.05,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, dict]:
    """Render ``content`` in the style of ``styles``; returns ``(image [1, 3, H, W] in [0, 1], info)``.

    Images are tensors ``[1, 3, H, W]`` in ``[0, 1]`` or file paths. ``weights`` blend the
    styles (normalised to sum 1; default equal). ``size`` bounds the longer side the
    optimisation runs at; larger content is stylised at ``size`` then upscaled, and with
    ``tile`` (pixels) refined at full resolution tile by tile for ``steps // 3`` steps
    per tile. Losses are relative (see :mod:`muse.models.style_nets`), so the default
    weights suit VGG19 and the random network alike. ``vgg_weights``: local VGG19 file,
    ``None`` (hub cache, else random network) or ``"random"``; ``seed`` seeds the random
    network. ``lr`` is Adam's step size (L-BFGS uses line search).

    Coarse to fine: with ``levels`` > 1 the picture is first optimised at 1/2, 1/4, ...
    of the working size (levels below 64 pixels are dropped), each result upsampled to
    start the next level. Every level runs at most ``steps`` loss evaluations and, with
    ``tol`` > 0, stops once its loss fell by less than ``tol`` (relative) over the last
    20 evaluations. ``levels=1, steps=300, tol=0`` is the single-scale schedule that was
    the default before (3-5x the CPU time for the same or a higher style loss; see
    bench/stylize.py).

    ``info`` holds ``network`` (which feature network was used), ``style_loss_start`` /
    ``style_loss_end`` and ``content_loss_end`` (unweighted, at the working size),
    ``history`` (one dict per loss evaluation; ``phase`` names its level or tile),
    ``levels`` (per level: ``side``, ``evaluations``, ``style_loss_end``), ``work_size``
    and ``tiles``.

    Example:
        >>> img, info = stylize("photo.jpg", ["painting.jpg"], size=256)  # doctest: +SKIP
    """
    if optimizer not in ("lbfgs", "adam"):
        raise ConfigError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if style_loss not in STYLE_LOSSES:
        raise ConfigError(f"style_loss must be one of {', '.join(STYLE_LOSSES)}, got {style_loss!r}")
    if not styles:
        raise ConfigError("stylize needs at least one style image")
    if steps < 1 or size < 16:
        raise ConfigError(f"steps must be >= 1 and size >= 16, got steps={steps}, size={size}")
    if levels < 1 or tol < 0:
        raise ConfigError(f"levels must be >= 1 and tol >= 0, got levels={levels}, tol={tol}")
    if tile is not None and tile < 64:
        raise ConfigError(f"tile must be at least 64 pixels, got {tile}")
    if weights is None:
        weights = [1.0] * len(styles)
    if len(weights) != len(styles) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"need one non-negative weight per style ({len(styles)}), not all zero; got {list(weights)}")
    wsum = float(sum(weights))
    weights = [float(w) / wsum for w in weights]
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")

    content_full = _as_image(content, "content").to(dev)
    style_imgs = [_as_image(s, f"style {i}").to(dev) for i, s in enumerate(styles)]
    net, description = feature_net(vgg_weights, seed)
    net = net.to(dev)
    kind = style_loss
    w3 = (content_weight, style_weight, tv_weight)

    work_content_full, work_styles = (
        _luminance_only(content_full, style_imgs) if preserve_colors else (content_full, style_imgs)
    )
    h, w = content_full.shape[-2:]
    downscaled = max(h, w) > size
    work = _resize_long(work_content_full, size) if downscaled else work_content_full
    sides = _level_sides(max(work.shape[-2:]), levels)

    def objective_at(side: int) -> tuple[_Objective, torch.Tensor]:
        here = work if side == sides[-1] else _resize_long(work, side)
        targets = _blend([_style_stats(net, _resize_long(s, side), None) for s in work_styles], weights)
        return _Objective(net, here, targets, kind, *w3), here

    history: list[dict] = []
    n_tiles = 0
    tile_steps = max(1, steps // 3)
    if downscaled and tile is not None:
        n_tiles = len(_tiles(h, tile, tile // 4)) * len(_tiles(w, tile, tile // 4))
    total_steps = steps * len(sides) + n_tiles * tile_steps
    per_level: list[dict] = []
    with tqdm(total=total_steps, desc="stylize", disable=not progress, leave=False) as bar:
        result: torch.Tensor | None = None
        for i, side in enumerate(sides):
            objective, here = objective_at(side)
            if result is None:
                start_image = here
            else:
                start_image = F.interpolate(result, size=tuple(here.shape[-2:]), mode="bicubic",
                                            align_corners=False).clamp_(0, 1)
            phase = "main" if len(sides) == 1 else f"level {i + 1}/{len(sides)} ({side} px)"
            before = len(history)
            result, kept = _optimise(start_image, objective, steps, optimizer, lr, bar, history, phase, tol)
            per_level.append({"side": side, "evaluations": len(history) - before, "style_loss_end": kept["style"]})
        assert result is not None
        with torch.no_grad():
            _, start = objective(work)
            _, end = objective(result)
        per_level[-1]["style_loss_end"] = end["style"]
        if downscaled:
            result = F.interpolate(result, size=(h, w), mode="bicubic", align_corners=False).clamp_(0, 1)
            if tile is not None:
                result = _refine_tiles(net, result, work_content_full, work_styles, weights, kind,
                                       w3, tile, tile_steps, optimizer, lr, bar, history)
    if preserve_colors:
        yuv = rgb_to_yuv(content_full)
        result = yuv_to_rgb(torch.cat([_grey(result), yuv[:, 1:]], 1)).clamp_(0, 1)
    info = {
        "network": description,
        "style_loss_start": start["style"],
        "style_loss_end": end["style"],
        "content_loss_end": end["content"],
        "history": history,
        "levels": per_level,
        "work_size": tuple(work.shape[-2:]),
        "tiles": n_tiles,
        "optimizer": optimizer,
        "steps": steps,
    }
    return result.cpu(), info


def _refine_tiles(net: FeatureNet, image: torch.Tensor, content: torch.Tensor, styles: list[torch.Tensor],
                  weights: list[float], kind: str, w3: tuple[float, float, float], tile: int, steps: int,
                  optimizer: str, lr: float, bar: tqdm, history: list[dict]) -> torch.Tensor:
    """Full-resolution pass: optimise overlapping tiles in turn, blending each into the canvas."""
    h, w = image.shape[-2:]
    overlap = tile // 4
    long_side = max(h, w)
    targets = _blend([_style_stats(net, _resize_long(s, long_side), tile) for s in styles], weights)
    canvas = image.clone()
    ramp = torch.linspace(0.0, 1.0, overlap + 2, device=image.device)[1:-1]
    for top in _tiles(h, tile, overlap):
        for left in _tiles(w, tile, overlap):
            th, tw = min(tile, h), min(tile, w)
            region = (slice(None), slice(None), slice(top, top + th), slice(left, left + tw))
            objective = _Objective(net, content[region], targets, kind, *w3)
            new, _ = _optimise(canvas[region], objective, steps, optimizer, lr, bar, history, f"tile {top},{left}")
            # feather only the edges that border tiles already written (above / to the left)
            mask = torch.ones(th, tw, device=image.device)
            if top > 0:
                mask[:overlap] *= ramp.view(-1, 1)
            if left > 0:
                mask[:, :overlap] *= ramp.view(1, -1)
            canvas[region] = canvas[region] * (1 - mask) + new * mask
    return canvas

"""DCGAN (Radford et al. 2016) for square images of 16, 32, 64 or 128 pixels.

The generator maps ``z ~ N(0, I)`` of size ``nz`` to a 4x4 map and doubles it
``log2(size / 4)`` times with strided transposed convolutions (batchnorm + ReLU,
tanh output in ``[-1, 1]``); the discriminator mirrors it with strided convolutions
(LeakyReLU 0.2, batchnorm after the first layer, or spectral norm instead of
batchnorm when ``spectral_norm=True``) down to one logit.

Training uses two optimiser groups, ``"d"`` then ``"g"`` (see :meth:`DCGAN.param_groups`),
each with its own learning rate when ``lr_d`` / ``lr_g`` are set (two time-scale update
rule, Heusel et al. 2017; see :meth:`DCGAN.configure_optimizers`).
Noise for training is drawn from torch's global RNG so a resumed run that restores the
RNG state continues exactly.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from muse.core.module import Batch, StepContext
from muse.errors import ConfigError, DataError
from muse.models.latent import slerp
from muse.models.registry import register

VALID_SIZES = (16, 32, 64, 128)
LOSSES = ("bce", "hinge")


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batchnorm weights ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """``z [B, nz]`` -> images ``[B, channels, size, size]`` in ``[-1, 1]``."""

    def __init__(self, image_size: int, channels: int, nz: int, ngf: int):
        super().__init__()
        stages = int(math.log2(image_size // 4))
        width = ngf * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.nz = nz

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], self.nz, 1, 1))


class Discriminator(nn.Module):
    """Images ``[B, channels, size, size]`` -> one logit per image ``[B]``."""

    def __init__(self, image_size: int, channels: int, ndf: int, spectral_norm: bool):
        super().__init__()
        stages = int(math.log2(image_size // 4))
        width = ndf
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=spectral_norm), nn.LeakyReLU(0.2, True)]
        for _ in range(stages - 1):
            layers.append(nn.Conv2d(width, width * 2, 4, 2, 1, bias=spectral_norm))
            if not spectral_norm:
                layers.append(nn.BatchNorm2d(width * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0, bias=spectral_norm))
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)
        if spectral_norm:
            for i, m in enumerate(self.net):
                if isinstance(m, nn.Conv2d):
                    self.net[i] = nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Build the graph without gradients for ``module``'s parameters (they stay trainable afterwards)."""
    saved = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in saved:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


@register("dcgan")
class DCGAN(nn.Module):
    """Deep convolutional GAN with BCE (non-saturating) or hinge losses."""

    @dataclass
    class Config:
        image_size: int = 32
        channels: int = 1
        nz: int = 100
        ngf: int = 64
        ndf: int = 64
        loss: str = "bce"
        spectral_norm: bool = False
        lr_d: float | None = None
        """Discriminator learning rate (None: ``train.lr``). TTUR uses e.g. lr_d=4e-4, lr_g=1e-4."""
        lr_g: float | None = None
        """Generator learning rate (None: ``train.lr``)."""

    def __init__(self, config: "DCGAN.Config | None" = None):
        super().__init__()
        cfg = config or self.Config()
        if cfg.image_size not in VALID_SIZES:
            raise ConfigError(
                f"dcgan image_size {cfg.image_size} is not supported; valid sizes: {', '.join(map(str, VALID_SIZES))}"
            )
        if cfg.loss not in LOSSES:
            raise ConfigError(f"dcgan loss {cfg.loss!r} is not supported; valid losses: {', '.join(LOSSES)}")
        if cfg.channels < 1 or cfg.nz < 1 or cfg.ngf < 1 or cfg.ndf < 1:
            raise ConfigError("dcgan channels, nz, ngf and ndf must be positive")
        for name in ("lr_d", "lr_g"):
            lr = getattr(cfg, name)
            if lr is not None and not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0):
                raise ConfigError(f"dcgan {name} must be a positive number or None, got {lr!r}")
        self.config = cfg
        self.generator = Generator(cfg.image_size, cfg.channels, cfg.nz, cfg.ngf)
        init_dcgan_weights(self.generator)
        self.discriminator = Discriminator(cfg.image_size, cfg.channels, cfg.ndf, cfg.spectral_norm)

    # -- training ---------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Discriminator first, then generator: the order in which they are stepped."""
        return {"d": list(self.discriminator.parameters()), "g": list(self.generator.parameters())}

    def configure_optimizers(self, train_cfg: object) -> dict[str, dict[str, float]]:
        """Per-group AdamW settings for the core: ``lr_d`` / ``lr_g`` where set (else ``train.lr``)."""
        c = self.config
        return {"d": {} if c.lr_d is None else {"lr": float(c.lr_d)},
                "g": {} if c.lr_g is None else {"lr": float(c.lr_g)}}

    def _noise(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randn(n, self.config.nz, device=device)

    def _check(self, images: torch.Tensor) -> None:
        c, s = self.config.channels, self.config.image_size
        if images.dim() != 4 or tuple(images.shape[1:]) != (c, s, s):
            raise DataError(
                f"dcgan expects images [B, {c}, {s}, {s}] but got {list(images.shape)}; "
                f"set image_size/channels to match the data"
            )

    def d_loss(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """Discriminator loss on real images vs. generator samples (generator not differentiated)."""
        with torch.no_grad():
            fake = self.generator(self._noise(real.shape[0], real.device))
        d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        if self.config.loss == "bce":
            loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            real_score, fake_score = torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()
        else:
            loss = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
            real_score, fake_score = d_real.mean(), d_fake.mean()
        return {"loss": loss, "d_real": real_score.detach(), "d_fake": fake_score.detach()}

    def g_loss(self, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
        """Generator loss: non-saturating ``-log D(G(z))`` (bce) or ``-D(G(z))`` (hinge)."""
        fake = self.generator(self._noise(batch_size, device))
        with _frozen(self.discriminator):
            out = self.discriminator(fake)
        loss = F.softplus(-out).mean() if self.config.loss == "bce" else -out.mean()
        return {"loss": loss}

    def loss(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Loss for ``ctx.group``: ``"d"`` (discriminator) or ``"g"`` (generator).

        Any other group (e.g. ``"main"`` during evaluation) returns both losses,
        ``loss = d_loss + g_loss``.
        For the bce loss ``d_real``/``d_fake`` are mean probabilities D(x), D(G(z));
        for hinge they are mean raw scores.
        """
        real = batch["image"]
        self._check(real)
        if ctx.group == "d":
            return self.d_loss(real)
        if ctx.group == "g":
            return self.g_loss(real.shape[0], real.device)
        if ctx.training:
            raise ConfigError(f"dcgan trains parameter groups 'd' and 'g', not {ctx.group!r}")
        d = self.d_loss(real)
        g = self.g_loss(real.shape[0], real.device)
        return {"loss": d["loss"] + g["loss"], "d_loss": d["loss"], "g_loss": g["loss"],
                "d_real": d["d_real"], "d_fake": d["d_fake"]}

    # -- generation -------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @torch.no_grad()
    def sample(self, n: int, *, z: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images ``[n, C, size, size]`` in ``[-1, 1]`` (generator in eval mode).

        ``z`` (``[n, nz]``) fixes the latents; otherwise they are drawn from ``generator``
        (a ``torch.Generator`` on the CPU) or torch's global RNG.
        """
        if z is None:
            z = torch.randn(n, self.config.nz, generator=generator)
        z = z.reshape(-1, self.config.nz).to(self.device)
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(z)
        finally:
            self.generator.train(was_training)

    @torch.no_grad()
    def interpolate(self, z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
        """Images along the slerp path from ``z0`` to ``z1`` (both ends included): ``[steps, C, H, W]``."""
        if steps < 2:
            raise ConfigError(f"interpolate needs steps >= 2, got {steps}")
        zs = slerp(z0.cpu().reshape(-1).float(), z1.cpu().reshape(-1).float(), torch.linspace(0.0, 1.0, steps))
        return self.sample(steps, z=zs)


# --------------------------------------------------------------------------- judging digits
def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image of ``x [B, C, H, W]`` by up to ``max_shift`` pixels (background -1 fills in).

    Offsets come from ``generator`` or torch's global RNG (which the core seeds and checkpoints).
    """
    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4, value=-1.0)
    offs = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator).to(x.device)
    rows = (offs[:, 0, None] + torch.arange(h, device=x.device))[:, :, None]  # [B, H, 1]
    cols = (offs[:, 1, None] + torch.arange(w, device=x.device))[:, None, :]  # [B, 1, W]
    idx = torch.arange(b, device=x.device)[:, None, None]
    return pad.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2).contiguous()


@register("digit_classifier")
class DigitClassifier(nn.Module):
    """A small CNN that tells the ten digits apart; it judges generated digits (FD, class coverage).

    Area-resize to 16x16, two conv blocks, a ``hidden``-unit layer, 10 logits. Inputs are
    ``[B, 1, H, W]`` (or RGB, averaged to grey) in ``[-1, 1]``; they are first resized to
    ``size`` (the resolution it was trained at). Batches for :meth:`loss` hold
    ``{"image", "label"}``; in training, images are shifted by up to ``max_shift`` pixels
    (default ``max(1, round(size / 16))``).
    """

    @dataclass
    class Config:
        size: int = 32
        hidden: int = 64
        max_shift: int | None = None

    def __init__(self, config: "DigitClassifier.Config | None" = None):
        super().__init__()
        cfg = config or self.Config()
        if cfg.size < 4 or cfg.hidden < 1:
            raise ConfigError(f"digit_classifier needs size >= 4 and hidden >= 1, got {cfg.size} and {cfg.hidden}")
        self.config = cfg
        self.size = cfg.size
        self.conv = nn.Sequential(
            nn.AdaptiveAvgPool2d(16),
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, cfg.hidden), nn.ReLU())
        self.head = nn.Linear(cfg.hidden, 10)
        self.heldout_accuracy: float | None = None

    @property
    def max_shift(self) -> int:
        s = self.config.max_shift
        return max(1, round(self.size / 16)) if s is None else int(s)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise DataError(f"digit classifier expects images [B, 1, H, W], got shape {tuple(x.shape)}")
        if x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x.to(next(self.parameters()).device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``[B, hidden]``."""
        return self.hidden(self.conv(self._prepare(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def loss(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Cross-entropy of the labels (``"loss"``) and accuracy (``"acc"``)."""
        x, y = self._prepare(batch["image"]), batch["label"]
        if ctx.training:
            x = random_shift(x, self.max_shift)
        logits = self(x)
        return {"loss": F.cross_entropy(logits, y), "acc": (logits.argmax(1) == y).float().mean().detach()}

"""Networks for neural style transfer.

* :class:`TransformerNet` — Johnson et al.'s feed-forward stylisation network.
* Feature networks that measure style and content, both taking images in ``[0, 1]``
  and returning a list of feature maps (``style_layers`` / ``content_layer`` say which
  entries are which):

  - :class:`VGG19Features` — VGG19's convolutional layers, loaded from a local
    torchvision-format weight file (ImageNet weights are never downloaded);
  - :class:`RandomFeatureNet` — a seeded random multi-scale network, used when no VGG
    weights are available. Random-weight networks transfer textures and style well
    when their features are normalised per layer (Ustyuzhaninov et al. 2016; He, Wang
    & Hopcroft 2016).

* Style/content losses shared by the image optimisation of ``muse stylize`` and
  :class:`FastStyle`. They are *relative*: each layer's error is divided by the size of
  its target, so the same weights work for VGG and for the random network and no layer
  dominates by scale.
* :class:`FastStyle` — a trainable model (registered as ``"fast_style"``) that learns a
  :class:`TransformerNet` for one style.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from muse.core.module import Batch, StepContext
from muse.errors import CheckpointError, ConfigError, DataError
from muse.models.registry import register

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STYLE_LOSSES = ("gram", "meanstd")
RANDOM_WIDTHS = (32, 64, 128, 256, 256)
RANDOM_KERNELS = (3, 5, 7)


# --------------------------------------------------------------------------- transformer
def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride))


class _Residual(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(True),
            _conv(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """Image -> stylised image of the same size (Johnson et al. 2016).

    Three convolutions (9x9 stride 1, then two 3x3 stride 2) with instance norm, ``n_res``
    residual blocks at 1/4 resolution, then two nearest-neighbour upsamplings each
    followed by a convolution (no transposed convolutions, so no checkerboard
    artefacts), and a 9x9 output convolution. All convolutions pad by reflection.
    Widths are ``width``, ``2*width``, ``4*width``. Inputs and outputs are RGB in
    ``[0, 1]``; a scaled tanh bounds the output (as in Johnson et al.), which keeps
    Gram-matrix losses from exploding early in training. Any size >= 8 pixels works.
    """

    def __init__(self, width: int = 32, n_res: int = 5, channels: int = 3):
        super().__init__()
        w = width
        self.down = nn.ModuleList([
            nn.Sequential(_conv(channels, w, 9), nn.InstanceNorm2d(w, affine=True), nn.ReLU(True)),
            nn.Sequential(_conv(w, 2 * w, 3, 2), nn.InstanceNorm2d(2 * w, affine=True), nn.ReLU(True)),
            nn.Sequential(_conv(2 * w, 4 * w, 3, 2), nn.InstanceNorm2d(4 * w, affine=True), nn.ReLU(True)),
        ])
        self.res = nn.Sequential(*[_Residual(4 * w) for _ in range(n_res)])
        self.up = nn.ModuleList([
            nn.Sequential(_conv(4 * w, 2 * w, 3), nn.InstanceNorm2d(2 * w, affine=True), nn.ReLU(True)),
            nn.Sequential(_conv(2 * w, w, 3), nn.InstanceNorm2d(w, affine=True), nn.ReLU(True)),
        ])
        self.out = _conv(w, channels, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 8:
            raise DataError(f"TransformerNet needs images of at least 8x8 pixels, got {tuple(x.shape[-2:])}")
        sizes = []
        h = x
        for layer in self.down:
            sizes.append(h.shape[-2:])
            h = layer(h)
        h = self.res(h)
        # upsample to the exact sizes seen on the way down, so odd sizes round-trip
        h = self.up[0](F.interpolate(h, size=tuple(sizes[2]), mode="nearest"))
        h = self.up[1](F.interpolate(h, size=tuple(sizes[1]), mode="nearest"))
        return 0.5 * (torch.tanh(self.out(h)) + 1.0)


# --------------------------------------------------------------------------- feature nets
class FeatureNet(nn.Module):
    """Common interface: ``forward(x in [0, 1]) -> list of feature maps``."""

    layer_names: tuple[str, ...]
    style_layers: tuple[int, ...]
    """Indices (into the returned list) of the layers that measure style."""
    content_layer: int
    """Index of the layer that measures content."""
    channels: tuple[int, ...]
    """Channels of each returned map."""

    def style_and_content(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats = self(x)
        return [feats[i] for i in self.style_layers], feats[self.content_layer]

    @property
    def style_channels(self) -> tuple[int, ...]:
        return tuple(self.channels[i] for i in self.style_layers)


def _imagenet_normalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)
VGG19_OUTPUTS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")


class VGG19Features(FeatureNet):
    """VGG19's ``features`` block with torchvision's parameter names (``features.N.weight``).

    Returns ``[relu1_1, relu2_1, relu3_1, relu4_1, relu4_2, relu5_1]``; style layers are
    relu1_1..relu5_1, content is relu4_2 (Gatys et al.). Inputs in ``[0, 1]`` are
    normalised with ImageNet mean/std. ``pool="avg"`` replaces max pooling with average
    pooling (smoother gradients for image optimisation, as Gatys et al. suggest).
    Built directly it has random weights; use :meth:`from_weights` for ImageNet ones.
    """

    layer_names = VGG19_OUTPUTS
    style_layers = (0, 1, 2, 3, 5)
    content_layer = 4
    channels = (64, 128, 256, 512, 512, 512)

    def __init__(self, pool: str = "avg"):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ConfigError(f"pool must be 'avg' or 'max', got {pool!r}")
        layers: list[nn.Module] = []
        names: dict[int, str] = {}
        cin, block, conv = 3, 1, 1
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2))
                block, conv = block + 1, 1
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                names[len(layers) - 1] = f"relu{block}_{conv}"
                cin, conv = int(v), conv + 1
        self.features = nn.Sequential(*layers)
        wanted = {name: i for i, name in names.items()}
        self._taps = [wanted[n] for n in VGG19_OUTPUTS]

    @classmethod
    def from_weights(cls, path: str | Path, pool: str = "avg") -> "VGG19Features":
        """Load a torchvision VGG19 state dict (e.g. ``vgg19-dcbb9e9d.pth``) from a local file.

        Only ``features.*`` entries are used; classifier weights are ignored.
        """
        p = Path(path).expanduser()
        if not p.is_file():
            raise CheckpointError("VGG19 weight file not found", p)
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle/zip errors come in many types
            raise CheckpointError(f"cannot read VGG19 weights ({type(e).__name__}: {str(e).splitlines()[0][:120]})", p) from None
        if not isinstance(state, dict):
            raise CheckpointError("expected a state dict of tensors (torchvision format)", p)
        net = cls(pool=pool)
        own = net.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise CheckpointError(f"not a torchvision VGG19 state dict: missing {missing[0]} (and {len(missing) - 1} more)", p)
        for k, v in own.items():
            if tuple(state[k].shape) != tuple(v.shape):
                raise CheckpointError(f"{k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)} (not VGG19?)", p)
        net.load_state_dict({k: state[k] for k in own})
        return net.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = _imagenet_normalise(x)
        out: list[torch.Tensor] = []
        last = self._taps[-1]
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._taps:
                out.append(h)
            if i == last:
                break
        return out


def _pink_noise(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` RGB images with a 1/f amplitude spectrum (natural-image-like), in ``[0, 1]``."""
    white = torch.randn(n, 3, size, size, generator=gen)
    fy = torch.fft.fftfreq(size).view(-1, 1)
    fx = torch.fft.rfftfreq(size).view(1, -1)
    amp = 1.0 / torch.sqrt(fx ** 2 + fy ** 2).clamp_min(1.0 / size)
    img = torch.fft.irfft2(torch.fft.rfft2(white) * amp, s=(size, size))
    lo = img.amin(dim=(2, 3), keepdim=True)
    hi = img.amax(dim=(2, 3), keepdim=True)
    return (img - lo) / (hi - lo)


def _pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Reflection padding (edge replication where the map is too small to reflect)."""
    if p == 0:
        return x
    return F.pad(x, (p, p, p, p), mode="reflect" if min(x.shape[-2:]) > p else "replicate")


class RandomFeatureNet(FeatureNet):
    """A seeded random multi-scale convolutional feature extractor.

    Stage ``i`` (average-pooled by 2 before every stage but the first) convolves with
    several kernel sizes in parallel (``kernel_sizes``; ``widths[i]`` channels split
    between them; reflection padding) and applies ReLU. Weights are He-normal; kernels of 5 pixels or more
    are then low-passed with a 3x3 binomial filter (and rescaled to their former
    spread) so that image gradients are smooth rather than pixel noise.

    Per-layer normalisation: each stage's output is divided by one number, its
    root-mean-square measured once at construction on a seeded batch of 1/f ("pink")
    noise images, which share natural images' power spectrum. Every stage therefore
    emits features of unit scale, whatever its depth and width; the normalised maps
    feed the next stage and are returned. (A single scale per layer, not per channel,
    keeps the channels' relative strengths: amplifying weak high-frequency channels
    makes optimised images noisy.)

    Weights come from ``torch.Generator().manual_seed(seed)``: the same seed gives the
    same network on every machine. All stages measure style; ``content_layer``
    (default: the fourth, or the last if fewer) measures content. Inputs in ``[0, 1]``, ImageNet-normalised.
    Receptive fields grow from ``max(kernel_sizes)`` to about 190 pixels at stage five.
    """

    def __init__(
        self,
        seed: int = 0,
        widths: Sequence[int] = RANDOM_WIDTHS,
        kernel_sizes: Sequence[int] = RANDOM_KERNELS,
        content_layer: int | None = None,
        calibration: tuple[int, int] = (4, 128),
    ):
        super().__init__()
        if not widths or any(w < len(kernel_sizes) for w in widths):
            raise ConfigError(f"each width must be at least the number of kernel sizes ({len(kernel_sizes)}), got {tuple(widths)}")
        if any(k % 2 == 0 or k < 1 for k in kernel_sizes):
            raise ConfigError(f"kernel sizes must be odd and positive, got {tuple(kernel_sizes)}")
        if content_layer is None:
            content_layer = min(3, len(widths) - 1)
        if not 0 <= content_layer < len(widths):
            raise ConfigError(f"content_layer must be in 0..{len(widths) - 1}, got {content_layer}")
        self.seed = seed
        self.channels = tuple(int(w) for w in widths)
        self.layer_names = tuple(f"stage{i + 1}" for i in range(len(widths)))
        self.style_layers = tuple(range(len(widths)))
        self.content_layer = content_layer
        gen = torch.Generator().manual_seed(seed)
        binomial = torch.tensor([1.0, 2.0, 1.0])
        blur = (binomial[:, None] * binomial[None, :] / 16.0).view(1, 1, 3, 3)
        self.stages = nn.ModuleList()
        cin = 3
        for i, w in enumerate(self.channels):
            split = [w // len(kernel_sizes)] * len(kernel_sizes)
            split[0] += w - sum(split)
            branches = nn.ModuleList()
            for k, cout in zip(kernel_sizes, split):
                conv = nn.Conv2d(cin, cout, k, bias=False)
                with torch.no_grad():
                    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=gen)
                    if k >= 5:
                        flat = conv.weight.reshape(-1, 1, k, k)
                        smooth = F.conv2d(F.pad(flat, (1, 1, 1, 1), mode="replicate"), blur)
                        conv.weight.copy_((smooth * (flat.std() / smooth.std())).reshape_as(conv.weight))
                branches.append(conv)
            self.stages.append(branches)
            self.register_buffer(f"scale{i}", torch.ones(()))
            cin = w
        self.requires_grad_(False)
        self._calibrate(_pink_noise(calibration[0], calibration[1], gen))
        self.eval()

    @torch.no_grad()
    def _calibrate(self, images: torch.Tensor) -> None:
        # Every operation is positively homogeneous (bias-free convs, ReLU, average
        # pooling), so scaling stage i's output by s_i scales all later stages by s_i
        # too: one unnormalised pass with RMS r_i gives s_0 = 1/r_0, s_i = r_(i-1)/r_i.
        rms = [f.square().mean().sqrt().clamp_min(1e-12) for f in self(images)]
        for i, r in enumerate(rms):
            getattr(self, f"scale{i}").fill_((rms[i - 1] if i else 1.0) / r)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = _imagenet_normalise(x)
        out: list[torch.Tensor] = []
        for i, branches in enumerate(self.stages):
            if i > 0:
                h = F.avg_pool2d(h, 2) if min(h.shape[-2:]) >= 2 else h
            h = torch.relu(torch.cat([b(_pad(h, b.kernel_size[0] // 2)) for b in branches], 1)) * getattr(self, f"scale{i}")
            out.append(h)
        return out


_RANDOM_NETS: dict[int, RandomFeatureNet] = {}


def random_feature_net(seed: int = 0) -> RandomFeatureNet:
    """A fresh copy of the default :class:`RandomFeatureNet` for ``seed`` (built once per process)."""
    if seed not in _RANDOM_NETS:  # construction calibrates on noise images: do it once
        _RANDOM_NETS[seed] = RandomFeatureNet(seed=seed)
    return copy.deepcopy(_RANDOM_NETS[seed])


def vgg19_cache_file() -> Path | None:
    """A torchvision VGG19 file in the torch hub cache (``<hub>/checkpoints/vgg19-*.pth``), if any."""
    found = sorted((Path(torch.hub.get_dir()) / "checkpoints").glob("vgg19-*.pth"))
    return found[0] if found else None


def feature_net(vgg_weights: str | Path | None = None, seed: int = 0) -> tuple[FeatureNet, str]:
    """The network that measures style and content, and a sentence saying which it is.

    ``vgg_weights``: a local torchvision VGG19 ``.pth`` file (an error naming it if it is
    missing or unreadable); ``None`` looks in the torch hub cache and falls back to a
    :class:`RandomFeatureNet` with ``seed``; ``"random"`` always uses the random network.
    Nothing is downloaded. The network is in eval mode with gradients off.
    """
    if vgg_weights is not None and str(vgg_weights) != "random":
        return VGG19Features.from_weights(vgg_weights), f"VGG19 with ImageNet weights from {vgg_weights}"
    if vgg_weights is None:
        cached = vgg19_cache_file()
        if cached is not None:
            try:
                return VGG19Features.from_weights(cached), f"VGG19 with ImageNet weights from {cached}"
            except CheckpointError as e:
                warnings.warn(f"ignoring unusable cached VGG19 weights: {e}", stacklevel=2)
    net = random_feature_net(seed)
    how = "" if vgg_weights == "random" else (
        f"; no VGG19 weights found (pass vgg_weights=PATH or put vgg19-*.pth in {Path(torch.hub.get_dir()) / 'checkpoints'})"
    )
    return net, f"random multi-scale network (seed {seed}, per-layer normalised features){how}"


# --------------------------------------------------------------------------- losses
def style_statistics(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gram matrix ``E[f f^T]`` over positions ``[B, C, C]`` and channel means ``[B, C]``."""
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w), flat.mean(-1)


def style_distance(f: torch.Tensor, gram_t: torch.Tensor, mean_t: torch.Tensor, kind: str = "gram") -> torch.Tensor:
    """Relative style error of feature maps ``f`` against target statistics, per image ``[B]``.

    ``"gram"``: ``|G - G_t|^2 / |G_t|^2``. ``"meanstd"`` (AdaIN-style): squared error of
    channel means and standard deviations over their target norm; the target std is
    derived from the Gram diagonal and the mean.
    """
    gram, mean = style_statistics(f)
    if kind == "gram":
        return ((gram - gram_t) ** 2).sum((1, 2)) / (gram_t ** 2).sum().clamp_min(1e-12)
    if kind == "meanstd":
        var = (torch.diagonal(gram, dim1=1, dim2=2) - mean ** 2).clamp_min(1e-8)
        std_t = (torch.diagonal(gram_t) - mean_t ** 2).clamp_min(1e-8).sqrt()
        err = ((mean - mean_t) ** 2).sum(1) + ((var.sqrt() - std_t) ** 2).sum(1)
        return err / ((mean_t ** 2).sum() + (std_t ** 2).sum()).clamp_min(1e-12)
    raise ConfigError(f"style_loss must be one of {', '.join(STYLE_LOSSES)}, got {kind!r}")


def style_loss(
    feats: Sequence[torch.Tensor], targets: Sequence[tuple[torch.Tensor, torch.Tensor]], kind: str = "gram"
) -> torch.Tensor:
    """Mean over layers of :func:`style_distance`, averaged over the batch (a scalar)."""
    return torch.stack([style_distance(f, g, m, kind).mean() for f, (g, m) in zip(feats, targets)]).mean()


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative content error ``|f - t|^2 / |t|^2`` per image, averaged over the batch."""
    dims = tuple(range(1, f.dim()))
    return (((f - target) ** 2).sum(dims) / (target ** 2).sum(dims).clamp_min(1e-12)).mean()


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference between neighbouring pixels."""
    return ((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean() + ((x[..., :, 1:] - x[..., :, :-1]) ** 2).mean()


# --------------------------------------------------------------------------- fast style
FEATURE_NETS = ("vgg19", "random")
"""The names a fast-style model saves as ``feature_net``."""


def _feature_channels(spec: str) -> tuple[int, ...]:
    """Style-layer channels of the network a resolved ``feature_net`` name names."""
    if spec == "random":
        return RANDOM_WIDTHS
    return tuple(VGG19Features.channels[i] for i in VGG19Features.style_layers)


@register("fast_style")
class FastStyle(nn.Module):
    """Feed-forward style transfer: a :class:`TransformerNet` trained for one style.

    Batches hold content images ``{"image": [B, C, H, W] in [-1, 1]}`` (grey images are
    repeated to RGB). The loss renders them and compares, through a frozen feature
    network, content with the input and style statistics with the style targets, plus
    total variation. The feature network is not part of the module (not trained, not
    checkpointed); the style targets are buffers, so a checkpoint carries the style.

    ``feature_net`` names the network, never a file: ``"vgg19"`` (ImageNet VGG19 weights,
    looked up when the network is first needed: the file given at run time with
    :meth:`use_vgg_weights`, else ``vgg19-*.pth`` in the torch hub cache), ``"random"``
    (:class:`RandomFeatureNet` with ``feature_seed``) or ``"auto"`` (``"vgg19"`` when the
    hub cache holds VGG19 weights, else ``"random"``). ``"auto"`` is resolved at
    construction and the name is what ``config`` (and so a checkpoint or model directory)
    keeps, so a saved model works on any machine. A path given as ``feature_net`` (as
    older models saved) means ``"vgg19"`` with that file as the run-time weights.
    Rendering (:meth:`render`) never needs the feature network, only training does.
    """

    @dataclass
    class Config:
        content_weight: float = 1.0
        style_weight: float = 5.0
        tv_weight: float = 1.0
        width: int = 32
        n_res: int = 5
        style_loss: str = "gram"
        feature_net: str = "auto"
        feature_seed: int = 0
        style_size: int = 256
        """Longer side the style picture is resized to before measuring its statistics."""

    def __init__(self, config: "FastStyle.Config | None" = None):
        super().__init__()
        cfg = config or self.Config()
        if cfg.style_loss not in STYLE_LOSSES:
            raise ConfigError(f"fast_style style_loss must be one of {', '.join(STYLE_LOSSES)}, got {cfg.style_loss!r}")
        spec, weights = str(cfg.feature_net), None
        if spec == "auto":
            spec = "vgg19" if vgg19_cache_file() is not None else "random"
        elif spec not in FEATURE_NETS:
            if not spec or not (spec.endswith((".pth", ".pt")) or "/" in spec or "\\" in spec):
                raise ConfigError(f"fast_style feature_net must be auto, vgg19 or random, got {spec!r}")
            spec, weights = "vgg19", Path(spec).expanduser()
        self.config = replace(cfg, feature_net=spec)
        self.vgg_weights: Path | None = weights
        """VGG19 weight file for this process (never saved); None: the torch hub cache."""
        self.transformer = TransformerNet(cfg.width, cfg.n_res)
        for i, c in enumerate(_feature_channels(spec)):
            self.register_buffer(f"style_gram{i}", torch.zeros(c, c))
            self.register_buffer(f"style_mean{i}", torch.zeros(c))
        self.register_buffer("has_style", torch.tensor(False))
        self._net: list[FeatureNet] = []  # kept out of the module tree: frozen, not saved

    @classmethod
    def from_style_image(cls, style: torch.Tensor, **cfg) -> "FastStyle":
        """Build a model for ``style`` (``[1, 3, H, W]`` or ``[3, H, W]`` in ``[0, 1]``)."""
        model = cls(cls.Config(**cfg))
        model.set_style(style)
        return model

    def use_vgg_weights(self, path: str | Path | None) -> None:
        """Measure with the VGG19 weights in ``path`` (this process only: not part of the config)."""
        if path is not None and self.config.feature_net != "vgg19":
            raise ConfigError(f"fast_style uses the {self.config.feature_net!r} feature network, not VGG19 weights")
        self.vgg_weights = None if path is None else Path(path).expanduser()
        self._net.clear()

    def _vgg_file(self) -> Path:
        if self.vgg_weights is not None:
            return self.vgg_weights
        cached = vgg19_cache_file()
        if cached is None:
            hub = Path(torch.hub.get_dir()) / "checkpoints"
            raise ConfigError(f"fast_style measures style with VGG19 but no VGG19 weights were found: put vgg19-*.pth "
                              f"in {hub} or give the file (data.vgg_weights=PATH)")
        return cached

    def features(self) -> FeatureNet:
        """The frozen feature network (built on first use, on this model's device)."""
        device = self.has_style.device
        if not self._net:
            spec = self.config.feature_net
            net = (random_feature_net(self.config.feature_seed) if spec == "random"
                   else VGG19Features.from_weights(self._vgg_file()))
            self._net.append(net)
        net = self._net[0]
        if next(net.parameters()).device != device:
            net.to(device)
        return net

    @torch.no_grad()
    def set_style(self, style: torch.Tensor) -> None:
        """Measure the style image's statistics and store them as the training target."""
        if style.dim() == 3:
            style = style.unsqueeze(0)
        if style.dim() != 4 or style.shape[:2] != (1, 3):
            raise DataError(f"style image must be [1, 3, H, W] in [0, 1], got shape {tuple(style.shape)}")
        feats, _ = self.features().style_and_content(style.to(self.has_style.device).float())
        for i, f in enumerate(feats):
            gram, mean = style_statistics(f)
            getattr(self, f"style_gram{i}").copy_(gram[0])
            getattr(self, f"style_mean{i}").copy_(mean[0])
        self.has_style.fill_(True)

    def style_targets(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        n = len(_feature_channels(self.config.feature_net))
        return [(getattr(self, f"style_gram{i}"), getattr(self, f"style_mean{i}")) for i in range(n)]

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"main": list(self.transformer.parameters())}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stylise images ``[B, 3, H, W]`` in ``[0, 1]``; outputs are in ``[0, 1]`` too."""
        return self.transformer(x)

    @torch.no_grad()
    def render(self, image: torch.Tensor) -> torch.Tensor:
        """Stylise ``[B, 3, H, W]`` (or ``[3, H, W]``) images in ``[0, 1]`` without gradients, in eval mode."""
        squeeze = image.dim() == 3
        x = image.unsqueeze(0) if squeeze else image
        was = self.training
        self.eval()
        try:
            y = self(x.to(self.has_style.device))
        finally:
            self.train(was)
        return y[0] if squeeze else y

    def loss(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if not bool(self.has_style):
            raise ConfigError("fast_style has no style target: call set_style(image) or use FastStyle.from_style_image")
        x = batch["image"]
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise DataError(f"fast_style expects images [B, 3, H, W] (or 1 channel), got {list(x.shape)}")
        x = ((x + 1.0) * 0.5).clamp(0.0, 1.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        net = self.features()
        y = self.transformer(x)
        with torch.no_grad():
            _, content_t = net.style_and_content(x)
        style_f, content_f = net.style_and_content(y)
        c = content_loss(content_f, content_t)
        s = style_loss(style_f, self.style_targets(), self.config.style_loss)
        tv = tv_loss(y)
        cfg = self.config
        total = cfg.content_weight * c + cfg.style_weight * s + cfg.tv_weight * tv
        return {"loss": total, "content": c.detach(), "style": s.detach(), "tv": tv.detach()}

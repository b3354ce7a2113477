"""Offline image-quality metrics for generated digits and a mode-collapse check.

FID needs Inception weights, which cannot be downloaded here; instead a small CNN is
trained on scikit-learn's bundled digits in a few seconds and its penultimate-layer
features stand in for Inception's (:func:`digit_fid`). Its predictions also give
class coverage: a generator that only draws some digits is caught even when its
samples look sharp.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muse.errors import CheckpointError, DataError


class DigitClassifier(nn.Module):
    """Area-resize to 16x16, two conv blocks, a 64-unit hidden layer, 10 logits.

    Inputs are ``[B, 1, H, W]`` in ``[-1, 1]``; they are first resized to ``size``
    (the resolution it was trained at).
    """

    def __init__(self, size: int = 32, hidden: int = 64):
        super().__init__()
        self.size = size
        self.conv = nn.Sequential(
            nn.AdaptiveAvgPool2d(16),
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 10)
        self.heldout_accuracy: float | None = None

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


def _shift(x: torch.Tensor, gen: torch.Generator, max_shift: int) -> torch.Tensor:
    """Random translations by up to ``max_shift`` pixels (background -1 fills in)."""
    if max_shift == 0:
        return x
    pad = F.pad(x, (max_shift,) * 4, value=-1.0)
    out = torch.empty_like(x)
    offs = torch.randint(0, 2 * max_shift + 1, (x.shape[0], 2), generator=gen)
    h, w = x.shape[-2:]
    for i, (dy, dx) in enumerate(offs.tolist()):
        out[i] = pad[i, :, dy:dy + h, dx:dx + w]
    return out


def _load_cached(path: Path, size: int) -> DigitClassifier:
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = DigitClassifier(size=int(blob["size"]))
        model.load_state_dict(blob["state_dict"])
    except Exception as e:  # torch raises many kinds for a bad file
        raise CheckpointError(f"cannot read digit classifier cache ({type(e).__name__}); delete it to retrain", path) from None
    if model.size != size:
        raise CheckpointError(f"digit classifier cache is for {model.size} px images, not {size}; delete it to retrain", path)
    model.heldout_accuracy = float(blob.get("heldout_accuracy", float("nan")))
    return model.eval()


def train_digit_classifier(
    size: int = 32, seed: int = 0, epochs: int = 8, cache: str | Path | None = None
) -> DigitClassifier:
    """Train (or load from ``cache``) a digit classifier on scikit-learn's digits.

    80% of the 1,797 digits train it (with small random shifts), 20% are held out;
    ``model.heldout_accuracy`` reports accuracy on them (about 0.98). The model is
    returned in eval mode on the CPU. Takes a few seconds on a laptop CPU.
    """
    from sklearn.model_selection import train_test_split

    from muse.image.data import load_digits_images

    if cache is not None and Path(cache).is_file():
        return _load_cached(Path(cache), size)
    images, labels = load_digits_images(size)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=0.2, random_state=seed, stratify=labels.numpy()
    )
    x_tr, y_tr = images[idx_train], labels[idx_train]
    x_te, y_te = images[idx_test], labels[idx_test]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier(size=size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    steps_per_epoch = (len(x_tr) + 63) // 64
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=max(1, epochs * steps_per_epoch))
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x_tr), generator=gen)
        for start in range(0, len(perm), 64):
            b = perm[start:start + 64]
            xb = _shift(x_tr[b], gen, max(1, round(size / 16)))
            loss = F.cross_entropy(model(xb), y_tr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        model.heldout_accuracy = float((model(x_te).argmax(1) == y_te).float().mean())
    if cache is not None:
        p = Path(cache)
        p.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"size": size, "state_dict": model.state_dict(), "heldout_accuracy": model.heldout_accuracy}, p)
    return model


def frechet_distance(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``[N, D]``.

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, as in FID.
    """
    from scipy import linalg

    a = np.asarray(feats_a.detach().cpu() if isinstance(feats_a, torch.Tensor) else feats_a, dtype=np.float64)
    b = np.asarray(feats_b.detach().cpu() if isinstance(feats_b, torch.Tensor) else feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DataError(f"feature sets must be [N, D] with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise DataError(f"need at least 2 samples per feature set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if caught or not np.isfinite(covmean).all():  # singular (e.g. dead features): regularise
        eps = np.eye(len(cov_a)) * 1e-6
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    return float(max(0.0, diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)))


@torch.no_grad()
def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch_size]).cpu() for i in range(0, len(x), batch_size)])


def digit_fid(real: torch.Tensor, fake: torch.Tensor, classifier: DigitClassifier) -> float:
    """Fréchet distance between real and generated digits in the classifier's feature space.

    Both are ``[N, 1, H, W]`` in ``[-1, 1]`` (resized to the classifier's size).
    """
    classifier.eval()
    return frechet_distance(_batched(classifier.features, real).numpy(), _batched(classifier.features, fake).numpy())


def class_coverage(fake: torch.Tensor, classifier: nn.Module, n_classes: int = 10, min_frac: float = 0.25) -> dict:
    """How evenly generated samples spread over the classes the classifier knows.

    Returns ``{"per_class": [share of samples predicted as each class], "min_share",
    "covered": number of classes whose share >= min_frac / n_classes, "missing": [classes below]}``.
    """
    if len(fake) == 0:
        raise DataError("class_coverage needs at least one sample")
    classifier.eval()
    pred = _batched(classifier, fake).argmax(1)
    shares = torch.bincount(pred, minlength=n_classes).float() / len(pred)
    threshold = min_frac / n_classes
    return {
        "per_class": [round(float(s), 6) for s in shares],
        "min_share": float(shares.min()),
        "covered": int((shares >= threshold).sum()),
        "missing": [int(i) for i in torch.nonzero(shares < threshold).flatten()],
    }


def _mean_pairwise_distance(x: torch.Tensor, max_samples: int, gen: torch.Generator) -> float:
    if len(x) > max_samples:
        x = x[torch.randperm(len(x), generator=gen)[:max_samples]]
    flat = x.reshape(len(x), -1).float()
    d = torch.cdist(flat, flat)
    n = len(flat)
    return float(d.sum() / (n * (n - 1)))


@torch.no_grad()
def mode_collapse_score(
    fake: torch.Tensor,
    real: torch.Tensor,
    *,
    features: Callable[[torch.Tensor], torch.Tensor] | None = None,
    threshold: float = 0.5,
    max_samples: int = 512,
    seed: int = 0,
) -> dict:
    """Diversity of generated samples relative to real data.

    The mean pairwise Euclidean distance between samples (in pixel space, or in
    ``features(x)`` space when given) is divided by the same quantity on real data.
    A diverse generator scores near 1; a collapsed one (every sample alike) near 0
    and is flagged when the ratio is below ``threshold``.
    Returns ``{"ratio", "fake_spread", "real_spread", "collapsed"}``.
    """
    if len(fake) < 2 or len(real) < 2:
        raise DataError(f"mode_collapse_score needs at least 2 fake and 2 real samples, got {len(fake)} and {len(real)}")
    if features is not None:
        fake, real = _batched(features, fake), _batched(features, real)
    gen = torch.Generator().manual_seed(seed)
    fake_spread = _mean_pairwise_distance(fake.cpu(), max_samples, gen)
    real_spread = _mean_pairwise_distance(real.cpu(), max_samples, gen)
    if real_spread == 0.0:
        raise DataError("real samples are all identical; diversity cannot be compared")
    ratio = fake_spread / real_spread
    return {"ratio": ratio, "fake_spread": fake_spread, "real_spread": real_spread, "collapsed": ratio < threshold}

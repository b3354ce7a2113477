"""Offline image-quality metrics for generated digits and a mode-collapse check.

FID needs Inception weights, which cannot be downloaded here; instead a small CNN
(:class:`muse.models.gan.DigitClassifier`, a registered model) is trained by the core's
:class:`~muse.core.trainer.Trainer` on scikit-learn's bundled digits in a few seconds,
and its penultimate-layer features stand in for Inception's (:func:`digit_fid`). Its
predictions also give class coverage: a generator that only draws some digits is
caught even when its samples look sharp. The trained classifier can be cached with
the core's atomic checkpoint writer (:func:`save_digit_classifier`).
"""
from __future__ import annotations

import contextlib
import math
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from muse._version import CHECKPOINT_FORMAT, __version__
from muse.core.checkpoint import atomic_torch_save, load_checkpoint, load_model_state, rng_state, set_rng_state
from muse.core.config import TrainConfig
from muse.core.distributed import DistEnv
from muse.core.trainer import Trainer
from muse.data.batches import TensorBatches
from muse.errors import CheckpointError, ConfigError, DataError, MuseError, require
from muse.models.gan import DigitClassifier
from muse.models.registry import build_model

__all__ = ["DigitClassifier", "class_coverage", "digit_fid", "frechet_distance", "load_digit_classifier",
           "mode_collapse_score", "save_digit_classifier", "train_digit_classifier"]

CLASSIFIER_BATCH = 64
CLASSIFIER_LR = 1e-2


def save_digit_classifier(model: DigitClassifier, path: str | Path) -> Path:
    """Write ``model`` (weights, config, held-out accuracy) as a muse checkpoint, atomically."""
    return atomic_torch_save({
        "format": CHECKPOINT_FORMAT,
        "muse_version": __version__,
        "model_name": "digit_classifier",
        "model_config": asdict(model.config),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "heldout_accuracy": model.heldout_accuracy,
    }, path)


def load_digit_classifier(path: str | Path, size: int | None = None) -> DigitClassifier:
    """A classifier written by :func:`save_digit_classifier` (eval mode, CPU); ``size`` must match when given."""
    path = Path(path)
    try:
        ckpt = load_checkpoint(path)
        if ckpt.get("model_name") != "digit_classifier":
            raise CheckpointError(f"holds a {ckpt.get('model_name')!r} model")
        model = build_model("digit_classifier", ckpt["model_config"])
        load_model_state(model, ckpt["model"], path)
    except (CheckpointError, ConfigError, KeyError) as e:
        why = str(e).removeprefix(f"{path}: ") if isinstance(e, MuseError) else f"lacks {e}"
        raise CheckpointError(f"cannot read digit classifier cache ({why}); delete it to retrain", path) from None
    assert isinstance(model, DigitClassifier)
    if size is not None and model.size != size:
        raise CheckpointError(f"digit classifier cache is for {model.size} px images, not {size}; "
                              "delete it to retrain", path)
    acc = ckpt.get("heldout_accuracy")
    model.heldout_accuracy = float("nan") if acc is None else float(acc)
    return model.eval()


@contextlib.contextmanager
def _global_rng_kept() -> Iterator[None]:
    """Leave Python's, NumPy's and torch's global RNGs as they were (the trainer reseeds them)."""
    saved = rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)


def train_digit_classifier(
    size: int = 32, seed: int = 0, epochs: float = 8, cache: str | Path | None = None
) -> DigitClassifier:
    """Train (or load from ``cache``) a digit classifier on scikit-learn's digits.

    80% of the 1,797 digits train it (with small random shifts), 20% are held out;
    ``model.heldout_accuracy`` reports accuracy on them (about 0.98). Training goes
    through :class:`muse.core.trainer.Trainer` on the CPU (batches of 64, Adam at 1e-2
    with a 30% warmup then cosine decay; a throw-away run directory), leaves the global
    RNGs untouched, and is written to ``cache`` atomically when given. The model is
    returned in eval mode on the CPU. Takes a few seconds on a laptop CPU.
    """
    train_test_split = require("sklearn.model_selection", "image", "the digit classifier").train_test_split

    from muse.image.data import load_digits_images

    if cache is not None and Path(cache).is_file():
        return load_digit_classifier(cache, size)
    images, labels = load_digits_images(size)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=0.2, random_state=seed, stratify=labels.numpy()
    )
    data = TensorBatches({"image": images[idx_train], "label": labels[idx_train]}, CLASSIFIER_BATCH, seed)
    total = max(1, math.ceil(epochs * data.steps_per_epoch))
    cfg = TrainConfig(steps=None, epochs=float(epochs), batch_size=CLASSIFIER_BATCH, lr=CLASSIFIER_LR,
                      min_lr=CLASSIFIER_LR * 1e-3, warmup_steps=round(0.3 * total), schedule="cosine",
                      weight_decay=0.0, beta1=0.9, beta2=0.999, grad_clip=0.0, eval_every=total, log_every=total,
                      seed=seed, device="cpu", progress=False, tensorboard=False)
    with _global_rng_kept(), tempfile.TemporaryDirectory(prefix="muse-digit-classifier-") as run_dir:
        torch.manual_seed(seed)
        model = build_model("digit_classifier", {"size": size})
        Trainer(model, cfg, data, run_dir=run_dir, dist=DistEnv()).fit()
    assert isinstance(model, DigitClassifier)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x).argmax(1) for x in images[idx_test].split(256)])
        model.heldout_accuracy = float((pred == labels[idx_test]).float().mean())
    if cache is not None:
        save_digit_classifier(model, cache)
    return model


def frechet_distance(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``[N, D]``.

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, as in FID.
    """
    linalg = require("scipy.linalg", "image", "the Frechet distance")

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

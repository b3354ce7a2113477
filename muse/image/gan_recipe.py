"""``muse train gan``: a DCGAN on digits, scikit-image patches or a folder of images.

The core steps the discriminator then the generator each step (two optimisers);
a fixed-noise sample grid is written every ``data.sample_every`` steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from muse.core.callbacks import Callback
from muse.core.config import RunConfig
from muse.core.distributed import DistEnv
from muse.data.batches import TensorBatches
from muse.errors import ConfigError
from muse.models.registry import build_model
from muse.recipes.base import ModelSpec, Prepared, Recipe


def load_images(corpus: str, size: int, channels: int, n_patches: int, seed: int) -> torch.Tensor:
    """Training images [N, C, size, size] in [-1, 1] for a corpus name or folder."""
    from muse.image.data import load_digits_images, load_image_folder, load_skimage_patches

    if corpus == "digits":
        if channels != 1:
            raise ConfigError("the digits corpus is greyscale: use model.channels=1")
        return load_digits_images(size)[0]
    if corpus == "skimage":
        return load_skimage_patches(size, n_patches, seed=seed, channels=channels)
    images, report = load_image_folder(corpus, size, channels=channels)
    report.warn(f"while reading {corpus}")
    return images


BUILTIN_CORPORA = ("digits", "skimage")


def corpus_name(corpus: str) -> str:
    """How a saved model names its corpus: a built-in name, or a folder's name (never where it was)."""
    return corpus if corpus in BUILTIN_CORPORA else Path(corpus).name


class SampleGrid(Callback):
    """Every k steps, draw the same latent vectors and save a grid PNG (plus one at the end)."""

    def __init__(self, k: int, out: Path, nz: int, n: int = 64, seed: int = 1234):
        self.k, self.out = k, out
        self.z = torch.randn(n, nz, generator=torch.Generator().manual_seed(seed))

    def _write(self, trainer, step: int) -> None:  # noqa: ANN001
        from muse.image.grid import save_grid

        self.out.mkdir(parents=True, exist_ok=True)
        save_grid(trainer.model.sample(len(self.z), z=self.z).cpu(), self.out / f"step_{step:06d}.png", nrow=8)

    def on_step_end(self, trainer, step, metrics):  # noqa: ANN001
        if self.k and step % self.k == 0:
            self._write(trainer, step)

    def on_fit_end(self, trainer):  # noqa: ANN001
        self._write(trainer, trainer.step)


@dataclass
class GanData:
    """Data settings of ``muse train gan``."""

    corpus: str | None = "digits"
    """digits | skimage | a folder of images."""
    patches: int = 4096
    """skimage: random patches to cut."""
    sample_every: int = 200
    """Steps between sample grids (0: only at the end)."""


class GanRecipe(Recipe):
    kind = "gan"
    help = "DCGAN on images"
    default_model = "dcgan"
    models = {"dcgan": ModelSpec("dcgan", {"image_size": 32, "channels": 1, "nz": 64, "ngf": 32, "ndf": 32})}
    Data = GanData
    train_defaults = {"steps": 2000, "batch_size": 64, "lr": 2e-4, "min_lr": 2e-4, "beta1": 0.5, "beta2": 0.999,
                      "weight_decay": 0.0, "warmup_steps": 0, "schedule": "constant", "grad_clip": 0.0,
                      "eval_every": 500, "log_every": 20}

    def prepare(self, cfg: RunConfig, dist: DistEnv, resume_from: Path | None) -> Prepared:
        data = self.data_config(cfg.data)
        model = build_model("dcgan", cfg.model_config)
        mc = model.config
        images = load_images(str(data.corpus), mc.image_size, mc.channels, int(data.patches), cfg.train.seed)
        train = TensorBatches({"image": images}, cfg.train.batch_size, cfg.train.seed, dist.rank, dist.world)
        cbs = [SampleGrid(int(data.sample_every), Path(cfg.out) / "samples", mc.nz)]
        corpus = {"name": corpus_name(str(data.corpus)), "images": len(images)}
        return Prepared(model, train, None, {"corpus": corpus}, cbs)

    def generate(self, loaded, request=None, constraints=(), *, num=1, generation=None, device="cpu",  # noqa: ANN001, ANN201
                 **fields):
        """``num`` images ``[N, C, H, W]`` in [-1, 1] from the generator (``seed`` is the only setting)."""
        g = {k: v for k, v in (generation or {}).items() if v is not None}
        seed = g.pop("seed", None)
        unused = [*g, *fields] + (["constraints"] if constraints else []) + (["a request"] if request is not None else [])
        if unused:
            raise ConfigError(f"a GAN takes num_return_sequences and seed only (got {', '.join(unused)})")
        if num < 1:
            raise ConfigError(f"the number of images must be at least 1, got {num}")
        gen = None if seed is None else torch.Generator().manual_seed(int(seed))
        return loaded.model.sample(num, generator=gen)


RECIPE = GanRecipe()

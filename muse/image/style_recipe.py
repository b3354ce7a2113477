"""``muse train style``: a feed-forward style network for one style, on a folder of content images.

The saved model is portable: the style picture is read once (its statistics are buffers in
the weights) and the feature network is saved by name (``vgg19`` or ``random``), never as a
path; VGG19 weights are found when needed (``data.vgg_weights`` or the torch hub cache).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from muse.core.config import RunConfig
from muse.core.distributed import DistEnv
from muse.data.batches import TensorBatches
from muse.errors import ConfigError
from muse.image.gan_recipe import corpus_name, load_images
from muse.models.registry import build_model
from muse.recipes.base import ModelSpec, Prepared, Recipe


@dataclass
class StyleData:
    """Data settings of ``muse train style``."""

    corpus: str | None = "skimage"
    """Content images: skimage | digits | a folder of images."""
    style: str | None = None
    """The style picture (read once: its statistics are stored in the weights)."""
    image_size: int = 128
    patches: int = 1024
    vgg_weights: str | None = None
    """A local VGG19 weight file (.pth) to measure style with, for this run only: the saved
    model keeps only the name ``vgg19`` (by default the torch hub cache is searched)."""


class StyleRecipe(Recipe):
    kind = "style"
    help = "fast (feed-forward) style transfer network for one style"
    default_model = "fast_style"
    models = {"fast_style": ModelSpec("fast_style", {"width": 16, "n_res": 3, "feature_net": "auto"})}
    Data = StyleData
    train_defaults = {"steps": 1000, "batch_size": 4, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 20,
                      "weight_decay": 0.0, "eval_every": 250, "log_every": 10}

    def prepare(self, cfg: RunConfig, dist: DistEnv, resume_from: Path | None) -> Prepared:
        from muse.image.data import load_image

        data = self.data_config(cfg.data)
        if not data.style:
            raise ConfigError("say which style to learn: data.style=IMAGE")
        mcfg = dict(cfg.model_config)
        if data.vgg_weights and mcfg.get("feature_net", "auto") == "auto":
            mcfg["feature_net"] = "vgg19"
        model = build_model("fast_style", mcfg)
        if data.vgg_weights:
            model.use_vgg_weights(data.vgg_weights)
        if resume_from is None:  # on resume the style statistics come back with the weights
            model.set_style(load_image(data.style, size=model.config.style_size))
        images = load_images(str(data.corpus), int(data.image_size), 3, int(data.patches), cfg.train.seed)
        train = TensorBatches({"image": images}, cfg.train.batch_size, cfg.train.seed, dist.rank, dist.world)
        corpus = {"name": corpus_name(str(data.corpus)), "images": len(images), "style": Path(data.style).name}
        return Prepared(model, train, None, {"corpus": corpus})


RECIPE = StyleRecipe()

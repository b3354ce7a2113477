"""``muse train style``: a feed-forward style network for one style, on a folder of content images."""
from __future__ import annotations

from pathlib import Path

from muse.core.config import RunConfig
from muse.core.distributed import DistEnv
from muse.data.batches import TensorBatches
from muse.errors import ConfigError
from muse.models.registry import build_model
from muse.tasks.base import ModelSpec, Prepared, Task
from muse.tasks.gan import load_images
from muse.tasks.lm import export_run


class StyleTask(Task):
    name = "style"
    help = "fast (feed-forward) style transfer network for one style"
    default_model = "fast_style"
    models = {"fast_style": ModelSpec("fast_style", {"width": 16, "n_res": 3, "feature_net": "auto"})}
    data_defaults = {"corpus": "skimage", "style": None, "image_size": 128, "patches": 1024}
    train_defaults = {"steps": 1000, "batch_size": 4, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 20,
                      "weight_decay": 0.0, "eval_every": 250, "log_every": 10}

    def prepare(self, cfg: RunConfig, dist: DistEnv, resume_from: Path | None) -> Prepared:
        mc = dict(cfg.model_config)
        style = cfg.data.get("style") or mc.get("style_image")
        if not style:
            raise ConfigError("say which style to learn: --style IMAGE (or data.style=IMAGE)")
        mc["style_image"] = str(Path(style).resolve()) if Path(style).exists() else str(style)
        model = build_model("fast_style", mc)
        images = load_images(str(cfg.data["corpus"]), int(cfg.data["image_size"]), 3, int(cfg.data["patches"]),
                             cfg.train.seed)
        train = TensorBatches({"image": images}, cfg.train.batch_size, cfg.train.seed, dist.rank, dist.world)
        return Prepared(model, train, None, {"corpus": {"name": str(cfg.data["corpus"]), "images": len(images)}})

    def finish(self, cfg: RunConfig, prepared: Prepared, run_dir: Path) -> None:
        export_run(run_dir, self.name)


TASK = StyleTask()

"""A recipe is everything muse knows about one kind of model (melody, poem, vae, gan, style).

It has two halves:

* **training**: a typed data-settings dataclass (``Data``), the user-facing model
  names (``models``), training defaults, and :meth:`Recipe.prepare`, which turns a
  :class:`~muse.core.config.RunConfig` into a model, batch sources and checkpoint
  state; :meth:`Recipe.export` writes the trained model directory once.
* **generation**: :meth:`Recipe.load` (a model directory, run, checkpoint or
  shipped name) and :meth:`Recipe.generate` (a request plus extra constraints).

The loop itself is always :class:`muse.core.trainer.Trainer`; the layers below
(core, data, generate, models, tokenizers) never import a recipe.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Sequence

from torch import nn

from muse.core.callbacks import Callback
from muse.core.config import RunConfig, coerce_dataclass
from muse.core.distributed import DistEnv
from muse.data.batches import BatchSource
from muse.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A user-facing model name: which registered architecture, with which defaults."""

    arch: str
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """What :meth:`Recipe.prepare` hands the trainer."""

    model: nn.Module
    train: BatchSource
    valid: BatchSource | None
    extra_state: dict[str, Any] = field(default_factory=dict)
    """Stored in every checkpoint (tokenizer, corpus info)."""
    callbacks: list[Callback] = field(default_factory=list)


@dataclass
class NoData:
    """Data settings of a recipe that has none."""


class Recipe:
    kind: ClassVar[str]
    help: ClassVar[str] = ""
    default_model: ClassVar[str]
    models: ClassVar[dict[str, ModelSpec]] = {}
    """User-facing model names (vocabulary sizes etc. are filled in by ``prepare``)."""
    Data: ClassVar[type] = NoData
    """Dataclass of every valid ``data.*`` setting with its default."""
    train_defaults: ClassVar[dict[str, Any]] = {}
    """Overrides of :class:`TrainConfig` defaults that suit this kind."""
    model_class: ClassVar[type | None] = None
    """What :func:`muse.load` returns for this kind (None: :class:`~muse.recipes.model.MuseModel`)."""
    generation_defaults: ClassVar[dict[str, Any]] = {}
    """:class:`~muse.sampling.config.GenerationConfig` fields saved as ``generation_config.json``."""

    # ------------------------------------------------------------------ data settings
    def data_keys(self) -> set[str]:
        return {f.name for f in fields(self.Data)}

    def data_defaults(self) -> dict[str, Any]:
        return asdict(self.Data())

    def data_config(self, data: dict[str, Any] | Any) -> Any:
        """Typed, validated data settings from a plain dict (unknown keys and wrong types are errors)."""
        if isinstance(data, self.Data):
            d = data
        else:
            d = coerce_dataclass(self.Data, {**self.data_defaults(), **dict(data)}, section="data")
        check = getattr(d, "validate", None)
        if callable(check):
            check()
        return d

    # ------------------------------------------------------------------ training half
    def prepare(self, cfg: RunConfig, dist: DistEnv, resume_from: Path | None) -> Prepared:
        raise NotImplementedError

    def export(self, cfg: RunConfig, prepared: Prepared, run_dir: Path) -> Path | None:
        """After training (main process): write ``run_dir/model`` from the best checkpoint."""
        from muse.recipes.hub import export_run

        return export_run(run_dir, extra_files=self.export_files(cfg, prepared, run_dir))

    def export_files(self, cfg: RunConfig, prepared: Prepared, run_dir: Path) -> dict[str, Any]:
        """Extra JSON files for the model directory (name -> JSON-able content)."""
        return {}

    # ------------------------------------------------------------------ generation half
    def load(self, name_or_path: Any, device: str = "cpu") -> Any:
        """A trained model of this kind, ready to generate."""
        from muse.recipes.hub import load_model

        return load_model(name_or_path, device=device, expect_kind=self.kind)

    def generate(self, loaded: Any, request: Any = None, constraints: Sequence[Any] = (), *, num: int = 1,
                 generation: dict[str, Any] | None = None, device: str = "cpu", **request_fields: Any) -> list[Any]:
        """``num`` outputs of ``loaded`` (a :class:`~muse.recipes.hub.LoadedModel`) for ``request``
        (the kind's request object, or its fields as keywords), with ``generation`` settings
        (:class:`~muse.sampling.config.GenerationConfig` names) over the model's own."""
        raise ConfigError(f"a {self.kind!r} model does not generate on its own")


def build_request(cls: type, request: Any, fields: dict[str, Any]) -> Any:
    """``request`` itself, or a ``cls`` built from keyword ``fields`` (one-line errors otherwise)."""
    if request is None:
        try:
            return cls(**fields)
        except TypeError as e:
            raise ConfigError(f"{cls.__name__}: {e}".replace("__init__() ", "")) from None
    if fields:
        raise ConfigError(f"give a {cls.__name__} or its fields as keywords, not both ({', '.join(fields)})")
    if not isinstance(request, cls):
        raise ConfigError(f"request must be a {cls.__name__}, got {type(request).__name__}")
    return request


def check_model_name(recipe: Recipe, name: str) -> ModelSpec:
    if name not in recipe.models:
        raise ConfigError(f"model {name!r} cannot be trained as {recipe.kind!r}; choose one of: "
                          f"{', '.join(recipe.models)}")
    return recipe.models[name]

"""One model object for every kind: ``muse.load(name_or_path)`` returns a :class:`MuseModel`.

It is the Hugging Face life cycle in small: ``from_pretrained`` reads a model
directory (or a run, a checkpoint, a shipped name), ``generate`` writes for the
model's kind with ``GenerationConfig`` names (``num_return_sequences``,
``num_beams``, ``max_new_tokens``, ``temperature``...) over the model's own
defaults, and ``save`` writes the directory again.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from muse.errors import ConfigError
from muse.generate.config import GenerationConfig
from muse.recipes import get_recipe
from muse.recipes.hub import LoadedModel, load_model, save_model


class MuseModel:
    """A trained model of any kind (melody, poem, vae, gan, style) with its tokenizer and defaults.

    Example:
        >>> import muse
        >>> model = muse.load("melody-transformer")
        >>> melodies = model.generate(bars=4, key="D", scale="dorian", num_return_sequences=2, seed=0)
    """

    def __init__(self, loaded: LoadedModel, device: str = "cpu"):
        self.loaded = loaded
        self.device = device

    # ---- what it is
    @property
    def kind(self) -> str:
        """melody, poem, vae, gan or style."""
        return self.loaded.kind

    @property
    def model(self) -> Any:
        """The ``nn.Module``."""
        return self.loaded.model

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    @property
    def generation_config(self) -> GenerationConfig:
        """The sampling defaults saved with the model (``generation_config.json``)."""
        return self.loaded.generation_config

    @property
    def source(self) -> Path | None:
        return self.loaded.source

    def __repr__(self) -> str:
        name = getattr(self.model, "model_name", type(self.model).__name__)
        return f"{type(self).__name__}(kind={self.kind!r}, model={name!r}, source={str(self.source)!r})"

    # ---- life cycle
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str = "cpu") -> "MuseModel":
        """Load a model directory, run directory, checkpoint or shipped name.

        Args:
            name_or_path: e.g. ``"melody-transformer"``, ``"runs/mine"``, ``"runs/mine/checkpoints/last.pt"``.
            device: where the model runs (``"cpu"``, ``"cuda"``...).

        Returns:
            The model object of its kind (a :class:`VAEModel` for a VAE).
        """
        return load(name_or_path, device=device)

    def save(self, directory: str | Path) -> Path:
        """Write the model as a model directory (config, tokenizer, generation config, weights, card).

        Returns:
            The directory written.
        """
        return save_model(directory, self.loaded)

    save_pretrained = save

    # ---- writing
    def generate(
        self,
        request: Any = None,
        *,
        num_return_sequences: int = 1,
        num_beams: int | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float | None = None,
        seed: int | None = None,
        constraints: Sequence[Any] = (),
        **request_fields: Any,
    ) -> list[Any]:
        """Outputs for the model's kind.

        Args:
            request: a :class:`~muse.music.compose.MelodyRequest` (melody) or
                :class:`~muse.poetry.compose.PoemRequest` (poem); or leave it out and give
                its fields as keywords (``bars=8, key="G"``; ``form="qijue", acrostic="春江花月"``).
            num_return_sequences: how many melodies, poems or images.
            num_beams, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed:
                :class:`~muse.generate.config.GenerationConfig` settings over the model's defaults.
            constraints: extra decoding constraints (melody models).

        Returns:
            Melodies (:class:`~muse.music.melody.Melody`), poems (``str``) or images
            (a tensor ``[N, C, H, W]`` in [-1, 1]).
        """
        if num_return_sequences < 1:
            raise ConfigError(f"num_return_sequences must be >= 1, got {num_return_sequences}")
        gen = dict(num_beams=num_beams, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                   top_p=top_p, repetition_penalty=repetition_penalty, seed=seed)
        return get_recipe(self.kind).generate(self.loaded, request, constraints, num=num_return_sequences,
                                              generation={k: v for k, v in gen.items() if v is not None},
                                              device=self.device, **request_fields)


def load(name_or_path: str | Path, device: str = "cpu") -> MuseModel:
    """The one loader: any model muse can read, as a :class:`MuseModel` of its kind.

    Args:
        name_or_path: a shipped model name (``muse models list``), a model directory, a run
            directory (its ``model/``, else ``checkpoints/best.pt``, else ``last.pt``) or a checkpoint.
        device: where the model runs.

    Returns:
        A :class:`MuseModel` (a VAE gives a :class:`~muse.music.vae_recipe.VAEModel`).

    Example:
        >>> poet = muse.load("poem-tang")
        >>> poet.generate(form="wujue", seed=1)[0]
    """
    loaded = load_model(name_or_path, device=device)
    cls = (getattr(get_recipe(loaded.kind), "model_class", None) if loaded.kind else None) or MuseModel
    return cls(loaded, device)

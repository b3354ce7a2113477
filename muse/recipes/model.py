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
from muse.sampling.config import GenerationConfig
from muse.recipes import get_recipe
from muse.recipes.hub import LoadedModel, load_model, save_model


class MuseModel:
    """A trained model of any kind (melody, poem, vae, gan, style) with its tokenizer and defaults.

    Get one with :func:`muse.load` (or :meth:`MuseModel.from_pretrained`) rather
    than building it; ``generate`` writes for the model's kind and ``save``
    writes its model directory again.

    Args:
        loaded: the model with everything saved beside it, as
            :func:`muse.load_model` returns it.
        device: where the model runs and generates (``"cpu"``, ``"cuda"``,
            ``"cuda:1"``, ``"mps"``); the model should already be there.

    Example:
        >>> import muse
        >>> model = muse.load("melody-transformer")
        >>> melodies = model.generate(bars=4, key="D", scale="dorian", num_return_sequences=2, seed=0)
        >>> model.save("models/my-melody")
        PosixPath('models/my-melody')
    """

    def __init__(self, loaded: LoadedModel, device: str = "cpu"):
        self.loaded = loaded
        self.device = device

    # ---- what it is
    @property
    def kind(self) -> str:
        """What the model makes: ``"melody"``, ``"poem"``, ``"vae"``, ``"gan"`` or ``"style"``."""
        return self.loaded.kind

    @property
    def model(self) -> Any:
        """The network, a ``torch.nn.Module`` in eval mode (e.g. ``TransformerLM``)."""
        return self.loaded.model

    @property
    def tokenizer(self) -> Any:
        """The tokenizer saved with the model (``encode``/``decode``), or None for image models."""
        return self.loaded.tokenizer

    @property
    def generation_config(self) -> GenerationConfig:
        """The sampling defaults saved with the model (``generation_config.json``)."""
        return self.loaded.generation_config

    @property
    def source(self) -> Path | None:
        """The model directory or checkpoint file it was loaded from (None if built in memory)."""
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
            MuseModel: the model object of its kind (a :class:`VAEModel` for a VAE).

        Example:
            >>> import muse
            >>> poet = muse.MuseModel.from_pretrained("poem-english")
            >>> poet.kind
            'poem'
        """
        return load(name_or_path, device=device)

    def save(self, directory: str | Path) -> Path:
        """Write the model as a model directory (config, tokenizer, generation config, weights, card).

        The directory is written into a temporary folder and renamed into place,
        replacing any directory already there. ``save_pretrained`` is the same method.

        Args:
            directory: the folder to write (created with its parents).

        Returns:
            Path: the directory written; :func:`muse.load` reads it back.

        Example:
            >>> import muse
            >>> model = muse.load("poem-tang")
            >>> model.save("models/poem-tang-copy")
            PosixPath('models/poem-tang-copy')
            >>> muse.load("models/poem-tang-copy").kind
            'poem'
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
        """Write melodies, poems or images, whatever the model's kind makes.

        Sampling settings left as None take the model's own defaults
        (:attr:`generation_config`). Not every kind takes every setting: a GAN
        takes only ``num_return_sequences`` and ``seed``, a VAE also
        ``temperature``; melody lengths are set by ``bars``, not ``max_new_tokens``.

        Args:
            request: a :class:`muse.MelodyRequest` (melody) or
                :class:`muse.PoemRequest` (poem); or leave it out and give its fields
                as keywords (``bars=8, key="G"``; ``form="qijue", acrostic="春江花月"``).
            num_return_sequences: how many melodies, poems or images (>= 1).
            num_beams: beam width; 1 samples, > 1 runs (stochastic) beam search.
            max_new_tokens: token limit of a poem (not for melodies).
            temperature: sampling temperature (> 0; < 1 is more conservative).
            top_k: sample among the ``top_k`` most likely tokens only.
            top_p: nucleus sampling threshold in (0, 1].
            repetition_penalty: > 1 discourages tokens already written.
            seed: random seed; the same seed gives the same output.
            constraints: extra decoding constraints (:class:`muse.sampling.constraints.Constraint`,
                melody models only).
            **request_fields: the request's fields, when ``request`` is not given.

        Returns:
            list: ``num_return_sequences`` :class:`muse.Melody` objects (melody, vae),
            poems as ``str`` (poem), or, for a GAN, a tensor ``[N, C, H, W]`` of
            images in [-1, 1].

        Example:
            >>> import muse
            >>> model = muse.load("melody-transformer")
            >>> tunes = model.generate(bars=4, key="G", scale="major", num_return_sequences=2, seed=0)
            >>> poems = muse.load("poem-tang").generate(form="qijue", acrostic="春江花月", seed=1)
            >>> images = muse.load("gan-digits").generate(num_return_sequences=4, seed=0)
            >>> images.shape[0]
            4
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
        device: where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Returns:
        MuseModel: the model of its kind (a VAE gives a
        :class:`~muse.music.vae_recipe.VAEModel`, which adds ``encode``,
        ``decode``, ``interpolate``...).

    Example:
        >>> import muse
        >>> poet = muse.load("poem-tang")
        >>> poem = poet.generate(form="wujue", seed=1)[0]
        >>> tunes = muse.load("runs/nottingham", device="cpu").generate(bars=8, seed=0)
    """
    loaded = load_model(name_or_path, device=device)
    cls = (getattr(get_recipe(loaded.kind), "model_class", None) if loaded.kind else None) or MuseModel
    return cls(loaded, device)

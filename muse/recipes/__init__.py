"""The registry of recipes: what ``muse train KIND`` and every model directory's ``kind`` mean.

Each kind's recipe lives in its domain package; this table names them by module
so that nothing is imported before it is needed.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from muse.errors import ConfigError

if TYPE_CHECKING:
    from muse.recipes.base import Recipe

RECIPES = {
    "melody": "muse.music.melody_recipe",
    "vae": "muse.music.vae_recipe",
    "score": "muse.music.score_recipe",
    "poem": "muse.poetry.poem_recipe",
    "gan": "muse.image.gan_recipe",
    "style": "muse.image.style_recipe",
}


def get_recipe(kind: str) -> "Recipe":
    """The recipe of ``kind``: how that kind of model is trained, saved and used.

    Args:
        kind: ``"melody"``, ``"vae"``, ``"poem"``, ``"gan"`` or ``"style"``; anything
            else raises ConfigError naming the known kinds.

    Returns:
        Recipe: the kind's recipe object (imported on first use), with
        ``default_model``, ``models`` (the model names :func:`muse.train`
        accepts), ``data_defaults()``, ``train_defaults`` and ``generate(...)``.

    Example:
        >>> import muse
        >>> recipe = muse.get_recipe("melody")
        >>> recipe.default_model, sorted(recipe.models)
        ('lstm', ['gru', 'lstm', 'rnn', 'transformer'])
        >>> recipe.data_defaults()["corpus"]
        'essen'
    """
    if kind not in RECIPES:
        raise ConfigError(f"unknown kind {kind!r}; choose one of: {', '.join(RECIPES)}")
    return importlib.import_module(RECIPES[kind]).RECIPE


def recipe_kinds() -> list[str]:
    return list(RECIPES)

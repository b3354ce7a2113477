"""Name -> model class. Each model module registers itself with ``@register``.

A registered class has a nested ``Config`` dataclass and is built as
``cls(cls.Config(**kwargs))``; the config is what checkpoints store.
"""
from __future__ import annotations

import importlib
from dataclasses import fields
from typing import Any, Callable

from torch import nn

from muse.errors import ConfigError

_MODELS: dict[str, type[nn.Module]] = {}
_BUILTIN_MODULES = ("rnn", "transformer", "vae", "gan", "style_nets")


def register(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if not hasattr(cls, "Config"):
            raise TypeError(f"model {cls.__name__} needs a nested Config dataclass")
        cls.model_name = name  # type: ignore[attr-defined]
        _MODELS[name] = cls
        return cls

    return deco


def _load_builtins() -> None:
    for mod in _BUILTIN_MODULES:
        try:
            importlib.import_module(f"muse.models.{mod}")
        except ImportError as e:  # a module that is not written yet
            if f"muse.models.{mod}" not in str(e):
                raise


def model_class(name: str) -> type[nn.Module]:
    if name not in _MODELS:
        _load_builtins()
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def build_model(name: str, config: dict[str, Any] | None = None) -> nn.Module:
    """Build a registered model from a plain dict, rejecting unknown keys.

    Args:
        name: the registered architecture: ``"rnn"``, ``"transformer"``, ``"vae"``,
            ``"dcgan"``, ``"digit_classifier"`` or ``"fast_style"`` (an unknown
            name raises ConfigError listing the known ones).
        config: fields of the model class's nested ``Config`` dataclass (e.g.
            ``vocab_size``, ``n_layer``, ``n_embd``); missing fields take their
            defaults, unknown keys raise ConfigError. None: all defaults.

    Returns:
        nn.Module: a freshly initialised (untrained) model, with ``model_name``
        and ``config`` set.

    Example:
        >>> import muse
        >>> model = muse.build_model("transformer", {"vocab_size": 100, "n_layer": 2, "n_head": 2, "n_embd": 64})
        >>> type(model).__name__, model.config.n_layer
        ('TransformerLM', 2)
    """
    cls = model_class(name)
    cfg_cls = cls.Config  # type: ignore[attr-defined]
    config = dict(config or {})
    valid = {f.name for f in fields(cfg_cls)}
    unknown = sorted(set(config) - valid)
    if unknown:
        raise ConfigError(
            f"unknown key(s) for model {name!r}: {', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}"
        )
    return cls(cfg_cls(**config))


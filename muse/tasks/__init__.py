"""Training tasks: what ``muse train KIND`` means for each KIND."""
from __future__ import annotations

import importlib

from muse.errors import ConfigError
from muse.tasks.base import Task

_TASK_MODULES = {"melody": "melody", "poem": "poem", "vae": "vae", "gan": "gan", "style": "style"}


def get_task(kind: str) -> Task:
    if kind not in _TASK_MODULES:
        raise ConfigError(f"unknown training kind {kind!r}; choose one of: {', '.join(_TASK_MODULES)}")
    mod = importlib.import_module(f"muse.tasks.{_TASK_MODULES[kind]}")
    return mod.TASK


def task_kinds() -> list[str]:
    return list(_TASK_MODULES)

"""Errors that muse reports to people: one line, naming the file and the problem."""
from __future__ import annotations

from pathlib import Path


class MuseError(Exception):
    """A problem the user can fix. The CLI prints ``str(err)`` on one line and exits 2."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class ConfigError(MuseError):
    """Unknown or invalid configuration key/value."""


class CheckpointError(MuseError):
    """Missing, corrupt or incompatible checkpoint."""


class DataError(MuseError):
    """Unreadable, empty or invalid input data."""


class ConstraintError(MuseError):
    """A generation constraint that the model/tokenizer cannot satisfy."""


class TrainingDiverged(MuseError):
    """Loss became NaN/inf; the last good checkpoint is kept."""


class OutputError(MuseError):
    """A file or folder that cannot be written (not writable, disk full, a folder where a file is wanted...)."""


class MissingExtra(MuseError):
    """An optional dependency is not installed; the message names the pip command."""


def require(module: str, extra: str, what: str):  # noqa: ANN201 - returns the module
    """Import ``module`` or raise :class:`MissingExtra` saying which extra brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{what} needs {module.split('.')[0]}, which is not installed: "
                           f"pip install 'muse[{extra}]'") from None

"""How many torch CPU threads muse trains and decodes with.

PyTorch starts with one intra-op thread per core. For the small models muse
ships (about a million parameters) that is slower, not faster: the matrices are
too small to split, OpenMP threads spin while they wait for each other, and on a
machine whose cores are busy with other work two threads of a 0.8 M-parameter
model trained 3 to 13 times slower than one (bench/README.md, "Threads"). So,
on the CPU only and unless someone chose already:

* training: one thread below :data:`TRAIN_PARAMS_PER_THREAD` parameters, then
  one more thread per that many parameters, at most the usable cores;
* decoding (one token at a time): one thread below :data:`DECODE_SMALL` parameters.

A choice already made is respected, in this order: the ``MUSE_THREADS``
environment variable (muse sets exactly that many), ``OMP_NUM_THREADS`` (muse
leaves torch as the variable configured it), and ``torch.set_num_threads`` called
after muse was imported (muse leaves it alone). :func:`cpu_threads` applies the
choice for a block and restores the previous count afterwards; the trainer and
the sampler use it.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import torch
from torch import nn

from muse.errors import ConfigError

TRAIN_PARAMS_PER_THREAD = 5_000_000
"""Training: parameters per CPU thread (fewer than this many: one thread)."""
DECODE_SMALL = 20_000_000
"""Decoding: parameter count under which the CPU decodes on one thread."""
ENV = "MUSE_THREADS"
"""Environment variable that fixes muse's torch thread count."""

_AT_IMPORT = torch.get_num_threads()


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one).

    Returns:
        int: at least 1.

    Example:
        >>> usable_cores() >= 1
        True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def choose_threads(n_params: int, cores: int | None = None, decoding: bool = False) -> int:
    """The thread count muse picks for a model of ``n_params`` parameters (see the module docstring).

    Args:
        n_params: parameters of the model.
        cores: usable cores (default: :func:`usable_cores`).
        decoding: token-by-token generation rather than training.

    Returns:
        int: between 1 and ``cores``.

    Example:
        >>> choose_threads(800_000, cores=8), choose_threads(12_000_000, cores=8), choose_threads(12_000_000, cores=2)
        (1, 3, 2)
        >>> choose_threads(12_000_000, cores=8, decoding=True)
        1
    """
    cores = usable_cores() if cores is None else max(1, int(cores))
    if decoding:
        return 1 if n_params < DECODE_SMALL else cores
    return max(1, min(cores, 1 + int(n_params) // TRAIN_PARAMS_PER_THREAD))


def chosen_threads() -> int | None:
    """A thread count someone already chose: ``MUSE_THREADS``, else ``OMP_NUM_THREADS``'s effect, else a
    ``torch.set_num_threads`` since muse was imported; None when nobody did.

    Returns:
        int | None: the count to keep (None: muse may choose).

    Raises:
        ConfigError: ``MUSE_THREADS`` is not a positive integer.

    Example:
        >>> import os
        >>> os.environ["MUSE_THREADS"] = "1"
        >>> chosen_threads()
        1
        >>> del os.environ["MUSE_THREADS"]
    """
    raw = os.environ.get(ENV)
    if raw is not None and raw.strip():
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise ConfigError(f"{ENV}={raw!r}: must be a positive integer (torch CPU threads)")
        return n
    if os.environ.get("OMP_NUM_THREADS", "").strip() or torch.get_num_threads() != _AT_IMPORT:
        return torch.get_num_threads()
    return None


def set_threads(model: nn.Module, device: torch.device | str | None, decoding: bool = False) -> Callable[[], None]:
    """Set torch's CPU threads for ``model`` on ``device`` (nothing off the CPU); return the undo.

    Args:
        model: the model about to train or decode (its parameter count decides).
        device: where it runs; only ``cpu`` changes anything.
        decoding: token-by-token generation rather than training.

    Returns:
        Callable[[], None]: restores the thread count found on entry.

    Example:
        >>> import torch
        >>> undo = set_threads(torch.nn.Linear(4, 4), "cpu")
        >>> torch.get_num_threads() >= 1
        True
        >>> undo()
    """
    before = torch.get_num_threads()
    if device is None or torch.device(device).type != "cpu":
        return lambda: None
    n = chosen_threads()
    if n is None:
        n = choose_threads(sum(p.numel() for p in model.parameters()), decoding=decoding)
    if n != before:
        torch.set_num_threads(n)

    def undo() -> None:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)

    return undo


@contextlib.contextmanager
def cpu_threads(model: nn.Module, device: torch.device | str | None, decoding: bool = False) -> Iterator[int]:
    """:func:`set_threads` for a ``with`` block; yields the thread count in force inside it.

    Args:
        model: the model about to train or decode.
        device: where it runs; only ``cpu`` changes anything.
        decoding: token-by-token generation rather than training.

    Returns:
        Iterator[int]: the context manager.

    Example:
        >>> import torch
        >>> with cpu_threads(torch.nn.Linear(4, 4), "cpu", decoding=True) as n:
        ...     n >= 1
        True
    """
    undo = set_threads(model, device, decoding)
    try:
        yield torch.get_num_threads()
    finally:
        undo()

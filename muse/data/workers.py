"""Helper processes that never outlive the process that started them.

``kill -9`` of a process gives it no chance to stop its workers: a
``ProcessPoolExecutor``'s workers then wait on their queue forever. On Linux the
kernel can send a signal to a process when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); :func:`die_with_parent` asks for that, and
:func:`children_die_with_parent` asks it for every process forked while it is
active (a token store build wraps its corpus reading in it). Elsewhere both do
nothing.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

PR_SET_PDEATHSIG = 1

_lock = threading.Lock()
_active = 0
"""How many :func:`children_die_with_parent` blocks are open in this process."""
_owner = 0
"""The pid whose forked children must die with it."""
_hook_installed = False


_PRCTL: list = []


def _prctl():  # noqa: ANN202 - the libc prctl function, or None
    if not _PRCTL:
        fn = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                fn = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):
                fn = None
        _PRCTL.append(fn)
    return _PRCTL[0]


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> bool:
    """Have the kernel send ``sig`` to this process when its parent exits (Linux only).

    Meant as the ``initializer`` of a process pool, or the first thing a forked
    child does. When the parent is already gone (it died before this call),
    the process exits at once.

    Args:
        sig: the signal to receive (default SIGKILL: no handler can keep it alive).
        parent: the pid the parent had; None: the current parent.

    Returns:
        bool: True when the kernel took the request, False where it is not
        available (not Linux).

    Example:
        >>> from concurrent.futures import ProcessPoolExecutor
        >>> from muse.data.workers import die_with_parent
        >>> pool = ProcessPoolExecutor(2, initializer=die_with_parent)
    """
    prctl = _prctl()
    if prctl is None:
        return False
    expected = os.getppid() if parent is None else parent
    if prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != expected:  # the parent died before the request: nobody would send the signal
        os._exit(1)
    return True


def _after_fork_in_child() -> None:
    global _owner
    if _active > 0 and _owner:
        parent, _owner = _owner, os.getpid()  # this child's own forks die with it in turn
        die_with_parent(signal.SIGKILL, parent)


@contextmanager
def children_die_with_parent() -> Iterator[None]:
    """Every process forked inside the block gets SIGKILL when this process dies.

    Covers ``fork``-started pools (``multiprocessing``, ``ProcessPoolExecutor``)
    created in the block by any code, including grandchildren forked by them.
    The kernel ties the signal to the forking *thread*, so fork from the thread
    that outlives the workers (as pools do when started from the calling thread).

    Returns:
        Iterator[None]: a context manager.

    Example:
        >>> from muse.data.workers import children_die_with_parent
        >>> with children_die_with_parent():
        ...     pass  # start worker processes here
    """
    global _active, _owner, _hook_installed
    with _lock:
        if not _hook_installed and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _hook_installed = True
        _active += 1
        _owner = os.getpid()
        _prctl()  # looked up here, so a forked child need not load libc
    try:
        yield
    finally:
        with _lock:
            _active -= 1

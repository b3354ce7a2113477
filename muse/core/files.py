"""Writing files and folders so that a reader never sees half of one (standard library only).

Every file muse writes goes through :func:`atomic_file` (or its helpers :func:`write_text`
and :func:`write_bytes`): the output is checked first (:func:`check_output_file`), the
bytes go to a temporary file in the same folder, which is then renamed over the target,
so a failure at any moment leaves the old file (or none) and never a half-written or
0-byte one. Folders of files are built the same way by :func:`atomic_directory`.
Operating-system errors become one-line :class:`~muse.errors.OutputError` messages
naming the path (``PATH: disk full (no space left on device)``).
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from muse.errors import MuseError, OutputError

_WORDS = {
    errno.ENOSPC: "disk full (no space left on device)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (the disk or the file-size limit is full)",
    errno.EACCES: "permission denied (the folder is not writable)",
    errno.EPERM: "permission denied (the folder is not writable)",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "its folder does not exist and cannot be created",
    errno.ENAMETOOLONG: "file name too long",
}
_WRITE_FAILURES = ("no space left", "disk quota", "file too large", "write failed", "file write failed")
"""Words of write failures that libraries report as something other than OSError (torch's zip writer,
libsndfile, safetensors)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_problem(err: BaseException, folder: str | Path | None = None) -> str | None:
    """What went wrong when writing, in words, or None when ``err`` is not a write failure.

    OSErrors are told by their errno (``disk full (no space left on device)``,
    ``read-only file system``...); other exceptions count when their text says a
    write failed (torch's ``PytorchStreamWriter failed writing file``) or when
    ``folder``'s disk has no space left.

    Args:
        err: the exception raised while writing.
        folder: the folder written into (its free space is checked).

    Returns:
        str | None: one line, or None (not a write failure: let it propagate).

    Example:
        >>> import errno
        >>> write_problem(OSError(errno.ENOSPC, "No space left on device"))
        'disk full (no space left on device)'
    """
    if isinstance(err, OSError) and err.errno in _WORDS:
        return _WORDS[err.errno]
    text = str(err).strip()
    first = text.splitlines()[0][:160] if text else type(err).__name__
    if folder is not None and isinstance(err, (OSError, RuntimeError)):
        try:
            if shutil.disk_usage(folder).free < 64 * 1024:
                return _WORDS[errno.ENOSPC]
        except OSError:
            pass
    low = text.lower()
    if "no space left" in low or "os error 28" in low:
        return _WORDS[errno.ENOSPC]
    if isinstance(err, OSError):
        return f"cannot write ({err.strerror or first})"
    if any(w in low for w in _WRITE_FAILURES):
        return f"cannot write ({first})"
    return None


def _nearest_existing(p: Path) -> Path:
    a = p
    while not os.path.lexists(a) and a != a.parent:
        a = a.parent
    return a


def _check_can_create(folder: Path, path: Path, try_write: bool = True) -> None:
    """``folder`` exists as a writable folder, or can be made inside one (tried with a temporary
    folder, removed at once: permission bits do not tell for root, /proc or a read-only mount)."""
    base = folder if folder.is_dir() else _nearest_existing(folder)
    if not base.is_dir():
        raise OutputError(f"cannot create its folder: {base} is a file, not a folder", path)
    if not try_write:
        return
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".muse-write-test.", dir=base))
    except OSError as e:
        why = _WORDS.get(e.errno, e.strerror) if e.errno != errno.ENOENT else "cannot create files there"
        if base == folder:
            raise OutputError(why if path == folder else f"its folder is not writable ({why})", path) from None
        raise OutputError(f"cannot create its folder in {base} ({why})", path) from None


def check_output_file(path: str | Path, *, try_write: bool = True) -> Path:
    """Check, before any work, that ``path`` can be written as a file; raise OutputError if not.

    Refused: an existing folder, an existing non-regular file (a device such as
    ``/dev/full``), a parent that is a file, a folder that is not writable or
    cannot be created (``/proc/x/y.mid``).

    Args:
        path: the file to write.
        try_write: also create (and remove) a temporary folder where the file
            goes, the only sure test of writability (a few ms); False checks
            only what the names say.

    Returns:
        Path: ``path``.

    Example:
        >>> check_output_file("out/melody_001.mid")
        PosixPath('out/melody_001.mid')
    """
    p = Path(path)
    if str(path).endswith(os.sep) or p.is_dir():
        raise OutputError("is a folder; name a file", p)
    if os.path.lexists(p) and not p.is_file():
        raise OutputError("exists and is not a regular file", p)
    _check_can_create(p.parent, p, try_write)
    return p


def check_output_dir(path: str | Path, *, try_write: bool = True) -> Path:
    """Check, before any work, that ``path`` is a writable folder or can be created as one.

    Args:
        path: the folder to write into.
        try_write: also create (and remove) a temporary folder there (see
            :func:`check_output_file`).

    Returns:
        Path: ``path``.

    Example:
        >>> check_output_dir("out")
        PosixPath('out')
    """
    p = Path(path)
    if os.path.lexists(p) and not p.is_dir():
        raise OutputError("exists and is a file, not a folder; name a folder", p)
    _check_can_create(p, p, try_write)
    return p


def make_dirs(folder: str | Path, *, for_path: str | Path | None = None) -> Path:
    """``mkdir -p folder`` with :func:`check_output_dir`'s checks and one-line errors.

    Args:
        folder: the folder to create (with its parents); an existing folder is fine.
        for_path: the file it is made for, named in errors instead of ``folder``.

    Returns:
        Path: ``folder``.

    Example:
        >>> make_dirs("out/run")
        PosixPath('out/run')
    """
    d = Path(folder) if for_path is not None else check_output_dir(folder)  # for_path: its caller checked
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        why = _WORDS[e.errno] if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES) else e.strerror
        if for_path is not None:
            raise OutputError(f"cannot create its folder {d} ({why})", for_path) from None
        raise OutputError(f"cannot create folder ({why})", d) from None
    return d


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | Path, *, fsync: bool = False) -> Iterator[Path]:
    """Write one file atomically: the ``with`` body writes the yielded temporary path, which then replaces ``path``.

    The temporary file sits in the same folder and ends with ``path``'s suffix
    (libraries that pick a format from the name, as soundfile, PIL and
    matplotlib do, see the real one). On success it is made 0644 (0666 less the
    umask) and renamed over ``path``; with ``fsync`` it is flushed to disk first.
    On any error it is removed, ``path`` is left as it was, and an OSError (or a
    library's report of a failed write) becomes an :class:`~muse.errors.OutputError`
    naming ``path``.
    A body that deletes the temporary file writes nothing (``path`` stays as it was).

    Args:
        path: the file to write; its folder is created when missing.
        fsync: flush the file and its folder to disk before the rename, so that
            even a power cut leaves the old file or the complete new one (about
            10 ms a file; checkpoints and run configs do, generated files need not).

    Yields:
        Path: the temporary file to write.

    Example:
        >>> with atomic_file("out/notes.txt") as tmp:
        ...     _ = tmp.write_text("do re mi\\n", encoding="utf-8")
    """
    p = check_output_file(path, try_write=False)  # creating the temporary file is the real test
    make_dirs(p.parent, for_path=p)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=p.parent)
    except OSError as e:
        raise OutputError(write_problem(e, p.parent) or f"cannot write ({e.strerror})", p) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if not os.path.lexists(tmp):  # the body removed it: nothing to write, the old file stays
            return
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # as an ordinary file would be, not mkstemp's 0600
        os.replace(tmp, p)
        if fsync:
            _fsync_dir(p.parent)
    except BaseException as e:
        failed = None
        if isinstance(e, Exception) and not isinstance(e, (OSError, MuseError)):
            failed = _append_fails(tmp)  # a library's vague report ("System error.") of a write the disk refused?
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, MuseError) or not isinstance(e, Exception):
            raise
        why = write_problem(failed or e, p.parent)
        if why is None:
            raise
        raise OutputError(why, p) from None


def _append_fails(tmp: Path) -> OSError | None:
    """The OSError that appending 64 KiB to ``tmp`` raises (a full disk, a file-size limit), or None."""
    try:
        with open(tmp, "ab") as f:
            f.write(b"\0" * 65536)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        return e
    return None


def write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`).

    Args:
        path: the file to write.
        data: its bytes.
        fsync: flush to disk before returning.

    Returns:
        Path: ``path``.

    Example:
        >>> write_bytes("out/x.bin", b"\\x00\\x01")
        PosixPath('out/x.bin')
    """
    with atomic_file(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8", fsync: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_file`).

    Args:
        path: the file to write.
        text: its content.
        encoding: the text encoding (default UTF-8).
        fsync: flush to disk before returning.

    Returns:
        Path: ``path``.

    Example:
        >>> write_text("out/poems.txt", "床前明月光\\n")
        PosixPath('out/poems.txt')
    """
    return write_bytes(path, text.encode(encoding), fsync=fsync)


def _replaceable(d: Path, replace: Callable[[Path], bool] | None) -> bool:
    try:
        empty = not any(d.iterdir())
    except OSError:
        empty = False
    return empty or (replace is not None and replace(d))


@contextmanager
def atomic_directory(path: str | Path, *, replace: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Build a directory in a temporary sibling, then put it in place as a whole.

    The ``with`` body writes into the yielded folder; on success its files are flushed to
    disk and it replaces ``path`` (an old directory there is moved aside first and removed
    after). Files are made 0666 and the folder 0777, less the umask (0644 / 0755 under
    the usual 022). On any error the temporary folder is removed,
    ``path`` is left as it was, and OS errors become an :class:`~muse.errors.OutputError`.

    Args:
        path: the directory to write.
        replace: says whether an existing, non-empty directory at ``path`` may be
            replaced (e.g. "it is a model directory"); None: only an empty one may.
            Anything else there is refused before any work, so a wrong ``path``
            never deletes a folder of other files.

    Yields:
        Path: the temporary folder to fill.

    Example:
        >>> with atomic_directory("models/copy", replace=lambda d: (d / "config.json").is_file()) as tmp:
        ...     _ = (tmp / "config.json").write_text("{}")
    """
    d = check_output_dir(path)
    if d.is_dir() and not _replaceable(d, replace):
        raise OutputError("folder exists and holds other files; choose a new folder (it would be replaced)", d)
    make_dirs(d.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", dir=d.parent))
    except OSError as e:
        raise OutputError(write_problem(e, d.parent) or f"cannot write ({e.strerror})", d) from None
    try:
        yield tmp
        mask = _umask()
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~mask)
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)  # the folder appears complete, also after a crash
            finally:
                os.close(fd)
        os.chmod(tmp, 0o777 & ~mask)
        _fsync_dir(tmp)
        if d.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{d.name}.old.", dir=d.parent))
            d.rename(old / d.name)
            tmp.rename(d)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(d)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, MuseError) or not isinstance(e, Exception):
            raise
        why = write_problem(e, d.parent)
        if why is None:
            raise
        raise OutputError(why, d) from None

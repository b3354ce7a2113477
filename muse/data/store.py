"""Tokenized corpora stored once on disk as flat integer arrays (numpy memmap).

Layout of a store directory::

    manifest.json          tokenizer fingerprint, source checksums, options, split sizes,
                           and the size and checksum of every file below
    train.bin / train.idx.npy  tokens (uint16 if the vocab fits, else uint32) / document offsets (int64)
    valid.bin / valid.idx.npy
    test.bin  / test.idx.npy

Documents are concatenated; ``offsets[i]:offsets[i+1]`` is document ``i``.
:func:`cached_store` rebuilds only when the cache key (tokenizer, sources,
options) changed, so a warm load is just opening memmaps.

A store is never seen half-written and never silently broken:

* opening checks every file's size against the manifest (always) and its
  checksum (when the store is at most :data:`VERIFY_BYTES`, or on demand); a
  damaged store is a :class:`DamagedStore` error, which :func:`cached_store`
  answers with a warning and a rebuild from the sources;
* a build holds an exclusive lock (``NAME.lock`` beside the store), writes into
  a temporary sibling folder and renames it into place; a process that waited
  for the lock reuses what the winner built; temporary folders left by builds
  that died (``kill -9``) are removed by the next build;
* worker processes forked while the corpus is read die with the build
  (:func:`muse.data.workers.children_die_with_parent`);
* a cache folder that cannot be written (read-only, full disk) is one
  :class:`~muse.errors.DataError` line naming it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from muse.data.report import warn
from muse.data.workers import children_die_with_parent
from muse.errors import DataError

STORE_FORMAT = 2
SPLITS = ("train", "valid", "test")
CHECKSUM = "sha1"
"""hashlib algorithm of the data files' checksums (hardware-accelerated on most CPUs)."""
VERIFY_BYTES = 64 << 20
"""Stores up to this size have their checksums verified on every open (well under a second)."""
WRITABLE_HINT = "set MUSE_CACHE to a writable folder"


class DamagedStore(DataError):
    """A token store whose files do not match its manifest (truncated, missing or changed).

    Args:
        problem: what is wrong, e.g. ``"train.bin has 10 bytes, the manifest says 400"``.
        path: the store folder.

    Example:
        >>> from muse.data.store import DamagedStore
        >>> str(DamagedStore("train.bin is missing", "/tmp/s")).startswith("/tmp/s: damaged token store")
        True
    """

    def __init__(self, problem: str, path: str | Path | None = None):
        self.problem = problem
        super().__init__(f"damaged token store: {problem}; {REBUILD}", path)


@dataclass
class TokenStore:
    """One split: a flat token memmap and document offsets."""

    tokens: np.ndarray
    offsets: np.ndarray

    @classmethod
    def open(cls, directory: str | Path, split: str, manifest: dict[str, Any] | None = None) -> "TokenStore":
        """Open ``split`` of the store at ``directory`` (memory-mapped, read-only).

        Args:
            directory: the store folder.
            split: ``"train"``, ``"valid"`` or ``"test"``.
            manifest: its manifest when already read; None: read it.

        Returns:
            TokenStore: the split's tokens and document offsets.

        Example:
            >>> from muse.data.store import TokenStore
            >>> train = TokenStore.open("~/.cache/muse/corpora/poem-tang-0123abcd", "train")
        """
        d = Path(directory).expanduser()
        manifest = read_manifest(d) if manifest is None else manifest
        dtype = np.dtype(manifest["dtype"])
        n = manifest["splits"][split]["tokens"]
        try:
            tokens = np.memmap(d / f"{split}.bin", dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)
            offsets = np.load(d / f"{split}.idx.npy")
        except (OSError, ValueError) as e:
            raise DamagedStore(f"{split} split unreadable ({e})", d) from None
        if len(offsets) != manifest["splits"][split]["docs"] + 1 or (len(offsets) and int(offsets[-1]) != n):
            raise DamagedStore(f"{split}.idx.npy does not match the manifest", d)
        return cls(tokens, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1]) if len(self.offsets) else 0

    def doc(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def doc_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


REBUILD = "rebuild it with `muse corpora build ... --rebuild` (or data.rebuild=true)"


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of the store at ``directory`` (a :class:`DataError` when absent, corrupt or old).

    Args:
        directory: the store folder.

    Returns:
        dict[str, Any]: format, dtype, vocab_size, key, key_hash, splits
        (docs and tokens of each), files (bytes and checksum of each) and what
        the builder added (tokenizer, skipped inputs, ...).

    Example:
        >>> from muse.data.store import read_manifest
        >>> read_manifest("~/.cache/muse/corpora/poem-tang-0123abcd")["splits"]["valid"]["docs"]
        2876
    """
    p = Path(directory).expanduser() / "manifest.json"
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no token store here (manifest.json missing); build the corpus first", Path(directory)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DamagedStore(f"corrupt manifest.json ({e})", Path(directory)) from None
    except OSError as e:
        raise DataError(f"cannot read manifest.json ({e.strerror or e})", p) from None
    if not isinstance(m, dict) or m.get("format") != STORE_FORMAT:
        got = m.get("format") if isinstance(m, dict) else None
        raise DataError(f"token store format {got} is not {STORE_FORMAT}; {REBUILD}", p)
    return m


def file_digest(path: str | Path, algorithm: str = CHECKSUM) -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks.

    Args:
        path: the file.
        algorithm: a :mod:`hashlib` name (default :data:`CHECKSUM`).

    Returns:
        str: the hex digest.

    Example:
        >>> from muse.data.store import file_digest
        >>> len(file_digest(__file__))
        40
    """
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_store(directory: str | Path, manifest: dict[str, Any] | None = None, checksums: bool | None = None) -> None:
    """Raise :class:`DamagedStore` unless every file of the store matches its manifest.

    Sizes are always compared (one ``stat`` per file); checksums too when
    ``checksums`` is True, or when it is None and the store holds at most
    :data:`VERIFY_BYTES`.

    Args:
        directory: the store folder.
        manifest: its manifest when already read; None: read it.
        checksums: True: always hash the files; False: sizes only; None: hash
            small stores.

    Returns:
        None.

    Example:
        >>> from muse.data.store import verify_store
        >>> verify_store("~/.cache/muse/corpora/poem-tang-0123abcd", checksums=True)
    """
    d = Path(directory).expanduser()
    m = read_manifest(d) if manifest is None else manifest
    files: dict[str, dict[str, Any]] = m.get("files") or {}
    if not files:
        raise DamagedStore("the manifest lists no files", d)
    for name, rec in files.items():
        try:
            size = (d / name).stat().st_size
        except FileNotFoundError:
            raise DamagedStore(f"{name} is missing", d) from None
        if size != rec["bytes"]:
            raise DamagedStore(f"{name} has {size:,} bytes, the manifest says {rec['bytes']:,}", d)
    if checksums is None:
        checksums = sum(int(r["bytes"]) for r in files.values()) <= VERIFY_BYTES
    if checksums:
        algorithm = m.get("checksum", CHECKSUM)
        for name, rec in files.items():
            if file_digest(d / name, algorithm) != rec[algorithm]:
                raise DamagedStore(f"{name} does not match its {algorithm} checksum", d)


def split_of(doc_id: str, valid_frac: float | None = 0.05, test_frac: float | None = 0.05, salt: str = "") -> str:
    """Deterministic split of a document (or piece) by a hash of its id (a fraction None means 0.05).

    Args:
        doc_id: the document's stable id (a function of its content, never of a path).
        valid_frac: share of ids that land in ``valid``.
        test_frac: share of ids that land in ``test``.
        salt: prefix of the hashed text (an independent split of the same ids).

    Returns:
        str: ``"train"``, ``"valid"`` or ``"test"``.

    Example:
        >>> from muse.data.store import split_of
        >>> split_of("poem-0001", 0.05, 0.05) in ("train", "valid", "test")
        True
    """
    valid_frac = 0.05 if valid_frac is None else valid_frac
    test_frac = 0.05 if test_frac is None else test_frac
    h = int.from_bytes(hashlib.sha1((salt + doc_id).encode("utf-8")).digest()[:8], "big") / 2**64
    if h < test_frac:
        return "test"
    if h < test_frac + valid_frac:
        return "valid"
    return "train"


def file_checksums(paths: Iterable[str | Path]) -> dict[str, str]:
    """sha1 of each source file's bytes, keyed by its path (the cache key of a corpus)."""
    out = {}
    for p in sorted(str(x) for x in paths):
        h = hashlib.sha1()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out[p] = h.hexdigest()
    return out


class _NotTheCache(Exception):
    """Carries an error of the caller's code (a corpus reader) past the cache's OSError handling."""

    def __init__(self, err: BaseException):
        super().__init__(str(err))
        self.err = err


@contextmanager
def _cache_io(directory: Path, hint: str) -> Iterator[None]:
    """OSErrors of the cache folder itself (read-only, full disk, not a folder) -> one DataError line."""
    try:
        yield
    except _NotTheCache:
        raise
    except OSError as e:
        raise DataError(f"cannot write the token cache: {e.strerror or e} ({hint})", directory.parent) from None


def _theirs(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - re-raised as it was, after the cache's handlers
        raise _NotTheCache(e) from e


def _lock_path(directory: Path) -> Path:
    return directory.parent / f"{directory.name}.lock"


@contextmanager
def _locked(directory: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold the store's exclusive build lock (an fcntl lock on ``NAME.lock``; no-op without fcntl).

    Yields False when ``blocking`` is False and another process holds it.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: builds are not serialised
        yield True
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(_lock_path(directory), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _stale_temps(directory: Path) -> list[Path]:
    prefix = f".{directory.name}."
    return [p for p in directory.parent.iterdir() if p.name.startswith(prefix) and p.is_dir()] + \
        [p for p in [directory.with_name(directory.name + ".old")] if p.is_dir()]


def remove_stale_builds(root: str | Path) -> list[Path]:
    """Remove the temporary folders that dead builds left in the cache folder ``root``.

    A store's temporary folders (``.NAME.*``) are stale when nobody holds its
    build lock (``NAME.lock``): the build that made them was killed.

    Args:
        root: the folder holding token stores.

    Returns:
        list[Path]: the folders removed.

    Example:
        >>> from muse.data.store import remove_stale_builds
        >>> remove_stale_builds("~/.cache/muse/corpora")
        []
    """
    root = Path(root).expanduser()
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for lock in sorted(root.glob("*.lock")):
        store = root / lock.name[: -len(".lock")]
        temps = _stale_temps(store)
        if not temps:
            continue
        with _locked(store, blocking=False) as mine:
            if mine:
                for t in _stale_temps(store):
                    shutil.rmtree(t, ignore_errors=True)
                    removed.append(t)
    return removed


def _write_store(tmp: Path, docs: Iterable[tuple[str, Sequence[int]]], vocab_size: int, key: dict[str, Any],
                 extra: dict[str, Any] | None, hint: str) -> None:
    dtype = np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32
    offsets: dict[str, list[int]] = {s: [0] for s in SPLITS}
    with _cache_io(tmp, hint):
        files = {s: open(tmp / f"{s}.bin", "wb") for s in SPLITS}
    digests = {s: hashlib.new(CHECKSUM) for s in SPLITS}  # hashed as written: nothing is read back
    try:
        for split, ids in docs:
            if split not in files:
                raise ValueError(f"unknown split {split!r}")
            arr = np.asarray(ids, dtype=np.int64)
            if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
                raise ValueError(f"token id out of range [0, {vocab_size})")
            raw = arr.astype(dtype).tobytes()
            digests[split].update(raw)
            with _cache_io(tmp, hint):
                files[split].write(raw)
            offsets[split].append(offsets[split][-1] + int(arr.size))
    finally:
        with _cache_io(tmp, hint):
            for f in files.values():
                f.close()
    with _cache_io(tmp, hint):
        for s in SPLITS:
            np.save(tmp / f"{s}.idx.npy", np.asarray(offsets[s], dtype=np.int64))
        names = [f"{s}{ext}" for s in SPLITS for ext in (".bin", ".idx.npy")]
        manifest = {
            "format": STORE_FORMAT,
            "dtype": np.dtype(dtype).name,
            "vocab_size": vocab_size,
            "key": key,
            "key_hash": key_hash(key),
            "splits": {s: {"docs": len(offsets[s]) - 1, "tokens": offsets[s][-1]} for s in SPLITS},
            "checksum": CHECKSUM,
            "files": {n: {"bytes": (tmp / n).stat().st_size,
                          CHECKSUM: digests[n[:-4]].hexdigest() if n.endswith(".bin") else file_digest(tmp / n)}
                      for n in names},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(extra or {}),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")


def _build_locked(directory: Path, produce: Callable[[], tuple[Iterable[tuple[str, Sequence[int]]], int, dict]],
                  key: dict[str, Any], hint: str) -> None:
    """Build the store (the caller holds its lock): a temporary sibling folder, renamed into place."""
    with _cache_io(directory, hint):
        for t in _stale_temps(directory):  # left by builds that died: nobody else may hold the lock
            shutil.rmtree(t, ignore_errors=True)
        remove_stale_builds(directory.parent)  # and those of other stores whose lock is free
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        with children_die_with_parent():
            docs, vocab_size, extra = _theirs(produce)
        _write_store(tmp, docs, vocab_size, key, extra, hint)
        with _cache_io(directory, hint):
            os.chmod(tmp, 0o755)
            if directory.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
                os.replace(directory, old / directory.name)
                os.replace(tmp, directory)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_store(
    directory: str | Path,
    docs: Iterable[tuple[str, Sequence[int]]],
    vocab_size: int,
    key: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``(split, token_ids)`` documents to a new store, atomically replacing any old one.

    The build holds the store's lock, so concurrent builds of one store run one
    after the other and a reader never sees a half-written store.

    Args:
        directory: the store folder to (re)create.
        docs: ``(split, token ids)`` pairs, split one of ``train``, ``valid``, ``test``.
        vocab_size: every id must lie in ``[0, vocab_size)``; picks uint16 or uint32.
        key: the cache key (what the tokens were made from), stored in the manifest.
        extra: more manifest entries (tokenizer, skipped inputs, ...).

    Returns:
        Path: ``directory``.

    Example:
        >>> from muse.data.store import build_store, open_store
        >>> build_store("/tmp/s", [("train", [1, 5, 2]), ("valid", [1, 6, 2])], vocab_size=8, key={})
        PosixPath('/tmp/s')
        >>> open_store("/tmp/s")["train"].doc(0).tolist()
        [1, 5, 2]
    """
    directory = Path(directory).expanduser()
    try:
        with ExitStack() as stack:
            with _cache_io(directory, WRITABLE_HINT):
                stack.enter_context(_locked(directory))
            _build_locked(directory, lambda: (docs, vocab_size, extra), key, WRITABLE_HINT)
    except _NotTheCache as e:
        raise e.err from None
    return directory


def key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def cached_store(
    directory: str | Path,
    key: dict[str, Any],
    produce: Callable[[], tuple[Iterable[tuple[str, Sequence[int]]], int, dict[str, Any]]],
    rebuild: bool = False,
    *,
    verify: bool | None = None,
    hint: str = WRITABLE_HINT,
) -> tuple[dict[str, TokenStore], dict[str, Any], bool]:
    """Open the store at ``directory`` if its key matches, else build it with ``produce``.

    ``produce()`` returns ``(docs, vocab_size, extra_manifest)``; ``extra_manifest``
    (e.g. the tokenizer that made the tokens, a report of skipped files) is stored
    in the manifest. A damaged store (see :func:`verify_store`) is reported with a
    :class:`~muse.data.report.MuseWarning` and rebuilt. Concurrent calls for one
    store build it once: the others wait for the lock and open the result.

    Args:
        directory: the store folder.
        key: what the tokens are made from (sources, tokenizer options, split).
        produce: builds the documents when the store is missing, stale or damaged.
        rebuild: build even when a matching store exists.
        verify: checksums on opening: True always, False never (sizes are always
            checked), None for stores up to :data:`VERIFY_BYTES`.
        hint: what to do when the cache folder cannot be written (ends that error).

    Returns:
        tuple: ``(stores, manifest, built)``: the three splits by name, the
        manifest, and whether this call built the store.

    Example:
        >>> from muse.data.store import cached_store
        >>> stores, manifest, built = cached_store("/tmp/c", {"src": "a"},
        ...                                        lambda: ([("train", [1, 3, 2])], 4, {}))
        >>> built, stores["train"].n_tokens
        (True, 3)
    """
    directory = Path(directory).expanduser()
    want = key_hash(key)
    damaged: DamagedStore | None = None
    if not rebuild:
        got, damaged = _try_current(directory, want, verify)
        if got is not None:
            return (*got, False)
    try:
        with ExitStack() as stack:
            with _cache_io(directory, hint):
                stack.enter_context(_locked(directory))
            if not rebuild:  # another process may have built it while this one waited for the lock
                got, again = _try_current(directory, want, verify)
                if got is not None:
                    return (*got, False)
                damaged = again or damaged
            if damaged is not None:
                warn(f"{directory}: damaged token store ({damaged.problem}); rebuilding it from the sources")
            try:
                _build_locked(directory, produce, key, hint)
            except _NotTheCache as e:
                if damaged is not None and isinstance(e.err, (DataError, OSError)):
                    raise DataError(f"the token store is damaged and cannot be rebuilt from its sources ({e.err}); "
                                    "rebuild it with `muse corpora build` once the sources are back",
                                    directory) from None
                raise
            manifest = read_manifest(directory)
            stores = open_store(directory, verify=False, manifest=manifest)  # just written and checked
    except _NotTheCache as e:
        raise e.err from None
    if stores["train"].n_tokens == 0:
        raise DataError("dataset is empty: no training documents were produced", directory)
    return stores, manifest, True


def _try_current(directory: Path, want: str, verify: bool | None
                 ) -> tuple[tuple[dict[str, TokenStore], dict[str, Any]] | None, DamagedStore | None]:
    """(:func:`_open_if_current`'s answer, None), or (None, the damage found)."""
    try:
        return _open_if_current(directory, want, verify), None
    except DamagedStore as e:
        return None, e


def _open_if_current(directory: Path, want: str, verify: bool | None
                     ) -> tuple[dict[str, TokenStore], dict[str, Any]] | None:
    """The store and its manifest when it exists with key hash ``want`` and is whole; None when absent or stale."""
    if not (directory / "manifest.json").exists():
        return None
    try:
        m = read_manifest(directory)
    except DamagedStore:
        raise
    except DataError:
        return None  # an older format or gone in between: rebuilt without a warning
    if m.get("key_hash") != want:
        return None
    return open_store(directory, verify=verify, manifest=m), m


def open_store(directory: str | Path, verify: bool | None = None,
               manifest: dict[str, Any] | None = None) -> dict[str, TokenStore]:
    """The three splits of the store at ``directory``, after :func:`verify_store`.

    Args:
        directory: the store folder.
        verify: checksums: True always, False never (sizes are always checked),
            None for stores up to :data:`VERIFY_BYTES`.
        manifest: its manifest when already read; None: read it.

    Returns:
        dict[str, TokenStore]: ``train``, ``valid`` and ``test``.

    Example:
        >>> from muse.data.store import open_store
        >>> stores = open_store("~/.cache/muse/corpora/poem-tang-0123abcd")
        >>> len(stores["valid"]) > 0
        True
    """
    d = Path(directory).expanduser()
    m = read_manifest(d) if manifest is None else manifest
    verify_store(d, m, verify)
    return {s: TokenStore.open(d, s, m) for s in SPLITS}

"""Tokenized corpora stored once on disk as flat integer arrays (numpy memmap).

Layout of a store directory::

    manifest.json          tokenizer fingerprint, source checksums, options, split sizes
    train.bin / train.idx  tokens (uint16 if the vocab fits, else uint32) / document offsets (int64)
    valid.bin / valid.idx
    test.bin  / test.idx

Documents are concatenated; ``offsets[i]:offsets[i+1]`` is document ``i``.
:func:`cached_store` rebuilds only when the cache key (tokenizer, sources,
options) changed, so a warm load is just opening memmaps.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from muse.errors import DataError

STORE_FORMAT = 1
SPLITS = ("train", "valid", "test")


@dataclass
class TokenStore:
    """One split: a flat token memmap and document offsets."""

    tokens: np.ndarray
    offsets: np.ndarray

    @classmethod
    def open(cls, directory: str | Path, split: str) -> "TokenStore":
        d = Path(directory)
        manifest = read_manifest(d)
        dtype = np.dtype(manifest["dtype"])
        n = manifest["splits"][split]["tokens"]
        bin_path = d / f"{split}.bin"
        tokens = np.memmap(bin_path, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)
        offsets = np.load(d / f"{split}.idx.npy")
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


def read_manifest(directory: str | Path) -> dict[str, Any]:
    p = Path(directory) / "manifest.json"
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no token store here (manifest.json missing); build the corpus first", Path(directory)) from None
    except json.JSONDecodeError as e:
        raise DataError(f"corrupt manifest.json ({e})", p) from None
    if m.get("format") != STORE_FORMAT:
        raise DataError(f"token store format {m.get('format')} is not {STORE_FORMAT}; rebuild it", p)
    return m


def split_of(doc_id: str, valid_frac: float = 0.05, test_frac: float = 0.05, salt: str = "") -> str:
    """Deterministic split of a document (or piece) by a hash of its id."""
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


def build_store(
    directory: str | Path,
    docs: Iterable[tuple[str, Sequence[int]]],
    vocab_size: int,
    key: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``(split, token_ids)`` documents to a new store, atomically replacing any old one."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        files = {s: open(tmp / f"{s}.bin", "wb") for s in SPLITS}
        offsets: dict[str, list[int]] = {s: [0] for s in SPLITS}
        for split, ids in docs:
            if split not in files:
                raise ValueError(f"unknown split {split!r}")
            arr = np.asarray(ids, dtype=np.int64)
            if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
                raise ValueError(f"token id out of range [0, {vocab_size})")
            files[split].write(arr.astype(dtype).tobytes())
            offsets[split].append(offsets[split][-1] + int(arr.size))
        for f in files.values():
            f.close()
        for s in SPLITS:
            np.save(tmp / f"{s}.idx.npy", np.asarray(offsets[s], dtype=np.int64))
        manifest = {
            "format": STORE_FORMAT,
            "dtype": np.dtype(dtype).name,
            "vocab_size": vocab_size,
            "key": key,
            "key_hash": key_hash(key),
            "splits": {s: {"docs": len(offsets[s]) - 1, "tokens": offsets[s][-1]} for s in SPLITS},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(extra or {}),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        old = directory.with_name(directory.name + ".old")
        if directory.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def cached_store(
    directory: str | Path,
    key: dict[str, Any],
    produce: Callable[[], tuple[Iterable[tuple[str, Sequence[int]]], int, dict[str, Any]]],
    rebuild: bool = False,
) -> tuple[dict[str, TokenStore], dict[str, Any], bool]:
    """Open the store at ``directory`` if its key matches, else build it with ``produce``.

    ``produce()`` returns ``(docs, vocab_size, extra_manifest)``; ``extra_manifest``
    (e.g. the tokenizer that made the tokens, a report of skipped files) is stored
    in the manifest. Returns ``(stores, manifest, built)``.
    """
    directory = Path(directory)
    if not rebuild and (directory / "manifest.json").exists():
        try:
            m = read_manifest(directory)
            if m.get("key_hash") == key_hash(key):
                return open_store(directory), m, False
        except DataError:
            pass
    docs, vocab_size, extra = produce()
    build_store(directory, docs, vocab_size, key, extra)
    stores = open_store(directory)
    if stores["train"].n_tokens == 0:
        raise DataError("dataset is empty: no training documents were produced", directory)
    return stores, read_manifest(directory), True


def open_store(directory: str | Path) -> dict[str, TokenStore]:
    return {s: TokenStore.open(directory, s) for s in SPLITS}

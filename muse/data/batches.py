"""Batches from token stores and tensors, deterministic for a seed, index and rank.

Every source answers ``batch(index)`` for a *global* batch index: the same index
always gives the same examples, which makes resumption exact (no iterator state
to save) and lets distributed ranks each read only their own slice of the
global batch, so N processes see exactly the examples one process would.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from muse.data.store import TokenStore
from muse.errors import DataError

IGNORE = -100


class BatchSource(Protocol):
    steps_per_epoch: int | None

    def batch(self, index: int) -> dict[str, torch.Tensor]: ...


def _rank_slice(n: int, rank: int, world: int) -> slice:
    if n % world:
        raise DataError(f"global batch size {n} is not divisible by the {world} distributed processes")
    per = n // world
    return slice(rank * per, (rank + 1) * per)


class WindowBatches:
    """Random fixed-length windows over the concatenated token stream (language modelling).

    With ``doc_start_frac`` > 0 that fraction of the windows (on average) begins
    exactly at the start of a document chosen uniformly, so the model also learns
    how documents open from an empty context, which is how generation starts.
    """

    steps_per_epoch = None

    def __init__(self, store: TokenStore, block_size: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world: int = 1, doc_start_frac: float = 0.0):
        if store.n_tokens < block_size + 2:
            raise DataError(f"split has {store.n_tokens} tokens, fewer than one window of {block_size + 1}")
        if not 0.0 <= doc_start_frac <= 1.0:
            raise DataError(f"doc_start_frac must lie in [0, 1], not {doc_start_frac}")
        self.store, self.block_size, self.batch_size = store, block_size, batch_size
        self.seed, self.part = seed, _rank_slice(batch_size, rank, world)
        self.doc_start_frac = doc_start_frac
        self._arange = np.arange(block_size + 1)
        self._last_start = store.n_tokens - block_size - 1
        self._doc_starts = np.minimum(np.asarray(store.offsets[:-1], dtype=np.int64), self._last_start - 1)

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        starts = rng.integers(0, self._last_start, size=self.batch_size)
        if self.doc_start_frac > 0 and len(self._doc_starts):
            aligned = rng.random(self.batch_size) < self.doc_start_frac
            starts = np.where(aligned, self._doc_starts[rng.integers(0, len(self._doc_starts), self.batch_size)],
                              starts)
        starts = starts[self.part]
        win = torch.from_numpy(self.store.tokens[starts[:, None] + self._arange].astype(np.int64))
        return {"input": win[:, :-1], "target": win[:, 1:]}


class DocumentBatches:
    """Whole documents, bucketed by length and padded; one pass over the split per epoch.

    ``mode="lm"`` gives ``input = doc[:-1]``, ``target = doc[1:]`` (padding -> -100);
    ``mode="plain"`` gives the documents themselves as ``input`` (fixed-length data).
    """

    def __init__(self, store: TokenStore, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1,
                 max_len: int | None = None, pad_id: int = 0, mode: str = "lm", shuffle: bool = True,
                 bucket: bool = True):
        if len(store) < batch_size:
            raise DataError(f"split has {len(store)} documents, fewer than one batch of {batch_size}")
        self.store, self.batch_size, self.seed = store, batch_size, seed
        self.part = _rank_slice(batch_size, rank, world)
        self.max_len, self.pad_id, self.mode = max_len, pad_id, mode
        self.shuffle, self.bucket = shuffle, bucket
        self.lengths = store.doc_lengths()
        self.steps_per_epoch = len(store) // batch_size
        self._epoch, self._order = -1, np.zeros(0, np.int64)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            n = len(self.store)
            rng = np.random.default_rng([self.seed, epoch])
            perm = rng.permutation(n) if self.shuffle else np.arange(n)
            perm = perm[: self.steps_per_epoch * self.batch_size]
            if self.bucket:
                chunk = self.batch_size * 50
                parts = [p[np.argsort(self.lengths[p], kind="stable")] for p in np.split(perm, range(chunk, len(perm), chunk))]
                batches = np.concatenate(parts).reshape(-1, self.batch_size)
                if self.shuffle:
                    batches = batches[rng.permutation(len(batches))]
                perm = batches.reshape(-1)
            self._epoch, self._order = epoch, perm
        return self._order

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        epoch, i = divmod(index, self.steps_per_epoch)
        ids = self._epoch_order(epoch)[i * self.batch_size : (i + 1) * self.batch_size][self.part]
        docs = [self.store.doc(j) for j in ids]
        if self.max_len:
            limit = self.max_len + (1 if self.mode == "lm" else 0)
            docs = [d[:limit] for d in docs]
        width = max(len(d) for d in docs)
        arr = np.full((len(docs), width), self.pad_id, dtype=np.int64)
        for r, d in enumerate(docs):
            arr[r, : len(d)] = d
        t = torch.from_numpy(arr)
        if self.mode == "plain":
            return {"input": t, "lengths": torch.tensor([len(d) for d in docs])}
        target = t[:, 1:].clone()
        lens = torch.tensor([len(d) - 1 for d in docs])
        target[torch.arange(width - 1)[None, :] >= lens[:, None]] = IGNORE
        return {"input": t[:, :-1], "target": target}


class TensorBatches:
    """Shuffled mini-batches over in-memory tensors (images, labels); drop-last per epoch."""

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int, seed: int = 0,
                 rank: int = 0, world: int = 1):
        n = len(next(iter(tensors.values())))
        if n < batch_size:
            raise DataError(f"dataset has {n} examples, fewer than one batch of {batch_size}")
        self.tensors, self.batch_size, self.seed, self.n = tensors, batch_size, seed, n
        self.part = _rank_slice(batch_size, rank, world)
        self.steps_per_epoch = n // batch_size
        self._epoch, self._perm = -1, torch.zeros(0, dtype=torch.long)

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        epoch, i = divmod(index, self.steps_per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        idx = self._perm[i * self.batch_size : (i + 1) * self.batch_size][self.part]
        return {k: v[idx] for k, v in self.tensors.items()}


class DevicePrefetcher:
    """Moves batches to the training device; on CUDA overlaps the copy with compute.

    On CUDA the next batch is assembled in pinned host memory by a background
    thread and copied with ``non_blocking=True`` on a side stream while the
    current step runs. On CPU batches are used as they are, without copies.
    """

    def __init__(self, source: BatchSource, device: torch.device):
        self.source, self.device = source, device
        self.cuda = device.type == "cuda"
        self._next: tuple[int, object] | None = None
        if self.cuda:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1)
            self._stream = torch.cuda.Stream(device)

    def _load(self, index: int) -> dict[str, torch.Tensor]:
        b = self.source.batch(index)
        return {k: v.pin_memory() for k, v in b.items()}

    def _to_device(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.cuda.stream(self._stream):
            out = {k: v.to(self.device, non_blocking=True) for k, v in b.items()}
        return out

    def get(self, index: int) -> dict[str, torch.Tensor]:
        if not self.cuda:
            b = self.source.batch(index)
            return b if self.device.type == "cpu" else {k: v.to(self.device) for k, v in b.items()}
        if self._next is not None and self._next[0] == index:
            b = self._next[1].result()  # type: ignore[union-attr]
        else:
            b = self._load(index)
        moved = self._to_device(b)
        torch.cuda.current_stream(self.device).wait_stream(self._stream)
        for v in moved.values():
            v.record_stream(torch.cuda.current_stream(self.device))
        self._next = (index + 1, self._pool.submit(self._load, index + 1))
        return moved

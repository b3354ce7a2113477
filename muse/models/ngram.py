"""Interpolated Kneser-Ney n-gram language model over integer token sequences.

A count-based baseline for the neural models: fit in seconds, evaluated in the
same units (nats and bits per predicted token).

Each training sequence is one document as the data pipeline produces it: it
starts with a start token (BOS) and usually ends with EOS. Every token after the
first is predicted; contexts reaching back before the start are left-padded with
the first token, so the first prediction sees ``order - 1`` BOS tokens.

N-grams are stored as int64 keys (``sum(token_j * V**(k-1-j))``), sorted per
order, so training, scoring and sampling are numpy ``unique``/``searchsorted``
calls. This needs ``vocab_size ** order < 2**63`` (V <= 55k at order 4).

Chen & Goodman (1998): with adjusted counts ``a_k`` (raw counts at the top order,
continuation counts ``N1+(. h w)`` below it) and discounts ``D``::

    P_k(w | h) = max(a_k(h w) - D(a), 0) / sum_w' a_k(h w')  +  gamma(h) P_{k-1}(w | h')
    gamma(h)   = sum_c D_c N_c(h .) / sum_w' a_k(h w')
    P_0(w)     = 1 / V

A context never seen at order k falls through to order k-1, so every
conditional distribution sums to one over the whole vocabulary.

:class:`KneserNeyDecoder` puts a fitted model behind the decoding interface of
the neural token models (:mod:`muse.models.lm`), so it is sampled by the one
sampler, :func:`muse.sampling.sampler.generate`, with the same constraints.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from muse.errors import CheckpointError, ConfigError, DataError

_FORMAT = "muse-kneser-ney-v1"


@dataclass
class _Order:
    """Adjusted counts of all k-grams for one order k, sorted by key."""

    keys: np.ndarray  # int64 k-gram keys, sorted
    counts: np.ndarray  # int64 adjusted counts a_k
    ctx_keys: np.ndarray  # int64 (k-1)-gram context keys, sorted, unique
    ctx_total: np.ndarray  # float64 sum of a_k over followers
    ctx_gamma: np.ndarray  # float64 gamma(h) (already divided by the total)
    discounts: np.ndarray  # float64 [0, D1, D2, D3+]


class KneserNeyLM:
    """Interpolated (optionally modified) Kneser-Ney LM.

    ``discount`` is the single absolute discount of interpolated KN; with
    ``modified=True`` three discounts per order (D1, D2, D3+) are estimated
    from count-of-counts instead, falling back to ``discount`` for an order
    whose counts are too sparse or irregular to give ``0 < D_c <= c``.
    """

    def __init__(self, order: int = 4, discount: float = 0.75, *, modified: bool = False):
        if order < 1:
            raise ConfigError(f"n-gram order must be >= 1, got {order}")
        if not 0.0 < discount <= 1.0:
            raise ConfigError(f"Kneser-Ney discount must be in (0, 1], got {discount}")
        self.order = int(order)
        self.discount = float(discount)
        self.modified = bool(modified)
        self.vocab_size = 0
        self._orders: list[_Order] = []

    # ------------------------------------------------------------------ fit
    def fit(self, sequences: Iterable[Sequence[int]], vocab_size: int) -> "KneserNeyLM":
        """Count n-grams in ``sequences`` (each starting with its BOS) and build the model."""
        self._set_vocab(vocab_size)
        keys = self._window_keys(sequences)[0]
        if keys.size == 0:
            raise DataError("no tokens to fit the n-gram model on (every sequence has < 2 tokens)")
        n, V = self.order, self.vocab_size
        orders: list[_Order] = [None] * n  # type: ignore[list-item]
        top, top_counts = np.unique(keys, return_counts=True)
        uniq, counts = top, top_counts.astype(np.int64)
        for k in range(n, 0, -1):
            if k < n:
                # Continuation count: how many distinct tokens precede this k-gram.
                uniq, counts = np.unique(uniq % V**k, return_counts=True)
                counts = counts.astype(np.int64)
            orders[k - 1] = self._build_order(uniq, counts)
        self._orders = orders
        return self

    def _set_vocab(self, vocab_size: int) -> None:
        if vocab_size < 1:
            raise ConfigError(f"vocab_size must be >= 1, got {vocab_size}")
        if vocab_size**self.order >= 2**63:
            raise ConfigError(
                f"vocab_size {vocab_size} ** order {self.order} does not fit int64 n-gram keys; lower the order"
            )
        self.vocab_size = int(vocab_size)

    def _discounts(self, counts: np.ndarray) -> np.ndarray:
        d = self.discount
        if not self.modified:
            return np.array([0.0, d, d, d])
        n = [int(np.count_nonzero(counts == c)) for c in (1, 2, 3, 4)]
        if min(n) == 0:
            return np.array([0.0, d, d, d])
        y = n[0] / (n[0] + 2 * n[1])
        est = [1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]]
        if not all(0.0 < e <= c for c, e in zip((1, 2, 3), est)):
            return np.array([0.0, d, d, d])  # counts too irregular for the estimate
        return np.array([0.0, *est])

    def _build_order(self, keys: np.ndarray, counts: np.ndarray) -> _Order:
        V = self.vocab_size
        disc = self._discounts(counts)
        ctx = keys // V
        ctx_keys, first = np.unique(ctx, return_index=True)
        total = np.add.reduceat(counts, first).astype(np.float64)
        d_each = disc[np.minimum(counts, 3)]
        gamma = np.add.reduceat(d_each, first) / total
        return _Order(keys, counts, ctx_keys, total, gamma, disc)

    # -------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not self._orders:
            raise ConfigError("the n-gram model is not fitted; call fit() or load() first")

    def _window_keys(self, sequences: Iterable[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Keys of the ``order``-token windows ending at every predicted token, and those tokens."""
        n, V = self.order, self.vocab_size
        parts = []
        for seq in sequences:
            arr = np.asarray(seq, dtype=np.int64).ravel()
            if arr.size < 2:
                continue
            self._check_ids(arr)
            key = np.zeros(arr.size - 1, dtype=np.int64)
            padded = np.concatenate([np.full(n - 1, arr[0], dtype=np.int64), arr])
            for j in range(n):  # window position j holds weight V**(n-1-j)
                key = key * V + padded[j + 1 : j + arr.size]
            parts.append(key)
        keys = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return keys, keys % V

    def _check_ids(self, arr: np.ndarray) -> None:
        V = self.vocab_size
        if arr.size and (arr.min() < 0 or arr.max() >= V):
            bad = int(arr[(arr < 0) | (arr >= V)][0])
            raise DataError(f"token id {bad} is outside the vocabulary of size {V}")

    def _prob_keys(self, keys: np.ndarray, max_order: int | None = None) -> np.ndarray:
        """Probabilities of the last token of each ``order``-gram key (vectorised)."""
        V = self.vocab_size
        p = np.full(keys.shape, 1.0 / V)
        for k in range(1, (max_order or self.order) + 1):
            o = self._orders[k - 1]
            kk = keys % V**k
            h = kk // V
            ci = np.searchsorted(o.ctx_keys, h)
            ci_c = np.minimum(ci, len(o.ctx_keys) - 1)
            found = o.ctx_keys[ci_c] == h
            ni = np.minimum(np.searchsorted(o.keys, kk), len(o.keys) - 1)
            a = np.where(o.keys[ni] == kk, o.counts[ni], 0)
            own = np.maximum(a - o.discounts[np.minimum(a, 3)], 0.0) / o.ctx_total[ci_c]
            p = np.where(found, own + o.ctx_gamma[ci_c] * p, p)
        return p

    def _context_key(self, context: Sequence[int]) -> tuple[int, int]:
        """Key of the last ``order-1`` context tokens (left-padded with context[0]) and its usable order."""
        n, V = self.order, self.vocab_size
        ctx = [int(t) for t in context]
        for t in ctx:
            if not 0 <= t < V:
                raise DataError(f"token id {t} is outside the vocabulary of size {V}")
        if not ctx:
            return 0, 1
        ctx = ([ctx[0]] * (n - 1) + ctx)[len(ctx) :] if n > 1 else []
        key = 0
        for t in ctx:
            key = key * V + t
        return key, n

    def logprob(self, context: Sequence[int], token: int) -> float:
        """Natural-log probability of ``token`` after ``context``.

        ``context`` is the history from the start of a sequence (BOS first); a
        history shorter than ``order - 1`` is left-padded with its first token,
        as in training. An empty context scores with the unigram level.
        """
        self._check_fitted()
        if not 0 <= int(token) < self.vocab_size:
            raise DataError(f"token id {token} is outside the vocabulary of size {self.vocab_size}")
        key, max_order = self._context_key(context)
        p = self._prob_keys(np.array([key * self.vocab_size + int(token)], dtype=np.int64), max_order)
        return float(np.log(p[0]))

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """Probabilities of every token id after ``context`` (sums to 1)."""
        self._check_fitted()
        key, max_order = self._context_key(context)
        V = self.vocab_size
        return self._prob_keys(key * V + np.arange(V, dtype=np.int64), max_order)

    def evaluate(self, sequences: Iterable[Sequence[int]]) -> dict[str, float]:
        """Mean negative log-likelihood per predicted token (every token after the first)."""
        self._check_fitted()
        keys, _ = self._window_keys(sequences)
        if keys.size == 0:
            raise DataError("no tokens to evaluate (every sequence has < 2 tokens)")
        nats = float(-np.log(self._prob_keys(keys)).mean())
        return {"nats": nats, "bits": nats / math.log(2), "ntokens": int(keys.size)}

    def sample(
        self,
        context: Sequence[int],
        n: int,
        rng: np.random.Generator | int | None = None,
        *,
        stop: int | None = None,
    ) -> list[int]:
        """Draw up to ``n`` tokens after ``context`` (at least one token, BOS first); stop after
        emitting ``stop`` if given. Sampled by :func:`muse.sampling.sampler.generate`, seeded from ``rng``."""
        from muse.sampling.config import GenerationConfig
        from muse.sampling.sampler import generate

        self._check_fitted()
        seed = int(np.random.default_rng(rng).integers(2**63))
        config = GenerationConfig(max_new_tokens=n, eos_id=stop, seed=seed)
        (seq,) = generate(KneserNeyDecoder(self), [int(t) for t in context], config)
        out = seq[len(context):]
        if stop is not None and len(out) < n:  # generate leaves out the stop token that ended it
            out.append(stop)
        return out

    # ---------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the model as an ``.npz`` of plain arrays (no pickle)."""
        self._check_fitted()
        path = Path(path)
        meta = {"format": _FORMAT, "order": self.order, "discount": self.discount,
                "modified": self.modified, "vocab_size": self.vocab_size}
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
        for k, o in enumerate(self._orders, 1):
            for name in ("keys", "counts", "ctx_keys", "ctx_total", "ctx_gamma", "discounts"):
                arrays[f"o{k}_{name}"] = getattr(o, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "KneserNeyLM":
        """Read a model written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != _FORMAT:
                    raise CheckpointError(f"not a Kneser-Ney model (format {meta.get('format')!r})", path)
                model = cls(meta["order"], meta["discount"], modified=meta["modified"])
                model.vocab_size = int(meta["vocab_size"])
                names = ("keys", "counts", "ctx_keys", "ctx_total", "ctx_gamma", "discounts")
                model._orders = [
                    _Order(*(z[f"o{k}_{name}"] for name in names)) for k in range(1, model.order + 1)
                ]
        except CheckpointError:
            raise
        except FileNotFoundError:
            raise CheckpointError("n-gram model file not found", path) from None
        except Exception as e:  # zip/npz/json damage of any kind
            raise CheckpointError(f"unreadable n-gram model ({type(e).__name__}: {e})", path) from None
        return model


class KneserNeyDecoder(nn.Module):
    """A fitted :class:`KneserNeyLM` as a decodable token model (see :mod:`muse.models.lm`).

    ``forward(idx, state)`` returns the model's log-probabilities as logits
    ``[B, T, V]`` (float32), position ``t`` holding the distribution after
    ``idx[:, : t + 1]`` exactly as :meth:`KneserNeyLM.distribution` gives it
    (a history shorter than ``order - 1`` left-padded with its first token).
    The state is each row's last ``order - 1`` tokens, ``LongTensor[B, order - 1]``;
    ``max_context`` is None (the state already holds all the model looks at).
    The module has no parameters.
    """

    @dataclass
    class Config:
        vocab_size: int
        order: int

    def __init__(self, lm: KneserNeyLM):
        super().__init__()
        lm._check_fitted()
        self.lm = lm
        self.config = KneserNeyDecoder.Config(lm.vocab_size, lm.order)

    @property
    def max_context(self) -> int | None:
        return None

    def forward(self, idx: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        n, V = self.lm.order, self.lm.vocab_size
        ids = idx.detach().to("cpu", torch.long).numpy()
        if ids.ndim != 2:
            raise DataError(f"n-gram decoder input must be [B, T] token ids, got shape {tuple(ids.shape)}")
        self.lm._check_ids(ids)
        b, t = ids.shape
        head = np.repeat(ids[:, :1], n - 1, axis=1) if state is None else state.to("cpu", torch.long).numpy()
        padded = np.concatenate([head, ids], axis=1)  # [B, order - 1 + T]
        ctx = np.zeros((b, t), dtype=np.int64)
        for k in range(n - 1):  # context of position j: padded[:, j + 1 : j + n]
            ctx = ctx * V + padded[:, k + 1 : k + 1 + t]
        keys = ctx[..., None] * V + np.arange(V, dtype=np.int64)
        probs = self.lm._prob_keys(keys.reshape(-1)).reshape(b, t, V)
        logits = torch.from_numpy(np.log(probs)).to(device=idx.device, dtype=torch.float32)
        return logits, torch.from_numpy(np.ascontiguousarray(padded[:, t:])).to(idx.device)

    def reorder_state(self, state: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return state.index_select(0, indices.to(state.device))

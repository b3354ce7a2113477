"""The machinery shared by language-model recipes (melodies, poems).

corpus -> tokenizer -> cached store -> batches -> model. Subclasses say how to
find sources, read items, build a tokenizer and encode items; this class does
caching, splits, batching, model building and resume checks.
"""
from __future__ import annotations

import collections.abc
import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from muse.core import distributed as D
from muse.core.checkpoint import load_checkpoint
from muse.core.config import RunConfig
from muse.data.batches import DocumentBatches, WindowBatches
from muse.data.report import SkipReport, warn
from muse.data.store import cached_store, file_checksums, key_hash, split_of
from muse.errors import CheckpointError, ConfigError, DataError
from muse.models.registry import build_model, model_class
from muse.recipes.base import ModelSpec, Prepared, Recipe
from muse.tokenizers.base import Tokenizer, tokenizer_from_dict, tokenizer_to_dict


@dataclass
class LMData:
    """Data settings every language-model recipe has."""

    corpus: str | None = None
    """Built-in corpus name, or a file/folder of your own."""
    block_size: int = 256
    """Context length in tokens."""
    batching: str = "auto"
    """window | document | auto (document when most documents fit in block_size)."""
    doc_start_frac: float = 0.0
    """Window batching: share of windows that begin at a document start."""
    split: str = "auto"
    """hash (each document by a hash of its stable id) | contiguous (a text corpus cut by character position:
    train first, then valid, then test, as nanoGPT) | auto (contiguous for a single-text corpus such as
    shakespeare, else hash)."""
    valid_frac: float | None = None
    """Share held out for validation; None: 0.05, or 0.1 with a contiguous split (nanoGPT's 90/10)."""
    test_frac: float | None = None
    """Share held out for testing; None: 0.05, or 0 with a contiguous split."""
    cache_dir: str | None = None
    """Token store folder (default ``$MUSE_CACHE/corpora`` or ``~/.cache/muse/corpora``)."""
    rebuild: bool = False
    workers: int = 2
    """Parser processes for corpus builds."""

    def validate(self) -> None:
        if self.block_size < 1:
            raise ConfigError(f"data.block_size must be >= 1, got {self.block_size}")
        if self.batching not in ("window", "document", "auto"):
            raise ConfigError(f"data.batching must be window, document or auto, not {self.batching!r}")
        if not 0.0 <= self.doc_start_frac <= 1.0:
            raise ConfigError(f"data.doc_start_frac must be in [0, 1], got {self.doc_start_frac}")
        if self.split not in SPLIT_RULES:
            raise ConfigError(f"data.split must be {', '.join(SPLIT_RULES)}, not {self.split!r}")
        for name in ("valid_frac", "test_frac"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v < 1.0:
                raise ConfigError(f"data.{name} must be in [0, 1), got {v}")
        if (self.valid_frac or 0.0) + (self.test_frac or 0.0) >= 1.0:
            raise ConfigError("data.valid_frac + data.test_frac must leave something to train on")
        if self.workers < 1:
            raise ConfigError(f"data.workers must be >= 1, got {self.workers}")


SPLIT_RULES = ("auto", "hash", "contiguous")

MIN_HELD_OUT_DOCS = 20
"""A validation or test split with fewer documents than this gets a warning (hash splits)."""
MIN_HELD_OUT_TOKENS = 2000
"""A validation or test split with fewer tokens than this gets a warning."""


def lm_models(rnn_dropout: float = 0.1) -> dict[str, ModelSpec]:
    """The language models every LM recipe offers: three RNN cells and the transformer."""
    rnn = {"n_layer": 2, "n_embd": 128, "n_hidden": 256, "dropout": rnn_dropout}
    return {
        "lstm": ModelSpec("rnn", {"cell": "lstm", **rnn}),
        "gru": ModelSpec("rnn", {"cell": "gru", **rnn}),
        "rnn": ModelSpec("rnn", {"cell": "rnn_tanh", **rnn}),
        "transformer": ModelSpec("transformer", {"n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.1,
                                                 "pos": "rope"}),
    }


def cache_root(cache_dir: str | None) -> Path:
    if cache_dir:
        return Path(cache_dir)
    return Path(os.environ.get("MUSE_CACHE", Path.home() / ".cache" / "muse")) / "corpora"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[-60:] or "corpus"


_PROGRESS: ContextVar[bool] = ContextVar("muse_lm_progress", default=True)
"""Whether a store build shows progress when ``load_data`` is not told (``prepare`` sets it from train.progress)."""

STATUS_DELAY = 1.0
"""Seconds a step without a bar (tokenizer training) runs before its status line is printed."""


class _Counted(collections.abc.Sequence):
    """``items`` as a sequence whose iteration advances a progress bar (one tick per item).

    The bar is closed (and, being transient, cleared) as soon as the last item has
    been handed out, so what ``encode_docs`` prints after its loop starts on a clean line.
    """

    def __init__(self, items: Sequence[Any], bar: Any):
        self._items, self._bar = items, bar

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):  # noqa: ANN001, ANN204
        return self._items[i]

    def __iter__(self) -> Iterator[Any]:
        for item in self._items:
            yield item
            self._bar.update(1)
        self._bar.close()


@contextmanager
def _status(message: str, enabled: bool) -> Iterator[None]:
    """A ``muse: MESSAGE ...`` line on stderr, then ``done in Ns``, for a step that runs over STATUS_DELAY seconds."""
    if not enabled:
        yield
        return
    lock = threading.Lock()
    shown = finished = False
    t0 = time.perf_counter()

    def show() -> None:
        nonlocal shown
        with lock:
            if not finished:
                shown = True
                print(f"muse: {message} ...", file=sys.stderr, flush=True)

    timer = threading.Timer(STATUS_DELAY, show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            finished = True
            if shown:
                print(f"muse: {message}: done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)


class LMRecipe(Recipe):
    Data = LMData

    # ---- what subclasses provide
    def sources(self, data: Any) -> list[Path]:
        raise NotImplementedError

    def load_items(self, data: Any) -> tuple[list[tuple[str, Any]], SkipReport]:
        """-> ([(stable item id, item)], report of skipped inputs)."""
        raise NotImplementedError

    def make_tokenizer(self, items: Sequence[tuple[str, Any]], data: Any) -> Tokenizer:
        raise NotImplementedError

    def tokenizer_options(self, data: Any) -> dict[str, Any]:
        """The data settings that change the token store (part of its cache key)."""
        return {}

    def encode_docs(self, items: Sequence[tuple[str, Any]], tok: Tokenizer, data: Any
                    ) -> Iterable[tuple[str, list[int]]]:
        for item_id, item in items:
            yield split_of(item_id, data.valid_frac, data.test_frac), [tok.bos_id, *tok.encode(item), tok.eos_id]

    def empty_hint(self, data: Any) -> str:
        """What to try when a corpus yields no training document (appended to the error)."""
        return ""

    def corpus_text(self, data: Any) -> str:
        """The whole corpus as one text in source order (``data.split=contiguous``); text corpora only."""
        raise ConfigError(f"data.split=contiguous cuts a text corpus by position; {self.kind} corpora are split "
                          "by a hash of each item's id (data.split=hash)")

    def single_text(self, data: Any) -> bool:
        """Whether ``data.split=auto`` means contiguous: a shipped corpus of kind text (one text, no item ids)."""
        from muse.data.shipped import shipped_corpus

        return shipped_corpus(str(data.corpus), kind="text") is not None

    def data_config(self, data: Any) -> Any:
        """Typed, validated data settings, with ``split=auto`` and unset fractions resolved for the corpus."""
        d = super().data_config(data)
        split = getattr(d, "split", None)
        if split is None:  # data settings without a split rule (their own dataclass): hash splits
            return d
        if split == "auto":
            split = "contiguous" if d.corpus is not None and self.single_text(d) else "hash"
        contiguous = split == "contiguous"
        valid = d.valid_frac if d.valid_frac is not None else (0.1 if contiguous else 0.05)
        test = d.test_frac if d.test_frac is not None else (0.0 if contiguous else 0.05)
        if (split, valid, test) != (d.split, d.valid_frac, d.test_frac):
            d = replace(d, split=split, valid_frac=valid, test_frac=test)
            d.validate()
        return d

    def contiguous_parts(self, data: Any) -> list[tuple[str, str]]:
        """``[(split, text)]``: :meth:`corpus_text` cut by character position, train first (nanoGPT's split).

        With ``valid_frac=0.1, test_frac=0`` train is ``text[:int(n * 0.9)]`` and valid ``text[int(n * 0.9):]``.
        """
        text = self.corpus_text(data)
        n = len(text)
        a = int(n * round(1.0 - data.valid_frac - data.test_frac, 12))
        b = int(n * round(1.0 - data.test_frac, 12))
        return [("train", text[:a]), ("valid", text[a:b]), ("test", text[b:])]

    # ---- shared machinery
    def load_data(self, data: Any, resume_tok: Tokenizer | None = None, dist: D.DistEnv | None = None, *,
                  progress: bool | None = None, verify: bool | None = None):
        """Open (or build) the token store for ``data``; returns (stores, tokenizer, manifest).

        A damaged store is rebuilt (with a warning); ``verify`` says whether
        opening hashes its files (None: small stores only; see
        :func:`muse.data.store.verify_store`). Held-out splits too small to
        measure anything get a warning naming the ``data.*_frac`` to raise.

        A build shows progress on stderr (main process only): a status line while
        a tokenizer trains for more than a second, and a ``tokenize`` bar over the
        items while they are encoded. ``progress=None`` follows the run's
        ``train.progress`` inside :meth:`prepare`, and is on elsewhere.
        """
        data = self.data_config(data)
        if not data.corpus:
            raise ConfigError("say what to train on: --corpus NAME or --data PATH (muse corpora list shows built-ins)")
        dist = dist or D.DistEnv()
        contiguous = getattr(data, "split", "hash") == "contiguous"
        key = {
            "task": self.kind,
            "corpus": str(data.corpus),
            "sources": file_checksums(self.sources(data)),
            "tokenizer": self.tokenizer_options(data),
            "split": ["contiguous", data.valid_frac, data.test_frac] if contiguous else [data.valid_frac, data.test_frac],
        }
        directory = cache_root(data.cache_dir) / f"{self.kind}-{_slug(str(data.corpus))}-{key_hash(key)}"

        show = (_PROGRESS.get() if progress is None else bool(progress)) and dist.is_main

        def produce():
            if contiguous:
                items, report = self.contiguous_parts(data), SkipReport()
            else:
                items, report = self.load_items(data)
            with _status(f"building the {_tokenizer_label(data)} tokenizer from {len(items):,} item(s)", show):
                tok = self.make_tokenizer(items, data)
            if resume_tok is not None:
                if resume_tok.fingerprint() != tok.fingerprint():
                    raise CheckpointError(
                        f"cannot resume: corpus {data.corpus} gives a different tokenizer than the one the run "
                        f"was trained with ({tok.fingerprint()} vs {resume_tok.fingerprint()}); resume with the "
                        "run's own corpus or train a new run in another --out")
                tok = resume_tok
            from tqdm.auto import tqdm

            with tqdm(total=len(items), desc="tokenize", unit="item", leave=False, dynamic_ncols=True,
                      disable=not show) as bar:
                if contiguous:  # one document per split: the text as it is, cut by position
                    docs = [(split, [tok.bos_id, *tok.encode(text), tok.eos_id]) for split, text in _Counted(items, bar)
                            if text]
                else:
                    docs = list(self.encode_docs(_Counted(items, bar), tok, data))
            report.warn(f"while reading {data.corpus}", more=f"see manifest.json in {directory}")
            if not any(split == "train" for split, _ in docs):
                raise DataError(f"no training document: {len(items)} item(s) read, {len(report.skipped)} file(s) "
                                "skipped" + self.empty_hint(data), data.corpus)
            return docs, tok.vocab_size, {"tokenizer": tokenizer_to_dict(tok), "skipped": report.skipped,
                                          "items": len(items)}

        if not dist.is_main:
            D.barrier()
        hint = "set data.cache_dir to a writable folder" if data.cache_dir else "set MUSE_CACHE to a writable folder"
        stores, manifest, _ = cached_store(directory, key, produce, rebuild=bool(data.rebuild) and dist.is_main,
                                           verify=verify, hint=hint)
        if dist.is_main and dist.enabled:
            D.barrier()
        if dist.is_main:
            warn_small_splits(manifest, data)
        tok = tokenizer_from_dict(manifest["tokenizer"])
        if resume_tok is not None and resume_tok.fingerprint() != tok.fingerprint():
            raise CheckpointError("cannot resume: the checkpoint's tokenizer differs from the one for this corpus "
                                  f"({resume_tok.fingerprint()} vs {tok.fingerprint()}); train a new run instead")
        return stores, tok, manifest

    def prepare(self, cfg: RunConfig, dist: D.DistEnv, resume_from: Path | None) -> Prepared:
        data = self.data_config(cfg.data)
        resume_tok = None
        if resume_from is not None:
            ck = load_checkpoint(resume_from)
            if ck.get("tokenizer"):
                resume_tok = tokenizer_from_dict(ck["tokenizer"])
        token = _PROGRESS.set(bool(cfg.train.progress))
        try:
            stores, tok, manifest = self.load_data(data, resume_tok, dist)
        finally:
            _PROGRESS.reset(token)
        spec = self.models[cfg.model]
        mc = dict(cfg.model_config)
        mc["vocab_size"] = tok.vocab_size
        if "block_size" in {f.name for f in fields(model_class(spec.arch).Config)}:  # type: ignore[attr-defined]
            mc["block_size"] = data.block_size
        model = build_model(spec.arch, mc)
        train, valid = self.batch_sources(stores, tok, cfg, dist)
        extra = {"tokenizer": tokenizer_to_dict(tok),
                 "corpus": {"name": str(data.corpus), "splits": manifest["splits"], "items": manifest.get("items")}}
        return Prepared(model, train, valid, extra)

    def batch_sources(self, stores, tok: Tokenizer, cfg: RunConfig, dist: D.DistEnv):
        data, t = self.data_config(cfg.data), cfg.train
        mode = data.batching
        if mode == "auto":
            lengths = stores["train"].doc_lengths()
            mode = "document" if len(lengths) and np.median(lengths) <= data.block_size else "window"
        seed = t.seed
        v = stores["valid"]
        wanted = bool(data.valid_frac)  # valid_frac=0: the run has no validation, by request

        def too_small(need: str) -> None:
            """Early stopping cannot run without validation: an error. Otherwise: a warning, and no validation."""
            msg = (f"the validation split is too small to validate on ({len(v):,} document(s), {v.n_tokens:,} "
                   f"tokens; {need}): raise data.valid_frac (now {data.valid_frac:g}), or set data.valid_frac=0")
            if t.patience is not None:
                raise DataError(msg + " and drop train.patience (early stopping needs validation)", data.corpus)
            if dist.is_main:
                warn(f"{data.corpus}: {msg}; training without validation (no best.pt)")

        valid = None
        if mode == "window":
            frac = float(data.doc_start_frac)
            train = WindowBatches(stores["train"], data.block_size, t.batch_size, seed, dist.rank, dist.world,
                                  doc_start_frac=frac)
            if wanted and v.n_tokens < data.block_size + 2:
                too_small(f"one window of data.block_size={data.block_size} needs {data.block_size + 2} tokens")
            elif wanted:
                valid = WindowBatches(v, data.block_size, t.batch_size, seed + 1, dist.rank, dist.world,
                                      doc_start_frac=frac)
        else:
            train = DocumentBatches(stores["train"], t.batch_size, seed, dist.rank, dist.world,
                                    max_len=data.block_size, pad_id=tok.pad_id)
            # a split smaller than a batch is still measured: in one smaller batch (a multiple of the ranks)
            size = min(t.batch_size, len(v) // dist.world * dist.world)
            if wanted and size < 1:
                too_small(f"validation needs at least {dist.world} document(s)")
            elif wanted:
                valid = DocumentBatches(v, size, seed + 1, dist.rank, dist.world, max_len=data.block_size,
                                        pad_id=tok.pad_id, shuffle=False)
        return train, valid


def warn_small_splits(manifest: dict[str, Any], data: Any) -> None:
    """A :class:`~muse.data.report.MuseWarning` when a held-out split is too small to measure much.

    A validation or test split asked for (its ``data.*_frac`` above 0) with
    fewer than :data:`MIN_HELD_OUT_DOCS` documents (hash splits) or
    :data:`MIN_HELD_OUT_TOKENS` tokens is named with its counts and the option
    that changes it.

    Args:
        manifest: the token store's manifest (its ``splits`` counts).
        data: the typed data settings (``corpus``, ``split``, ``valid_frac``, ``test_frac``).

    Returns:
        None.

    Example:
        >>> from muse.recipes.lm import LMData, warn_small_splits
        >>> splits = {"train": {"docs": 218, "tokens": 9000}, "valid": {"docs": 1, "tokens": 40},
        ...           "test": {"docs": 0, "tokens": 0}}
        >>> warn_small_splits({"splits": splits}, LMData(corpus="tunes", split="hash", valid_frac=0.05,
        ...                                              test_frac=0.05))  # doctest: +SKIP
    """
    sp = manifest["splits"]
    small = []
    for name, option in (("valid", "valid_frac"), ("test", "test_frac")):
        frac = getattr(data, option)
        if not frac:
            continue
        docs, tokens = int(sp[name]["docs"]), int(sp[name]["tokens"])
        if (getattr(data, "split", "hash") == "hash" and docs < MIN_HELD_OUT_DOCS) or tokens < MIN_HELD_OUT_TOKENS:
            small.append(f"{name} {docs:,} document(s) / {tokens:,} tokens (data.{option}={frac:g})")
    if small:
        total = sum(int(v["docs"]) for v in sp.values())
        warn(f"{data.corpus}: small held-out split: {'; '.join(small)} of {total:,} documents; its loss is noisy "
             f"below {MIN_HELD_OUT_DOCS} documents / {MIN_HELD_OUT_TOKENS:,} tokens: raise the data.*_frac named")


def _tokenizer_label(data: Any) -> str:
    name = getattr(data, "tokenizer", None)
    return name if isinstance(name, str) else "corpus"


def data_dict(data: Any) -> dict[str, Any]:
    """Plain dict of a typed data-settings object (for run configs and model directories)."""
    return asdict(data)

"""Language-model tasks (melodies, poems): corpus -> tokenizer -> cached store -> batches -> model.

Subclasses say how to find sources, read items, build a tokenizer and encode
items; this class does caching, splits, batching, model building, resume
checks and exporting the trained model as a directory.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from muse.core import distributed as D
from muse.core.checkpoint import load_checkpoint
from muse.core.config import RunConfig
from muse.data.batches import DocumentBatches, WindowBatches
from muse.data.store import cached_store, file_checksums, key_hash, split_of
from muse.errors import CheckpointError, ConfigError, DataError
from muse.models.registry import build_model
from muse.tasks.base import ModelSpec, Prepared, Task
from muse.tokenizers.base import Tokenizer, tokenizer_from_dict, tokenizer_to_dict

LM_DATA_DEFAULTS: dict[str, Any] = {
    "corpus": None,
    "block_size": 256,
    "batching": "auto",  # window | document | auto (document when most documents fit in block_size)
    "doc_start_frac": 0.0,  # window batching: share of windows that begin at a document start
    "valid_frac": 0.05,
    "test_frac": 0.05,
    "cache_dir": None,
    "rebuild": False,
    "workers": 2,
}


def lm_models(rnn_dropout: float = 0.1) -> dict[str, ModelSpec]:
    """The language models every LM task offers: three RNN cells and the transformer."""
    rnn = {"n_layer": 2, "n_embd": 128, "n_hidden": 256, "dropout": rnn_dropout}
    return {
        "lstm": ModelSpec("rnn", {"cell": "lstm", **rnn}),
        "gru": ModelSpec("rnn", {"cell": "gru", **rnn}),
        "rnn": ModelSpec("rnn", {"cell": "rnn_tanh", **rnn}),
        "transformer": ModelSpec("transformer", {"n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.1,
                                                 "pos": "relative"}),
    }


def cache_root(data: dict[str, Any]) -> Path:
    import os

    if data.get("cache_dir"):
        return Path(data["cache_dir"])
    return Path(os.environ.get("MUSE_CACHE", Path.home() / ".cache" / "muse")) / "corpora"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[-60:] or "corpus"


class LMTask(Task):
    data_defaults = LM_DATA_DEFAULTS

    # ---- what subclasses provide
    def sources(self, data: dict[str, Any]) -> list[Path]:
        raise NotImplementedError

    def load_items(self, data: dict[str, Any]) -> tuple[list[tuple[str, Any]], list[tuple[str, str]]]:
        """-> ([(piece_id, item)], [(file, reason skipped)])."""
        raise NotImplementedError

    def make_tokenizer(self, items: Sequence[tuple[str, Any]], data: dict[str, Any]) -> Tokenizer:
        raise NotImplementedError

    def tokenizer_options(self, data: dict[str, Any]) -> dict[str, Any]:
        return {}

    def encode_docs(self, items: Sequence[tuple[str, Any]], tok: Tokenizer, data: dict[str, Any]
                    ) -> Iterable[tuple[str, list[int]]]:
        for piece_id, item in items:
            split = split_of(piece_id, data["valid_frac"], data["test_frac"])
            yield split, [tok.bos_id, *tok.encode(item), tok.eos_id]

    def generation_defaults(self) -> dict[str, Any]:
        return {}

    def empty_hint(self, data: dict[str, Any]) -> str:
        """What to try when a corpus yields no training document (appended to the error)."""
        return ""

    # ---- shared machinery
    def load_data(self, data: dict[str, Any], resume_tok: Tokenizer | None = None, dist: D.DistEnv | None = None):
        """Open (or build) the token store for ``data``; returns (stores, tokenizer, manifest)."""
        if not data.get("corpus"):
            raise ConfigError("say what to train on: --corpus NAME or --data PATH (muse corpora list shows built-ins)")
        dist = dist or D.DistEnv()
        key = {
            "task": self.name,
            "corpus": str(data["corpus"]),
            "sources": file_checksums(self.sources(data)),
            "tokenizer": self.tokenizer_options(data),
            "split": [data["valid_frac"], data["test_frac"]],
        }
        directory = cache_root(data) / f"{self.name}-{_slug(str(data['corpus']))}-{key_hash(key)}"

        def produce():
            items, skipped = self.load_items(data)
            tok = self.make_tokenizer(items, data)
            if resume_tok is not None:
                if resume_tok.fingerprint() != tok.fingerprint():
                    raise CheckpointError(
                        f"cannot resume: corpus {data['corpus']} gives a different tokenizer than the one the run "
                        f"was trained with ({tok.fingerprint()} vs {resume_tok.fingerprint()}); resume with the "
                        "run's own corpus or train a new run in another --out")
                tok = resume_tok
            docs = list(self.encode_docs(items, tok, data))
            if skipped:
                print(f"muse: skipped {len(skipped)} file(s) while reading {data['corpus']}:", file=sys.stderr)
                for f, why in skipped[:20]:
                    print(f"  {f}: {why}", file=sys.stderr)
                if len(skipped) > 20:
                    print(f"  ... and {len(skipped) - 20} more (see manifest.json in {directory})", file=sys.stderr)
            if not any(split == "train" for split, _ in docs):
                raise DataError(f"no training document: {len(items)} item(s) read, {len(skipped)} file(s) skipped"
                                + self.empty_hint(data), data["corpus"])
            return docs, tok.vocab_size, {"tokenizer": tokenizer_to_dict(tok), "skipped": skipped,
                                          "items": len(items)}

        if not dist.is_main:
            D.barrier()
        stores, manifest, _ = cached_store(directory, key, produce, rebuild=bool(data.get("rebuild")) and dist.is_main)
        if dist.is_main and dist.enabled:
            D.barrier()
        tok = tokenizer_from_dict(manifest["tokenizer"])
        if resume_tok is not None and resume_tok.fingerprint() != tok.fingerprint():
            raise CheckpointError("cannot resume: the checkpoint's tokenizer differs from the one for this corpus "
                                  f"({resume_tok.fingerprint()} vs {tok.fingerprint()}); train a new run instead")
        return stores, tok, manifest

    def prepare(self, cfg: RunConfig, dist: D.DistEnv, resume_from: Path | None) -> Prepared:
        data = cfg.data
        resume_tok = None
        if resume_from is not None:
            ck = load_checkpoint(resume_from)
            if ck.get("tokenizer"):
                resume_tok = tokenizer_from_dict(ck["tokenizer"])
        stores, tok, manifest = self.load_data(data, resume_tok, dist)
        spec = self.models[cfg.model]
        mc = dict(cfg.model_config)
        mc["vocab_size"] = tok.vocab_size
        if "block_size" in _fields(spec.arch):
            mc["block_size"] = data["block_size"]
        model = build_model(spec.arch, mc)
        train, valid = self.batch_sources(stores, tok, cfg, dist)
        extra = {"tokenizer": tokenizer_to_dict(tok), "generation": self.generation_defaults(),
                 "corpus": {"name": str(data["corpus"]), "splits": manifest["splits"], "items": manifest.get("items")}}
        return Prepared(model, train, valid, extra)

    def batch_sources(self, stores, tok: Tokenizer, cfg: RunConfig, dist: D.DistEnv):
        data, t = cfg.data, cfg.train
        mode = data["batching"]
        if mode == "auto":
            lengths = stores["train"].doc_lengths()
            mode = "document" if len(lengths) and np.median(lengths) <= data["block_size"] else "window"
        if mode not in ("window", "document"):
            raise ConfigError(f"data.batching must be window, document or auto, not {mode!r}")
        seed = t.seed
        if mode == "window":
            frac = float(data["doc_start_frac"])
            train = WindowBatches(stores["train"], data["block_size"], t.batch_size, seed, dist.rank, dist.world,
                                  doc_start_frac=frac)
            valid = WindowBatches(stores["valid"], data["block_size"], t.batch_size, seed + 1, dist.rank, dist.world,
                                  doc_start_frac=frac) \
                if stores["valid"].n_tokens > data["block_size"] + 1 else None
        else:
            train = DocumentBatches(stores["train"], t.batch_size, seed, dist.rank, dist.world,
                                    max_len=data["block_size"], pad_id=tok.pad_id)
            valid = DocumentBatches(stores["valid"], t.batch_size, seed + 1, dist.rank, dist.world,
                                    max_len=data["block_size"], pad_id=tok.pad_id, shuffle=False) \
                if len(stores["valid"]) >= t.batch_size else None
        return train, valid

    def finish(self, cfg: RunConfig, prepared: Prepared, run_dir: Path) -> None:
        export_run(run_dir, self.name)


def _fields(arch: str) -> set[str]:
    from dataclasses import fields

    from muse.models.registry import model_class

    return {f.name for f in fields(model_class(arch).Config)}  # type: ignore[attr-defined]


def export_run(run_dir: Path, kind: str) -> Path | None:
    """Write ``run_dir/model`` (safetensors + config.json) from the best (else last) checkpoint."""
    from muse.pretrained import load_model, save_pretrained

    ck_dir = run_dir / "checkpoints"
    src = ck_dir / "best.pt" if (ck_dir / "best.pt").exists() else ck_dir / "last.pt"
    if not src.exists():
        return None
    loaded = load_model(src)
    ck = loaded.meta
    meta = {"generation": ck.get("generation", {}), "corpus": ck.get("corpus", {}),
            "data": ck.get("run_config", {}).get("data"), "trained_steps": ck.get("step"),
            "best_valid_loss": ck.get("best_val")}
    return save_pretrained(run_dir / "model", loaded.model, loaded.tokenizer, kind, meta)

"""One encode/decode protocol for every tokenizer, and their (de)serialisation.

A tokenizer turns one *item* (a melody, a poem, a string) into a list of ids and
back. ``decode(encode(x)) == x`` for every item the tokenizer can represent.
Its full state is a JSON-able dict (``to_dict``) that is saved beside the model
weights, so a checkpoint always carries the vocabulary it was trained with.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Sequence

from muse.errors import CheckpointError

_REGISTRY: dict[str, type["Tokenizer"]] = {}


class Tokenizer:
    """Base class. Subclasses set ``kind`` and implement the four methods."""

    kind: ClassVar[str] = ""
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            _REGISTRY[cls.kind] = cls

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def encode(self, item: Any) -> list[int]:
        """Item -> ids, *without* BOS/EOS (the data pipeline adds those)."""
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> Any:
        """Ids -> item. Special ids (pad/bos/eos) are ignored."""
        raise NotImplementedError

    def id_to_token(self, i: int) -> str:
        """Human-readable name of one id (for constraints and debugging)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state; must include everything ``from_dict`` needs."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Tokenizer":
        raise NotImplementedError

    def fingerprint(self) -> str:
        """Stable hash of the tokenizer state (cache keys, resume checks)."""
        blob = json.dumps(tokenizer_to_dict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def tokenizer_to_dict(tok: Tokenizer) -> dict[str, Any]:
    return {"kind": tok.kind, **tok.to_dict()}


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    kind = d.get("kind")
    if kind not in _REGISTRY:
        _import_builtin_tokenizers()
    if kind not in _REGISTRY:
        raise CheckpointError(f"unknown tokenizer kind {kind!r}; known: {sorted(_REGISTRY)}")
    body = {k: v for k, v in d.items() if k != "kind"}
    return _REGISTRY[kind].from_dict(body)


def _import_builtin_tokenizers() -> None:
    """The text tokenizers of this package; a domain's tokenizers register when its recipe is imported."""
    from muse.tokenizers import char, spm  # noqa: F401

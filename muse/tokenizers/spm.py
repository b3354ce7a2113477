"""Subword tokenizer trained in memory with the ``sentencepiece`` library.

Text is kept exactly: identity normalisation (so "，" and full-width forms stay),
no dummy prefix, no whitespace folding, ``"\\n"`` and the poem prefix separator
are single pieces, and characters never seen in training fall back to UTF-8
byte pieces. Hence ``decode(encode(s)) == s`` for any string when
``byte_fallback=True``. Ids 0..3 are ``<pad> <s> </s> <unk>`` as in the base class.
The trained model proto travels base64-encoded in :meth:`to_dict`.
"""
from __future__ import annotations

import base64
import binascii
import io
from typing import Any, Iterable, Sequence

import sentencepiece as spm

from muse.errors import CheckpointError, DataError
from muse.tokenizers.base import Tokenizer
from muse.tokenizers.char import SEP_CHAR
from muse.tokenizers.scripts import is_cjk_ideograph

MODEL_TYPES = ("unigram", "bpe")
_SPACE_MARK = "\u2581"  # sentencepiece's visible space; written with byte pieces when it occurs in text


def auto_character_coverage(texts: Sequence[str], sample_chars: int = 1_000_000) -> float:
    """0.9995 when most non-space characters (of a sample) are CJK ideographs, else 1.0."""
    cjk = total = 0
    for t in texts:
        for ch in t:
            if ch.isspace():
                continue
            total += 1
            cjk += is_cjk_ideograph(ch)
        if total >= sample_chars:
            break
    return 0.9995 if total and cjk / total > 0.5 else 1.0


class SentencePieceTokenizer(Tokenizer):
    """Unigram or BPE pieces; exact round trip of any text (byte fallback)."""

    kind = "sentencepiece"
    pad_id = 0
    bos_id = 1
    eos_id = 2
    unk_id = 3

    def __init__(self, model_proto: bytes):
        self._proto = bytes(model_proto)
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=self._proto)
        except (RuntimeError, TypeError, ValueError) as e:
            raise CheckpointError(f"invalid sentencepiece model: {e}") from None
        self._n = self._sp.get_piece_size()
        self.sep_id = self._sp.piece_to_id(SEP_CHAR)
        space_bytes = [self._sp.piece_to_id(f"<0x{b:02X}>") for b in _SPACE_MARK.encode("utf-8")]
        self._space_mark_ids = space_bytes if self.unk_id not in space_bytes else [self.unk_id]

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 8000,
        model_type: str = "unigram",
        character_coverage: float | None = None,
        byte_fallback: bool = True,
    ) -> "SentencePieceTokenizer":
        """Train on ``texts`` (each one document; newlines inside are kept).

        ``vocab_size`` is an upper bound: a small corpus may yield fewer pieces.
        With ``byte_fallback`` the vocabulary includes 256 byte pieces, so it
        must be larger than 256 + the number of distinct characters + 6.
        """
        if model_type not in MODEL_TYPES:
            raise DataError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
        docs = [t for t in texts if isinstance(t, str) and t]
        if not docs:
            raise DataError("cannot train a sentencepiece model on empty text")
        if character_coverage is None:
            character_coverage = auto_character_coverage(docs)
        longest = max(len(t.encode("utf-8")) for t in docs)
        out = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(docs),
                model_writer=out,
                vocab_size=int(vocab_size),
                model_type=model_type,
                character_coverage=float(character_coverage),
                byte_fallback=bool(byte_fallback),
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                add_dummy_prefix=False,
                allow_whitespace_only_pieces=True,
                user_defined_symbols=["\n", SEP_CHAR],
                pad_id=0,
                bos_id=1,
                eos_id=2,
                unk_id=3,
                hard_vocab_limit=False,
                max_sentence_length=max(4192, longest + 16),
                minloglevel=2,
            )
        except RuntimeError as e:
            msg = str(e).splitlines()[-1] if str(e) else type(e).__name__
            import re

            short = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", msg)
            if short:  # sentencepiece's own advice names a --character_coverage flag that muse does not have
                need = int(short.group(2)) + (256 if byte_fallback else 0) + 8
                raise DataError(f"vocab_size={vocab_size} is too small for the {short.group(2)} distinct characters "
                                f"to cover{' plus 256 byte pieces' if byte_fallback else ''}: use a vocab_size of at "
                                f"least {need} (data.vocab_size), or the character tokenizer "
                                f"(data.tokenizer=char)") from None
            raise DataError(f"sentencepiece training failed (vocab_size={vocab_size}): {msg.split('] ')[-1]}") from None
        return cls(out.getvalue())

    @property
    def vocab_size(self) -> int:
        return self._n

    def encode(self, item: str) -> list[int]:
        if not isinstance(item, str):
            raise DataError(f"SentencePieceTokenizer encodes strings, got {type(item).__name__}")
        parts = item.split(_SPACE_MARK)
        ids: list[int] = []
        for k, part in enumerate(parts):
            if k:
                ids.extend(self._space_mark_ids)
            if part:
                ids.extend(self._sp.encode(part))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        keep: list[int] = []
        for i in ids:
            i = int(i)
            if i in (self.pad_id, self.bos_id, self.eos_id):
                continue
            if not 0 <= i < self._n:
                raise DataError(f"token id {i} is outside the sentencepiece vocabulary (size {self._n})")
            keep.append(i)
        return self._sp.decode(keep)

    def id_to_token(self, i: int) -> str:
        if not 0 <= int(i) < self._n:
            raise DataError(f"token id {i} is outside the sentencepiece vocabulary (size {self._n})")
        return self._sp.id_to_piece(int(i))

    def to_dict(self) -> dict[str, Any]:
        return {"model": base64.b64encode(self._proto).decode("ascii")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SentencePieceTokenizer":
        blob = d.get("model")
        if not isinstance(blob, str):
            raise CheckpointError("sentencepiece tokenizer state lacks its base64 'model'")
        try:
            proto = base64.b64decode(blob.encode("ascii"), validate=True)
        except (binascii.Error, ValueError) as e:
            raise CheckpointError(f"sentencepiece model is not valid base64: {e}") from None
        return cls(proto)

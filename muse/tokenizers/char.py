"""Character-level tokenizer for any Unicode text (Latin, CJK, emoji, ...).

Ids ``0..4`` are the specials ``<pad> <bos> <eos> <unk> <sep>``; every other id
is one character. ``<sep>`` is written in text as :data:`SEP_CHAR` and ends the
optional title/author prefix of a poem (see :func:`muse.poetry.corpora.poem_to_text`),
so ``decode(encode(s)) == s`` holds for every text made of vocabulary characters.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

from muse.errors import CheckpointError, DataError
from muse.tokenizers.base import Tokenizer

SEP_CHAR = "\u241d"
"""'␝' (SYMBOL FOR GROUP SEPARATOR): separates a title/author prefix from the body."""

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>", "<sep>")
UNKNOWN_POLICIES = ("replace", "error", "skip")
UNK_TEXT = "\ufffd"
"""What an ``<unk>`` id decodes to."""


class CharTokenizer(Tokenizer):
    """One id per character; unknown characters are replaced, skipped or refused."""

    kind = "char"
    pad_id = 0
    bos_id = 1
    eos_id = 2
    unk_id = 3
    sep_id = 4

    def __init__(self, chars: Sequence[str], unknown: str = "replace"):
        if unknown not in UNKNOWN_POLICIES:
            raise DataError(f"unknown-character policy must be one of {UNKNOWN_POLICIES}, got {unknown!r}")
        chars = list(chars)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1 or c == SEP_CHAR]
        if bad:
            raise DataError(f"vocabulary entries must be single characters other than the separator: {bad[:5]!r}")
        if len(set(chars)) != len(chars):
            dup = sorted({c for c in chars if chars.count(c) > 1})
            raise DataError(f"character vocabulary has duplicates: {dup[:5]!r}")
        self.chars: tuple[str, ...] = tuple(chars)
        self.unknown = unknown
        self._ids = {c: i + len(SPECIALS) for i, c in enumerate(self.chars)}
        self._ids[SEP_CHAR] = self.sep_id

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        min_freq: int = 1,
        max_vocab: int | None = None,
        unknown: str = "replace",
    ) -> "CharTokenizer":
        """Vocabulary of the characters in ``texts``, most frequent first.

        ``min_freq`` drops rarer characters; ``max_vocab`` caps the total
        ``vocab_size`` (specials included).
        """
        counts: Counter[str] = Counter()
        for t in texts:
            if not isinstance(t, str):
                raise DataError(f"CharTokenizer.train expects strings, got {type(t).__name__}")
            counts.update(t)
        counts.pop(SEP_CHAR, None)
        if not counts:
            raise DataError("cannot build a character vocabulary from empty text")
        if max_vocab is not None and max_vocab <= len(SPECIALS):
            raise DataError(f"max_vocab must exceed the {len(SPECIALS)} special tokens, got {max_vocab}")
        ranked = sorted((c for c, n in counts.items() if n >= min_freq), key=lambda c: (-counts[c], c))
        if max_vocab is not None:
            ranked = ranked[: max_vocab - len(SPECIALS)]
        if not ranked:
            raise DataError(f"no character occurs at least min_freq={min_freq} times")
        return cls(ranked, unknown=unknown)

    @property
    def vocab_size(self) -> int:
        return len(SPECIALS) + len(self.chars)

    def id_of(self, char: str) -> int | None:
        """Id of one character (``SEP_CHAR`` gives ``sep_id``), or None if absent."""
        return self._ids.get(char)

    def encode(self, item: str) -> list[int]:
        if not isinstance(item, str):
            raise DataError(f"CharTokenizer encodes strings, got {type(item).__name__}")
        ids = self._ids
        out = [ids.get(c, -1) for c in item]
        if -1 in out:
            missing = sorted({c for c in item if c not in ids})
            if self.unknown == "error":
                shown = " ".join(repr(c) for c in missing[:10])
                more = f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""
                raise DataError(f"characters not in the vocabulary: {shown}{more}")
            if self.unknown == "skip":
                return [i for i in out if i != -1]
            return [self.unk_id if i == -1 else i for i in out]
        return out

    def decode(self, ids: Sequence[int]) -> str:
        n = len(SPECIALS)
        parts: list[str] = []
        for i in ids:
            i = int(i)
            if i >= n and i < self.vocab_size:
                parts.append(self.chars[i - n])
            elif i == self.sep_id:
                parts.append(SEP_CHAR)
            elif i == self.unk_id:
                parts.append(UNK_TEXT)
            elif i in (self.pad_id, self.bos_id, self.eos_id):
                continue
            else:
                raise DataError(f"token id {i} is outside the character vocabulary (size {self.vocab_size})")
        return "".join(parts)

    def id_to_token(self, i: int) -> str:
        if 0 <= i < len(SPECIALS):
            return SPECIALS[i]
        if i < self.vocab_size:
            return self.chars[i - len(SPECIALS)]
        raise DataError(f"token id {i} is outside the character vocabulary (size {self.vocab_size})")

    def to_dict(self) -> dict[str, Any]:
        return {"chars": "".join(self.chars), "unknown": self.unknown}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CharTokenizer":
        chars = d.get("chars")
        if not isinstance(chars, str):
            raise CheckpointError("char tokenizer state lacks its 'chars' string")
        try:
            return cls(list(chars), unknown=d.get("unknown", "replace"))
        except DataError as e:
            raise CheckpointError(f"invalid char tokenizer state: {e}") from None

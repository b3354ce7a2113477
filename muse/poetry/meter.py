"""English metre: iambic scansion from CMU stresses, and a hard iambic constraint for character models.

**What scans.** A line scans as iambic with ``feet`` feet when its words, read with
some CMU pronunciation of each (``pronouncing``; a hyphenated word is read as its
parts), fill exactly ``2 * feet`` syllables, or ``2 * feet + 1`` with the extra one
unstressed (a feminine ending), where syllables 1, 3, 5, ... are weak and 2, 4, 6, ...
strong, and:

* a word of one syllable may stand in either place (the usual licence: "the", "and"
  but also "love", "night" are taken as fitting the beat either way);
* in a longer word a primary-stressed syllable (CMU ``1``) must fall on a strong place
  and an unstressed one (``0``) on a weak place; a secondary stress (``2``) may go
  either way.

A word the dictionary does not know makes the line unscannable (so do elisions such
as "o'er" that CMU lacks). Nothing else is allowed: no initial inversion, no
headless lines. The checker (:func:`scans_iambic`) and the constraint
(:class:`IambicConstraint`) apply this same rule.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, NamedTuple, Sequence

import pronouncing
import torch

from muse.errors import ConstraintError
from muse.poetry.english import _Trie
from muse.poetry.forms import PrefixCache, char_vocab
from muse.sampling.constraints import Constraint
from muse.tokenizers.char import CharTokenizer

METERS = ("iambic",)
"""Values of ``PoemRequest.meter`` / ``muse poem --meter``."""
DEFAULT_FEET = 5
"""Feet per line when ``--meter iambic`` is given without ``--feet`` (pentameter)."""
WORD_CHARS = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
CLOSING = ",.;:!?"


@lru_cache(maxsize=65536)
def stress_patterns(word: str) -> frozenset[str]:
    """CMU stress strings of ``word`` (e.g. ``{"01"}`` for "again"); a hyphenated word joins its parts; empty if unknown."""
    parts = [p for p in word.lower().split("-") if p]
    if not parts:
        return frozenset()
    out = {""}
    for part in parts:
        pats = set(pronouncing.stresses_for_word(part))
        if not pats:
            return frozenset()
        out = {a + b for a in out for b in pats}
    return frozenset(p for p in out if p)


def fits_at(pattern: str, start: int) -> bool:
    """Whether a word with stress ``pattern`` may begin at syllable ``start`` (0-based) of an iambic line."""
    if len(pattern) == 1:
        return True
    for k, s in enumerate(pattern):
        strong = (start + k) % 2 == 1
        if (s == "1" and not strong) or (s == "0" and strong):
            return False
    return True


def _advance(positions: frozenset[int], word: str, limit: int) -> frozenset[int]:
    """Syllable counts reachable after ``word`` from ``positions`` (at most ``limit``)."""
    return frozenset(p + len(pat) for p in positions for pat in stress_patterns(word)
                     if p + len(pat) <= limit and fits_at(pat, p))


def line_positions(words: Iterable[str], limit: int) -> frozenset[int]:
    """Syllable counts an iambic reading of ``words`` can reach (empty: no iambic reading within ``limit``)."""
    pos = frozenset({0})
    for w in words:
        pos = _advance(pos, w, limit)
        if not pos:
            break
    return pos


def scans_iambic(line: str, feet: int | None = DEFAULT_FEET) -> bool:
    """Whether ``line`` scans as iambic (module docstring) with ``feet`` feet; None: any of 2 to 7 feet.

    Args:
        line: one line of verse (punctuation is ignored).
        feet: number of iambs (5: pentameter); None: any number from 2 to 7.

    Returns:
        bool: True when some CMU reading of its words fits the iambic pattern.

    Example:
        >>> from muse.poetry.meter import scans_iambic
        >>> scans_iambic("Shall I compare thee to a summer's day?")
        True
        >>> scans_iambic("Whose woods these are I think I know", feet=4)
        True
        >>> scans_iambic("Beautiful evening")
        False
    """
    words = WORD_CHARS.findall(line)
    if not words:
        return False
    counts = range(2, 8) if feet is None else (feet,)
    pos = line_positions(words, 2 * max(counts) + 1)
    return any(2 * f in pos or 2 * f + 1 in pos for f in counts)


class _State(NamedTuple):
    positions: frozenset[int] = frozenset({0})
    word: str = ""
    after_punct: bool = False


class IambicConstraint(Constraint):
    """Every line of the poem body is iambic with ``feet`` feet (no feminine endings), in dictionary words.

    Character by character: a word may only be spelled along a trie of the words that
    fit the syllable places reached so far (``words``: the model's corpus vocabulary,
    else the whole CMU dictionary, lower-case apart from a capital first letter); after
    a complete word come a space or one closing ``, . ; : ! ?``; the line ends (newline,
    or EOS) exactly when it holds ``2 * feet`` syllables. Blank lines pass.
    """

    def __init__(self, tokenizer: CharTokenizer, feet: int = DEFAULT_FEET, words: Iterable[str] | None = None,
                 max_word_len: int = 14):
        if not 1 <= feet <= 8:
            raise ConstraintError(f"--feet must be between 1 and 8, got {feet}")
        self.feet = feet
        self.limit = 2 * feet
        pronouncing.init_cmu()
        vocab = char_vocab(tokenizer, "--meter")
        letters = {c for c in vocab if c.islower() or c == "'"}
        pool = (w.lower() for w in (words if words is not None else pronouncing.lookup))
        self.vocab = sorted({w for w in pool if len(w) <= max_word_len and WORD_CHARS.fullmatch(w)
                             and all(c in letters for c in w) and stress_patterns(w)})
        self._known = frozenset(self.vocab)
        if not self.vocab:
            raise ConstraintError("--meter: no dictionary word can be spelled with this model's vocabulary")
        self._tries: dict[frozenset[int], _Trie] = {}
        self._masks: dict[tuple[int, str], torch.Tensor] = {}
        self._cache = PrefixCache()
        self.check(tokenizer)

    def max_tokens(self) -> int | None:
        return None

    def check(self, tokenizer) -> None:  # noqa: ANN001
        vocab = char_vocab(tokenizer, "--meter")
        if " " not in vocab or "\n" not in vocab:
            raise ConstraintError("--meter needs a vocabulary with spaces and newlines")
        self._tok = tokenizer
        self._n = tokenizer.vocab_size
        self._char = {i: c for c, i in vocab.items()}
        self._id = vocab
        self._space, self._newline = vocab[" "], vocab["\n"]
        self._punct = [vocab[c] for c in CLOSING if c in vocab]
        if not self.trie(frozenset({0})).words:
            raise ConstraintError("--meter: no dictionary word can begin an iambic line with this vocabulary")

    # -------------------------------------------------------------- words that fit

    def trie(self, positions: frozenset[int]) -> _Trie:
        """Trie of the vocabulary's words that fit after the syllable places ``positions``."""
        if positions not in self._tries:
            self._tries[positions] = _Trie(w for w in self.vocab if _advance(positions, w, self.limit))
        return self._tries[positions]

    def ending_words(self, positions: frozenset[int], words: Iterable[str]) -> list[str]:
        """Those of ``words`` that fit after ``positions`` and complete the line exactly."""
        return [w for w in words if w in self._known and self.limit in _advance(positions, w, self.limit)]

    def positions_of(self, text: str) -> frozenset[int]:
        """Syllable places reachable after the complete words of one line's ``text``."""
        return line_positions(WORD_CHARS.findall(text), self.limit)

    def _letters_mask(self, trie: _Trie, prefix: str) -> torch.Tensor:
        key = (id(trie), prefix)
        if key not in self._masks:
            m = torch.zeros(self._n, dtype=torch.bool)
            for c in trie.next.get(prefix, ()):
                for v in ({c, c.upper()} if not prefix else {c}):
                    if v in self._id:
                        m[self._id[v]] = True
            self._masks[key] = m
        return self._masks[key]

    # -------------------------------------------------------------- state machine

    def _step(self, s: _State, tok: int) -> _State:
        if tok == self._tok.eos_id:
            return _State()
        ch = self._char[tok]
        if ch == "\n":
            return _State()
        if ch == " ":
            return _State(s.positions if not s.word else _advance(s.positions, s.word, self.limit))
        if ch in CLOSING:
            return _State(_advance(s.positions, s.word, self.limit), "", True)
        return _State(s.positions, s.word + (ch.lower() if not s.word else ch), False)

    def _mask_in(self, s: _State) -> torch.Tensor:
        m = torch.zeros(self._n, dtype=torch.bool)
        if s.after_punct:
            pos = s.positions
            if self.limit in pos:
                m[self._newline] = True
                m[self._tok.eos_id] = True
            if any(p < self.limit for p in pos):
                m[self._space] = True
            return m
        trie = self.trie(s.positions)
        m |= self._letters_mask(trie, s.word)
        if s.word and s.word in trie.words:
            after = _advance(s.positions, s.word, self.limit)
            for i in self._punct:
                m[i] = True
            if any(p < self.limit for p in after):
                m[self._space] = True
            if self.limit in after:
                m[self._newline] = True
                m[self._tok.eos_id] = True
        elif not s.word and s.positions == frozenset({0}):
            m[self._newline] = True  # a blank line (stanza break) or the empty line before the poem
        return m

    def allowed(self, seq: Sequence[int]) -> torch.Tensor:
        return self._cache.allowed(seq, self._tok, _State, self._advance_tok, lambda state, body: self._mask_in(state))

    def _advance_tok(self, s: _State, mask: torch.Tensor, body: list[int], p: int) -> _State:
        if not bool(mask[body[p]]):
            shown = self._tok.decode(body[: p + 1])
            raise ConstraintError(f"the text so far {shown!r} breaks iambic {self.feet}-foot metre")
        return self._step(s, body[p])

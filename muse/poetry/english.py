"""Hard form constraints for English poems written by a character-level model.

Layout (the corpus layout): lines joined by ``"\\n"``, one blank line between
stanzas, EOS right after the last line. :class:`EnglishFormConstraint` enforces:

* ``lines`` lines (EOS after the last one), a blank line every ``stanza`` lines;
* ``acrostic="WORD"``: line *i* starts with the *i*-th letter (either case);
* a line starts with a non-space character, has no double spaces, never ends
  in a space, and ends only once it has ``min_line_chars`` characters;
* length: within the last :data:`STEER_CHARS` characters before
  ``max_line_chars`` spaces are refused, so the line ends after the current
  word; at ``max_line_chars`` the newline is forced;
* ``rhyme_scheme`` (e.g. ``"AABB"``, ``"ABAB"``; ``"-"`` = unrhymed; a scheme
  shorter than the poem repeats with fresh rhymes): the first line of a rhyme
  (the *anchor*) must end in a dictionary word that has a rhyme in the pool, and
  each later line of that rhyme must end in a word that rhymes with it
  (:func:`muse.poetry.rhyme.words_rhyme`). A rhymed line may end (newline) only
  right after such a word (one closing ``, . ; : ! ?`` allowed). Once the line
  is so long that one more free word could leave no room for the longest
  candidate, the next word is taken from a trie of candidates and then the line
  must end, so the rhyme is hard.

Rhyme candidates are CMU-dictionary words spelled with the vocabulary's
lower-case letters and "'" of at most ``max_word_len`` letters, optionally
restricted to ``words`` (e.g. the training corpus's words); a later line gets
at most ``max_rhyme_words`` candidates (shortest first).
"""
from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

import torch

from muse.errors import ConstraintError
from muse.sampling.constraints import Constraint
from muse.poetry.corpora import split_prefix
from muse.poetry.forms import PrefixCache, char_vocab
from muse.poetry.rhyme import english_rhyme_pool, final_word, rhyme_keys, words_rhyme
from muse.tokenizers.char import SEP_CHAR, CharTokenizer

STEER_CHARS = 12
CLOSING_PUNCT = ",.;:!?"
UNRHYMED = "-"


def expand_rhyme_scheme(scheme: str | None, lines: int) -> list[str | None]:
    """One rhyme label per line (None = unrhymed); a short scheme repeats with fresh labels."""
    if not scheme:
        return [None] * lines
    letters = [c for c in scheme if not c.isspace()]
    if not letters or lines % len(letters):
        raise ConstraintError(f"rhyme scheme {scheme!r} ({len(letters)} lines) does not divide a {lines}-line poem")
    repeated = letters * (lines // len(letters))
    return [None if c == UNRHYMED else f"{c}{k // len(letters)}" for k, c in enumerate(repeated)]


def _rhyme_roles(labels: list[str | None]) -> list[int | None]:
    """Per line: None (free), -1 (anchor of a rhyme) or the index of the anchor line it rhymes with."""
    first: dict[str, int] = {}
    roles: list[int | None] = []
    for i, lab in enumerate(labels):
        if lab is None or labels.count(lab) < 2:
            roles.append(None)
        elif lab not in first:
            first[lab] = i
            roles.append(-1)
        else:
            roles.append(first[lab])
    return roles


def _acrostic_letters(acrostic: str | None) -> list[str] | None:
    return None if acrostic is None else [c for c in acrostic if not c.isspace()]


def _line_count(lines: int | None, acrostic: list[str] | None) -> int:
    if lines is None:
        if acrostic is None:
            raise ConstraintError("give the number of lines (lines=) or an acrostic")
        lines = len(acrostic)
    if lines < 1:
        raise ConstraintError(f"a poem needs at least one line, got lines={lines}")
    if acrostic is not None and len(acrostic) != lines:
        raise ConstraintError(f"acrostic {''.join(acrostic)!r} has {len(acrostic)} letters for {lines} lines")
    return lines


def _key(p: str) -> str:
    return p[:1].lower() + p[1:]


class _Trie:
    """Word set with prefix -> next-character sets."""

    def __init__(self, words: Iterable[str]):
        self.words = frozenset(words)
        nxt: dict[str, set[str]] = {}
        for w in self.words:
            for k in range(len(w)):
                nxt.setdefault(w[:k], set()).add(w[k])
        self.next = nxt
        self.max_len = max(map(len, self.words))


class _State(NamedTuple):
    line_idx: int = 0
    line: str = ""
    blank_pending: bool = False
    ended: bool = False
    finals: tuple[str | None, ...] = ()


class EnglishFormConstraint(Constraint):
    """Lines, stanzas, acrostic, line length and hard end rhymes for a char tokenizer."""

    def __init__(
        self,
        tokenizer: CharTokenizer,
        lines: int | None = None,
        stanza: int | None = None,
        rhyme_scheme: str | None = None,
        acrostic: str | None = None,
        max_line_chars: int = 60,
        min_line_chars: int = 8,
        words: Iterable[str] | None = None,
        max_rhyme_words: int = 500,
        max_word_len: int = 12,
    ):
        self.acrostic = _acrostic_letters(acrostic)
        self.lines = _line_count(lines, self.acrostic)
        self.stanza = stanza
        self.rhyme_scheme = rhyme_scheme
        self.max_line_chars = max_line_chars
        self.min_line_chars = min_line_chars
        self.words = None if words is None else frozenset(w.lower() for w in words)
        self.max_rhyme_words = max_rhyme_words
        self.max_word_len = max_word_len
        if stanza is not None and stanza < 1:
            raise ConstraintError(f"stanza must be a positive number of lines, got {stanza}")
        if not 1 <= min_line_chars < max_line_chars - 1:
            raise ConstraintError(
                f"need 1 <= min_line_chars < max_line_chars - 1, got {min_line_chars} and {max_line_chars}"
            )
        self.roles = _rhyme_roles(expand_rhyme_scheme(rhyme_scheme, self.lines))
        self.check(tokenizer)

    # ------------------------------------------------------------ setup

    def max_tokens(self) -> int | None:
        """Every line can run to ``max_line_chars`` plus a final word and its newline, plus stanza breaks."""
        if self.lines is None:
            return None
        breaks = (self.lines - 1) // self.stanza if self.stanza else 0
        return self.lines * (self.max_line_chars + self.max_word_len + 2) + breaks + 1

    def check(self, tokenizer) -> None:  # noqa: ANN001
        vocab = char_vocab(tokenizer, "EnglishFormConstraint")
        if "\n" not in vocab:
            raise ConstraintError("the vocabulary has no newline, so it cannot write lines")
        self._tok = tokenizer
        self._n = tokenizer.vocab_size
        self._char = {i: c for c, i in vocab.items()}
        self._space = vocab.get(" ")
        self._newline = vocab["\n"]
        nonspace = [i for c, i in vocab.items() if c.isprintable() and c not in (" ", SEP_CHAR)]
        if not nonspace:
            raise ConstraintError("the vocabulary has no printable characters to write lines with")
        self._nonspace = self._mask(nonspace)
        self._punct = self._mask(vocab[c] for c in CLOSING_PUNCT if c in vocab)
        self._acrostic_masks: list[torch.Tensor] | None = None
        if self.acrostic is not None:
            masks = []
            for letter in self.acrostic:
                ids = {vocab[c] for c in (letter.upper(), letter.lower(), letter) if c in vocab}
                if not ids:
                    raise ConstraintError(f"acrostic letter {letter!r} is not in the vocabulary")
                masks.append(self._mask(ids))
            self._acrostic_masks = masks
        self._anchor_trie: _Trie | None = None
        self._partner_tries: dict[str, _Trie] = {}
        self._trie_masks: dict[tuple[int, str], torch.Tensor] = {}
        if any(r is not None for r in self.roles):
            alphabet = {c for c in vocab if c.islower() or c == "'"}
            self._pool = english_rhyme_pool(alphabet, self.words, self.max_word_len)
            anchors = {w for group in self._pool.values() for w in group}
            if not anchors:
                raise ConstraintError("no two rhyming dictionary words can be spelled with this vocabulary")
            longest = max(map(len, anchors))
            if self.min_line_chars > self.max_line_chars - longest - 2:
                raise ConstraintError(
                    f"rhymed lines need min_line_chars <= max_line_chars - {longest + 2} "
                    f"(rhyme words have up to {longest} letters); got {self.min_line_chars}"
                )
            self._anchor_trie = _Trie(anchors)
        self._cache = PrefixCache()

    def _mask(self, ids: Iterable[int]) -> torch.Tensor:
        m = torch.zeros(self._n, dtype=torch.bool)
        idx = list(ids)
        if idx:
            m[torch.tensor(idx, dtype=torch.long)] = True
        return m

    def _partners(self, anchor: str) -> _Trie:
        if anchor not in self._partner_tries:
            keys = rhyme_keys(anchor)
            cands = sorted({w for k in keys for w in self._pool.get(k, ()) if w != anchor}, key=lambda w: (len(w), w))
            if not cands:
                raise ConstraintError(f"no word in the vocabulary rhymes with {anchor!r}")
            self._partner_tries[anchor] = _Trie(cands[: self.max_rhyme_words])
        return self._partner_tries[anchor]

    def _next_mask(self, trie: _Trie, prefix: str) -> torch.Tensor:
        key = (id(trie), prefix)
        if key not in self._trie_masks:
            chars = trie.next.get(prefix, ())
            self._trie_masks[key] = self._mask(self._tok.id_of(c) for c in chars)
        return self._trie_masks[key]

    # ------------------------------------------------------------ state machine

    def _step(self, s: _State, tok: int) -> _State:
        if tok == self._tok.eos_id:
            return _State(s.line_idx, s.line, False, True, s.finals)
        ch = self._char[tok]
        if ch != "\n":
            return _State(s.line_idx, s.line + ch, s.blank_pending, False, s.finals)
        if s.blank_pending:
            return _State(s.line_idx, "", False, False, s.finals)
        done = s.line_idx + 1
        blank = self.stanza is not None and done % self.stanza == 0 and done < self.lines
        return _State(done, "", blank, False, s.finals + (final_word(s.line),))

    def _allowed_in(self, s: _State) -> torch.Tensor:
        m = torch.zeros(self._n, dtype=torch.bool)
        if s.ended or s.line_idx >= self.lines:
            m[self._tok.eos_id] = True
            return m
        if s.blank_pending:
            m[self._newline] = True
            return m
        i, line = s.line_idx, s.line
        end_id = self._tok.eos_id if i == self.lines - 1 else self._newline
        if not line:
            return (self._acrostic_masks[i] if self._acrostic_masks else self._nonspace).clone()
        role = self.roles[i]
        if role is None:
            return self._free_line(line, end_id)
        trie = self._anchor_trie if role == -1 else self._partners(s.finals[role] or "")
        return self._rhymed_line(line, end_id, trie)

    def _free_line(self, line: str, end_id: int) -> torch.Tensor:
        H, L = self.max_line_chars, len(line)
        m = torch.zeros(self._n, dtype=torch.bool)
        if L >= H:
            m[end_id] = True
            return m
        m |= self._nonspace
        spaced = line[-1] == " "
        if self._space is not None and not spaced and L < max(self.min_line_chars, H - STEER_CHARS):
            m[self._space] = True
        if L >= self.min_line_chars and not spaced:
            m[end_id] = True
        return m

    def _rhymed_line(self, line: str, end_id: int, trie: _Trie) -> torch.Tensor:
        H, L = self.max_line_chars, len(line)
        R = trie.max_len + 1
        start = line.rfind(" ") + 1
        p = _key(line[start:])
        is_word = p in trie.words
        closed = len(p) >= 2 and p[-1] in CLOSING_PUNCT and p[:-1] in trie.words
        m = torch.zeros(self._n, dtype=torch.bool)
        if start > 0 and start + R + 2 > H:  # committed: this word ends the line
            if closed:
                m[end_id] = True
                return m
            m |= self._next_mask(trie, p)
            if is_word:
                m |= self._punct
                m[end_id] = True
            return m
        if L + R + 2 <= H:
            m |= self._nonspace
        elif is_word:
            m |= self._punct
        if self._space is not None and line[-1] != " " and L + 1 + R <= H:
            m[self._space] = True
        if L >= self.min_line_chars and (is_word or closed):
            m[end_id] = True
        return m

    def allowed(self, seq: Sequence[int]) -> torch.Tensor:
        return self._cache.allowed(seq, self._tok, _State, self._advance,
                                   lambda state, body: self._allowed_in(state))

    def _advance(self, s: _State, mask: torch.Tensor, body: list[int], p: int) -> _State:
        if not bool(mask[body[p]]):
            shown = self._tok.decode(body[: p + 1])
            raise ConstraintError(f"the text so far {shown!r} breaks the requested English form")
        return self._step(s, body[p])


def check_english_form(
    text: str,
    *,
    lines: int | None = None,
    stanza: int | None = None,
    rhyme_scheme: str | None = None,
    acrostic: str | None = None,
    max_line_chars: int = 60,
    min_line_chars: int = 1,
) -> list[str]:
    """Violations of the requested form in ``text`` (empty list: compliant).

    A title/author prefix is ignored. Without ``stanza`` blank lines are ignored;
    with it, exactly one blank line must follow every ``stanza`` lines.

    Args:
        text: the poem, lines separated by ``"\\n"``.
        lines: required number of lines; None: the acrostic's length (one of
            ``lines`` and ``acrostic`` is required, else ConstraintError).
        stanza: lines per stanza, with one blank line between stanzas; None:
            blank lines are not checked.
        rhyme_scheme: e.g. ``"AABB"`` or ``"ABAB"`` (``"-"``: an unrhymed line);
            a scheme shorter than the poem repeats with fresh rhymes and must
            divide the line count. Rhymes are judged with the CMU pronouncing
            dictionary. None: no rhyme required.
        acrostic: a word whose i-th letter begins line i (either case); None: none.
        max_line_chars: longest allowed line, in characters (default 60).
        min_line_chars: shortest allowed line, in characters (default 1).

    Returns:
        list[str]: one readable message per violation (e.g. ``"expected 4 lines,
        got 3"``); empty when the poem complies.

    Example:
        >>> import muse
        >>> poem = "The night is long\\nI sing a song\\nThe stars are bright\\nUntil the light"
        >>> muse.check_english_form(poem, lines=4, rhyme_scheme="AABB")
        []
        >>> muse.check_english_form(poem, lines=4, stanza=2)
        ['stanza breaks should be one blank line after every 2 lines']
    """
    letters = _acrostic_letters(acrostic)
    n = _line_count(lines, letters)
    raw = split_prefix(text)[2].strip("\n").split("\n")
    body = [ln for ln in raw if ln.strip()]
    out: list[str] = []
    if len(body) != n:
        out.append(f"expected {n} lines, got {len(body)}")
    if stanza is not None:
        want: list[str] = []
        for k, ln in enumerate(body):
            if k and k % stanza == 0:
                want.append("")
            want.append(ln)
        if [ln if ln.strip() else "" for ln in raw] != want:
            out.append(f"stanza breaks should be one blank line after every {stanza} lines")
    for i, ln in enumerate(body):
        if len(ln) > max_line_chars:
            out.append(f"line {i + 1}: {len(ln)} characters, more than {max_line_chars}")
        if len(ln) < min_line_chars:
            out.append(f"line {i + 1}: {len(ln)} characters, fewer than {min_line_chars}")
        if letters is not None and i < len(letters) and ln[:1].lower() != letters[i].lower():
            out.append(f"line {i + 1} {ln!r}: should begin with acrostic letter {letters[i]!r}")
    roles = _rhyme_roles(expand_rhyme_scheme(rhyme_scheme, n))
    finals = [final_word(ln) for ln in body]
    for i, role in enumerate(roles[: len(body)]):
        if role == -1 and (finals[i] is None or not rhyme_keys(finals[i])):
            out.append(f"line {i + 1}: final word {finals[i]!r} is not in the pronouncing dictionary")
        elif role is not None and role >= 0:
            a, w = finals[role], finals[i]
            if a is None or w is None or not words_rhyme(a, w):
                out.append(f"line {i + 1}: {w!r} does not rhyme with {a!r} (line {role + 1})")
    return out

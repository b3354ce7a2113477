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

import re
from typing import Iterable, Iterator, NamedTuple, Sequence

import torch

from muse.errors import ConfigError, ConstraintError
from muse.sampling.constraints import Constraint
from muse.poetry.corpora import split_prefix
from muse.poetry.forms import PrefixCache, char_vocab
from muse.poetry.rhyme import english_rhyme_pool, final_word, rhyme_keys, words_rhyme
from muse.tokenizers.char import SEP_CHAR, CharTokenizer

STEER_CHARS = 12
CLOSING_PUNCT = ",.;:!?"
UNRHYMED = "-"


NAMED_SCHEMES = {
    "sonnet": "ABAB CDCD EFEF GG",
    "shakespearean": "ABAB CDCD EFEF GG",
    "petrarchan": "ABBAABBA CDECDE",
    "spenserian": "ABAB BCBC CDCD EE",
    "limerick": "AABBA",
    "couplets": "AA",
    "quatrain": "ABAB",
}
"""Rhyme schemes by name (``--rhyme-scheme sonnet``)."""


def resolve_scheme(scheme: str | None) -> str | None:
    """A named scheme (:data:`NAMED_SCHEMES`, any case) spelled out; other schemes unchanged."""
    if scheme is None:
        return None
    return NAMED_SCHEMES.get(scheme.strip().lower(), scheme)


def english_tokenizer_check(tok, req) -> None:  # noqa: ANN001
    """ConfigError naming why: English line, rhyme and acrostic options need a character-level model."""
    if getattr(tok, "kind", None) == "char":
        return
    asked = [flag for flag, on in (("--lines", req.lines is not None), ("--stanza", req.stanza is not None),
                                   ("--rhyme-scheme", bool(req.rhyme_scheme)), ("--acrostic", bool(req.acrostic)),
                                   ("--meter", getattr(req, "meter", None) is not None)) if on]
    raise ConfigError(f"{'/'.join(asked) or 'English forms'} need a character-level poem model: this one uses "
                      f"{getattr(tok, 'kind', type(tok).__name__)!r} tokens, which join letters and spaces (and "
                      "may span line ends) so letters, line ends and rhyme words cannot be steered one character "
                      "at a time; train one with data.tokenizer=char, or use poem-english")


def seeded_generator(seed: int | None, device: torch.device | str) -> torch.Generator | None:
    """A random generator on ``device`` seeded with ``seed`` (None: None, a fresh draw each call)."""
    if seed is None:
        return None
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def expand_rhyme_scheme(scheme: str | None, lines: int) -> list[str | None]:
    """One rhyme label per line (None = unrhymed); a short scheme repeats with fresh labels."""
    scheme = resolve_scheme(scheme)
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
        self.max_len = max(map(len, self.words), default=0)


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
    meter: str | None = None,
    feet: int | None = None,
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
        meter: ``"iambic"``: every line must scan as iambic
            (:func:`muse.poetry.meter.scans_iambic`); None: metre is not checked.
        feet: feet per line with ``meter`` (None: 5).

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
    if lines is None and letters is None and rhyme_scheme:
        lines = sum(not c.isspace() for c in resolve_scheme(rhyme_scheme) or "")
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
    if meter is not None:
        from muse.poetry.meter import DEFAULT_FEET, scans_iambic

        for i, ln in enumerate(body):
            if not scans_iambic(ln, feet or DEFAULT_FEET):
                out.append(f"line {i + 1} {ln!r}: does not scan as iambic with {feet or DEFAULT_FEET} feet")
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


def broken_ending(line: str, words: int = 2) -> bool:
    """Whether one of the last ``words`` words of ``line`` is not a word: not in the CMU dictionary, or a
    single letter other than "a", "i", "o", or without a vowel letter (a truncated word such as "th" or "g").

    Args:
        line: one line of verse.
        words: how many final words to look at (default 2: the rhyme word and the one before it).

    Returns:
        bool: True when one of them is a fragment or a non-word.

    Example:
        >>> from muse.poetry.english import broken_ending
        >>> broken_ending("Th hood"), broken_ending("The river runs to the sea")
        (True, False)
    """
    found = re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)*", line)[-words:]
    return not found or any(_not_a_word(w.lower()) for w in found)


def _not_a_word(w: str) -> bool:
    import pronouncing

    if len(w) == 1:
        return w not in "aio"
    return not re.search("[aeiouy]", w) or not pronouncing.phones_for_word(w)


# ====================================================================== line-by-line writing

RHYME_STOPWORDS = frozenset(
    "a an the and or but nor of to in on at by for from with as if than that his its my their our your thy "
    "is was are were am be's s t".split()
)
"""Words never offered as rhyme words: articles, conjunctions, prepositions and possessives end lines badly."""
DRAFTS = 3
"""Free drafts of a rhymed line per round."""
LATEST = 3
"""Word boundaries of a draft (its last ones, in its later half) where a rhyme may end it, but in the last round."""
ROUNDS = 3
"""Rounds of drafts for a rhymed line before its cut points are all tried (6 under a metre)."""
BEAM = 8
SMALL_VOCAB = 2000
"""A corpus vocabulary (``words.json``) of fewer words gives way to the whole CMU dictionary under a metre."""
METRED_DRAFTS = 3
"""Drafts of an unrhymed line under a metre; the one the model finds likeliest per character is kept."""
"""Hypotheses kept while spelling rhyme words along their trie under the model."""
IMPROBABLE = -9.0
"""A rhymed ending (space, word, line end) less likely than this (nats) makes the line be drafted again."""


class _Ending(NamedTuple):
    score: float
    row: int
    cut: int
    word: str
    ends: torch.Tensor


class EnglishPoet:
    """Writes English poems line by line: each line runs freely under the model, rhymes are chosen in context.

    An unrhymed line is one draft sampled under the line rules of
    :class:`EnglishFormConstraint` (and :class:`muse.poetry.meter.IambicConstraint`
    with ``feet``). For a rhymed line :data:`DRAFTS` drafts are sampled freely to
    their natural end; at each word boundary of a draft (in its later half) the
    rhyme words that may end the line there (the anchor set, or the words rhyming
    with the anchor line's final word; under a metre only those that complete the
    line's syllables exactly) are spelled along a trie by a beam search under the
    model, scoring ``log p(" " + word + line end | draft so far)``, where the line
    end is a newline, EOS or a closing punctuation mark. An ending is drawn from
    these in proportion to ``exp(score / temperature)``; when the best is below
    :data:`IMPROBABLE` nats the line is drafted again (:data:`ROUNDS` rounds, the
    last one trying every boundary). So the words before the rhyme are the model's
    own and whole, and the rhyme is a word it finds likely right there.
    """

    def __init__(self, model, tokenizer: CharTokenizer, *, lines: int | None = None,  # noqa: ANN001
                 stanza: int | None = None, rhyme_scheme: str | None = None, acrostic: str | None = None,
                 meter: str | None = None, feet: int | None = None, words: Iterable[str] | None = None,
                 max_line_chars: int | None = None, min_line_chars: int = 8):
        from muse.poetry.meter import DEFAULT_FEET, METERS, IambicConstraint

        if meter is not None and meter not in METERS:
            raise ConfigError(f"--meter {meter!r} is not known; choose from {', '.join(METERS)}")
        if feet is not None and meter is None:
            raise ConfigError("--feet counts the feet of a metre: add --meter iambic")
        feet = (feet or DEFAULT_FEET) if meter is not None else None
        rhyme_scheme = resolve_scheme(rhyme_scheme)
        if lines is None and acrostic is None and rhyme_scheme:
            lines = sum(not c.isspace() for c in rhyme_scheme)
        self.model, self.tok = model, tokenizer
        self.feet = feet
        H = max_line_chars or (60 if feet is None else max(60, 14 * feet))
        self.form = EnglishFormConstraint(tokenizer, lines=lines, stanza=stanza, acrostic=acrostic,
                                          max_line_chars=H, min_line_chars=min_line_chars)
        self.lines, self.stanza, self.H = self.form.lines, stanza, H
        self.words = None if words is None else [w.lower() for w in words]
        self.roles = _rhyme_roles(expand_rhyme_scheme(rhyme_scheme, self.lines))
        self._vocab = char_vocab(tokenizer, "rhyme schemes")
        self._space = self._vocab.get(" ")
        self._tries: dict[tuple, _Trie | None] = {}
        if any(r is not None for r in self.roles):
            if self._space is None:
                raise ConstraintError("rhyme schemes need a vocabulary with spaces")
            alphabet = {c for c in self._vocab if c.islower() or c == "'"}
            self._pool = english_rhyme_pool(alphabet, self.words, 12) if self.words else {}
            if not self._good_anchors():
                self._pool = english_rhyme_pool(alphabet, None, 12)  # the corpus is too small to rhyme
            self._anchors = self._good_anchors()
            if not self._anchors:
                raise ConstraintError("no two rhyming dictionary words can be spelled with this vocabulary")
        # a metre spells its words from the corpus vocabulary, unless that is too small to rhyme or scan
        small = self.words is None or len(self.words) < SMALL_VOCAB or (
            any(r is not None for r in self.roles) and not any(w in self._anchors for w in self.words[:200]))
        self.meter = None if feet is None else IambicConstraint(tokenizer, feet, None if small else self.words)
        self.constraints: list[Constraint] = [self.form] + ([self.meter] if self.meter else [])

    def _good_anchors(self) -> frozenset[str]:
        ok = set()
        for group in self._pool.values():
            usable = [w for w in group if w not in RHYME_STOPWORDS]
            if len(usable) >= 3:
                ok.update(usable)
        return frozenset(ok)

    def _partners(self, anchor: str, used: set[str]) -> frozenset[str]:
        keys = rhyme_keys(anchor)
        cands = {w for k in keys for w in self._pool.get(k, ()) if w != anchor and w not in RHYME_STOPWORDS}
        fresh = cands - used
        return frozenset(fresh or cands)

    def _trie(self, words: frozenset[str], positions: frozenset[int] | None) -> _Trie | None:
        key = (words, positions)
        if key not in self._tries:
            pick = words if self.meter is None else self.meter.ending_words(positions or frozenset(), words)
            self._tries[key] = _Trie(pick) if pick else None
        return self._tries[key]

    # -------------------------------------------------------------- model stepping

    def _forward(self, ids: torch.Tensor, state):  # noqa: ANN001, ANN202
        logits, state = self.model(ids, state)
        return logits[..., : self.tok.vocab_size].float().log_softmax(-1), state

    def _reorder(self, state, rows: list[int]):  # noqa: ANN001, ANN202
        return self.model.reorder_state(state, torch.tensor(rows, dtype=torch.long, device=self.device))

    @torch.inference_mode()
    def _feed(self, ids: list[int], state):  # noqa: ANN001, ANN202
        """Feed ids (one row) in windows the model accepts; the log-probabilities after the last one."""
        bs = getattr(self.model, "max_context", None) or len(ids)
        lp = None
        for k in range(0, len(ids), bs):
            chunk = torch.tensor([ids[k:k + bs]], dtype=torch.long, device=self.device)
            lp, state = self._forward(chunk, state)
        return lp[:, -1], state

    # -------------------------------------------------------------- writing

    def write(self, prompt: list[int], *, temperature: float = 0.8, top_k: int | None = None,
              top_p: float | None = None, greedy: bool = False, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu", max_tokens: int | None = None) -> Iterator[list[int]]:
        """Yield the poem's new token ids line by line (each line with its newline; the last without EOS).

        Args:
            prompt: ``[bos, ...]`` ids; a prompt that ends inside a line is continued.
            temperature: sampling temperature of drafts and of the choice of ending.
            top_k: sample drafts among the ``top_k`` likeliest characters.
            top_p: nucleus threshold for drafts.
            greedy: argmax drafts and the likeliest ending.
            generator: random generator (on ``device``) for reproducible poems.
            device: where the model runs.
            max_tokens: ConstraintError when the poem needs more new tokens than this.

        Returns:
            Iterator[list[int]]: new ids, a line at a time.
        """
        from muse.sampling.sampler import sample_next

        self.device = torch.device(device)
        self.sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy, gen=generator)
        self._sample_next = sample_next
        self._check_prompt(prompt)
        seq = list(prompt)
        lp, state = self._feed(seq, None)
        body = self.tok.decode(seq[_body_start(seq, self.tok):])
        parts = body.split("\n")
        done = [ln for ln in parts[:-1] if ln.strip()]
        finals: list[str | None] = [final_word(ln) for ln in done]
        used = {f for f in finals if f}
        partial = parts[-1]
        n_new = 0
        for i in range(len(done), self.lines):
            end_id = self.tok.eos_id if i == self.lines - 1 else self.form._newline
            role = self.roles[i]
            if role is None:
                line = self._free_line(seq, lp, state, end_id)
            else:
                words = self._anchors if role == -1 else self._partners(finals[role] or "", used)
                line = self._rhymed_line(seq, lp, state, end_id, words, partial)
            text = partial + self.tok.decode(line[:-1])
            finals.append(final_word(text))
            if finals[-1]:
                used.add(finals[-1])
            partial = ""
            if self.stanza and (i + 1) % self.stanza == 0 and i + 1 < self.lines:
                line = line + [self.form._newline]
            n_new += len(line)
            if max_tokens is not None and n_new > max_tokens:
                raise ConstraintError(f"max_tokens={max_tokens} ran out before the poem's form was complete; "
                                      "allow more (--max-tokens)")
            seq += line
            if line[-1] == self.tok.eos_id:
                yield line[:-1]
                return
            lp, state = self._feed(line, state)
            yield line

    def _check_prompt(self, prompt: list[int]) -> None:
        first = _body_start(prompt, self.tok)
        for c in self.constraints:
            for i in range(max(1, first), len(prompt)):
                m = c.allowed(prompt[:i])
                if m is not None and not bool(m[prompt[i]]):
                    raise ConstraintError(f"the prompt breaks the requested form at {self.tok.decode(prompt[1:i + 1])!r}")

    def _mask(self, seq: list[int]) -> torch.Tensor:
        m = self.form.allowed(seq)
        if self.meter is not None:
            m &= self.meter.allowed(seq)
        return m

    @torch.inference_mode()
    def _drafts(self, seq: list[int], lp: torch.Tensor, state, n: int, end_id: int, cuts: bool):  # noqa: ANN001, ANN202
        """``n`` lines sampled from ``seq``: per row its ids (ending in the line end) and its boundaries
        ``(cut, state, log-probs)`` (a space was drawn after ``row[:cut]``) when ``cuts``."""
        s = self.sampling
        rows: list[list[int]] = [[] for _ in range(n)]
        bounds: list[list[tuple]] = [[] for _ in range(n)]
        self.draft_logp = [0.0] * n  # log-probability of each draft under the model, without the masks
        state = self._reorder(state, [0] * n)
        lp = lp.reshape(1, -1).expand(n, -1)  # row j of lp and state is draft live[j]
        live = list(range(n))
        for _ in range(self.H + 20):
            masks = torch.stack([self._mask(seq + rows[r]) for r in live]).to(lp.device)
            if not bool(masks.any(-1).all()):
                raise ConstraintError("the English form allows no character here; it cannot be met")
            logits = lp.masked_fill(~masks, float("-inf"))
            picks = self._sample_next(logits, s["temperature"], s["gen"], s["greedy"],
                                      top_k=s["top_k"], top_p=s["top_p"]).tolist()
            for j, (r, t) in enumerate(zip(live, picks)):
                self.draft_logp[r] += float(lp[j, t])
                if cuts and t == self._space:
                    bounds[r].append((len(rows[r]), self._reorder(state, [j]), lp[j]))
                rows[r].append(t)
            still = [j for j, t in enumerate(picks) if t not in (end_id, self.tok.eos_id)]
            if not still:
                return rows, bounds
            state = self._reorder(state, still)
            live = [live[j] for j in still]
            nxt = torch.tensor([[picks[j]] for j in still], dtype=torch.long, device=self.device)
            lp, state = self._forward(nxt, state)
            lp = lp[:, -1]
        raise ConstraintError("a line did not end within the line-length limit")

    def _free_line(self, seq: list[int], lp: torch.Tensor, state, end_id: int) -> list[int]:  # noqa: ANN001
        n = 2 if self.meter is None else METRED_DRAFTS
        rows, _ = self._drafts(seq, lp, state, n, end_id, cuts=False)
        whole = [not broken_ending(self.tok.decode(row[:-1])) for row in rows]
        return rows[max(range(n), key=lambda r: (whole[r], self.draft_logp[r] / len(rows[r])))]

    def _rhymed_line(self, seq, lp, state, end_id: int, words: frozenset[str], partial: str) -> list[int]:  # noqa: ANN001
        s = self.sampling
        rounds = ROUNDS * (2 if self.meter else 1)
        best: list[_Ending] = []
        best_rows: list[list[int]] = []
        for rnd in range(rounds):
            rows, bounds = self._drafts(seq, lp, state, DRAFTS, end_id, cuts=True)
            texts = [partial + self.tok.decode(row[:-1]) for row in rows]
            natural = [r for r, t in enumerate(texts) if final_word(t) in words and not broken_ending(t)]
            if natural:  # a draft that ends in a rhyme word of its own accord is kept as it is
                return rows[max(natural, key=lambda r: self.draft_logp[r] / len(rows[r]))]
            last = rnd == rounds - 1
            found: list[_Ending] = []
            for r, (row, bs) in enumerate(zip(rows, bounds)):
                for cut, st, blp in (bs if last else [b for b in bs if b[0] >= len(row) // 2][-LATEST:]):
                    prefix = partial + self.tok.decode(row[:cut])
                    if not last and broken_ending(prefix, 1):
                        continue  # the word before the rhyme should be a word
                    found += [e._replace(row=len(best_rows) + r, cut=cut)
                              for e in self._endings(prefix, st, blp, words, end_id)]
            best += found
            best_rows += rows
            if best and max(e.score for e in best) >= IMPROBABLE:
                break
        if not best:
            raise ConstraintError("no rhyming word could end this line within the line-length limit; "
                                  "allow longer lines or a looser rhyme scheme")
        scores = torch.tensor([e.score for e in best])
        if s["greedy"]:
            k = int(scores.argmax())
        else:
            k = int(torch.multinomial((scores / s["temperature"]).softmax(-1), 1, generator=_cpu(s["gen"])))
        e = best[k]
        end_ids = self._end_ids(end_id)
        if s["greedy"]:
            j = int(e.ends.argmax())
        else:
            j = int(torch.multinomial((e.ends / s["temperature"]).softmax(-1), 1, generator=_cpu(s["gen"])))
        tail = [end_ids[j]] if j == 0 else [end_ids[j], end_id]
        return best_rows[e.row][: e.cut] + [self._space] + [self._vocab[c] for c in e.word] + tail

    def _end_ids(self, end_id: int) -> list[int]:
        """How a rhymed line may end: the line end, or a closing mark first (the poem's last line: . ! ? only)."""
        marks = CLOSING_PUNCT if end_id != self.tok.eos_id else ".!?"
        return [end_id, *(self._vocab[c] for c in marks if c in self._vocab)]

    @torch.inference_mode()
    def _endings(self, prefix: str, state, lp: torch.Tensor, words: frozenset[str], end_id: int) -> list[_Ending]:  # noqa: ANN001
        """Rhyme words that may end the line after ``prefix``, spelled under the model by a trie beam search."""
        positions = None
        if self.meter is not None:
            positions = self.meter.positions_of(prefix)
            if not positions or max(positions) >= self.meter.limit:
                return []
        trie = self._trie(words, positions)
        room = self.H - len(prefix) - 2  # the space and a closing mark
        if trie is None or room < 1 or len(prefix) + 2 > self.H:
            return []
        end_ids = torch.tensor(self._end_ids(end_id), device=lp.device)
        lp0 = lp.reshape(-1)
        first = float(lp0[self._space])
        if first == float("-inf"):
            return []
        lp1, state = self._forward(torch.tensor([[self._space]], dtype=torch.long, device=self.device), state)
        hyps: list[tuple[str, float]] = [("", first)]
        lps = lp1[:, -1]
        out: list[_Ending] = []
        for _ in range(trie.max_len + 1):
            cands: list[tuple[float, int, str, int]] = []
            for h, (p, sc) in enumerate(hyps):
                row = lps[h]
                if p in trie.words and len(prefix) + 1 + len(p) >= self.form.min_line_chars:
                    ends = row[end_ids]
                    out.append(_Ending(sc + float(ends.logsumexp(0)), 0, 0, p, ends.cpu()))
                if len(p) >= room:
                    continue
                for c in trie.next.get(p, ()):
                    i = self._vocab.get(c)
                    if i is not None:
                        cands.append((sc + float(row[i]), h, p + c, i))
            floor = max((e.score for e in out), default=float("-inf")) - 4.0
            cands = sorted((c for c in cands if c[0] > floor), reverse=True)[:BEAM]
            if not cands:
                break
            state = self._reorder(state, [c[1] for c in cands])
            ids = torch.tensor([[c[3]] for c in cands], dtype=torch.long, device=self.device)
            lps, state = self._forward(ids, state)
            lps = lps[:, -1]
            hyps = [(c[2], c[0]) for c in cands]
        return out


def _cpu(gen: torch.Generator | None) -> torch.Generator | None:
    """A CPU generator for choices made on CPU tensors (seeded from ``gen``), or None."""
    if gen is None:
        return None
    if gen.device.type == "cpu":
        return gen
    g = torch.Generator()
    g.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen, device=gen.device)))
    return g


def _body_start(seq: list[int], tok: CharTokenizer) -> int:
    from muse.poetry.forms import body_start

    return body_start(seq, tok)

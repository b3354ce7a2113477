"""Hard form constraints for regulated Chinese verse (绝句 and 律诗).

The text layout is the corpus layout of :mod:`muse.poetry.corpora`: one
half-line per line, punctuation at the line end. A 五言绝句 is generated as::

    春眠不觉晓，\\n处处闻啼鸟。\\n夜来风雨声，\\n花落知多少。<eos>

i.e. for each line ``chars_per_line`` CJK ideographs, then "，" after odd lines
and "。" after even lines, then "\\n" (EOS after the last line).

Options:

* ``acrostic="春夏秋冬"``: line *i* begins with the *i*-th character (藏头诗).
* ``rhyme=True``: the last character of line 2 has a known 中华新韵 group, and
  lines 4, 6, 8 end in a character of that same group (:mod:`muse.poetry.rhyme`).
* ``tonal=True``: 平仄 on the 2nd, 4th (and 6th) characters: they alternate
  within a line, line 2 opposes line 1 at each of them (对), and the first line of
  a couplet copies the line before it (粘). The 2nd character of line 1 is free
  (any character with a known tone) and fixes the whole pattern.

The checker :func:`check_chinese_form` also accepts "？" and "！" (and "；" after
odd lines), which poets use there; the constraint always writes "，" and "。".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from muse.errors import ConstraintError
from muse.sampling.constraints import Constraint
from muse.poetry.corpora import chinese_lines, split_prefix
from muse.tokenizers.scripts import is_cjk_ideograph
from muse.poetry.rhyme import PING, RHYME_GROUPS, ZE, rhyme_group, tone_class
from muse.tokenizers.char import CharTokenizer

ODD_LINE_END = "，"
EVEN_LINE_END = "。"
ODD_LINE_ENDS_ACCEPTED = "，？！；"
EVEN_LINE_ENDS_ACCEPTED = "。？！"
_ANY_END = "，。？！；"


@dataclass(frozen=True)
class ChineseForm:
    """A fixed form: ``lines`` lines of ``chars_per_line`` characters each."""

    name: str
    chars_per_line: int
    lines: int
    label: str


FORMS: dict[str, ChineseForm] = {
    "wujue": ChineseForm("wujue", 5, 4, "五言绝句"),
    "qijue": ChineseForm("qijue", 7, 4, "七言绝句"),
    "wulv": ChineseForm("wulv", 5, 8, "五言律诗"),
    "qilv": ChineseForm("qilv", 7, 8, "七言律诗"),
}
_ALIASES = {
    **{f.label: k for k, f in FORMS.items()},
    "五绝": "wujue", "七绝": "qijue", "五律": "wulv", "七律": "qilv",
}


def get_form(form: str | ChineseForm) -> ChineseForm:
    """A :class:`ChineseForm` by name (``"wujue"``, ``"五绝"``, ``"五言绝句"``, ...)."""
    if isinstance(form, ChineseForm):
        return form
    key = _ALIASES.get(form, form)
    if key not in FORMS:
        raise ConstraintError(f"unknown Chinese form {form!r}; known: {', '.join(FORMS)}")
    return FORMS[key]


def _required_tone(base: str, line: int, col: int) -> str:
    """平/仄 required at 0-based (line, col) for col in 1, 3, 5, given line 1's 2nd character."""
    flips = ((line + 1) // 2) % 2 + (col // 2) % 2
    return base if flips % 2 == 0 else (ZE if base == PING else PING)


def _check_acrostic(acrostic: str | None, form: ChineseForm) -> None:
    if acrostic is not None and len(acrostic) != form.lines:
        raise ConstraintError(
            f"acrostic {acrostic!r} has {len(acrostic)} characters but a {form.label} has {form.lines} lines"
        )
    if acrostic is not None and not all(is_cjk_ideograph(c) for c in acrostic):
        raise ConstraintError(f"acrostic {acrostic!r} must be Chinese characters only")


def char_vocab(tokenizer, who: str) -> dict[str, int]:  # noqa: ANN001 - any Tokenizer
    """Character -> id of a character tokenizer; ConstraintError for other tokenizers."""
    if not isinstance(tokenizer, CharTokenizer):
        kind = getattr(tokenizer, "kind", type(tokenizer).__name__)
        raise ConstraintError(f"{who} needs a character tokenizer (kind 'char'), got {kind!r}")
    return {c: tokenizer.id_of(c) for c in tokenizer.chars}


def body_start(seq: list[int], tokenizer: CharTokenizer) -> int:
    """Index where the poem body starts: after the last BOS or ``<sep>``, else 0."""
    rev = seq[::-1]
    found = [len(seq) - rev.index(t) for t in (tokenizer.bos_id, tokenizer.sep_id) if t in rev]
    return max(found, default=0)


def as_id_list(seq: Sequence[int] | torch.Tensor) -> list[int]:
    """Token ids as a list of Python ints (accepts lists and 1-D tensors)."""
    return seq.tolist() if isinstance(seq, torch.Tensor) else list(map(int, seq))


class PrefixCache:
    """Bounded memo of per-prefix results, so each step only examines its new token."""

    def __init__(self, limit: int = 20000):
        self.items: dict[tuple[int, ...], object] = {}
        self.limit = limit

    def get(self, key: tuple[int, ...]) -> object | None:
        return self.items.get(key)

    def put(self, key: tuple[int, ...], value: object) -> None:
        if len(self.items) >= self.limit:
            self.items.clear()
        self.items[key] = value

    def allowed(self, seq, tokenizer, init, advance, mask_of) -> torch.Tensor:  # noqa: ANN001
        """Mask after ``seq`` for a constraint that reads the poem body token by token.

        ``advance(state, mask, body, p)`` checks ``body[p]`` against ``mask`` (the mask
        before it) and returns the next state; ``mask_of(state, body)`` is the mask
        after ``body``. A prefix one token shorter than ``seq`` that was seen before
        is extended by one step; otherwise the body is replayed from ``init()``.
        """
        ids = as_id_list(seq)
        key = tuple(ids)
        hit = self.get(key)
        if hit is None:
            prev = self.get(key[:-1]) if ids else None
            if prev is not None and ids[-1] not in (tokenizer.bos_id, tokenizer.sep_id):
                start, state, mask = prev  # type: ignore[misc]
                body = ids[start:]
                state = advance(state, mask, body, len(body) - 1)
            else:
                start = body_start(ids, tokenizer)
                body, state = ids[start:], init()
                for p in range(len(body)):
                    state = advance(state, mask_of(state, body[:p]), body, p)
            hit = (start, state, mask_of(state, body))
            self.put(key, hit)
        return hit[2].clone()  # type: ignore[index]


class ChineseFormConstraint(Constraint):
    """Forces a 绝句/律诗 layout, with optional acrostic, rhyme and 平仄."""

    def __init__(
        self,
        tokenizer: CharTokenizer,
        form: str | ChineseForm,
        acrostic: str | None = None,
        rhyme: bool = False,
        tonal: bool = False,
    ):
        self.form = get_form(form)
        self.acrostic = acrostic
        self.rhyme = rhyme
        self.tonal = tonal
        _check_acrostic(acrostic, self.form)
        self.check(tokenizer)

    def max_tokens(self) -> int | None:
        """Each line: its characters, one punctuation mark and a newline; then EOS."""
        return self.form.lines * (self.form.chars_per_line + 2) + 1

    def check(self, tokenizer) -> None:  # noqa: ANN001
        vocab = char_vocab(tokenizer, "ChineseFormConstraint")
        f = self.form
        for ch in (ODD_LINE_END, EVEN_LINE_END, "\n"):
            if ch not in vocab:
                raise ConstraintError(f"the vocabulary has no {ch!r}, so it cannot write a {f.label} ({f.name})")
        n = tokenizer.vocab_size
        hanzi = [(c, i) for c, i in vocab.items() if is_cjk_ideograph(c)]
        if not hanzi:
            raise ConstraintError(f"the vocabulary has no Chinese characters, so it cannot write a {f.label}")
        if self.acrostic is not None:
            missing = [c for c in self.acrostic if c not in vocab]
            if missing:
                raise ConstraintError(f"acrostic characters not in the vocabulary: {' '.join(missing)}")
        self._tok = tokenizer
        self._n = n
        self._hanzi = self._mask(i for _, i in hanzi)
        self._punct = {0: vocab[ODD_LINE_END], 1: vocab[EVEN_LINE_END]}
        self._newline = vocab["\n"]
        self._acrostic_ids = [vocab[c] for c in self.acrostic] if self.acrostic else None
        self._group_of: dict[int, str] = {}
        self._group_mask: dict[str, torch.Tensor] = {}
        if self.rhyme:
            for c, i in hanzi:
                if (g := rhyme_group(c)) is not None:
                    self._group_of[i] = g
            if not self._group_of:
                raise ConstraintError("no vocabulary character has a known rhyme group (pypinyin)")
            self._known_group = self._mask(self._group_of)
            for g in RHYME_GROUPS:
                self._group_mask[g] = self._mask(i for i, gg in self._group_of.items() if gg == g)
        self._tone_of: dict[int, str] = {}
        if self.tonal:
            self._tone_of = {i: t for c, i in hanzi if (t := tone_class(c)) is not None}
            ping = [i for i, t in self._tone_of.items() if t == PING]
            ze = [i for i, t in self._tone_of.items() if t == ZE]
            if not ping or not ze:
                raise ConstraintError(
                    "tonal=True needs both 平 (tones 1-2) and 仄 (tones 3-4) characters in the vocabulary"
                )
            self._tone_mask = {PING: self._mask(ping), ZE: self._mask(ze)}
        self._cache = PrefixCache()

    def _mask(self, ids) -> torch.Tensor:  # noqa: ANN001
        m = torch.zeros(self._n, dtype=torch.bool)
        idx = list(ids)
        if idx:
            m[torch.tensor(idx, dtype=torch.long)] = True
        return m

    def _only(self, i: int) -> torch.Tensor:
        m = torch.zeros(self._n, dtype=torch.bool)
        m[i] = True
        return m

    def _mask_at(self, body: Sequence[int], p: int) -> torch.Tensor:
        """Allowed ids at body position ``p`` given the body before it."""
        C, L = self.form.chars_per_line, self.form.lines
        line, col = divmod(p, C + 2)
        if line >= L or (line == L - 1 and col == C + 1):
            return self._only(self._tok.eos_id)
        if col == C:
            return self._only(self._punct[line % 2])
        if col == C + 1:
            return self._only(self._newline)
        if col == 0 and self._acrostic_ids is not None:
            return self._only(self._acrostic_ids[line])
        m = self._hanzi.clone()
        if self.tonal and col % 2 == 1:
            if line == 0 and col == 1:
                m &= self._tone_mask[PING] | self._tone_mask[ZE]
            else:
                m &= self._tone_mask[_required_tone(self._tone_of[body[1]], line, col)]
        if self.rhyme and line % 2 == 1 and col == C - 1:
            if line == 1:
                m &= self._known_group
            else:
                m &= self._group_mask[self._group_of[body[(C + 2) + C - 1]]]
        return m

    def allowed(self, seq: Sequence[int]) -> torch.Tensor:
        return self._cache.allowed(seq, self._tok, lambda: None,
                                   lambda state, mask, body, p: self._expect(body, p, mask),
                                   lambda state, body: self._mask_at(body, len(body)))

    def _expect(self, body: list[int], p: int, mask: torch.Tensor) -> None:
        if not bool(mask[body[p]]):
            shown = self._tok.decode(body[: p + 1])
            raise ConstraintError(f"the text so far {shown!r} breaks the {self.form.label} form at character {p + 1}")


def check_chinese_form(
    text: str,
    form: str | ChineseForm,
    acrostic: str | None = None,
    rhyme: bool = False,
    tonal: bool = False,
) -> list[str]:
    """Violations of the form in ``text`` (empty list: the poem complies).

    A title/author prefix is ignored; the body is re-split into half-lines like
    the corpus reader does, so couplet-per-line layouts are judged the same.
    Odd lines may end in "，", "？", "！" or "；", even lines in "。", "？" or "！".

    Args:
        text: the poem, e.g. as :func:`muse.write_poems` returns it.
        form: ``"wujue"`` (4 lines of 5 characters), ``"qijue"`` (4 x 7),
            ``"wulv"`` (8 x 5), ``"qilv"`` (8 x 7), or a
            :class:`~muse.poetry.forms.ChineseForm`.
        acrostic: Chinese characters, one per line, that the lines must begin
            with (ConstraintError if its length is not the form's line count).
            None: no acrostic.
        rhyme: also require lines 2, 4 (6, 8) to end in one rhyme group
            (中华新韵), set by line 2's last character.
        tonal: also check the 平仄 (level/oblique) pattern on the 2nd, 4th (and
            6th) characters, fixed by the 2nd character of line 1.

    Returns:
        list[str]: one readable message per violation, e.g.
        ``"line 3 '...': expected 5 characters, got 6"``; empty when it complies.

    Example:
        >>> import muse
        >>> poem = "春眠不觉晓，\\n处处闻啼鸟。\\n夜来风雨声，\\n花落知多少。"
        >>> muse.check_chinese_form(poem, "wujue")
        []
        >>> muse.check_chinese_form(poem, "qijue")[0]
        "line 1 '春眠不觉晓，': expected 7 characters, got 5"
    """
    f = get_form(form)
    _check_acrostic(acrostic, f)
    body = split_prefix(text)[2]
    lines = [half for ln in body.split("\n") for half in chinese_lines(ln)]
    out: list[str] = []
    if len(lines) != f.lines:
        out.append(f"expected {f.lines} lines for a {f.label}, got {len(lines)}")
    for i, ln in enumerate(lines[: f.lines]):
        ends = ODD_LINE_ENDS_ACCEPTED if i % 2 == 0 else EVEN_LINE_ENDS_ACCEPTED
        chars = ln[:-1] if ln[-1] in _ANY_END else ln
        if ln[-1] not in ends:
            out.append(f"line {i + 1} {ln!r}: should end with {' or '.join(ends)}")
        if len(chars) != f.chars_per_line:
            out.append(f"line {i + 1} {ln!r}: expected {f.chars_per_line} characters, got {len(chars)}")
        if not all(is_cjk_ideograph(c) for c in chars):
            out.append(f"line {i + 1} {ln!r}: contains characters other than 汉字")
        if acrostic and chars[:1] != acrostic[i]:
            out.append(f"line {i + 1} {ln!r}: should begin with acrostic character {acrostic[i]!r}")
    full = [ln[:-1] if ln[-1] in _ANY_END else ln for ln in lines[: f.lines]]
    if rhyme and len(full) >= 2 and full[1]:
        group = rhyme_group(full[1][-1])
        if group is None:
            out.append(f"line 2: rhyme character {full[1][-1]!r} has no known rhyme group")
        for i in range(3, len(full), 2):
            if full[i] and group is not None and rhyme_group(full[i][-1]) != group:
                out.append(
                    f"line {i + 1}: {full[i][-1]!r} ({rhyme_group(full[i][-1])}) does not rhyme with "
                    f"{full[1][-1]!r} ({group})"
                )
    if tonal and full and len(full[0]) >= 2:
        base = tone_class(full[0][1])
        if base is None:
            out.append(f"line 1: the tone of {full[0][1]!r} is unknown")
        else:
            for i, ln in enumerate(full):
                for col in range(1, min(len(ln), f.chars_per_line), 2):
                    if not (i == 0 and col == 1) and tone_class(ln[col]) != _required_tone(base, i, col):
                        want = "平" if _required_tone(base, i, col) == PING else "仄"
                        out.append(f"line {i + 1}: character {col + 1} {ln[col]!r} should be {want}")
    return out

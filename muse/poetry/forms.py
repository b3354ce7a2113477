"""Hard form constraints for regulated Chinese verse (绝句 and 律诗).

The text layout is the corpus layout of :mod:`muse.poetry.corpora`: one
half-line per line, punctuation at the line end. A 五言绝句 is generated as::

    春眠不觉晓，\\n处处闻啼鸟。\\n夜来风雨声，\\n花落知多少。<eos>

i.e. for each line ``chars_per_line`` CJK ideographs, then "，" after odd lines
and "。" after even lines, then "\\n" (EOS after the last line).

Options (``rhyme_system="pingshui"``, the default: classical rules, :mod:`muse.poetry.pingshui`):

* ``acrostic="春夏秋冬"``: line *i* begins with the *i*-th character (藏头诗).
* ``rhyme=True``: lines 2, 4 (6, 8), and line 1 of a 七言 poem
  (``first_line_rhyme``), end in characters of one 平水韵 level-tone group, none
  twice. The group stays open while the rhymes allow several (多音字) and only
  groups with enough characters left in the vocabulary are offered.
* ``tonal=True``: every line follows the 平仄 pattern of a regulated poem
  (平起/仄起, 粘 and 对), by classical tones (入声 is 仄), with 一三五不论, no 孤平
  and no 三平尾. The first line's pattern stays open until a character decides it.
* always: no character twice in one line, except as one 叠字 pair (处处;
  ``repeats=True`` allows it).

``rhyme_system="modern"`` keeps the older rules: 中华新韵 groups set by line 2
(:mod:`muse.poetry.rhyme`), and 平仄 by Mandarin tones on the 2nd, 4th (and 6th)
characters only, fixed by line 1's 2nd character.

The checker :func:`check_chinese_form` also accepts "？" and "！" (and "；" after
odd lines), which poets use there; the constraint always writes "，" and "。".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from muse.errors import ConstraintError
from muse.sampling.constraints import Constraint
from muse.poetry.corpora import FORM_TAGS, FREE_TAGS, MIXED_TAG, chinese_lines, split_prefix
from muse.tokenizers.scripts import is_cjk_ideograph
from muse.poetry import pingshui
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


def form_control_tag(form: str | ChineseForm) -> str:
    """The tag a ``data.control=form`` model reads before a poem of this form (e.g. ``"七绝"``)."""
    f = get_form(form)
    return FORM_TAGS[(f.lines, f.chars_per_line)]


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


RHYME_SYSTEMS = ("pingshui", "modern")
"""``pingshui``: classical 平水韵 rhymes and tones (:mod:`muse.poetry.pingshui`); ``modern``: 中华新韵 and
Mandarin tones (:mod:`muse.poetry.rhyme`)."""


def _check_rhyme_system(rhyme_system: str) -> None:
    if rhyme_system not in RHYME_SYSTEMS:
        raise ConstraintError(f"unknown rhyme system {rhyme_system!r}; choose {' or '.join(RHYME_SYSTEMS)}")


def usual_first_line_rhyme(form: str | ChineseForm) -> bool:
    """Whether the first line rhymes by default: yes in 七言 (七绝, 七律), no in 五言."""
    return get_form(form).chars_per_line == 7


def _starts(tonal_rhyme: bool, first_line: bool) -> frozenset[str]:
    """Tone-pattern starts (A-D) allowed for line 1: with a rhyme, B/D when line 1 rhymes, else A/C."""
    if not tonal_rhyme:
        return frozenset("ACBD")
    return pingshui.RHYMING_STARTS if first_line else frozenset("AC")


class ChineseFormConstraint(Constraint):
    """Forces a 绝句/律诗 layout, with optional acrostic, rhyme and 平仄, and no character twice in a line.

    Args:
        tokenizer: a character tokenizer (ConstraintError otherwise).
        form: ``"wujue"``, ``"qijue"``, ``"wulv"``, ``"qilv"`` (or 五绝 ...).
        acrostic: one character per line that the lines begin with.
        rhyme: ``rhyme_system="pingshui"``: the even lines (and line 1 when
            ``first_line_rhyme``) end in characters of one 平水韵 level-tone group,
            no rhyme character twice; ``"modern"``: lines 2, 4 (6, 8) end in one
            中华新韵 group.
        tonal: ``"pingshui"``: the 平仄 of every line follows a regulated
            pattern (:mod:`muse.poetry.pingshui`) by classical tones; ``"modern"``:
            the 2nd/4th/6th characters alternate by Mandarin tones.
        rhyme_system: ``"pingshui"`` (classical) or ``"modern"``.
        first_line_rhyme: line 1 rhymes too (pingshui only); None: the usual
            (七言 yes, 五言 no).
        repeats: allow a character twice in one line (False: only as a 叠字 pair,
            e.g. 处处).
    """

    def __init__(
        self,
        tokenizer: CharTokenizer,
        form: str | ChineseForm,
        acrostic: str | None = None,
        rhyme: bool = False,
        tonal: bool = False,
        rhyme_system: str = "pingshui",
        first_line_rhyme: bool | None = None,
        repeats: bool = False,
    ):
        self.form = get_form(form)
        _check_rhyme_system(rhyme_system)
        self.acrostic = acrostic
        self.rhyme = rhyme
        self.tonal = tonal
        self.classical = rhyme_system == "pingshui"
        self.rhyme_system = rhyme_system
        self.first_line_rhyme = (usual_first_line_rhyme(self.form) if first_line_rhyme is None
                                 else bool(first_line_rhyme)) and rhyme and self.classical
        self.repeats = repeats
        _check_acrostic(acrostic, self.form)
        self.check(tokenizer)

    def max_tokens(self) -> int | None:
        """Each line: its characters, one punctuation mark and a newline; then EOS."""
        return self.form.lines * (self.form.chars_per_line + 2) + 1

    def _rhyme_lines(self) -> list[int]:
        return ([0] if self.first_line_rhyme else []) + list(range(1, self.form.lines, 2))

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
        self._groups_of: dict[int, frozenset[str]] = {}
        if self.rhyme and self.classical:
            self._groups_of = {i: g for c, i in hanzi if (g := pingshui.pingshui_groups(c))}
            for g in pingshui.ping_groups():
                self._group_mask[g] = self._mask(i for i, gs in self._groups_of.items() if g in gs)
            need = len(self._rhyme_lines()) + (0 if self.repeats else f.chars_per_line - 1)
            self._viable_margin = need - len(self._rhyme_lines())
            if not any(int(m.sum()) >= need for m in self._group_mask.values()):
                raise ConstraintError(f"no 平水韵 level-tone group has {need} characters in the vocabulary, so "
                                      f"it cannot rhyme a {f.label}; try rhyme_system='modern'")
        elif self.rhyme:
            for c, i in hanzi:
                if (g := rhyme_group(c)) is not None:
                    self._group_of[i] = g
            if not self._group_of:
                raise ConstraintError("no vocabulary character has a known rhyme group (pypinyin)")
            self._known_group = self._mask(self._group_of)
            for g in RHYME_GROUPS:
                self._group_mask[g] = self._mask(i for i, gg in self._group_of.items() if gg == g)
        self._tone_of: dict[int, str] = {}
        self._tones_of: dict[int, frozenset[str]] = {}
        if self.tonal and self.classical:
            self._tones_of = {i: pingshui.classical_tones(c) for c, i in hanzi}
            ping = [i for i, t in self._tones_of.items() if PING in t]
            ze = [i for i, t in self._tones_of.items() if ZE in t]
            if not ping or not ze:
                raise ConstraintError("tonal=True needs both 平 and 仄 characters (平水韵) in the vocabulary")
            self._tone_mask = {PING: self._mask(ping), ZE: self._mask(ze)}
        elif self.tonal:
            self._tone_of = {i: t for c, i in hanzi if (t := tone_class(c)) is not None}
            ping = [i for i, t in self._tone_of.items() if t == PING]
            ze = [i for i, t in self._tone_of.items() if t == ZE]
            if not ping or not ze:
                raise ConstraintError(
                    "tonal=True needs both 平 (tones 1-2) and 仄 (tones 3-4) characters in the vocabulary"
                )
            self._tone_mask = {PING: self._mask(ping), ZE: self._mask(ze)}
        self._start_state = (_starts(self.tonal and self.rhyme and self.classical, self.first_line_rhyme)
                             if self.tonal and self.classical else frozenset(), None, frozenset())
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

    # ---- classical (pingshui) tone and rhyme masks
    def _fit_mask(self, start: str, line: int, col: int, line_ids: Sequence[int]) -> torch.Tensor | None:
        """Mask of characters whose tones fit (line, col) under tone-pattern ``start``; None: any."""
        C = self.form.chars_per_line
        kind = pingshui.SEQUENCES[start][line]
        if col in pingshui.fixed_columns(C):
            return self._tone_mask[PING if pingshui.line_pattern(kind, C)[col] == "平" else ZE]
        (a, b), c = pingshui.rule_columns(C)
        if kind == "B" and col == b and PING not in self._tones_of.get(line_ids[a], frozenset()):
            return self._tone_mask[PING]
        if kind == "D" and col == c:
            return self._tone_mask[ZE]
        return None

    def _fits(self, start: str, line: int, col: int, line_ids: Sequence[int], i: int) -> bool:
        m = self._fit_mask(start, line, col, line_ids)
        return m is None or bool(m[i])

    def _viable(self, groups: frozenset[str] | None, used: frozenset[int], remaining: int) -> list[str]:
        """Groups that still have ``remaining`` unused characters (plus a margin for the no-repeat rule)."""
        cand = pingshui.ping_groups() if groups is None else sorted(groups)
        used_mask = self._mask(used)
        return [g for g in cand if int((self._group_mask[g] & ~used_mask).sum()) >= remaining + self._viable_margin]

    def _is_rhyme_slot(self, line: int, col: int) -> bool:
        return self.rhyme and col == self.form.chars_per_line - 1 and line in self._rhyme_lines()

    def _remaining_rhymes(self, line: int) -> int:
        return sum(1 for ln in self._rhyme_lines() if ln >= line)

    def _mask_at(self, state, body: Sequence[int], p: int) -> torch.Tensor:  # noqa: ANN001
        """Allowed ids at body position ``p`` given the body before it and the state after it."""
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
        line_ids = body[line * (C + 2): p]
        if not self.repeats and line_ids:
            before = set(line_ids[:-1])
            banned = set(line_ids) if line_ids[-1] in before else before
            m &= ~self._mask(banned)
        starts, groups, used = state
        if self.tonal and self.classical:
            fit = torch.zeros(self._n, dtype=torch.bool)
            for s in starts:
                fm = self._fit_mask(s, line, col, line_ids)
                fit |= self._hanzi if fm is None else fm
            m &= fit
        elif self.tonal and col % 2 == 1:
            if line == 0 and col == 1:
                m &= self._tone_mask[PING] | self._tone_mask[ZE]
            else:
                m &= self._tone_mask[_required_tone(self._tone_of[body[1]], line, col)]
        if self._is_rhyme_slot(line, col) and self.classical:
            rm = torch.zeros(self._n, dtype=torch.bool)
            for g in self._viable(groups, used, self._remaining_rhymes(line)):
                rm |= self._group_mask[g]
            m &= rm & ~self._mask(used)
        elif self.rhyme and not self.classical and line % 2 == 1 and col == C - 1:
            if line == 1:
                m &= self._known_group
            else:
                m &= self._group_mask[self._group_of[body[(C + 2) + C - 1]]]
        return m

    def _advance(self, state, mask: torch.Tensor, body: list[int], p: int):  # noqa: ANN001, ANN202
        if not bool(mask[body[p]]):
            shown = self._tok.decode(body[: p + 1])
            raise ConstraintError(f"the text so far {shown!r} breaks the {self.form.label} form at character {p + 1}")
        C = self.form.chars_per_line
        line, col = divmod(p, C + 2)
        if col >= C or line >= self.form.lines:
            return state
        starts, groups, used = state
        i = body[p]
        line_ids = body[line * (C + 2): p]
        if self.tonal and self.classical:
            starts = frozenset(s for s in starts if self._fits(s, line, col, line_ids, i))
        if self._is_rhyme_slot(line, col) and self.classical:
            viable = self._viable(groups, used, self._remaining_rhymes(line))
            groups = frozenset(viable) & self._groups_of.get(i, frozenset())
            used = used | {i}
        elif self.rhyme and self.classical and line == 0 and col == C - 1 and i in self._groups_of:
            used = used | {i}  # an unrhymed first line's last character is not a rhyme character again (重韵)
        return starts, groups, used

    def allowed(self, seq: Sequence[int]) -> torch.Tensor:
        return self._cache.allowed(seq, self._tok, lambda: self._start_state, self._advance,
                                   lambda state, body: self._mask_at(state, body, len(body)))


def check_chinese_form(
    text: str,
    form: str | ChineseForm,
    acrostic: str | None = None,
    rhyme: bool = False,
    tonal: bool = False,
    rhyme_system: str = "pingshui",
    first_line_rhyme: bool | None = None,
    repeats: bool = True,
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
        rhyme: also require the rhyme. ``"pingshui"``: the last characters of
            lines 2, 4 (6, 8), and of line 1 when ``first_line_rhyme``, share a
            平水韵 level-tone group and none repeats; ``"modern"``: lines 2, 4
            (6, 8) end in one 中华新韵 group, set by line 2.
        tonal: also check the 平仄. ``"pingshui"``: every line follows a
            regulated pattern (平起/仄起, 一三五不论, no 孤平 or 三平尾) by
            classical tones, any reading of a 多音字 allowed; ``"modern"``: the
            2nd, 4th (and 6th) characters by Mandarin tones.
        rhyme_system: ``"pingshui"`` (classical) or ``"modern"``.
        first_line_rhyme: with ``rhyme`` (pingshui), line 1 must rhyme too;
            None: the usual (七言 yes, 五言 no).
        repeats: False: also flag a character written twice in one line (other
            than one 叠字 pair such as 处处).

    Returns:
        list[str]: one readable message per violation, e.g.
        ``"line 3 '...': expected 5 characters, got 6"``; empty when it complies.

    Example:
        >>> import muse
        >>> poem = "白日依山尽，\\n黄河入海流。\\n欲穷千里目，\\n更上一层楼。"
        >>> muse.check_chinese_form(poem, "wujue", rhyme=True, tonal=True)
        []
        >>> muse.check_chinese_form(poem, "qijue")[0]
        "line 1 '白日依山尽，': expected 7 characters, got 5"
    """
    f = get_form(form)
    _check_acrostic(acrostic, f)
    _check_rhyme_system(rhyme_system)
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
        if not repeats and (twice := pingshui.repeated_in_line(chars)):
            out.append(f"line {i + 1} {ln!r}: {' '.join(twice)} written twice")
    full = [ln[:-1] if ln[-1] in _ANY_END else ln for ln in lines[: f.lines]]
    classical = rhyme_system == "pingshui"
    first = usual_first_line_rhyme(f) if first_line_rhyme is None else bool(first_line_rhyme)
    if rhyme and classical:
        out += pingshui.rhyme_violations(full, first)
    elif rhyme and len(full) >= 2 and full[1]:
        group = rhyme_group(full[1][-1])
        if group is None:
            out.append(f"line 2: rhyme character {full[1][-1]!r} has no known rhyme group")
        for i in range(3, len(full), 2):
            if full[i] and group is not None and rhyme_group(full[i][-1]) != group:
                out.append(
                    f"line {i + 1}: {full[i][-1]!r} ({rhyme_group(full[i][-1])}) does not rhyme with "
                    f"{full[1][-1]!r} ({group})"
                )
    if tonal and classical and full and all(len(ln) == f.chars_per_line for ln in full):
        out += pingshui.best_pattern(full, "BD" if rhyme and first else "ACBD")[1]
    elif tonal and classical and full:
        out.append("tone pattern not checked: the lines are not all of the form's length")
    elif tonal and full and len(full[0]) >= 2:
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


class FormTagConstraint(Constraint):
    """A free poem from a ``data.control=form`` model: the form tag it writes before the body is a known one.

    The prefix is ``title\\nauthor\\ntag<sep>`` (:func:`muse.poetry.corpora.poem_to_text`);
    after its second newline only the characters of a tag (五绝, 七律, 五言, 杂言 ...)
    and then ``<sep>`` are allowed; before it and after ``<sep>`` nothing is restricted.
    """

    def __init__(self, tokenizer: CharTokenizer):
        self.check(tokenizer)

    def check(self, tokenizer) -> None:  # noqa: ANN001
        vocab = char_vocab(tokenizer, "FormTagConstraint")
        tags = [*FORM_TAGS.values(), *FREE_TAGS.values(), MIXED_TAG]
        self._tok = tokenizer
        self._seqs = [[vocab[c] for c in t] + [tokenizer.sep_id] for t in tags if all(c in vocab for c in t)]
        if not self._seqs or "\n" not in vocab:
            raise ConstraintError("the vocabulary cannot write a form tag (五绝, 七律 ...): not a Chinese model")
        self._newline = vocab["\n"]

    def allowed(self, seq: Sequence[int]) -> torch.Tensor | None:
        ids = as_id_list(seq)
        tok = self._tok
        start = len(ids) - ids[::-1].index(tok.bos_id) if tok.bos_id in ids else 0
        head = ids[start:]
        if tok.sep_id in head:
            return None
        newlines = [i for i, t in enumerate(head) if t == self._newline]
        if len(newlines) < 2:
            return None
        written = head[newlines[1] + 1:]
        nxt = {s[len(written)] for s in self._seqs if len(s) > len(written) and s[: len(written)] == written}
        if not nxt:
            raise ConstraintError(f"the prefix {tok.decode(head)!r} is not followed by a known form tag")
        m = torch.zeros(tok.vocab_size, dtype=torch.bool)
        m[torch.tensor(sorted(nxt), dtype=torch.long)] = True
        return m

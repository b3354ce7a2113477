"""Rhyme and tone helpers shared by the poem form constraints and checkers.

Chinese: a character's rhyme group and tone come from its most common Mandarin
reading (``pypinyin``). Finals are grouped into the 14 groups of 中华新韵
(:data:`RHYME_GROUPS`); the 支 group holds the apical "-i" of zhi chi shi ri zi ci
si, kept apart from the 齐 group's "i". Tones 1 and 2 count as 平 (level),
3 and 4 as 仄 (oblique): a modern-Mandarin simplification of the classical
categories (the old entering tone is not recovered).

English: two words rhyme when they differ and share a rhyming part (the phones
from the last stressed vowel on) for some pair of their CMU pronunciations
(``pronouncing``), i.e. ``b in pronouncing.rhymes(a)``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

import pronouncing
from pypinyin import Style, lazy_pinyin

from muse.tokenizers.scripts import is_cjk_ideograph

RHYME_GROUPS: dict[str, tuple[str, ...]] = {
    "麻": ("a", "ia", "ua"),
    "波": ("o", "e", "uo"),
    "皆": ("ie", "ve", "ê"),
    "开": ("ai", "uai"),
    "微": ("ei", "uei"),
    "豪": ("ao", "iao"),
    "尤": ("ou", "iou"),
    "寒": ("an", "ian", "uan", "van"),
    "文": ("en", "in", "uen", "vn"),
    "唐": ("ang", "iang", "uang"),
    "庚": ("eng", "ing", "ueng", "ong", "iong"),
    "齐": ("i", "er", "v"),
    "支": ("-i",),
    "姑": ("u",),
}
"""中华新韵: group name -> pinyin finals (pypinyin strict spelling, "v" for ü)."""

_FINAL_TO_GROUP = {f: g for g, finals in RHYME_GROUPS.items() for f in finals}
_APICAL = frozenset({"zhi", "chi", "shi", "ri", "zi", "ci", "si"})
PING, ZE = "ping", "ze"


@lru_cache(maxsize=65536)
def pinyin_final(ch: str) -> str | None:
    """Final of a Chinese character's common reading ("-i" for zhi/chi/shi/ri/zi/ci/si), else None."""
    if len(ch) != 1 or not is_cjk_ideograph(ch):
        return None
    syllable = lazy_pinyin(ch, style=Style.NORMAL, errors=lambda _: [""])[0]
    if syllable in _APICAL:
        return "-i"
    final = lazy_pinyin(ch, style=Style.FINALS, strict=True, errors=lambda _: [""])[0]
    return final or None


def rhyme_group(ch: str) -> str | None:
    """中华新韵 group name of a character (e.g. "唐" for 光), None if unknown."""
    final = pinyin_final(ch)
    return _FINAL_TO_GROUP.get(final) if final else None


@lru_cache(maxsize=65536)
def tone_class(ch: str) -> str | None:
    """``"ping"`` (tones 1, 2), ``"ze"`` (tones 3, 4) or None (not a character / neutral tone)."""
    if len(ch) != 1 or not is_cjk_ideograph(ch):
        return None
    s = lazy_pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda _: [""])[0]
    tone = s[-1:] if s else ""
    return PING if tone in ("1", "2") else ZE if tone in ("3", "4") else None


# ---------------------------------------------------------------- English

_WORD = re.compile(r"^[a-z]+(?:'[a-z]+)?$")
_FINAL_WORD = re.compile(r"([A-Za-z]+(?:'[A-Za-z]+)?)[^A-Za-z]*$")


def rhyme_keys(word: str) -> frozenset[str]:
    """Rhyming parts of all CMU pronunciations of ``word`` (empty if unknown)."""
    return _rhyme_keys(word.lower())


@lru_cache(maxsize=65536)
def _rhyme_keys(word: str) -> frozenset[str]:
    return frozenset(
        rp for p in pronouncing.phones_for_word(word) if (rp := pronouncing.rhyming_part(p)) is not None
    )


def words_rhyme(a: str, b: str) -> bool:
    """Different words sharing a rhyming part (``"day"``/``"away"``: True; ``"day"``/``"day"``: False)."""
    a, b = a.lower(), b.lower()
    return a != b and bool(rhyme_keys(a) & rhyme_keys(b))


def final_word(line: str) -> str | None:
    """Last word of a line, lower-cased, trailing punctuation ignored ("Away!" -> "away")."""
    m = _FINAL_WORD.search(line)
    return m.group(1).lower() if m else None


def english_rhyme_pool(
    alphabet: Iterable[str], words: Iterable[str] | None = None, max_len: int = 12
) -> dict[str, tuple[str, ...]]:
    """Rhyme key -> sorted CMU words spelled with ``alphabet`` (lower-case letters and "'").

    ``words`` restricts the pool to a word list (e.g. the training corpus's words).
    Only keys shared by at least two words are kept, since a lone word has nothing to rhyme with.
    """
    return _pool(frozenset(alphabet), None if words is None else frozenset(w.lower() for w in words), max_len)


@lru_cache(maxsize=16)
def _pool(alphabet: frozenset[str], words: frozenset[str] | None, max_len: int) -> dict[str, tuple[str, ...]]:
    pronouncing.init_cmu()
    ok: dict[str, bool] = {}

    def usable(w: str) -> bool:
        if w not in ok:
            ok[w] = (
                len(w) <= max_len
                and (words is None or w in words)
                and _WORD.match(w) is not None
                and all(c in alphabet for c in w)
            )
        return ok[w]

    pool: dict[str, tuple[str, ...]] = {}
    for key, group in pronouncing.rhyme_lookup.items():
        members = sorted({w for w in group if usable(w)})
        if len(members) >= 2:
            pool[key] = tuple(members)
    return pool

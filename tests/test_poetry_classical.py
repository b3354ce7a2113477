"""Classical rules: the vendored 平水韵 table, tone patterns, and the constraint that enforces them."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from muse.errors import ConstraintError
from muse.poetry import pingshui
from muse.poetry.corpora import poem_to_text, read_poems
from muse.poetry.forms import ChineseFormConstraint, check_chinese_form
from muse.tokenizers.char import CharTokenizer

FIX = Path(__file__).parent / "fixtures" / "poetry"


@pytest.fixture(scope="module")
def zh_tok() -> CharTokenizer:
    poems = [p for f in ("tang_sample.jsonl", "poems.json", "mini_fortune") for p in read_poems(FIX / f)]
    return CharTokenizer.train([poem_to_text(p, with_title=True) for p in poems] + ["春夏秋冬"])


def sample(c: ChineseFormConstraint, tok: CharTokenizer, rng: random.Random, prompt=None) -> str:  # noqa: ANN001
    seq = list(prompt or [tok.bos_id])
    while seq[-1] != tok.eos_id:
        ids = c.allowed(seq).nonzero().flatten().tolist()
        assert ids, tok.decode(seq)
        seq.append(rng.choice(ids))
    return tok.decode(seq[1:])


def test_vendored_table_is_the_upstream_one_with_its_licence():
    data = json.loads(pingshui.TABLE_FILE.read_text(encoding="utf-8"))
    assert set(data) == {"ping", "ze"}
    assert sum(len(part) for part in data["ping"].values()) == 30
    assert sum(len(part) for part in data["ze"].values()) == 76
    assert "MIT License" in (pingshui.DATA_DIR / "pingshui.LICENSE").read_text()
    assert len(pingshui.ping_groups()) == 30 and pingshui.ping_groups()[0] == "上平一东"


def test_simplified_characters_take_their_traditional_entries():
    assert pingshui.pingshui_groups("东") == {"上平一东"}  # 東 in the table
    assert pingshui.pingshui_groups("光") == pingshui.pingshui_groups("乡") == {"下平七阳"}  # 鄉 -> 乡
    assert pingshui.classical_tones("月") == {pingshui.ZE}  # 入声 counts as 仄
    assert pingshui.classical_tones("国") == {pingshui.ZE}  # 國, 入声; Mandarin guó would be 平
    assert pingshui.classical_tones("长") == {pingshui.PING, pingshui.ZE}  # 多音字: cháng / zhǎng
    assert pingshui.pingshui_groups("回") == pingshui.pingshui_groups("来") == {"上平十灰"}
    # muse's supplement: a variant form shares its standard form's entries; a missing character is added
    assert pingshui.pingshui_groups("疎") == pingshui.pingshui_groups("疏") and pingshui.pingshui_groups("疏")
    assert pingshui.pingshui_groups("啼") == {"上平八齐"} and pingshui.classical_tones("迹") == {pingshui.ZE}
    assert pingshui.classical_tones("x") == frozenset() and pingshui.pingshui_groups("，") == frozenset()


def test_line_patterns_and_rules():
    assert [pingshui.line_pattern(k, 5) for k in "ABCD"] == ["仄仄平平仄", "平平仄仄平", "平平平仄仄", "仄仄仄平平"]
    assert pingshui.line_pattern("A", 7) == "平平仄仄平平仄" and pingshui.line_pattern("D", 7) == "平平仄仄仄平平"
    assert pingshui.pattern_violations("白日依山尽", "A") == []
    assert pingshui.pattern_violations("黄河入海流", "B") == []
    # 孤平: 仄平仄仄平 (月河入海流), rescued by a 平 third character (月河千海流 is fine)
    assert pingshui.pattern_violations("月河入海流", "B") == ["character 3 '入' should be 平 (孤平)"]
    assert pingshui.pattern_violations("月河千海流", "B") == []
    # 三平尾 in a D line
    assert pingshui.pattern_violations("万里无人家", "D") == ["character 3 '无' should be 仄 (三平尾)"]
    assert pingshui.repeated_in_line("处处闻啼鸟") == [] and pingshui.repeated_in_line("春风春雨") == ["春"]
    assert pingshui.repeated_in_line("啼啼啼鸟") == ["啼"]


def test_rhyme_checker_classical_and_modern():
    dengao = "风急天高猿啸哀，\n渚清沙白鸟飞回。\n无边落木萧萧下，\n不尽长江滚滚来。"
    assert check_chinese_form(dengao, "qijue", rhyme=True) == []  # 哀 回 来: 上平十灰
    assert check_chinese_form(dengao, "qijue", rhyme=True, rhyme_system="modern")  # 回 (微) vs 来 (开)
    twice = "风急天高猿啸哀，\n渚清沙白鸟飞回。\n无边落木萧萧下，\n不尽长江滚滚回。"
    assert check_chinese_form(twice, "qijue", rhyme=True) == ["line 4: rhyme character '回' repeats line 2's"]
    with pytest.raises(ConstraintError, match="unknown rhyme system 'tang'"):
        check_chinese_form(dengao, "qijue", rhyme=True, rhyme_system="tang")


@pytest.mark.parametrize("form", ["wujue", "qijue", "wulv", "qilv"])
def test_random_model_obeys_classical_rhyme_tones_and_no_repeats(zh_tok, form):
    rng = random.Random(form)
    for opts in (dict(rhyme=True), dict(tonal=True), dict(rhyme=True, tonal=True),
                 dict(rhyme=True, first_line_rhyme=False)):
        c = ChineseFormConstraint(zh_tok, form, **opts)
        for _ in range(15):
            text = sample(c, zh_tok, rng)
            assert check_chinese_form(text, form, repeats=False, **opts) == [], (opts, text)
            lines = [ln[:-1] for ln in text.split("\n")]
            if opts.get("tonal") and opts.get("rhyme"):
                # a rhyming first line starts B or D; otherwise A or C (line 1 ends 仄)
                want = "BD" if form.startswith("qi") and opts.get("first_line_rhyme") is not False else "AC"
                assert pingshui.best_pattern(lines, want)[1] == [], text


def test_first_line_rhyme_is_usual_for_seven_character_forms(zh_tok):
    rng = random.Random(3)
    for form, rhymes in [("qijue", True), ("wujue", False)]:
        c = ChineseFormConstraint(zh_tok, form, rhyme=True)
        assert c.first_line_rhyme is rhymes
        text = sample(c, zh_tok, rng)
        lines = [ln[:-1] for ln in text.split("\n")]
        shared = pingshui.pingshui_groups(lines[0][-1]) & pingshui.pingshui_groups(lines[1][-1])
        assert bool(shared) or not rhymes, text
    off = ChineseFormConstraint(zh_tok, "qijue", rhyme=True, first_line_rhyme=False)
    assert not off.first_line_rhyme
    # an unrhymed first line's last character is not written again as a rhyme (重韵)
    c = ChineseFormConstraint(zh_tok, "wujue", rhyme=True)
    seq = [zh_tok.bos_id, *zh_tok.encode("春眠不觉光，\n处处闻啼")]
    allowed = {zh_tok.id_to_token(i) for i in c.allowed(seq).nonzero().flatten().tolist()}
    assert "光" not in allowed and "霜" in allowed


def test_prompt_and_impossible_requests_fail_before_generation(zh_tok):
    c = ChineseFormConstraint(zh_tok, "qijue", rhyme=True, tonal=True)
    assert bool(c.allowed([zh_tok.bos_id, *zh_tok.encode("春月花")])[zh_tok.id_of("风")])
    with pytest.raises(ConstraintError, match="breaks the 七言绝句 form at character 4"):
        # 月 (仄) makes line 1 仄仄平平仄仄平 (a rhyming first line is B or D), so 落 (仄) cannot be 4th
        c.allowed([zh_tok.bos_id, *zh_tok.encode("春月花落")])
    tiny = CharTokenizer.train(["白日依山尽，\n黄河入海流。\n欲穷千里目，\n更上一层楼。"])
    with pytest.raises(ConstraintError, match="no 平水韵 level-tone group has .* rhyme_system='modern'"):
        ChineseFormConstraint(tiny, "wujue", rhyme=True)
    with pytest.raises(ConstraintError, match="acrostic characters not in the vocabulary: 龘"):
        ChineseFormConstraint(zh_tok, "wujue", acrostic="龘夏秋冬", tonal=True)
    with pytest.raises(ConstraintError, match="unknown rhyme system"):
        ChineseFormConstraint(zh_tok, "wujue", rhyme=True, rhyme_system="tang")
    no_ze = CharTokenizer.train(["天天，。\n"])
    with pytest.raises(ConstraintError, match="平 and 仄"):
        ChineseFormConstraint(no_ze, "wujue", tonal=True)


def test_acrostic_with_classical_tones(zh_tok):
    rng = random.Random(5)
    c = ChineseFormConstraint(zh_tok, "wulv", acrostic="春夏秋冬春夏秋冬", rhyme=True, tonal=True)
    for _ in range(10):
        text = sample(c, zh_tok, rng)
        assert check_chinese_form(text, "wulv", acrostic="春夏秋冬春夏秋冬", rhyme=True, tonal=True,
                                  repeats=False) == [], text

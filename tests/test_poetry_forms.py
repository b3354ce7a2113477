import random
from pathlib import Path

import pytest
import torch

from muse.errors import ConstraintError
from muse.sampling.constraints import combine_masks
from muse.poetry.corpora import poem_to_text, prompt_prefix, read_poems, split_prefix
from muse.tokenizers.scripts import is_cjk_ideograph
from muse.poetry.english import EnglishFormConstraint, check_english_form, expand_rhyme_scheme
from muse.poetry.forms import FORMS, ChineseFormConstraint, check_chinese_form, get_form
from muse.poetry.pingshui import best_pattern, pingshui_groups, repeated_in_line
from muse.poetry.rhyme import final_word, rhyme_group, tone_class, words_rhyme
from muse.tokenizers.char import CharTokenizer
from muse.tokenizers.spm import SentencePieceTokenizer

FIX = Path(__file__).parent / "fixtures" / "poetry"
ACROSTIC = "春夏秋冬东南西北"


@pytest.fixture(scope="module")
def zh_tok() -> CharTokenizer:
    poems = [p for f in ("tang_sample.jsonl", "poems.json", "mini_fortune") for p in read_poems(FIX / f)]
    texts = [poem_to_text(p, with_title=True, with_author=True) for p in poems]
    return CharTokenizer.train(texts + ["latin abc XYZ 123 !?", ACROSTIC])


@pytest.fixture(scope="module")
def en_text() -> str:
    return "\n\n".join(p.text for p in read_poems(FIX / "plain_en.txt"))


@pytest.fixture(scope="module")
def en_tok(en_text) -> CharTokenizer:
    return CharTokenizer.train([en_text, "WORD LOVE"])


EN_WORDS = "day way say play night light bright sight tree sea free be away stone alone bone own".split()


def random_poem(constraint, tok, prompt, rng, limit=2000):
    """A 'model' that samples uniformly among the allowed ids until EOS."""
    seq = list(prompt)
    for _ in range(limit):
        mask = constraint.allowed(seq)
        ids = mask.nonzero().flatten().tolist()
        assert ids, f"no allowed token after {tok.decode(seq)!r}"
        seq.append(rng.choice(ids))
        if seq[-1] == tok.eos_id:
            return seq
    raise AssertionError(f"no EOS after {limit} tokens: {tok.decode(seq)!r}")


# ---------------------------------------------------------------- Chinese


@pytest.mark.parametrize("form", sorted(FORMS))
def test_random_model_always_writes_the_form(zh_tok, form):
    f = get_form(form)
    acrostic = ACROSTIC[: f.lines]
    full = ChineseFormConstraint(zh_tok, form, acrostic=acrostic, rhyme=True, tonal=True)
    plain = ChineseFormConstraint(zh_tok, form)
    rng = random.Random(form)
    for k in range(200):
        c, opts = (full, dict(acrostic=acrostic, rhyme=True, tonal=True)) if k % 2 else (plain, {})
        text = zh_tok.decode(random_poem(c, zh_tok, [zh_tok.bos_id], rng))
        assert check_chinese_form(text, form, repeats=False, **opts) == [], text
        lines = text.split("\n")
        assert len(lines) == f.lines and all(len(ln) == f.chars_per_line + 1 for ln in lines)
        assert all(ln[-1] == ("，" if i % 2 == 0 else "。") for i, ln in enumerate(lines))
        assert all(not repeated_in_line(ln[:-1]) for ln in lines)
        if opts:
            assert "".join(ln[0] for ln in lines) == acrostic
            rhymes = [ln[-2] for i, ln in enumerate(lines) if i % 2 or (i == 0 and f.chars_per_line == 7)]
            assert len(set(rhymes)) == len(rhymes)  # no rhyme character twice
            assert frozenset.intersection(*(pingshui_groups(ch) for ch in rhymes))  # one 平水韵 level-tone group
            body = [ln[:-1] for ln in lines]
            assert best_pattern(body, "BD" if f.chars_per_line == 7 else "AC")[1] == []


def test_mask_only_allows_chinese_characters_where_a_character_is_due(zh_tok):
    c = ChineseFormConstraint(zh_tok, "wujue")
    mask = c.allowed([zh_tok.bos_id])
    allowed = {zh_tok.id_to_token(i) for i in mask.nonzero().flatten().tolist()}
    assert allowed == {ch for ch in zh_tok.chars if is_cjk_ideograph(ch)}
    assert len(allowed) > 100
    seq = [zh_tok.bos_id, *zh_tok.encode("春眠不觉晓")]
    assert c.allowed(seq).nonzero().flatten().tolist() == [zh_tok.id_of("，")]
    seq += zh_tok.encode("，")
    assert c.allowed(seq).nonzero().flatten().tolist() == [zh_tok.id_of("\n")]
    done = [zh_tok.bos_id, *zh_tok.encode("春眠不觉晓，\n处处闻啼鸟。\n夜来风雨声，\n花落知多少。")]
    assert c.allowed(done).nonzero().flatten().tolist() == [zh_tok.eos_id]
    # works with the sampler's mask combination and with tensors
    assert torch.equal(combine_masks([c.allowed(torch.tensor(seq)), None]), c.allowed(seq))


def test_title_prefix_and_partial_prompt(zh_tok):
    c = ChineseFormConstraint(zh_tok, "qijue", rhyme=True)
    rng = random.Random(1)
    prompt = [zh_tok.bos_id, *zh_tok.encode(prompt_prefix("春望", "杜甫")), *zh_tok.encode("月落")]
    text = zh_tok.decode(random_poem(c, zh_tok, prompt, rng))
    title, author, body = split_prefix(text)
    assert (title, author) == ("春望", "杜甫") and body.startswith("月落")
    assert check_chinese_form(text, "qijue", rhyme=True) == []
    with pytest.raises(ConstraintError, match="breaks the 七言绝句 form"):
        c.allowed([zh_tok.bos_id, *zh_tok.encode("月落abc")])


def test_rhyme_follows_line_two(zh_tok):
    modern = ChineseFormConstraint(zh_tok, "wujue", rhyme=True, rhyme_system="modern", repeats=True)
    seq = [zh_tok.bos_id, *zh_tok.encode("床前明月光，\n疑是地上霜。\n举头望明月，\n低头思故")]
    allowed = {zh_tok.id_to_token(i) for i in modern.allowed(seq).nonzero().flatten().tolist()}
    assert "乡" in allowed and "月" not in allowed
    assert allowed == {ch for ch in zh_tok.chars if is_cjk_ideograph(ch) and rhyme_group(ch) == "唐"}
    classical = ChineseFormConstraint(zh_tok, "wujue", rhyme=True)
    allowed = {zh_tok.id_to_token(i) for i in classical.allowed(seq).nonzero().flatten().tolist()}
    # 霜 set 下平七阳; 霜 and line 1's 光 are used (no 重韵), and no character twice in a line
    want = {ch for ch in zh_tok.chars if "下平七阳" in pingshui_groups(ch)} - {"霜", "光"} - set("低头思故")
    assert "乡" in allowed and allowed == want


def test_constraint_errors_before_generation(zh_tok):
    with pytest.raises(ConstraintError, match="not in the vocabulary: 龘"):
        ChineseFormConstraint(zh_tok, "wujue", acrostic="龘夏秋冬")
    with pytest.raises(ConstraintError, match="has 3 characters but a 五言绝句 has 4 lines"):
        ChineseFormConstraint(zh_tok, "wujue", acrostic="春夏秋")
    no_comma = CharTokenizer.train(["床前明月光疑是地上霜。\n"])
    with pytest.raises(ConstraintError, match="no '，'"):
        ChineseFormConstraint(no_comma, "wujue")
    spm_tok = SentencePieceTokenizer.train(["床前明月光，疑是地上霜。\n"] * 5, vocab_size=400)
    with pytest.raises(ConstraintError, match="character tokenizer"):
        ChineseFormConstraint(spm_tok, "wujue")
    with pytest.raises(ConstraintError, match="unknown Chinese form"):
        get_form("sonnet")
    only_level = CharTokenizer.train(["天，。\n"])  # 天 is 平; no 仄 character
    with pytest.raises(ConstraintError, match="平"):
        ChineseFormConstraint(only_level, "wujue", tonal=True)


def test_checker_on_classical_poems():
    poems = {p.title: p.text for p in read_poems(FIX / "tang_sample.jsonl")}
    assert check_chinese_form(poems["静夜思"], "五绝", rhyme=True, acrostic="床疑举低") == []
    # line 7 ends with "？"; line 1 (去) does not rhyme, as 七言 usually do
    assert check_chinese_form(poems["黄鹤楼"], "qilv", rhyme=True, first_line_rhyme=False) == []
    assert check_chinese_form(poems["黄鹤楼"], "qilv", rhyme=True) == [
        "line 1: '去' is not a level-tone (平声) rhyme character"]
    # 哀 回 来 台 杯 are all 上平十灰; 回 (微) and 来 (开) do not rhyme in modern Mandarin
    assert check_chinese_form(poems["登高"], "qilv", rhyme=True, tonal=True) == []
    assert any(v.startswith("line 4") for v in check_chinese_form(poems["登高"], "qilv", rhyme=True,
                                                                  rhyme_system="modern"))
    assert check_chinese_form(poems["春望"], "wujue")[0] == "expected 4 lines for a 五言绝句, got 8"
    couplet_layout = "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。"
    assert check_chinese_form(couplet_layout, "wujue") == []
    bad = check_chinese_form("床前明月光光，\n疑是地上霜。\n举头望明月。\n低头思故x。", "wujue", acrostic="床疑举春")
    assert any("expected 5 characters, got 6" in v for v in bad)
    assert any("line 3" in v and "should end with ，" in v for v in bad)
    assert any("other than 汉字" in v for v in bad)
    assert any("acrostic character '春'" in v for v in bad)
    tonal = check_chinese_form(poems["春晓"], "wujue", tonal=True, rhyme_system="modern")
    assert "line 3: character 2 '来' should be 仄" in tonal
    # 春晓 and 江雪 are 古绝 with oblique rhymes; 登鹳雀楼, 相思 and 春望 are regulated
    for title, form in [("登鹳雀楼", "wujue"), ("相思", "wujue"), ("春望", "wulv"), ("早发白帝城", "qijue")]:
        assert check_chinese_form(poems[title], form, rhyme=True, tonal=True) == [], title
    assert "line 2: '鸟' is not a level-tone (平声) rhyme character" in check_chinese_form(poems["春晓"], "wujue",
                                                                                        rhyme=True)
    # 黄鹤楼 line 3 黄鹤一去不复返: the famous 拗句 (去 where 平 is due)
    assert "line 3 (C 仄仄平平平仄仄): character 4 '去' should be 平" in check_chinese_form(poems["黄鹤楼"], "qilv",
                                                                                          tonal=True)
    assert check_chinese_form("白日依山依，\n黄河入海流。\n欲穷千里目，\n更上一层楼。", "wujue", repeats=False) == [
        "line 1 '白日依山依，': 依 written twice"]
    assert check_chinese_form(poems["春晓"], "wujue", repeats=False) == []  # 处处 is a 叠字


def test_rhyme_and_tone_helpers():
    assert rhyme_group("光") == rhyme_group("霜") == rhyme_group("乡") == "唐"
    assert rhyme_group("是") == "支" and rhyme_group("地") == "齐"
    assert rhyme_group("，") is None and rhyme_group("a") is None
    assert tone_class("天") == "ping" and tone_class("地") == "ze" and tone_class("x") is None
    assert words_rhyme("day", "away") and not words_rhyme("day", "day") and not words_rhyme("cat", "dog")
    assert final_word("Far, far away!") == "away" and final_word("...") is None


# ---------------------------------------------------------------- English


def test_random_model_writes_acrostic_rhymed_stanzas(en_tok):
    opts = dict(lines=4, stanza=2, rhyme_scheme="ABAB", acrostic="WORD", max_line_chars=36, min_line_chars=8)
    c = EnglishFormConstraint(en_tok, words=EN_WORDS, **opts)
    rng = random.Random(7)
    for _ in range(200):
        text = en_tok.decode(random_poem(c, en_tok, [en_tok.bos_id], rng))
        assert check_english_form(text, **opts) == [], text
        lines = text.split("\n")
        assert lines[2] == "" and len(lines) == 5
        for ln in (lines[0], lines[1], lines[3], lines[4]):
            assert 8 <= len(ln) <= 36 and not ln.startswith(" ") and not ln.endswith(" ") and "  " not in ln
        assert final_word(lines[0]) in EN_WORDS and words_rhyme(final_word(lines[0]), final_word(lines[3]))


def test_random_model_with_full_dictionary_and_couplets(en_tok):
    opts = dict(lines=4, rhyme_scheme="AA", max_line_chars=40, min_line_chars=10)
    c = EnglishFormConstraint(en_tok, **opts)  # every CMU word spellable with the vocabulary
    rng = random.Random(3)
    for _ in range(40):
        text = en_tok.decode(random_poem(c, en_tok, [en_tok.bos_id], rng))
        assert check_english_form(text, **opts) == [], text
        assert expand_rhyme_scheme("AA", 4) == ["A0", "A0", "A1", "A1"]


def test_unrhymed_lines_are_steered_to_end(en_tok):
    c = EnglishFormConstraint(en_tok, lines=3, max_line_chars=30, min_line_chars=5)
    rng = random.Random(5)
    for _ in range(100):
        text = en_tok.decode(random_poem(c, en_tok, [en_tok.bos_id], rng))
        assert check_english_form(text, lines=3, max_line_chars=30, min_line_chars=5) == []
    # once 12 characters from the limit, spaces are refused: the current word ends the line
    seq = [en_tok.bos_id, *en_tok.encode("the river keeps its")]  # a space came at 15 < 30 - 12
    assert bool(c.allowed(seq)[en_tok.id_of(" ")]) is False
    assert bool(c.allowed(seq)[en_tok.id_of("\n")]) is True
    at_limit = [en_tok.bos_id, *en_tok.encode("the river keeps silverwavesabc")]
    assert c.allowed(at_limit).nonzero().flatten().tolist() == [en_tok.id_of("\n")]


def test_rhymed_line_may_only_end_after_a_rhyme(en_tok):
    c = EnglishFormConstraint(en_tok, lines=2, rhyme_scheme="AA", words=EN_WORDS, min_line_chars=5)
    seq = [en_tok.bos_id, *en_tok.encode("over the hills all night\nthe river runs so")]
    assert not c.allowed(seq)[en_tok.eos_id]
    assert c.allowed(seq + en_tok.encode(" bright"))[en_tok.eos_id]
    assert c.allowed(seq + en_tok.encode(" bright,"))[en_tok.eos_id]
    assert not c.allowed(seq + en_tok.encode(" night"))[en_tok.eos_id]  # the same word is no rhyme


def test_english_constraint_errors(en_tok, en_text):
    with pytest.raises(ConstraintError, match="acrostic letter 'Ж'"):
        EnglishFormConstraint(en_tok, acrostic="ЖOR")
    with pytest.raises(ConstraintError, match="has 4 letters for 3 lines"):
        EnglishFormConstraint(en_tok, lines=3, acrostic="WORD")
    with pytest.raises(ConstraintError, match="does not divide"):
        EnglishFormConstraint(en_tok, lines=5, rhyme_scheme="ABAB")
    with pytest.raises(ConstraintError, match="min_line_chars"):
        EnglishFormConstraint(en_tok, lines=2, rhyme_scheme="AA", max_line_chars=20, min_line_chars=15)
    with pytest.raises(ConstraintError, match="no newline"):
        EnglishFormConstraint(CharTokenizer.train(["one line only"]), lines=2)
    with pytest.raises(ConstraintError, match="no two rhyming"):
        EnglishFormConstraint(CharTokenizer.train(["xq\n"]), lines=2, rhyme_scheme="AA", min_line_chars=1)
    spm_tok = SentencePieceTokenizer.train([en_text] * 5, vocab_size=400)
    with pytest.raises(ConstraintError, match="character tokenizer"):
        EnglishFormConstraint(spm_tok, lines=2)


def test_english_checker_flags_violations():
    good = "Wandering clouds at the end of day\nOver the hills they drift away"
    assert check_english_form(good, lines=2, rhyme_scheme="AA", acrostic="WO") == []
    bad = "Wandering clouds at the end of day\nunder the hills they drift along"
    v = check_english_form(bad, lines=2, rhyme_scheme="AA", acrostic="WO")
    assert "line 2: 'along' does not rhyme with 'day' (line 1)" in v
    assert any("acrostic letter 'O'" in x for x in v)
    assert check_english_form(good, lines=3)[0] == "expected 3 lines, got 2"
    assert check_english_form(good, lines=2, max_line_chars=30) == ["line 1: 34 characters, more than 30"]
    four = "a day\nthe way\nsome sea\nand tree"
    assert check_english_form(four, lines=4, stanza=2)[0].startswith("stanza breaks")
    assert check_english_form(four.replace("way\n", "way\n\n"), lines=4, stanza=2) == []
    unknown = check_english_form("a zzqx\nb day", lines=2, rhyme_scheme="AA")
    assert unknown[0] == "line 1: final word 'zzqx' is not in the pronouncing dictionary"

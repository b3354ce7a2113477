import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muse.errors import DataError
from muse.poetry.corpora import (
    PREFIX_SEP,
    CorpusReport,
    Poem,
    available_text_corpora,
    chinese_lines,
    iter_corpus_poems,
    poem_to_text,
    prompt_prefix,
    read_poems,
    split_prefix,
)

FIX = Path(__file__).parent / "fixtures" / "poetry"
FORTUNES = Path("/usr/share/games/fortunes")


def test_plain_text_blocks_and_lines():
    poems = read_poems(FIX / "plain_en.txt")
    assert [p.text for p in poems] == [
        "The river keeps its silver vow,\nit carries light from then to now;\n"
        "the willow bends, the heron waits,\nand evening closes all the gates.",
        "Quick brown foxes jump the lazy hedge,\nzigzag over the meadow's edge.",  # dedented
        "A single line stands alone here.",
    ]
    assert all(p.title is None and p.author is None and p.source.endswith("plain_en.txt") for p in poems)
    lines = read_poems(FIX / "plain_en.txt", fmt="lines")
    assert len(lines) == 7 and lines[4].text == "Quick brown foxes jump the lazy hedge,"


def test_fortune_headers_sections_and_attribution():
    poems = read_poems(FIX / "mini_fortune")
    assert [(p.title, p.author) for p in poems] == [
        ("春晓", "孟浩然"),
        ("杂诗二首 其一", "王维"),
        ("杂诗二首 其二", "王维"),
        (None, "Anonymous Gardener"),
    ]
    assert poems[0].text == "春眠不觉晓，\n处处闻啼鸟。\n夜来风雨声，\n花落知多少。"  # ANSI codes gone
    assert poems[2].text == "君自故乡来，\n应知故乡事。\n来日绮窗前，\n寒梅著花未？"
    assert poems[3].text == "Small rain upon the garden wall,\na patient clock, a quiet hall."
    kept = read_poems(FIX / "mini_fortune", strip_attribution=False)
    assert kept[3].text.split("\n")[-1].strip() == "-- Anonymous Gardener"


def test_chinese_poetry_json_layout_and_notes():
    poems = read_poems(FIX / "poems.json")
    assert poems[0].title == "凉州词" and poems[0].author == "王之涣"
    assert poems[0].text == "黄河远上白云间，\n一片孤城万仞山。\n羌笛何须怨杨柳，\n春风不度玉门关。"
    assert poems[1].title == "如梦令"  # 'rhythmic' of a ci
    assert poems[1].text.split("\n")[4:] == ["争渡，", "争渡，", "惊起一滩鸥鹭。"]
    assert poems[2].text == "A lantern swings above the quay,\nits small flame talking to the sea."


def test_jsonl_and_half_line_split():
    poems = read_poems(FIX / "tang_sample.jsonl")
    assert len(poems) == 10
    assert poems[0].text.split("\n") == ["床前明月光，", "疑是地上霜。", "举头望明月，", "低头思故乡。"]
    assert chinese_lines("日暮乡关何处是？烟波江上使人愁。") == ["日暮乡关何处是？", "烟波江上使人愁。"]
    assert chinese_lines("「君不见，黄河之水天上来。」") == ["「君不见，", "黄河之水天上来。」"]
    assert chinese_lines("逻人（一作「叉」）横鸟道，江") == ["逻人横鸟道，", "江"]


def _bad_files(folder: Path) -> dict[str, str]:
    (folder / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00 zip-like")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (folder / "broken.json").write_text('[{"title": "x", ', encoding="utf-8")
    (folder / "nolines.jsonl").write_text('{"title": "x"}\n', encoding="utf-8")
    return {
        "binary.txt": "NUL bytes",
        "empty.txt": "empty file",
        "latin1.txt": "not UTF-8",
        "broken.json": "invalid JSON",
        "nolines.jsonl": "line 1: needs 'paragraphs'",
    }


def test_folder_skips_and_reports_bad_files(tmp_path):
    (tmp_path / "sub").mkdir()
    shutil.copy(FIX / "tang_sample.jsonl", tmp_path / "sub" / "tang.jsonl")
    shutil.copy(FIX / "plain_en.txt", tmp_path / "a.txt")
    shutil.copy(FIX / "mini_fortune", tmp_path / "fortune")
    (tmp_path / "README.md").write_text("not a poem file", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("hidden\n", encoding="utf-8")
    expected = _bad_files(tmp_path)
    report = CorpusReport("test")
    poems = read_poems(tmp_path, report=report)
    assert len(poems) == 3 + 4 + 10
    assert report.files == 3 and report.poems == 17
    skipped = {Path(f).name: why for f, why in report.skipped}
    assert set(skipped) == set(expected)
    for name, why in expected.items():
        assert why in skipped[name]
    assert "skipped 5" in report.summary()
    with pytest.warns(UserWarning, match="skipped 5"):
        assert len(read_poems(tmp_path)) == 17
    poems2, report2 = iter_corpus_poems(tmp_path)
    assert [p.text for p in poems2] == [p.text for p in poems] and len(report2.skipped) == 5


def test_single_bad_file_raises_naming_file(tmp_path):
    for name, why in _bad_files(tmp_path).items():
        with pytest.raises(DataError) as err:
            read_poems(tmp_path / name)
        assert name in str(err.value) and why in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="no such file"):
        read_poems(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="unknown poem format"):
        read_poems(FIX / "plain_en.txt", fmt="xml")
    (tmp_path / "only_seps").write_text("%\n%\n", encoding="utf-8")
    with pytest.raises(DataError, match="no poems found"):
        read_poems(tmp_path / "only_seps")
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    (empty_dir / "e.txt").write_bytes(b"")
    with pytest.raises(DataError, match=r"no poems found in folder \(1 files skipped\)"):
        read_poems(empty_dir)


def test_builtin_names_are_shipped_in_the_package_and_errors_name_data(monkeypatch):
    import muse.poetry.corpora as pc

    names = {c.name for c in available_text_corpora()}
    assert names == {"tang", "english-poetry", "shakespeare", "tang300", "song100", "songs-poems"}
    tang = {c.name: c for c in available_text_corpora()}["tang"]
    import muse.corpora

    assert tang.present and tang.path == Path(muse.corpora.__file__).parent / "tang" / "poems.jsonl.xz"
    poems, report = iter_corpus_poems("english-poetry")
    assert len(poems) == report.poems == 7384 and report.source == "english-poetry"
    sonnet = next(p for p in poems if p.stable_id() == "sonnet-018")
    assert sonnet.text.startswith("Shall I compare thee to a summer's day?") and sonnet.author
    absent = pc.TextCorpus("tang300", FIX / "absent", "fortune", "唐诗三百首")
    monkeypatch.setattr(pc, "available_text_corpora", lambda: [absent])
    with pytest.raises(DataError, match="'tang300' is not on this machine.*--data PATH"):
        iter_corpus_poems("tang300")
    with pytest.raises(DataError, match="not a corpus name.*--data PATH"):
        iter_corpus_poems("no-such-corpus")


def test_poem_ids_are_a_function_of_content_and_splits_cannot_drift(tmp_path):
    """The held-out split of a poem depends on its text, not on the file it is in, nor its position."""
    from muse.data.store import split_of

    text = (FIX / "tang_sample.jsonl").read_text(encoding="utf-8").splitlines()
    a = tmp_path / "a" / "poems.jsonl"
    b = tmp_path / "elsewhere" / "other-name.jsonl"
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_text("\n".join(text), encoding="utf-8")
    b.write_text("\n".join(reversed(text)), encoding="utf-8")
    ids_a = {p.stable_id(): p.text for p in read_poems(a)}
    ids_b = {p.stable_id(): p.text for p in read_poems(b)}
    assert ids_a == ids_b and len(ids_a) == 10
    assert {k: split_of(k, 0.3, 0.3) for k in ids_a} == {k: split_of(k, 0.3, 0.3) for k in ids_b}


def test_split_of_a_fixture_poem_is_pinned_wherever_its_file_lives(tmp_path):
    """Pinned values: an id or split that changes (a path or an order in the hash) fails here."""
    from muse.data.store import split_of

    src = FIX / "tang_sample.jsonl"
    moved = tmp_path / "renamed" / "corpus-elsewhere.jsonl"
    moved.parent.mkdir()
    shutil.copyfile(src, moved)
    for path in (src, moved):
        poem = next(p for p in read_poems(path) if p.title == "静夜思")
        assert poem.id is None and poem.stable_id() == "4c464bdce29d201d"
        assert split_of(poem.stable_id(), 0.3, 0.3) == "test" and split_of(poem.stable_id()) == "train"
    # the shipped corpus's own ids (content hashes, see corpora/tang/SOURCE) and their 5 % / 5 % split
    assert split_of("ad84a46b903f") == "train" and split_of("637544a863e3") == "test"


def test_form_tags_and_the_control_prefix():
    from muse.poetry.corpora import form_tag, prefix_tag

    wujue = "白日依山尽，\n黄河入海流。\n欲穷千里目，\n更上一层楼。"
    assert form_tag(wujue) == "五绝"
    assert form_tag(wujue.replace("尽", "尽了")) == "杂言"
    assert form_tag("\n".join(["春风不度玉门关，"] * 8)) == "七律"
    assert form_tag("\n".join(["春风玉门关，"] * 6)) == "五言" and form_tag("") == "杂言"
    poem = Poem(wujue, "登鹳雀楼", "王之涣", "x")
    text = poem_to_text(poem, with_title=True, control="form")
    assert text == f"登鹳雀楼\n\n五绝{PREFIX_SEP}{wujue}"
    assert split_prefix(text) == ("登鹳雀楼", None, wujue) and prefix_tag(text) == "五绝"
    assert poem_to_text(poem, control="form") == f"\n\n五绝{PREFIX_SEP}{wujue}"
    assert prefix_tag(poem_to_text(poem, with_title=True)) is None and prefix_tag(wujue) is None
    with pytest.raises(DataError, match="data.control must be one of none, form"):
        poem_to_text(poem, control="title")


@settings(max_examples=100, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
    st.one_of(st.none(), st.text(max_size=10)),
    st.booleans(),
    st.booleans(),
)
def test_prefix_format_is_invertible(title, author, with_title, with_author):
    poem = Poem("春眠不觉晓，\n处处闻啼鸟。", title or None, author, "x")
    text = poem_to_text(poem, with_title=with_title, with_author=with_author)
    t, a, body = split_prefix(text)
    assert body == poem.text
    clean = lambda s: " ".join(s.replace(PREFIX_SEP, " ").split()) or None  # noqa: E731
    assert t == (clean(title) if with_title and title else None)
    assert a == (clean(author) if with_author and author else None)
    if with_title or with_author:
        assert text.startswith(prompt_prefix(poem.title if with_title else None, poem.author if with_author else None))
    else:
        assert text == poem.text


def test_prefix_exact_format():
    poem = Poem("line one\nline two", "Night", "Anon", "x")
    assert poem_to_text(poem, with_title=True) == f"Night\n\n{PREFIX_SEP}line one\nline two"
    assert poem_to_text(poem, with_title=True, with_author=True) == f"Night\nAnon\n{PREFIX_SEP}line one\nline two"
    assert split_prefix(f"\nAnon\n{PREFIX_SEP}body") == (None, "Anon", "body")


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    return path


def test_real_fortune_corpora():
    _need(FORTUNES / "tang300")
    poems, report = iter_corpus_poems("tang300")
    assert report.poems == len(poems) > 300
    assert (poems[0].title, poems[0].author) == ("感遇・其一", "张九龄")
    assert poems[0].text.split("\n")[0] == "兰叶春葳蕤，"
    assert not any("\x1b" in p.text or "作者" in p.text for p in poems)
    _need(FORTUNES / "song100")
    song, _ = iter_corpus_poems("song100")
    assert song[0].author == "柳开" and song[0].title == "塞上"
    _need(FORTUNES / "songs-poems")
    en, _ = iter_corpus_poems("songs-poems")
    assert len(en) > 600 and any(p.author == "Ogden Nash" for p in en)
    assert not any(line.lstrip().startswith("-- ") for p in en for line in p.text.split("\n")[-1:])


def test_shipped_shakespeare_is_tiny_shakespeare_in_speeches():
    import hashlib

    from muse.data.shipped import read_bytes, shipped_corpus

    raw = read_bytes(shipped_corpus("shakespeare").path)
    assert hashlib.sha256(raw).hexdigest() == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    poems, _ = iter_corpus_poems("shakespeare")
    assert poems[0].text == "First Citizen:\nBefore we proceed any further, hear me speak."
    assert len(poems) > 7000


def test_shipped_tang_corpus():
    poems, report = iter_corpus_poems("tang")
    assert len(poems) > 57500 and not report.skipped and len({p.stable_id() for p in poems}) == len(poems)
    assert poems[0].title == "帝京篇十首 一" and poems[0].author == "太宗皇帝"
    assert poems[0].text.split("\n")[:2] == ["秦川雄帝宅，", "函谷壮皇居。"]
    assert not any("（一作" in p.text for p in poems)

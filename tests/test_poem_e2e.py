"""End to end: ``muse train poem`` -> model directory -> ``write_poems`` / ``muse poem``.

Tiny transformers trained for a few dozen steps on the poetry fixtures; the form
constraints are hard, so even these models must write compliant poems.
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
import torch

from muse.cli import main
from muse.core.checkpoint import load_checkpoint
from muse.errors import CheckpointError, ConfigError, ConstraintError, DataError
from muse.poetry.compose import PoemRequest, stream_poem, write_poems
from muse.poetry.corpora import read_poems
from muse.tokenizers.scripts import is_cjk_ideograph
from muse.poetry.english import check_english_form
from muse.poetry.forms import FORMS, check_chinese_form
from muse.recipes.hub import load_model
from muse.training import train

FIX = Path(__file__).parent / "fixtures" / "poetry"
TANG = FIX / "tang_sample.jsonl"
ENGLISH = FIX / "plain_en.txt"
TINY = ["model.n_layer=1", "model.n_embd=32", "model.n_head=2", "model.dropout=0.0", "data.block_size=64",
        "train.warmup_steps=5", "train.lr=3e-3", "train.log_every=5", "train.eval_every=20",
        "train.progress=false", "train.tensorboard=false", "train.device=cpu"]
ACROSTIC = "春江花月夜白云山"  # all in the vocabulary of tang_sample.jsonl


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSE_CACHE", str(tmp_path / "cache"))


def _train(corpus: Path, out: Path, steps: int, cache: Path, **kw):
    return train("poem", corpus=str(corpus), out=out, steps=steps, batch_size=8,
                 overrides=[*TINY, f"data.cache_dir={cache}"], **kw)


@pytest.fixture(scope="module")
def tang_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tang")
    _train(TANG, root / "run", 60, root / "cache")
    return root / "run"


@pytest.fixture(scope="module")
def tang_model(tang_run):
    return load_model(tang_run / "model", expect_kind="poem")


@pytest.fixture(scope="module")
def english_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("english")
    _train(ENGLISH, root / "run", 60, root / "cache")
    return load_model(root / "run" / "model", expect_kind="poem")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("muse: error: "), err
    return lines[0]


# ---------------------------------------------------------------- (a) training writes a usable run


def test_training_writes_model_and_checkpoints_and_loss_falls(tang_run):
    ck = load_checkpoint(tang_run / "checkpoints" / "last.pt")
    assert ck["step"] == 60 and ck["run_config"]["kind"] == "poem"
    rows = list(csv.DictReader(open(tang_run / "metrics.csv", encoding="utf-8")))
    losses = [float(r["loss"]) for r in rows if r["split"] == "train"]
    assert len(losses) == 12 and losses[-1] < 0.8 * losses[0], losses
    cfg = json.loads((tang_run / "model" / "config.json").read_text(encoding="utf-8"))
    recipe = json.loads((tang_run / "model" / "recipe.json").read_text(encoding="utf-8"))
    assert recipe["kind"] == "poem" and recipe["trained_steps"] == 60 and cfg["model_name"] == "transformer"
    assert recipe["corpus"]["name"] == TANG.name and recipe["corpus"]["items"] == 10  # no path of this machine
    gen = json.loads((tang_run / "model" / "generation_config.json").read_text(encoding="utf-8"))
    assert gen == {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 400}
    lm = load_model(tang_run / "model", expect_kind="poem")
    assert lm.model.config.n_embd == 32 and lm.model.config.block_size == 64
    for poem in read_poems(TANG):  # the tokenizer covers the corpus exactly
        assert lm.tokenizer.decode(lm.tokenizer.encode(poem.text)) == poem.text
    # the exported weights equal the checkpoint's
    for k, v in lm.model.state_dict().items():
        assert torch.equal(v, ck["model"][k]), k


# ---------------------------------------------------------------- (b) hard forms with trained models


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_chinese_form_is_obeyed(tang_model, form):
    poems = write_poems(tang_model, PoemRequest(form=form), num=3, seed=1)
    assert len(poems) == 3
    for p in poems:
        assert check_chinese_form(p, form) == [], p


@pytest.mark.parametrize("form", sorted(FORMS))
def test_acrostic_rhyme_and_tones_are_obeyed(tang_model, form):
    acrostic = ACROSTIC[: FORMS[form].lines]
    req = PoemRequest(form=form, acrostic=acrostic, rhyme=True, tonal=True)
    for p in write_poems(tang_model, req, num=2, seed=2):
        assert check_chinese_form(p, form, acrostic=acrostic, rhyme=True, tonal=True) == [], p
        assert [ln[0] for ln in p.split("\n")] == list(acrostic)


def test_chinese_prompt_continues_the_form_and_seed_repeats(tang_model):
    req = PoemRequest(prompt="春眠", form="wujue", rhyme=True)
    a = write_poems(tang_model, req, num=2, seed=5)
    assert a == write_poems(tang_model, req, num=2, seed=5)
    for p in a:
        assert p.startswith("春眠") and check_chinese_form(p, "wujue", rhyme=True) == [], p


def test_token_limit_never_cuts_a_form_short(tang_model):
    exact = 4 * (5 + 2) - 1  # 五绝: 4 x (5 characters, punctuation, newline), no newline after the last line
    for p in write_poems(tang_model, PoemRequest(form="wujue"), num=2, seed=6, max_tokens=exact):
        assert check_chinese_form(p, "wujue") == [], p
    with pytest.raises(ConstraintError, match="max_tokens=26"):
        write_poems(tang_model, PoemRequest(form="wujue"), seed=6, max_tokens=exact - 1)
    with pytest.raises(ConstraintError, match="max_tokens=20"):
        "".join(stream_poem(tang_model, PoemRequest(form="wujue"), seed=6, max_tokens=20))


def test_stream_yields_the_whole_poem(tang_model):
    pieces = list(stream_poem(tang_model, PoemRequest(form="wulv", rhyme=True), seed=3))
    assert len(pieces) > 8
    assert check_chinese_form("".join(pieces), "wulv", rhyme=True) == []


@pytest.mark.parametrize("req", [
    PoemRequest(lines=4, stanza=2),
    PoemRequest(acrostic="LOVE"),
    PoemRequest(prompt="The river", lines=4, rhyme_scheme="ABAB"),
], ids=["lines-stanza", "acrostic", "prompt-rhyme"])
def test_english_forms_are_obeyed(english_model, req):
    for p in write_poems(english_model, req, num=2, seed=4):
        assert p.startswith(req.prompt)
        assert check_english_form(p, lines=req.lines, stanza=req.stanza, rhyme_scheme=req.rhyme_scheme,
                                  acrostic=req.acrostic, max_line_chars=60, min_line_chars=8) == [], p


# ---------------------------------------------------------------- (c) the muse poem command


def test_cli_writes_compliant_poems_reproducibly(capsys, tang_run):
    args = ["poem", "--model", tang_run / "model", "--form", "wujue", "--num", "2", "--seed", "1"]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    poems = out.strip("\n").split("\n\n")
    assert len(poems) == 2 and all(check_chinese_form(p, "wujue") == [] for p in poems), out
    assert cli(capsys, *args)[1] == out


def test_cli_stream(capsys, tang_run):
    code, out, err = cli(capsys, "poem", "--model", tang_run / "model", "--form", "qijue", "--stream",
                         "--seed", "2", "--acrostic", "春江花月")
    assert code == 0, err
    assert check_chinese_form(out.strip("\n"), "qijue", acrostic="春江花月") == [], out


def test_cli_out_file_is_utf8(capsys, tang_run, tmp_path):
    target = tmp_path / "sub" / "poems.txt"
    code, out, err = cli(capsys, "poem", "--model", tang_run / "model", "--form", "wulv", "--num", "2",
                         "--seed", "7", "--out", target)
    assert code == 0, err
    text = target.read_bytes().decode("utf-8")
    assert text == out and sum(map(is_cjk_ideograph, text)) == 2 * 40


# ---------------------------------------------------------------- (d) bad input: exit 2, one line naming it


def test_cli_empty_prompt_file(capsys, tang_run, tmp_path):
    empty = tmp_path / "prompt.txt"
    empty.write_text("\n", encoding="utf-8")
    code, _, err = cli(capsys, "poem", "--model", tang_run / "model", "--prompt-file", empty)
    assert code == 2
    msg = one_line_error(err)
    assert str(empty) in msg and "empty" in msg


def test_cli_prompt_outside_vocabulary(capsys, tang_run):
    code, _, err = cli(capsys, "poem", "--model", tang_run / "model", "--prompt", "床前xyz")
    assert code == 2
    msg = one_line_error(err)
    assert "vocabulary" in msg and "xyz" in msg


def test_cli_acrostic_outside_vocabulary(capsys, tang_run):
    code, _, err = cli(capsys, "poem", "--model", tang_run / "model", "--form", "wujue", "--acrostic", "春江花龘")
    assert code == 2
    msg = one_line_error(err)
    assert "acrostic" in msg and "龘" in msg and "春" not in msg


def test_cli_form_the_vocabulary_cannot_write(capsys, english_model):
    code, _, err = cli(capsys, "poem", "--model", english_model.source, "--form", "qijue")
    assert code == 2
    msg = one_line_error(err)
    assert "vocabulary" in msg and "qijue" in msg


@pytest.mark.parametrize("args, problem", [
    (["--num", "0"], "--num: must be >= 1"),
    (["--form", "wulv", "--max-tokens", "30"], "max_tokens=30"),
    (["--lines", "0"], "--lines: must be >= 1"),
    (["--lines", "4", "--rhyme-scheme", "ABC"], "'ABC'"),
    (["--form", "wujue", "--prompt", "床前明月光光"], "breaks the requested form"),
    (["--acrostic", "春江"], "needs a form"),
], ids=["num", "max-tokens", "lines", "scheme", "prompt-form", "acrostic-form"])
def test_cli_impossible_requests(capsys, tang_run, args, problem):
    code, out, err = cli(capsys, "poem", "--model", tang_run / "model", "--seed", "1", *args)
    assert code == 2 and out == ""
    assert problem in one_line_error(err)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00\x01binary\x00", b"not utf-8 \xe9t\xe9\n"],
                         ids=["empty", "binary", "latin1"])
def test_bad_corpus_file_is_named(capsys, tmp_path, content):
    bad = tmp_path / "corpus.txt"
    bad.write_bytes(content)
    with pytest.raises(DataError, match="corpus.txt"):
        _train(bad, tmp_path / "api_run", 2, tmp_path / "cache")
    code, _, err = cli(capsys, "train", "poem", "--corpus", bad, "--out", tmp_path / "cli_run", "--steps", "2", *TINY)
    assert code == 2 and str(bad) in one_line_error(err)
    assert not (tmp_path / "cli_run").exists() and not (tmp_path / "api_run").exists()


# ---------------------------------------------------------------- (e) resume


def _sha1(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()


def test_cli_resume_continues_and_refuses_another_corpus(capsys, tmp_path):
    run = tmp_path / "run"
    base = ["train", "poem", "--out", run, "--batch-size", "8", "--no-progress"]
    code, out, err = cli(capsys, *base, "--corpus", TANG, "--steps", "20", *TINY)
    assert code == 0 and "trained 20 steps" in out, err
    code, out, err = cli(capsys, *base, "--resume", "--steps", "40")
    assert code == 0 and "trained 40 steps" in out, err
    last = run / "checkpoints" / "last.pt"
    assert load_checkpoint(last)["step"] == 40
    rows = csv.DictReader(open(run / "metrics.csv", encoding="utf-8"))
    steps = [int(r["step"]) for r in rows if r["split"] == "train"]
    assert steps == list(range(5, 41, 5))  # continued from step 20, nothing logged twice
    assert json.loads((run / "model" / "recipe.json").read_text(encoding="utf-8"))["trained_steps"] == 40

    # another corpus means another tokenizer: refused before anything is touched
    before = _sha1(last), (run / "config.json").read_text(encoding="utf-8")
    code, _, err = cli(capsys, *base, "--resume", "--corpus", ENGLISH, "--steps", "60")
    assert code == 2
    msg = one_line_error(err)
    assert "cannot resume" in msg and "tokenizer" in msg and str(ENGLISH) in msg
    assert (_sha1(last), (run / "config.json").read_text(encoding="utf-8")) == before
    assert load_model(run).meta["trained_steps"] == 40  # a run directory loads its exported model/
    with pytest.raises(CheckpointError, match="different tokenizer"):
        train("poem", corpus=str(ENGLISH), out=run, resume=True, steps=60)


def test_a_form_request_never_runs_out_of_tokens_by_default():
    """The budget follows the request: eight rhymed English lines fit without --max-tokens."""
    from muse.poetry.english import check_english_form

    for scheme in ("AABB", "ABAB"):
        for seed in range(3):
            poem = write_poems("poem-english", PoemRequest(lines=8, rhyme_scheme=scheme), seed=seed)[0]
            assert len([ln for ln in poem.split("\n") if ln.strip()]) == 8
            assert not check_english_form(poem, lines=8, rhyme_scheme=scheme)
    with pytest.raises(ConstraintError, match="max_tokens=40 ran out"):
        write_poems("poem-english", PoemRequest(lines=8, rhyme_scheme="AABB"), max_tokens=40, seed=0)


def test_a_title_conditions_a_model_trained_with_titles_and_is_refused_by_others(tmp_path, tang_model):
    run = tmp_path / "titled"
    train("poem", corpus=str(TANG), out=run, steps=6, batch_size=8,
          overrides=[*TINY, f"data.cache_dir={tmp_path / 'cache'}", "data.with_title=true"])
    poem = write_poems(run / "model", PoemRequest(form="wujue", title="春望"), seed=0)[0]
    assert len(poem.split("\n")) == 4 and "春望" not in poem  # the title conditions; it is not in the poem
    with pytest.raises(ConfigError, match="not trained with titles"):
        write_poems(tang_model, PoemRequest(form="wujue", title="春望"), seed=0)


def test_a_form_control_model_reads_the_form_and_title_it_is_asked_for(tmp_path):
    """data.control=form: each document's prefix names its form; generation writes the request's form tag."""
    from muse.poetry.compose import _prompt_ids
    from muse.poetry.corpora import PREFIX_SEP

    run = tmp_path / "control"
    train("poem", corpus=str(TANG), out=run, steps=30, batch_size=8,
          overrides=[*TINY, f"data.cache_dir={tmp_path / 'cache'}", "data.with_title=true", "data.control=form"])
    lm = load_model(run / "model", expect_kind="poem")
    recipe = json.loads((run / "model" / "recipe.json").read_text(encoding="utf-8"))
    assert recipe["data"]["control"] == "form" and lm.meta["data"]["control"] == "form"
    tok = lm.tokenizer
    ids = _prompt_ids(tok, PoemRequest(form="qilv", title="登高"), lm.meta["data"])
    assert tok.decode(ids[1:]) == f"登高\n\n七律{PREFIX_SEP}"
    assert tok.decode(_prompt_ids(tok, PoemRequest(form="wujue"), lm.meta["data"])[1:]) == f"\n\n五绝{PREFIX_SEP}"
    for form in FORMS:
        poems = write_poems(lm, PoemRequest(form=form, title="登高", rhyme=True, tonal=True), num=2, seed=1)
        for p in poems:
            assert check_chinese_form(p, form, rhyme=True, tonal=True, repeats=False) == [], p
            assert "登高" not in p and PREFIX_SEP not in p
    # a free poem: the model writes the tag itself, and only the body comes back
    free = write_poems(lm, PoemRequest(title="登高"), seed=2, max_tokens=60)[0]
    assert PREFIX_SEP not in free and not free.startswith("登高")
    with pytest.raises(ConfigError, match="data.control must be one of none, form"):
        train("poem", corpus=str(TANG), out=tmp_path / "bad", steps=1, batch_size=8,
              overrides=[*TINY, f"data.cache_dir={tmp_path / 'cache'}", "data.control=title"])


def test_cli_classical_and_modern_rhyme_options(capsys, tang_run):
    base = ["poem", "--model", tang_run / "model", "--form", "qijue", "--rhyme", "--num", "3", "--seed", "4"]
    code, out, err = cli(capsys, *base, "--tonal")
    assert code == 0, err
    for p in out.strip("\n").split("\n\n"):
        assert check_chinese_form(p, "qijue", rhyme=True, tonal=True, repeats=False) == [], p
    code, out, err = cli(capsys, *base, "--no-first-line-rhyme")
    assert code == 0, err
    assert all(check_chinese_form(p, "qijue", rhyme=True, first_line_rhyme=False) == []
               for p in out.strip("\n").split("\n\n")), out
    code, out, err = cli(capsys, *base, "--rhyme-system", "modern")
    assert code == 0, err
    assert all(check_chinese_form(p, "qijue", rhyme=True, rhyme_system="modern") == []
               for p in out.strip("\n").split("\n\n")), out


def test_cli_english_rhymes_and_metre_with_the_shipped_model(capsys, tmp_path):
    """`muse poem --rhyme-scheme ABAB --meter iambic --feet 4`: rhymed, iambic; --stream prints the same poem."""
    from muse.poetry.english import check_english_form

    out = tmp_path / "poem.txt"
    args = ["poem", "--lines", "4", "--rhyme-scheme", "ABAB", "--meter", "iambic", "--feet", "4", "--seed", "5"]
    code, printed, err = cli(capsys, *args, "--out", out)
    assert code == 0, err
    poem = out.read_text(encoding="utf-8").strip()
    assert printed.strip() == poem
    assert check_english_form(poem, lines=4, rhyme_scheme="ABAB", meter="iambic", feet=4, max_line_chars=70) == []
    code, streamed, err = cli(capsys, *args, "--stream")
    assert code == 0 and streamed.strip() == poem, err

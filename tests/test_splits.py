"""Honest held-out splits: nanoGPT's contiguous split for texts, warnings for tiny splits, errors for empty ones."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from muse.core import distributed as D
from muse.core.config import RunConfig, TrainConfig
from muse.data.report import MuseWarning
from muse.data.store import split_of
from muse.errors import ConfigError, DataError
from muse.recipes import get_recipe

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
TINY_SHAKESPEARE = REPO.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def poem(cache: Path, corpus, **kw):
    recipe = get_recipe("poem")
    return recipe, {**recipe.data_defaults(), "corpus": str(corpus), "cache_dir": str(cache), **kw}


def text_of(stores, tok, split: str) -> str:
    return tok.decode(stores[split].tokens.tolist())


def load(recipe, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MuseWarning)  # small fixtures: the small-split warning is tested below
        return recipe.load_data(data, progress=False)


# ---------------------------------------------------------------- contiguous splits (nanoGPT)


def test_contiguous_split_is_nanogpts_cut_of_a_small_fixture(tmp_path):
    path = FIXTURES / "poetry" / "plain_en.txt"
    data = path.read_text(encoding="utf-8")
    n = len(data)
    recipe, d = poem(tmp_path, path, split="contiguous")
    stores, tok, manifest = load(recipe, d)
    assert text_of(stores, tok, "train") == data[: int(n * 0.9)]
    assert text_of(stores, tok, "valid") == data[int(n * 0.9):]
    assert len(stores["test"]) == 0 and manifest["splits"]["valid"]["docs"] == 1
    # a test split, when asked for, comes last: train | valid | test
    stores, tok, _ = load(recipe, {**d, "valid_frac": 0.1, "test_frac": 0.1})
    assert text_of(stores, tok, "train") == data[: int(n * 0.8)]
    assert text_of(stores, tok, "valid") == data[int(n * 0.8): int(n * 0.9)]
    assert text_of(stores, tok, "test") == data[int(n * 0.9):]


@pytest.mark.skipif(not TINY_SHAKESPEARE.is_file(), reason=f"{TINY_SHAKESPEARE} (nanoGPT's input.txt) is not here")
def test_shakespeare_splits_as_nanogpt_by_default(tmp_path):
    data = TINY_SHAKESPEARE.read_text(encoding="utf-8")
    n = len(data)
    recipe, d = poem(tmp_path, "shakespeare")
    resolved = recipe.data_config(d)
    assert (resolved.split, resolved.valid_frac, resolved.test_frac) == ("contiguous", 0.1, 0.0)
    stores, tok, manifest = load(recipe, d)
    assert text_of(stores, tok, "train") == data[: int(n * 0.9)]  # nanoGPT's prepare.py: data[:int(n*0.9)]
    assert text_of(stores, tok, "valid") == data[int(n * 0.9):]
    assert manifest["splits"]["train"]["tokens"] - 2 == int(n * 0.9) == 1_003_854  # + <bos>, <eos>
    assert set(text_of(stores, tok, "train") + text_of(stores, tok, "valid")) == set(data)  # no <unk>


def test_auto_split_is_contiguous_only_for_a_single_text(tmp_path):
    recipe = get_recipe("poem")
    for corpus, rule, valid, test in [("shakespeare", "contiguous", 0.1, 0.0), ("tang", "hash", 0.05, 0.05),
                                      (str(FIXTURES / "poetry" / "plain_en.txt"), "hash", 0.05, 0.05)]:
        d = recipe.data_config({**recipe.data_defaults(), "corpus": corpus})
        assert (d.split, d.valid_frac, d.test_frac) == (rule, valid, test), corpus
    # explicit fractions win; a contiguous split of a poem file is available on request
    d = recipe.data_config({**recipe.data_defaults(), "corpus": "shakespeare", "valid_frac": 0.2})
    assert (d.split, d.valid_frac, d.test_frac) == ("contiguous", 0.2, 0.0)
    d = recipe.data_config({**recipe.data_defaults(), "corpus": "shakespeare", "split": "hash"})
    assert (d.split, d.valid_frac, d.test_frac) == ("hash", 0.05, 0.05)
    with pytest.raises(ConfigError, match="data.split must be auto, hash, contiguous"):
        recipe.data_config({**recipe.data_defaults(), "corpus": "tang", "split": "random"})


def test_contiguous_split_refuses_what_is_not_plain_text(tmp_path):
    recipe, d = poem(tmp_path, FIXTURES / "poetry" / "tang_sample.jsonl", split="contiguous")
    with pytest.raises(ConfigError, match="tang_sample.jsonl is JSON") as err:
        load(recipe, d)
    assert "\n" not in str(err.value)
    melody = get_recipe("melody")
    folder = tmp_path / "tunes"
    folder.mkdir()
    (folder / "a.abc").write_text((FIXTURES / "music" / "two_tunes.abc").read_text(encoding="utf-8"))
    with pytest.raises(ConfigError, match="melody corpora are split by a hash"):
        melody.load_data({**melody.data_defaults(), "corpus": str(folder), "split": "contiguous", "workers": 1,
                          "cache_dir": str(tmp_path / "c")}, progress=False)


# ---------------------------------------------------------------- small and empty held-out splits


def poems_file(path: Path, n: int, want_valid: int | None = None) -> Path:
    """``n`` distinct poems; with ``want_valid``, chosen so that exactly that many fall in the valid split."""
    from muse.poetry.corpora import iter_corpus_poems

    chosen: list[str] = []
    valid = 0
    i = 0
    while len(chosen) < n:
        text = f"Poem number {i} walks\nalong the line {i * 7}\nand rests at {i * 13}."
        i += 1
        path.write_text(text + "\n", encoding="utf-8")
        (p,), _ = iter_corpus_poems(str(path))
        side = split_of(p.stable_id())
        if want_valid is not None and side == "valid" and valid >= want_valid:
            continue
        if want_valid is not None and side != "valid" and n - len(chosen) <= want_valid - valid:
            continue
        valid += side == "valid"
        chosen.append(text)
    path.write_text("\n\n".join(chosen) + "\n", encoding="utf-8")
    return path


def test_a_tiny_held_out_split_is_a_warning_with_counts_and_the_option(tmp_path):
    corpus = poems_file(tmp_path / "poems.txt", 60)
    recipe, d = poem(tmp_path / "cache", corpus)
    with pytest.warns(MuseWarning) as caught:
        _, _, manifest = recipe.load_data(d, progress=False)
    msg = next(str(w.message) for w in caught if "small held-out split" in str(w.message))
    sp = manifest["splits"]
    assert f"valid {sp['valid']['docs']:,} document(s) / {sp['valid']['tokens']:,} tokens (data.valid_frac=0.05)" in msg
    assert f"test {sp['test']['docs']:,} document(s)" in msg and "data.test_frac=0.05" in msg
    assert msg.startswith(str(corpus)) and "of 60 documents" in msg
    # enough held out: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuseWarning)
        recipe.load_data({**d, "valid_frac": 0.0, "test_frac": 0.0}, progress=False)


def run_config(recipe, data, batch_size=4, **train):
    return RunConfig(kind="poem", model="lstm", model_config=dict(recipe.models["lstm"].defaults), data=data,
                     train=TrainConfig(steps=1, batch_size=batch_size, progress=False, device="cpu", **train))


def test_an_empty_validation_split_is_said_and_an_error_when_early_stopping_needs_it(tmp_path):
    corpus = poems_file(tmp_path / "poems.txt", 12, want_valid=0)
    recipe, d = poem(tmp_path / "cache", corpus)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MuseWarning)
        with pytest.raises(DataError) as err:
            recipe.prepare(run_config(recipe, d, patience=3), D.DistEnv(), None)
    msg = str(err.value)
    assert "\n" not in msg and "validation split is too small" in msg and "0 document(s)" in msg
    assert "data.valid_frac (now 0.05)" in msg and "data.valid_frac=0" in msg and "train.patience" in msg
    with pytest.warns(MuseWarning, match="validation split is too small .*training without validation"):
        prepared = recipe.prepare(run_config(recipe, d), D.DistEnv(), None)
    assert prepared.valid is None
    with warnings.catch_warnings():  # asked for no validation: none, and not a word about it
        warnings.simplefilter("error", MuseWarning)
        prepared = recipe.prepare(run_config(recipe, {**d, "valid_frac": 0.0, "test_frac": 0.0}, patience=None),
                                  D.DistEnv(), None)
    assert prepared.valid is None


def test_a_validation_split_smaller_than_a_batch_is_still_measured(tmp_path):
    corpus = poems_file(tmp_path / "poems.txt", 30, want_valid=3)
    recipe, d = poem(tmp_path / "cache", corpus, batching="document")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MuseWarning)
        prepared = recipe.prepare(run_config(recipe, d, batch_size=8), D.DistEnv(), None)
    assert prepared.valid is not None and prepared.valid.batch_size == 3 and prepared.valid.steps_per_epoch == 1
    assert prepared.valid.batch(0)["input"].shape[0] == 3


# ---------------------------------------------------------------- the cache folder on the command line


def muse_cli(*args, cache: Path, tmp_path: Path, preexec=None):
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "MUSE_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "muse", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, preexec_fn=preexec)


@pytest.mark.parametrize("verb", ["corpora", "train"])
def test_an_unwritable_cache_is_one_line_on_the_command_line(tmp_path, verb):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    corpus = FIXTURES / "poetry" / "plain_en.txt"
    args = (["corpora", "build", "--from", str(corpus), "--kind", "poem"] if verb == "corpora" else
            ["train", "poem", "--data", str(corpus), "--steps", "1", "--out", str(tmp_path / "run")])
    r = muse_cli(*args, cache=blocker / "cache", tmp_path=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("muse: error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr
    assert errors[0] == (f"muse: error: {blocker / 'cache' / 'corpora'}: cannot write the token cache: "
                         "Not a directory (set MUSE_CACHE to a writable folder)")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE stands in for a full disk on Linux")
def test_a_full_disk_while_building_is_one_line_and_leaves_nothing_behind(tmp_path):
    import resource
    import signal

    def small_disk():  # writes past 256 KiB fail with EFBIG, as a full disk fails with ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10))

    cache = tmp_path / "cache"
    r = muse_cli("corpora", "build", "shakespeare", "--kind", "poem", cache=cache, tmp_path=tmp_path,
                 preexec=small_disk)
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("muse: error:")]
    assert errors == [f"muse: error: {cache / 'corpora'}: cannot write the token cache: File too large "
                      "(set MUSE_CACHE to a writable folder)"]
    assert sorted(p.name for p in (cache / "corpora").iterdir() if not p.name.endswith(".lock")) == []

"""Progress where a person waits: evaluation, tokenizing, melodies written one by one, stylizing."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch

from muse.cli import main as muse_main
from muse.core.config import TrainConfig
from muse.core.trainer import Trainer
from muse.data.batches import DocumentBatches, WindowBatches
from muse.data.store import open_store
from tests.helpers.tiny import TinyLM, pattern_store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

POEMS = Path(__file__).parent / "fixtures" / "poetry" / "tang_sample.jsonl"


class CountingBatches:
    """A batch source that counts the batches read from it."""

    def __init__(self, inner):
        self.inner, self.reads = inner, 0
        self.steps_per_epoch = getattr(inner, "steps_per_epoch", None)

    def batch(self, i):
        self.reads += 1
        return self.inner.batch(i)


def trainer(tmp_path, *, progress: bool, steps: int = 6, eval_batches: int = 3, eval_every: int = 3) -> Trainer:
    stores = pattern_store(tmp_path / "store")
    torch.manual_seed(0)
    cfg = TrainConfig(steps=steps, batch_size=8, lr=3e-3, warmup_steps=1, eval_every=eval_every,
                      eval_batches=eval_batches, log_every=3, progress=progress, tensorboard=False, device="cpu")
    train = WindowBatches(stores["train"], 16, 8, seed=1)
    valid = CountingBatches(WindowBatches(stores["valid"], 16, 8, seed=2))
    return Trainer(TinyLM(TinyLM.Config()), cfg, train, valid, run_dir=tmp_path / "run")


# ---------------------------------------------------------------- evaluation


def test_evaluate_shows_its_own_valid_bar(tmp_path, capsys):
    t = trainer(tmp_path, progress=True)
    capsys.readouterr()
    metrics = t.evaluate()
    err = capsys.readouterr().err
    assert "loss" in metrics
    assert "valid:" in err and "/3 [" in err and "batch/s" in err  # n of eval_batches=3


def test_no_valid_bar_with_progress_off(tmp_path, capsys):
    t = trainer(tmp_path, progress=False)
    capsys.readouterr()
    with_bar_off = t.evaluate()
    assert capsys.readouterr().err == ""
    t.cfg.progress = True
    assert t.evaluate() == with_bar_off  # the bar changes nothing but stderr
    capsys.readouterr()
    t.fit()
    assert "valid" in capsys.readouterr().err


def test_no_bars_at_all_when_a_run_has_progress_off(tmp_path, capsys):
    capsys.readouterr()
    trainer(tmp_path, progress=False).fit()
    err = capsys.readouterr().err
    assert "valid" not in err and "train:" not in err and "%|" not in err


def test_every_evaluation_the_final_one_included_reads_at_most_eval_batches(tmp_path):
    t = trainer(tmp_path, progress=False, steps=7, eval_batches=3, eval_every=3)
    t.fit()  # evaluations after steps 3, 6 and the last step (7)
    assert t.val_data.reads == 3 * 3
    # document batches: never more than the split holds, however large eval_batches is
    docs = CountingBatches(DocumentBatches(open_store(tmp_path / "store")["valid"], 2, seed=2, shuffle=False))
    t.val_data, t.cfg.eval_batches = docs, 10**6
    t.evaluate()
    assert docs.reads == docs.steps_per_epoch == 3


# ---------------------------------------------------------------- tokenizing


def poem_data(tmp_path, **kw):
    from muse.recipes import get_recipe

    recipe = get_recipe("poem")
    return recipe, {**recipe.data_defaults(), "corpus": str(POEMS), "cache_dir": str(tmp_path / "cache"), **kw}


def test_tokenizing_shows_a_bar(tmp_path, capsys):
    recipe, data = poem_data(tmp_path)
    capsys.readouterr()
    _, _, manifest = recipe.load_data(data)
    err = capsys.readouterr().err
    assert "tokenize:" in err and f"/{manifest['items']} [" in err  # over the items read
    recipe.load_data(data)  # a warm cache builds nothing and shows nothing
    assert "tokenize" not in capsys.readouterr().err


def test_tokenizing_bar_is_off_when_progress_is(tmp_path, capsys):
    from muse.core import distributed as D
    from muse.core.config import RunConfig

    recipe, data = poem_data(tmp_path)
    capsys.readouterr()
    recipe.load_data(data, progress=False)
    assert capsys.readouterr().err == ""
    # inside a run, train.progress decides
    cfg = RunConfig(kind="poem", model="lstm", model_config=dict(recipe.models["lstm"].defaults),
                    data={**data, "cache_dir": str(tmp_path / "cache2")},
                    train=TrainConfig(steps=1, batch_size=2, progress=False, device="cpu"))
    recipe.prepare(cfg, D.DistEnv(), None)
    assert "tokenize" not in capsys.readouterr().err
    cfg.data["cache_dir"] = str(tmp_path / "cache3")
    cfg.train.progress = True
    recipe.prepare(cfg, D.DistEnv(), None)
    assert "tokenize" in capsys.readouterr().err


def test_a_slow_tokenizer_build_prints_a_status_line(tmp_path, capsys, monkeypatch):
    import muse.recipes.lm as lm

    recipe, data = poem_data(tmp_path)
    make = type(recipe).make_tokenizer

    def slow(self, items, d):
        time.sleep(0.8)
        return make(self, items, d)

    monkeypatch.setattr(lm, "STATUS_DELAY", 0.05)
    monkeypatch.setattr(type(recipe), "make_tokenizer", slow)
    capsys.readouterr()
    recipe.load_data(data)
    err = capsys.readouterr().err
    assert "muse: building the char tokenizer from" in err and "item(s) ..." in err
    assert "item(s): done in" in err
    recipe.load_data({**data, "cache_dir": str(tmp_path / "quiet")}, progress=False)
    assert capsys.readouterr().err == ""


def test_a_fast_tokenizer_build_prints_no_status_line(tmp_path, capsys):
    recipe, data = poem_data(tmp_path)
    capsys.readouterr()
    recipe.load_data(data)
    assert "muse: building" not in capsys.readouterr().err


# ---------------------------------------------------------------- melodies, one file at a time


def midi_bytes(paths):
    return [Path(p).read_bytes() for p in paths]


@pytest.fixture(scope="module")
def melody_lm():
    from muse.recipes.hub import load_model

    return load_model("melody-lstm", expect_kind="melody")


def test_melody_prints_each_path_in_order_and_keeps_the_seeds_melodies(tmp_path, capsys, melody_lm):
    from muse.music.compose import generate_melodies, save_melodies

    out = tmp_path / "cli"
    code = muse_main(["melody", "--model", "melody-lstm", "--num", "3", "--no-wav", "--no-png", "--bars", "2",
                      "--seed", "7", "--out", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    paths = cap.out.split()
    assert paths == [str(out / f"melody_{i:03d}.mid") for i in (1, 2, 3)]
    assert all(Path(p).is_file() for p in paths)
    # the very files one generate_melodies call gives (as before the CLI wrote them one by one)
    ref = save_melodies(generate_melodies(melody_lm, bars=2, num=3, seed=7), tmp_path / "api", wav=False, png=False)
    assert midi_bytes(paths) == midi_bytes(f["mid"] for f in ref)
    assert "%|" not in cap.err  # no bar when stderr is not a terminal


def test_melody_writes_each_batch_before_generating_the_next(tmp_path, capsys, monkeypatch, melody_lm):
    import muse.cli.melody as cli_melody
    import muse.music.compose as compose

    real = compose.generate_melodies
    calls = []

    def spy(model, **kw):
        calls.append((kw["num"], kw["seed"], capsys.readouterr().out.split()))
        return real(model, **kw)

    monkeypatch.setattr(cli_melody, "BATCH", 2)
    monkeypatch.setattr(compose, "generate_melodies", spy)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    out = tmp_path / "o"
    assert muse_main(["melody", "--model", "melody-lstm", "--num", "5", "--no-wav", "--no-png", "--bars", "2",
                      "--seed", "3", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    names = [f"melody_{i:03d}.mid" for i in range(1, 6)]
    assert [(n, s) for n, s, _ in calls] == [(2, 3), (2, 5), (1, 7)]  # seed + melodies before, as compose does
    assert [[Path(p).name for p in printed] for _, _, printed in calls] == [[], names[:2], names[2:4]]
    assert [Path(p).name for p in cap.out.split()] == names[4:]
    assert "melody:" in cap.err and "/5 [" in cap.err  # the bar, on a terminal
    # batch k is what one call seeded seed + k * BATCH gives
    second = save_melodies_of(real(melody_lm, bars=2, num=2, seed=5), tmp_path / "ref")
    assert midi_bytes(out / n for n in names[2:4]) == midi_bytes(second)


def save_melodies_of(mels, out):
    from muse.music.compose import save_melodies

    return [f["mid"] for f in save_melodies(mels, out, wav=False, png=False)]


def test_melody_num_zero_is_still_an_error(tmp_path, capsys):
    code = muse_main(["melody", "--model", "melody-lstm", "--num", "0", "--no-wav", "--no-png",
                      "--out", str(tmp_path / "z")])
    err = capsys.readouterr().err
    assert code == 2 and "--num" in err and "must be >= 1" in err and err.count("\n") == 1
    assert not (tmp_path / "z").exists()


def test_save_melodies_numbers_from_start(tmp_path, melody_lm):
    from muse.music.compose import generate_melodies, save_melodies

    mels = generate_melodies(melody_lm, bars=1, num=2, seed=1)
    files = save_melodies(mels, tmp_path, wav=False, png=False, start=4)
    assert [f["mid"].name for f in files] == ["melody_004.mid", "melody_005.mid"]


def test_vae_sample_prints_each_path_in_order(tmp_path, capsys):
    out = tmp_path / "vae"
    assert muse_main(["vae", "sample", "--num", "3", "--seed", "1", "--no-wav", "--no-png", "--out", str(out)]) == 0
    paths = capsys.readouterr().out.split()
    assert paths == [str(out / f"sample_{i:03d}.mid") for i in (1, 2, 3)]
    assert all(Path(p).is_file() for p in paths)


# ---------------------------------------------------------------- stylize


def test_stylize_has_a_bar_over_its_steps_unless_told_not_to(capsys):
    from muse.image.stylize import stylize

    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    kw = {"size": 32, "steps": 3, "optimizer": "adam", "vgg_weights": "random"}
    capsys.readouterr()
    stylize(content, [style], **kw)
    err = capsys.readouterr().err
    assert "stylize:" in err and "/3 [" in err
    stylize(content, [style], progress=False, **kw)
    assert capsys.readouterr().err == ""

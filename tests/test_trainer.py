import csv
import json
import math

import pytest
import torch

from muse.core.checkpoint import load_checkpoint
from muse.core.config import TrainConfig
from muse.core.trainer import Trainer
from muse.data.batches import WindowBatches
from muse.errors import CheckpointError, MuseError, TrainingDiverged
from tests.helpers.tiny import TinyLM, pattern_store


def make(tmp_path, steps=60, **kw):
    stores = pattern_store(tmp_path / "store")
    torch.manual_seed(0)
    model = TinyLM(TinyLM.Config())
    cfg = TrainConfig(steps=steps, batch_size=8, lr=3e-3, warmup_steps=5, eval_every=20, eval_batches=4,
                      log_every=5, progress=False, tensorboard=False, **kw)
    tr = WindowBatches(stores["train"], 16, 8, seed=1)
    va = WindowBatches(stores["valid"], 16, 8, seed=2)
    return Trainer(model, cfg, tr, va, run_dir=tmp_path / "run", extra_state={"note": "x"})


def test_loss_falls_and_run_dir_is_complete(tmp_path):
    t = make(tmp_path, steps=120)
    res = t.fit()
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    train = [float(r["loss"]) for r in rows if r["split"] == "train"]
    val = [r for r in rows if r["split"] == "valid"]
    assert train[-1] < 0.6 * train[0]
    assert {"bits_per_token", "perplexity"} <= set(val[-1])
    v = val[-1]
    assert math.isclose(float(v["bits_per_token"]), float(v["loss"]) / math.log(2), rel_tol=1e-4)
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    assert res.last_checkpoint.exists() and res.best_checkpoint.exists()
    ck = load_checkpoint(res.last_checkpoint)
    assert ck["step"] == 120 and ck["note"] == "x" and ck["train_config"]["lr"] == 3e-3


def test_resume_is_exact(tmp_path):
    a = make(tmp_path / "a", steps=40)
    a.fit()
    b = make(tmp_path / "b", steps=40, save_every=20)
    b.cfg.steps = 20  # stop half-way (schedule horizon stays 40)
    b.fit()
    c = make(tmp_path / "b", steps=40, save_every=20)
    c.fit(resume=True)
    for (k, va), vb in zip(a.model.state_dict().items(), c.model.state_dict().values()):
        assert torch.equal(va, vb), k


def test_existing_run_needs_resume(tmp_path):
    make(tmp_path, steps=5).fit()
    with pytest.raises(MuseError, match="--resume"):
        make(tmp_path, steps=5).fit()


def test_a_second_trainer_on_a_busy_run_dir_stops_with_an_error(tmp_path):
    """Two `muse train --resume --out D` at once would overwrite each other's checkpoints: the second stops."""
    import fcntl
    import os

    make(tmp_path, steps=5).fit()
    fd = os.open(tmp_path / "run" / ".lock", os.O_RDWR)
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"4242", 0)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running trainer holds it
    try:
        with pytest.raises(MuseError, match=r"another muse process is training in this run directory \(pid 4242\)"):
            make(tmp_path, steps=10).fit(resume=True)
    finally:
        os.close(fd)
    assert make(tmp_path, steps=10).fit(resume=True).step == 10  # free again


def test_nan_guard_keeps_last_good_checkpoint(tmp_path):
    t = make(tmp_path, steps=60, save_every=10)
    orig = t.model.loss

    def bad_loss(batch, ctx):
        out = orig(batch, ctx)
        if ctx.step >= 25:
            out["loss"] = out["loss"] * float("nan")
        return out

    t.model.loss = bad_loss
    with pytest.raises(TrainingDiverged, match="step 26"):
        t.fit()
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ck["step"] == 20
    assert all(torch.isfinite(v).all() for v in ck["model"].values())


def test_corrupt_and_mismatched_checkpoints(tmp_path):
    t = make(tmp_path, steps=5)
    t.fit()
    p = tmp_path / "run" / "checkpoints" / "last.pt"
    other = TinyLM(TinyLM.Config(n_embd=16))
    t2 = make(tmp_path / "x", steps=5)
    t2.model = other
    with pytest.raises(CheckpointError, match="shape mismatch"):
        from muse.core.checkpoint import load_model_state
        load_model_state(other, load_checkpoint(p)["model"], p)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(p.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_early_stopping_and_max_time(tmp_path):
    t = make(tmp_path / "es", steps=10_000, patience=1, min_delta=10.0)
    res = t.fit()
    assert res.stopped == "early_stopping" and res.step == 40
    t = make(tmp_path / "mt", steps=None, max_time=1.0)
    res = t.fit()
    assert res.stopped == "max_time" and res.step > 0


def test_grad_accumulation_matches_big_batch(tmp_path):
    a = make(tmp_path / "a", steps=3, grad_accum=1)
    a.model.drop.p = 0.0
    b = make(tmp_path / "b", steps=3, grad_accum=2)
    b.model.drop.p = 0.0
    # accumulation of two half batches == one full batch of the same examples
    from muse.data.batches import WindowBatches as W
    stores = pattern_store(tmp_path / "s2")
    full = W(stores["train"], 16, 8, seed=5)

    class Half:
        steps_per_epoch = None

        def batch(self, i):
            fb = full.batch(i // 2)
            sl = slice(0, 4) if i % 2 == 0 else slice(4, 8)
            return {k: v[sl] for k, v in fb.items()}

    a.train_data, b.train_data = full, Half()
    a.fit(); b.fit()
    for va, vb in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-5)


def test_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    t = make(tmp_path, steps=2)
    t.run_dir = blocker / "run"
    t.ckpt_dir = t.run_dir / "checkpoints"
    with pytest.raises(MuseError, match="not writable"):
        t.fit()


def test_checkpoint_from_another_format_is_refused(tmp_path):
    import muse
    from muse.core.checkpoint import atomic_torch_save

    t = make(tmp_path, steps=2)
    t.fit()
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    ck["format"] = muse.CHECKPOINT_FORMAT + 1
    atomic_torch_save(ck, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="future.pt.*format"):
        load_checkpoint(tmp_path / "future.pt")


def test_config_file_and_unknown_keys_through_the_cli(tmp_path, capsys):
    from muse.cli import main

    corpus = tmp_path / "verse.txt"
    corpus.write_text("\n\n".join(f"line {i} of a small poem\nand another line {i}" for i in range(40)), encoding="utf-8")
    cfg = tmp_path / "run.toml"
    cfg.write_text('model = "lstm"\n[train]\nsteps = 3\nbatch_size = 4\nprogress = false\n'
                   '[model_config]\nn_hidden = 16\nn_embd = 16\n[data]\nblock_size = 32\n', encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "poem", "--data", str(corpus), "--config", str(cfg), "--out", str(out),
                 f"data.cache_dir={tmp_path / 'cache'}"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"] == "lstm" and saved["train"]["steps"] == 3 and saved["model_config"]["n_hidden"] == 16
    capsys.readouterr()
    assert main(["train", "poem", "--data", str(corpus), "--model", "lstm", "--out", str(tmp_path / "x"),
                 "model.n_hiden=3"]) == 2
    err = capsys.readouterr().err
    assert "n_hiden" in err and "n_hidden" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "poem", "--data", str(corpus), "--out", str(tmp_path / "y"), "lr=abc"]) == 2
    assert "train.lr must be float, got 'abc'" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nsteps=", encoding="utf-8")
    assert main(["train", "poem", "--data", str(corpus), "--config", str(bad)]) == 2
    assert "bad.toml" in capsys.readouterr().err

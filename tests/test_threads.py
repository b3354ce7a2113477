"""muse.core.threads: the CPU thread count picked for training and decoding, and who may override it."""
from __future__ import annotations

import pytest
import torch

import muse.core.threads as th
from muse.core.callbacks import Callback
from muse.core.config import TrainConfig
from muse.core.trainer import Trainer
from muse.data.batches import TensorBatches
from muse.errors import ConfigError
from muse.models.registry import build_model
from muse.sampling.config import GenerationConfig
from muse.sampling.sampler import generate


@pytest.fixture
def unchosen(monkeypatch):
    """Nobody chose: no MUSE_THREADS / OMP_NUM_THREADS, torch at its start-up count (2 here)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv(th.ENV, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(th, "_AT_IMPORT", 2)
    yield
    torch.set_num_threads(before)


def test_choose_threads_grows_with_the_model_and_stops_at_the_cores():
    assert th.choose_threads(800_000, cores=16) == 1
    assert th.choose_threads(th.TRAIN_PARAMS_PER_THREAD, cores=16) == 2
    assert th.choose_threads(100_000_000, cores=16) == 16
    assert th.choose_threads(100_000_000, cores=2) == 2
    assert th.choose_threads(19_000_000, cores=8, decoding=True) == 1
    assert th.choose_threads(21_000_000, cores=8, decoding=True) == 8


def test_small_model_on_cpu_gets_one_thread_and_the_count_comes_back(unchosen):
    undo = th.set_threads(torch.nn.Linear(8, 8), "cpu")
    assert torch.get_num_threads() == 1
    undo()
    assert torch.get_num_threads() == 2
    undo = th.set_threads(torch.nn.Linear(8, 8), "cuda")  # off the CPU nothing changes
    assert torch.get_num_threads() == 2
    undo()


def test_choices_already_made_are_respected(unchosen, monkeypatch):
    monkeypatch.setenv(th.ENV, "2")
    with th.cpu_threads(torch.nn.Linear(8, 8), "cpu") as n:
        assert n == 2 == torch.get_num_threads()
    monkeypatch.delenv(th.ENV)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with th.cpu_threads(torch.nn.Linear(8, 8), "cpu") as n:
        assert n == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(th, "_AT_IMPORT", 4)  # torch.set_num_threads(2) happened after muse was imported
    with th.cpu_threads(torch.nn.Linear(8, 8), "cpu") as n:
        assert n == 2


def test_bad_muse_threads_is_a_one_line_config_error(monkeypatch):
    monkeypatch.setenv(th.ENV, "many")
    with pytest.raises(ConfigError, match=r"^MUSE_THREADS='many': must be a positive integer"):
        th.chosen_threads()


class _Seen(Callback):
    def __init__(self):
        self.threads = []

    def on_step_end(self, trainer, step, metrics):
        self.threads.append(torch.get_num_threads())


def test_trainer_and_sampler_use_one_thread_for_small_models(unchosen, tmp_path):
    torch.manual_seed(0)
    model = build_model("transformer", {"vocab_size": 11, "block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 16})
    ids = torch.randint(0, 11, (16, 9))
    seen = _Seen()
    cfg = TrainConfig(steps=3, device="cpu", batch_size=4, progress=False, tensorboard=False)
    Trainer(model, cfg, TensorBatches({"input": ids[:, :-1], "target": ids[:, 1:]}, 4, seed=0),
            run_dir=tmp_path / "run", callbacks=[seen]).fit()
    assert seen.threads == [1, 1, 1] and torch.get_num_threads() == 2
    during = []
    model.register_forward_hook(lambda *_: during.append(torch.get_num_threads()))
    generate(model, [1, 2], GenerationConfig(max_new_tokens=3, seed=0))
    assert set(during) == {1} and torch.get_num_threads() == 2

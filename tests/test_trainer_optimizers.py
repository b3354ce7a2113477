"""Model-provided optimiser settings (``configure_optimizers``): a GAN's two learning rates (TTUR)."""
from __future__ import annotations

import csv
import json

import pytest
import torch

from muse.core.checkpoint import load_checkpoint
from muse.core.config import TrainConfig
from muse.core.optim import adamw, lr_lambda
from muse.core.trainer import Trainer
from muse.data.batches import TensorBatches, WindowBatches
from muse.errors import ConfigError
from muse.models.gan import DCGAN
from tests.helpers.tiny import TinyLM, pattern_store

LR, LR_D, LR_G = 2e-4, 4e-4, 1e-4


def _cfg(**kw) -> TrainConfig:
    base = {"steps": 6, "batch_size": 8, "lr": LR, "min_lr": LR / 10, "warmup_steps": 2, "schedule": "cosine",
            "weight_decay": 0.0, "beta1": 0.5, "beta2": 0.999, "grad_clip": 0.0, "eval_every": 3, "log_every": 1,
            "progress": False, "tensorboard": False, "device": "cpu"}
    return TrainConfig(**{**base, **kw})


def _gan_trainer(run_dir, lr_d=LR_D, lr_g=LR_G, **kw) -> Trainer:
    torch.manual_seed(0)
    model = DCGAN(DCGAN.Config(image_size=16, nz=8, ngf=4, ndf=4, lr_d=lr_d, lr_g=lr_g))
    images = torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return Trainer(model, _cfg(**kw), TensorBatches({"image": images}, 8, seed=3), run_dir=run_dir)


def _lrs(opt: torch.optim.Optimizer) -> set[float]:
    """Base learning rates of ``opt`` (what the schedule multiplies)."""
    return {g["initial_lr"] for g in opt.param_groups}


def test_gan_with_two_learning_rates_gets_optimisers_with_them(tmp_path):
    t = _gan_trainer(tmp_path / "run", schedule="constant", warmup_steps=0)
    assert list(t.optimizers) == ["d", "g"]
    assert {g["lr"] for g in t.optimizers["d"].param_groups} == {LR_D}
    assert {g["lr"] for g in t.optimizers["g"].param_groups} == {LR_G}
    assert _lrs(t.optimizers["d"]) == {LR_D} and _lrs(t.optimizers["g"]) == {LR_G}
    assert t.optimizers["d"].param_groups[0]["betas"] == (0.5, 0.999)  # what the model did not set stays
    t.fit()
    assert _lrs(t.optimizers["d"]) == {LR_D} and _lrs(t.optimizers["g"]) == {LR_G}
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ck["model_config"]["lr_d"] == LR_D and ck["optimizers"]["g"]["param_groups"][0]["lr"] == LR_G


def test_schedule_scales_each_groups_own_learning_rate(tmp_path):
    t = _gan_trainer(tmp_path / "run")  # warmup 2 steps, then cosine to min_lr
    t.fit()
    f = lr_lambda(t.cfg, t.total_steps)
    with open(tmp_path / "run" / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train"]
    assert len(rows) == 6
    for r in rows:
        step = int(r["step"])  # lr after `step` scheduler steps
        assert float(r["d_lr"]) == pytest.approx(LR_D * f(step), rel=1e-5)
        assert float(r["g_lr"]) == pytest.approx(LR_G * f(step), rel=1e-5)
        assert float(r["d_lr"]) == pytest.approx(4 * float(r["g_lr"]), rel=1e-5)
    assert t.schedulers["d"].base_lrs == [LR_D, LR_D] and t.schedulers["g"].base_lrs == [LR_G, LR_G]


def test_unset_gan_rates_and_a_plain_model_use_the_train_config(tmp_path):
    t = _gan_trainer(tmp_path / "gan", lr_d=None, lr_g=None)
    assert _lrs(t.optimizers["d"]) == {LR} and _lrs(t.optimizers["g"]) == {LR}
    t = _gan_trainer(tmp_path / "half", lr_d=LR_D, lr_g=None)
    assert _lrs(t.optimizers["d"]) == {LR_D} and _lrs(t.optimizers["g"]) == {LR}

    stores = pattern_store(tmp_path / "store")
    torch.manual_seed(0)
    model = TinyLM(TinyLM.Config())
    assert not hasattr(model, "configure_optimizers")
    cfg = _cfg(weight_decay=0.1, beta1=0.9, beta2=0.99)
    t = Trainer(model, cfg, WindowBatches(stores["train"], 16, 8, seed=1), run_dir=tmp_path / "lm")
    assert list(t.optimizers) == ["main"] and t.optimizer_settings == {"main": {}}
    reference = adamw(list(model.parameters()), cfg, torch.device("cpu"))
    ours = t.optimizers["main"]
    for a, b in zip(ours.param_groups, reference.param_groups):
        assert a["initial_lr"] == b["lr"] == LR
        assert ({k: v for k, v in a.items() if k not in ("params", "lr", "initial_lr")}
                == {k: v for k, v in b.items() if k not in ("params", "lr")})
        assert [id(p) for p in a["params"]] == [id(p) for p in b["params"]]
    assert [g["weight_decay"] for g in ours.param_groups] == [0.1, 0.0] and _lrs(ours) == {LR}


def test_resume_with_two_learning_rates_is_exact(tmp_path):
    a = _gan_trainer(tmp_path / "a")
    a.fit()
    b = _gan_trainer(tmp_path / "b", save_every=3)
    b.cfg.steps = 3  # stop half-way (the schedule's horizon stays 6)
    b.fit()
    c = _gan_trainer(tmp_path / "b", save_every=3)
    c.fit(resume=True)
    assert c.step == 6
    for (k, va), vb in zip(a.model.state_dict().items(), c.model.state_dict().values()):
        assert torch.equal(va, vb), k
    for g in ("d", "g"):
        assert _lrs(a.optimizers[g]) == _lrs(c.optimizers[g])


class _Configured(TinyLM):
    def __init__(self, settings):
        super().__init__(TinyLM.Config())
        self.settings = settings

    def configure_optimizers(self, train_cfg):
        return self.settings


@pytest.mark.parametrize("settings, message", [
    ({"main": {"lr": 1e-2, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.5}}, None),
    ({"gen": {"lr": 1e-3}}, "unknown parameter group.*gen.*groups: main"),
    ({"main": {"momentum": 0.9}}, "unknown setting.*momentum.*valid: lr, betas, eps, weight_decay"),
    ({"main": {"lr": 0.0}}, "learning rate of group 'main' must be positive"),
    (["lr"], "must return"),
])
def test_configure_optimizers_settings_are_applied_or_refused(tmp_path, settings, message):
    stores = pattern_store(tmp_path / "store")
    data = WindowBatches(stores["train"], 16, 8, seed=1)
    if message:
        with pytest.raises(ConfigError, match=message):
            Trainer(_Configured(settings), _cfg(), data, run_dir=tmp_path / "run")
        return
    t = Trainer(_Configured(settings), _cfg(), data, run_dir=tmp_path / "run")
    decay, no_decay = t.optimizers["main"].param_groups
    assert decay["initial_lr"] == no_decay["initial_lr"] == 1e-2
    assert decay["betas"] == (0.8, 0.9) and decay["eps"] == 1e-6
    assert decay["weight_decay"] == 0.5 and no_decay["weight_decay"] == 0.0


def test_dcgan_learning_rates_are_checked_and_reach_the_cli_run(tmp_path):
    with pytest.raises(ConfigError, match="lr_d must be a positive number"):
        DCGAN(DCGAN.Config(image_size=16, lr_d=-1.0))
    import muse

    out = tmp_path / "run"
    res = muse.train("gan", out=out, steps=2, batch_size=8, progress=False,
                     overrides=["model.image_size=16", "model.ngf=4", "model.ndf=4", "model.nz=8",
                                "data.sample_every=0", f"model.lr_d={LR_D}", f"model.lr_g={LR_G}"])
    ck = load_checkpoint(res.last_checkpoint)
    assert {g["lr"] for g in ck["optimizers"]["d"]["param_groups"]} == {LR_D}
    assert {g["lr"] for g in ck["optimizers"]["g"]["param_groups"]} == {LR_G}
    saved = json.loads((out / "model" / "config.json").read_text())["model_config"]
    assert saved["lr_d"] == LR_D and saved["lr_g"] == LR_G

"""DCGAN shapes, losses and a short real training run; offline digit metrics."""
from __future__ import annotations

import copy
import math
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from muse.core.checkpoint import load_checkpoint
from muse.core.module import StepContext, param_groups
from muse.errors import CheckpointError, ConfigError, DataError
from muse.image import metrics
from muse.image.data import load_digits_images
from muse.image.metrics import (
    class_coverage,
    digit_fid,
    frechet_distance,
    mode_collapse_score,
    save_digit_classifier,
    train_digit_classifier,
)
from muse.models.gan import DCGAN, DigitClassifier, random_shift, slerp
from muse.models.registry import build_model



def tiny(size: int = 16, **kw) -> DCGAN:
    return DCGAN(DCGAN.Config(image_size=size, nz=8, ngf=8, ndf=8, **kw))


@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_shapes_follow_image_size(size):
    m = DCGAN(DCGAN.Config(image_size=size, channels=3, nz=16, ngf=4, ndf=4))
    stages = int(math.log2(size // 4))
    assert sum(isinstance(l, nn.ConvTranspose2d) for l in m.generator.modules()) == stages + 1
    assert sum(isinstance(l, nn.Conv2d) for l in m.discriminator.modules()) == stages + 1
    x = m.sample(2)
    assert x.shape == (2, 3, size, size) and x.min() >= -1 and x.max() <= 1
    assert m.discriminator(x).shape == (2,)


def test_invalid_size_lists_valid_sizes():
    with pytest.raises(ConfigError, match="image_size 48 .*valid sizes: 16, 32, 64, 128"):
        build_model("dcgan", {"image_size": 48})
    with pytest.raises(ConfigError, match="valid losses: bce, hinge"):
        build_model("dcgan", {"loss": "wasserstein"})
    model = build_model("dcgan", {"image_size": 16, "ngf": 4, "ndf": 4})
    assert isinstance(model, DCGAN) and asdict(model.config)["image_size"] == 16


def test_dcgan_initialisation_and_groups():
    m = DCGAN(DCGAN.Config(image_size=64, channels=3))  # the reference 64 px net
    convs = torch.cat([l.weight.flatten() for l in m.modules() if isinstance(l, (nn.Conv2d, nn.ConvTranspose2d))])
    bns = torch.cat([l.weight for l in m.modules() if isinstance(l, nn.BatchNorm2d)])
    assert abs(convs.mean().item()) < 1e-3 and abs(convs.std().item() - 0.02) < 1e-3
    assert abs(bns.mean().item() - 1.0) < 0.01 and abs(bns.std().item() - 0.02) < 0.01
    groups = param_groups(m)
    assert list(groups) == ["d", "g"]
    assert {id(p) for p in groups["d"]} == {id(p) for p in m.discriminator.parameters()}
    assert {id(p) for p in groups["g"]} == {id(p) for p in m.generator.parameters()}


@pytest.mark.parametrize("kw", [{}, {"loss": "hinge"}, {"spectral_norm": True}])
def test_each_loss_only_reaches_its_own_group(kw):
    m = tiny(**kw)
    batch = {"image": torch.rand(4, 1, 16, 16) * 2 - 1}
    d = m.loss(batch, StepContext(group="d"))
    assert set(d) == {"loss", "d_real", "d_fake"}
    d["loss"].backward()
    assert all(p.grad is None for p in m.generator.parameters())
    assert all(p.grad is not None for p in m.discriminator.parameters())
    m.zero_grad(set_to_none=True)
    g = m.loss(batch, StepContext(group="g"))
    assert set(g) == {"loss"}
    g["loss"].backward()
    assert all(p.grad is None for p in m.discriminator.parameters())
    assert all(p.grad is not None for p in m.generator.parameters())
    assert all(p.requires_grad for p in m.parameters())
    if kw.get("spectral_norm"):
        assert not any(isinstance(l, nn.BatchNorm2d) for l in m.discriminator.modules())


def test_loss_noise_comes_from_global_rng_and_bad_batches_fail():
    m = tiny()
    batch = {"image": torch.zeros(3, 1, 16, 16)}
    torch.manual_seed(5)
    a = m.loss(batch, StepContext(group="g"))["loss"]
    torch.manual_seed(5)
    b = m.loss(batch, StepContext(group="g"))["loss"]
    assert a.item() == b.item()
    with pytest.raises(DataError, match=r"expects images \[B, 1, 16, 16\] but got \[3, 3, 16, 16\]"):
        m.loss({"image": torch.zeros(3, 3, 16, 16)}, StepContext(group="d"))
    with pytest.raises(ConfigError, match="'d' and 'g'"):
        m.loss(batch, StepContext(group="main"))
    with torch.no_grad():
        ev = m.loss(batch, StepContext(group="main", training=False))
    assert torch.allclose(ev["loss"], ev["d_loss"] + ev["g_loss"])


def test_sampling_is_reproducible_and_interpolation_ends_at_endpoints():
    m = tiny()
    a = m.sample(3, generator=torch.Generator().manual_seed(1))
    b = m.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    z0, z1 = torch.randn(8), torch.randn(8)
    walk = m.interpolate(z0, z1, steps=5)
    assert walk.shape == (5, 1, 16, 16)
    assert torch.allclose(walk[0], m.sample(1, z=z0)[0], atol=1e-6)
    assert torch.allclose(walk[-1], m.sample(1, z=z1)[0], atol=1e-6)
    path = slerp(z0, z1 * z0.norm() / z1.norm(), torch.linspace(0, 1, 7))
    assert torch.allclose(path.norm(dim=1), z0.norm().expand(7), rtol=1e-4)  # stays on the sphere


def _two_modes(n: int) -> torch.Tensor:
    """Half horizontal bars, half vertical bars on a black 16x16 canvas."""
    x = -torch.ones(n, 1, 16, 16)
    x[: n // 2, :, 6:10, :] = 1
    x[n // 2:, :, :, 6:10] = 1
    return x


def test_tiny_gan_learns_a_two_mode_toy_dataset():
    torch.manual_seed(0)
    data, modes = _two_modes(64), _two_modes(2)
    m = tiny()
    opts = {k: torch.optim.Adam(v, lr=2e-3, betas=(0.5, 0.999)) for k, v in param_groups(m).items()}

    def nearest_mode():
        s = m.sample(64, generator=torch.Generator().manual_seed(1))
        d = ((s[:, None] - modes[None]) ** 2).mean((2, 3, 4))
        return d.min(1).values.mean().item(), d.argmin(1).float().mean().item()

    dist_before, _ = nearest_mode()
    first = None
    for step in range(150):
        batch = {"image": data[torch.randint(0, 64, (32,))]}
        for group in ("d", "g"):
            opts[group].zero_grad()
            out = m.loss(batch, StepContext(step=step, group=group))
            out["loss"].backward()
            opts[group].step()
            if group == "d" and first is None:
                first = {k: v.item() for k, v in out.items()}
            assert math.isfinite(out["loss"].item())
    dist_after, vertical_share = nearest_mode()
    assert abs(first["loss"] - 2 * math.log(2)) < 0.2  # D starts at chance
    assert dist_before > 0.9 and dist_after < 0.6 * dist_before  # samples move onto the data
    assert 0.1 < vertical_share < 0.9  # both modes are drawn


@pytest.fixture(scope="module")
def classifier():
    torch.set_num_threads(1)
    return train_digit_classifier(size=16, seed=0, epochs=6)


def test_digit_classifier_is_accurate(classifier, tmp_path):
    assert isinstance(classifier, DigitClassifier) and not classifier.training
    assert classifier.heldout_accuracy >= 0.95
    x, y = load_digits_images(16)
    with torch.no_grad():
        assert (classifier(x).argmax(1) == y).float().mean() >= 0.95
    cache = tmp_path / "clf.pt"
    saved = copy.deepcopy(classifier)
    saved.heldout_accuracy = 0.5
    save_digit_classifier(saved, cache)
    assert [p.name for p in tmp_path.iterdir()] == ["clf.pt"]  # atomic: no temporary file left behind
    ck = load_checkpoint(cache)  # a muse checkpoint (format-checked) of a registered model
    assert ck["model_name"] == "digit_classifier" and ck["model_config"]["size"] == 16
    loaded = train_digit_classifier(size=16, cache=cache)  # loads, does not retrain
    assert loaded.heldout_accuracy == 0.5
    with torch.no_grad():
        assert torch.equal(loaded(x[:50]), classifier(x[:50]))
    with pytest.raises(CheckpointError, match=r"clf\.pt: digit classifier cache is for 16 px"):
        train_digit_classifier(size=32, cache=cache)
    old = tmp_path / "old.pt"  # the former cache format (plain torch.save, no format field)
    torch.save({"size": 16, "state_dict": classifier.state_dict(), "heldout_accuracy": 0.5}, old)
    with pytest.raises(CheckpointError, match=r"old\.pt: cannot read digit classifier cache .*delete it to retrain"):
        train_digit_classifier(size=16, cache=old)


def test_digit_classifier_is_a_registered_model_trained_by_the_core(tmp_path, monkeypatch):
    model = build_model("digit_classifier", {"size": 16})
    assert isinstance(model, DigitClassifier) and model.max_shift == 1
    assert build_model("digit_classifier", {"size": 32}).max_shift == 2
    x, y = load_digits_images(16)
    out = model.loss({"image": x[:8], "label": y[:8]}, StepContext())
    assert set(out) == {"loss", "acc"} and out["loss"].requires_grad and 0.0 <= out["acc"].item() <= 1.0
    with pytest.raises(ConfigError, match="unknown key"):
        build_model("digit_classifier", {"sizee": 16})
    # training goes through muse.core.trainer.Trainer (not a loop of its own) and leaves the global RNG alone
    fits = []

    class Recording(metrics.Trainer):
        def fit(self, resume=False):
            fits.append((type(self.model).__name__, self.cfg.batch_size, self.cfg.device,
                         type(self.train_data).__name__))
            return super().fit(resume)

    monkeypatch.setattr(metrics, "Trainer", Recording)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    cache = tmp_path / "cache" / "clf16.pt"
    clf = train_digit_classifier(size=16, seed=0, epochs=0.1, cache=cache)
    assert torch.equal(torch.rand(3), expected)
    assert fits == [("DigitClassifier", 64, "cpu", "TensorBatches")]
    assert cache.is_file() and load_checkpoint(cache)["heldout_accuracy"] == clf.heldout_accuracy
    assert [p.name for p in cache.parent.iterdir()] == ["clf16.pt"]


def test_random_shift_moves_images_and_fills_with_background():
    x = -torch.ones(64, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape and torch.all(shifted.sum((1, 2, 3)) == x[0].sum())  # nothing cut off
    assert len({tuple(torch.nonzero(s[0] > 0)[0].tolist()) for s in shifted}) > 10  # many offsets
    assert torch.equal(random_shift(x, 0), x)
    offs = torch.randint(0, 3, (4, 2), generator=torch.Generator().manual_seed(3))  # what random_shift draws
    got = random_shift(x[:4], 1, torch.Generator().manual_seed(3))
    pad = F.pad(x[:4], (1, 1, 1, 1), value=-1.0)
    for i, (dy, dx) in enumerate(offs.tolist()):  # the crop of the padded image, by hand
        assert torch.equal(got[i], pad[i, :, dy:dy + 8, dx:dx + 8])


def test_fid_and_coverage_tell_good_from_bad(classifier):
    x, y = load_digits_images(16)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    real_a, real_b = x[perm[:800]], x[perm[800:1600]]
    noise = torch.rand(800, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    same = digit_fid(real_a, real_b, classifier)
    assert same < 0.2 * digit_fid(real_a, noise, classifier)
    assert same < 0.5 * digit_fid(real_a, x[y < 3], classifier)  # three digits only
    full = class_coverage(x, classifier)
    assert full["covered"] == 10 and full["missing"] == [] and full["min_share"] > 0.08
    partial = class_coverage(x[y < 3], classifier)
    assert partial["covered"] == 3 and partial["missing"] == [3, 4, 5, 6, 7, 8, 9]
    assert sum(partial["per_class"]) == pytest.approx(1.0)


def test_frechet_distance_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 3, generator=g).numpy()
    b = (torch.randn(4000, 3, generator=g) * 2 + 1).numpy()
    # N(0, I) vs N(1, 4I) in 3-D: 3*1 + 3*(1 + 4 - 2*2) = 6
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.1)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(DataError, match="same D"):
        frechet_distance(a, b[:, :2])


def test_mode_collapse_check_flags_constant_generator():
    x, _ = load_digits_images(16)
    real, diverse = x[:600], x[600:1200]
    constant = tiny().sample(1).expand(200, -1, -1, -1)  # a collapsed generator
    collapsed = mode_collapse_score(constant, real)
    assert collapsed["collapsed"] and collapsed["ratio"] == pytest.approx(0.0, abs=1e-6)
    ok = mode_collapse_score(diverse, real)
    assert not ok["collapsed"] and 0.8 < ok["ratio"] < 1.2
    near = mode_collapse_score(x[:1].repeat(200, 1, 1, 1) + 0.05 * torch.randn(200, 1, 16, 16), real)
    assert near["collapsed"]  # tiny jitter around one image is still collapse

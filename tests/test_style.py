"""Style transfer: feature networks, losses, Gatys optimisation and the fast-style model."""
from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

from muse.core.module import StepContext, param_groups
from muse.errors import CheckpointError, ConfigError, DataError
from muse.image.data import save_image
from muse.image.stylize import _level_sides, rgb_to_yuv, stylize, yuv_to_rgb
from muse.models.registry import build_model
from muse.models.style_nets import (
    FastStyle,
    RandomFeatureNet,
    TransformerNet,
    VGG19Features,
    content_loss,
    feature_net,
    style_loss,
    style_statistics,
)



def _smooth(t: torch.Tensor, k: int = 5) -> torch.Tensor:
    return F.avg_pool2d(F.pad(t, (k // 2,) * 4, mode="replicate"), k, 1)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    content = _smooth(torch.rand(1, 3, 48, 64, generator=g))
    stripes = torch.zeros(1, 3, 64, 64)
    stripes[:, 0, :, ::8] = 1.0
    stripes[:, 2, ::6] = 1.0
    return content, stripes


@pytest.fixture(autouse=True)
def _empty_hub(tmp_path, monkeypatch):
    """Never pick up VGG weights a developer may have in the real torch hub cache."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield
    torch.hub.set_dir(old)


def test_random_net_is_seeded_and_normalised():
    widths = (12, 24, 24, 48, 48)
    a, b, c = (RandomFeatureNet(seed=s, widths=widths) for s in (1, 1, 2))
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    fa, fb, fc = a(x), b(x), c(x)
    assert [f.shape[1] for f in fa] == list(widths) and len(fa) == 5
    assert [f.shape[-1] for f in fa] == [40, 20, 10, 5, 2]
    assert all(torch.equal(u, v) for u, v in zip(fa, fb))
    assert not torch.equal(fa[0], fc[0])
    rms = [f.square().mean().sqrt().item() for f in fa]
    assert all(0.3 < r < 3.0 for r in rms), rms  # per-layer normalisation: unit-scale features


def test_style_losses_are_zero_only_for_matching_statistics(images):
    content, stripes = images
    net = RandomFeatureNet(seed=0, widths=(12, 24, 24))
    feats = net(content)
    targets = [tuple(t[0] for t in style_statistics(f)) for f in feats]
    for kind in ("gram", "meanstd"):
        assert style_loss(feats, targets, kind).item() == pytest.approx(0.0, abs=1e-6)
        assert style_loss(net(stripes), targets, kind).item() > 0.05
    assert content_loss(feats[1], feats[1]).item() == 0.0
    with pytest.raises(ConfigError, match="gram, meanstd"):
        style_loss(feats, targets, "histogram")


def test_stylize_reduces_style_loss_with_random_network(images):
    content, stripes = images
    out, info = stylize(content, [stripes], size=64, steps=20, optimizer="adam", vgg_weights="random",
                        seed=0, progress=False)
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
    assert info["style_loss_end"] < 0.7 * info["style_loss_start"]
    assert "random multi-scale network (seed 0" in info["network"]
    assert len(info["history"]) == 20 and info["history"][-1]["style"] < info["history"][0]["style"]
    # colour is transferred when colours are not preserved
    uv = (rgb_to_yuv(out)[:, 1:] - rgb_to_yuv(content)[:, 1:]).abs().mean()
    assert uv > 0.02


def test_preserve_colors_keeps_content_chroma(images):
    content, stripes = images
    out, info = stylize(content, [stripes], size=64, steps=4, optimizer="adam", vgg_weights="random",
                        preserve_colors=True, progress=False)
    yuv_out, yuv_in = rgb_to_yuv(out), rgb_to_yuv(content)
    assert (yuv_out[:, 1:] - yuv_in[:, 1:]).abs().mean() < 2e-3
    assert (yuv_out[:, :1] - yuv_in[:, :1]).abs().mean() > 1e-3  # luminance did change
    assert torch.allclose(yuv_to_rgb(yuv_in), content, atol=1e-5)


def test_style_blending_and_large_images_by_tiles(images):
    content, stripes = images
    other = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    kw = dict(size=32, steps=2, optimizer="adam", vgg_weights="random", progress=False)
    single, _ = stylize(content, [stripes], **kw)
    blended, _ = stylize(content, [stripes, other], [2.0, 0.0], **kw)
    assert torch.equal(single, blended)  # weight 0 removes the second style exactly
    mixed, _ = stylize(content, [stripes, other], **kw)
    assert not torch.equal(single, mixed)
    big = F.interpolate(content, size=(80, 96), mode="bilinear")
    out, info = stylize(big, [stripes], size=32, steps=3, tile=64, optimizer="adam", vgg_weights="random",
                        progress=False)
    assert out.shape == big.shape and info["work_size"] == (27, 32) and info["tiles"] == 4
    assert len(info["history"]) == 3 + 4  # 3 low-resolution steps, then 1 per tile
    with pytest.raises(ConfigError, match="one non-negative weight per style"):
        stylize(content, [stripes], [1.0, 2.0], **kw)


def test_coarse_to_fine_lowers_the_loss_level_by_level_and_writes_the_image(tmp_path, images):
    from PIL import Image

    from muse.cli import main

    content, stripes = images
    big = F.interpolate(content, size=(96, 128), mode="bilinear")
    out, info = stylize(big, [stripes], size=128, steps=15, levels=2, vgg_weights="random", progress=False)
    assert out.shape == big.shape and info["work_size"] == (96, 128)
    assert [lv["side"] for lv in info["levels"]] == [64, 128]
    phases = [e["phase"] for e in info["history"]]
    assert phases[0] == "level 1/2 (64 px)" and phases[-1] == "level 2/2 (128 px)"
    assert [lv["evaluations"] for lv in info["levels"]] == [phases.count(p) for p in dict.fromkeys(phases)]
    assert info["style_loss_end"] < 0.7 * info["style_loss_start"]
    fine = [e for e in info["history"] if e["phase"].startswith("level 2")]
    assert min(e["loss"] for e in fine) < fine[0]["loss"]  # the fine level improves on the upsampled start
    # the command line's default schedule writes the picture it names
    c, s = save_image(big, tmp_path / "c.png"), save_image(stripes, tmp_path / "s.png")
    target = tmp_path / "styled.png"
    assert main(["stylize", str(c), str(s), "-o", str(target), "--size", "128", "--steps", "8"]) == 0
    with Image.open(target) as img:
        img.load()
        assert img.format == "PNG" and img.size == (128, 96)


def test_early_stop_returns_the_best_image_and_the_old_schedule_still_runs(images):
    content, stripes = images
    kw = {"size": 64, "vgg_weights": "random", "progress": False}
    # a huge tol stops the level as soon as 20 evaluations can be compared; the best image comes back
    _, info = stylize(content, [stripes], steps=200, tol=0.9, **kw)
    losses = [e["loss"] for e in info["history"]]
    assert len(losses) == 21 and info["levels"] == [{"side": 64, "evaluations": 21,
                                                     "style_loss_end": info["style_loss_end"]}]
    best = min(range(21), key=losses.__getitem__)
    assert info["style_loss_end"] == pytest.approx(info["history"][best]["style"], rel=1e-4)
    # the single-scale schedule that was the default: every step runs, at one scale
    _, old = stylize(content, [stripes], steps=30, levels=1, tol=0, **kw)
    # (L-BFGS ends its last line search, which may take one evaluation more)
    assert len(old["history"]) in (30, 31) and {e["phase"] for e in old["history"]} == {"main"}
    assert old["style_loss_end"] < 0.7 * old["style_loss_start"]
    for bad in ({"levels": 0}, {"tol": -1.0}):
        with pytest.raises(ConfigError, match="levels must be >= 1 and tol >= 0") as e:
            stylize(content, [stripes], steps=1, **bad, **kw)
        assert len(str(e.value).splitlines()) == 1


def test_level_sides_halve_down_to_64_pixels_and_the_cli_defaults_are_the_functions():
    import argparse
    import inspect

    from muse.cli.stylize import add_parser

    assert _level_sides(256, 2) == [128, 256] and _level_sides(256, 3) == [64, 128, 256]
    assert _level_sides(256, 5) == [64, 128, 256] and _level_sides(256, 1) == [256]
    assert _level_sides(100, 2) == [100] and _level_sides(130, 2) == [65, 130]
    args = add_parser(argparse.ArgumentParser().add_subparsers()).parse_args(["c.png", "s.png", "-o", "o.png"])
    defaults = inspect.signature(stylize).parameters
    for name in ("size", "steps", "levels", "tol", "optimizer", "content_weight", "tv_weight", "style_loss"):
        assert getattr(args, name) == defaults[name].default, name
    old = add_parser(argparse.ArgumentParser().add_subparsers()).parse_args(
        ["c.png", "s.png", "-o", "o.png", "--levels", "1", "--steps", "300", "--tol", "0"])
    assert (old.levels, old.steps, old.tol) == (1, 300, 0.0)


def test_stylize_reports_unreadable_style_file(tmp_path, images):
    bad = tmp_path / "painting.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"painting\.png: not an image PIL can read"):
        stylize(images[0], [bad], steps=1, vgg_weights="random", progress=False)


def _torchvision_style_file(net: VGG19Features, path) -> None:
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision files also hold the classifier
    torch.save(state, path)


def test_vgg19_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    ours = VGG19Features()
    keys = list(ours.state_dict())
    assert keys[0] == "features.0.weight" and "features.34.bias" in keys and len(keys) == 32
    path = tmp_path / "vgg19-test.pth"
    _torchvision_style_file(ours, path)
    loaded = VGG19Features.from_weights(path)
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), loaded.state_dict().values()))
    x = torch.rand(1, 3, 32, 32)
    outs = loaded(x)
    assert [o.shape[1] for o in outs] == [64, 128, 256, 512, 512, 512]
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4, 4, 2]
    assert all(torch.equal(a, b) for a, b in zip(ours(x), outs))
    assert not any(p.requires_grad for p in loaded.parameters())
    # feature_net finds the same file in the torch hub cache, without being told
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    path.rename(tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth")
    net, description = feature_net(None, seed=0)
    assert isinstance(net, VGG19Features) and "vgg19-dcbb9e9d.pth" in description


def test_vgg19_bad_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"missing-vgg\.pth: VGG19 weight file not found"):
        VGG19Features.from_weights(tmp_path / "missing-vgg.pth")
    with pytest.raises(CheckpointError, match=r"missing-vgg\.pth"):
        feature_net(tmp_path / "missing-vgg.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match=r"junk\.pth: cannot read VGG19 weights"):
        VGG19Features.from_weights(junk)
    other = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, other)
    with pytest.raises(CheckpointError, match=r"other\.pth: not a torchvision VGG19 state dict"):
        VGG19Features.from_weights(other)
    net, description = feature_net(None, seed=3)  # empty hub cache: random network, never a download
    assert isinstance(net, RandomFeatureNet) and net.seed == 3 and "no VGG19 weights found" in description


def test_transformer_net_keeps_size():
    net = TransformerNet(width=4, n_res=1)
    for h, w in [(16, 16), (21, 34)]:
        assert net(torch.rand(2, 3, h, w)).shape == (2, 3, h, w)
    kinds = {type(m).__name__ for m in net.modules()}
    assert {"ReflectionPad2d", "InstanceNorm2d"} <= kinds and "ConvTranspose2d" not in kinds


def test_fast_style_trains_and_checkpoints_its_style():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    swirls = torch.stack([0.5 + 0.5 * torch.sin(20 * xx + 8 * torch.sin(6 * yy)),
                          0.5 + 0.5 * torch.sin(17 * yy), 0.5 + 0.5 * torch.cos(25 * (xx + yy))])[None]
    torch.manual_seed(0)
    model = FastStyle.from_style_image(swirls, width=8, n_res=1, feature_net="random")
    assert model.config.feature_net == "random"
    groups = param_groups(model)
    assert list(groups) == ["main"]
    assert {id(p) for p in groups["main"]} == {id(p) for p in model.transformer.parameters()}
    batch = {"image": _smooth(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))) * 2 - 1}
    opt = torch.optim.Adam(groups["main"], lr=5e-4)
    losses = []
    for step in range(15):
        out = model.loss(batch, StepContext(step=step))
        assert set(out) == {"loss", "content", "style", "tv"}
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert losses[-1] < 0.8 * losses[0]
    # the checkpoint (config + state dict) carries the style; the feature net is not in it
    state = model.state_dict()
    assert not any(k.startswith(("stages", "features")) for k in state)
    again = build_model("fast_style", asdict(model.config))
    again.load_state_dict(state)
    x = torch.rand(1, 3, 24, 24)
    assert torch.equal(again.render(x), model.render(x))
    with torch.no_grad():
        torch.manual_seed(0)
        a = again.loss(batch, StepContext())["loss"]
        b = model.loss(batch, StepContext())["loss"]
    assert a.item() == pytest.approx(b.item(), rel=1e-5)


def test_fast_style_without_style_or_from_a_style_image(tmp_path, images):
    model = FastStyle(FastStyle.Config(width=4, n_res=1, feature_net="random"))
    with pytest.raises(ConfigError, match="no style target"):
        model.loss({"image": torch.zeros(1, 3, 16, 16)}, StepContext())
    path = save_image(images[1], tmp_path / "stripes.png")
    from muse.image.data import load_image

    from_path = FastStyle(FastStyle.Config(width=4, n_res=1, feature_net="random", style_size=64))
    from_path.set_style(load_image(str(path), size=64))
    from_tensor = FastStyle.from_style_image(images[1], width=4, n_res=1, feature_net="random")
    assert torch.allclose(from_path.style_gram0, from_tensor.style_gram0, atol=1e-5)
    assert FastStyle(FastStyle.Config(width=4, n_res=1)).config.feature_net == "random"  # "auto", no VGG here


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A torchvision-format VGG19 file with seeded random weights (ImageNet weights are never downloaded)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-test.pth"
    _torchvision_style_file(VGG19Features(), path)
    return path


def test_fast_style_saves_the_feature_net_by_name_never_a_path(tmp_path, images, vgg_file):
    kw = dict(width=4, n_res=1, style_size=32)
    style = F.interpolate(images[1], size=(32, 32))
    # a path given as feature_net (as older models saved) is used for this process, the config keeps "vgg19"
    m = FastStyle(FastStyle.Config(feature_net=str(vgg_file), **kw))
    assert m.config.feature_net == "vgg19" and m.vgg_weights == vgg_file
    m.set_style(style)
    assert isinstance(m.features(), VGG19Features) and m.style_gram0.shape == (64, 64)
    assert not any(isinstance(v, str) and "/" in v for v in asdict(m.config).values())
    # "vgg19" without weights anywhere: building and rendering work, measuring says what is missing
    bare = build_model("fast_style", asdict(m.config))
    bare.load_state_dict(m.state_dict())
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(bare.render(x), m.render(x))
    with pytest.raises(ConfigError, match="no VGG19 weights were found: put vgg19-\\*.pth in .*data.vgg_weights") as e:
        bare.loss({"image": torch.zeros(1, 3, 16, 16)}, StepContext())
    assert len(str(e.value).splitlines()) == 1
    bare.use_vgg_weights(tmp_path / "gone.pth")  # an explicit file that is missing is named
    with pytest.raises(CheckpointError, match=r"gone\.pth: VGG19 weight file not found"):
        bare.set_style(style)
    bare.use_vgg_weights(vgg_file)  # weights given at run time
    bare.set_style(style)
    assert torch.allclose(bare.style_gram2, m.style_gram2)
    # "auto" with VGG19 in the torch hub cache resolves to the name, and finds the file when needed
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth").symlink_to(vgg_file)
    auto = FastStyle(FastStyle.Config(**kw))
    assert auto.config.feature_net == "vgg19" and auto.vgg_weights is None
    auto.set_style(style)
    assert torch.allclose(auto.style_mean1, m.style_mean1)
    with pytest.raises(ConfigError, match="'random' feature network, not VGG19"):
        FastStyle(FastStyle.Config(feature_net="random", **kw)).use_vgg_weights(vgg_file)
    with pytest.raises(ConfigError, match="feature_net must be auto, vgg19 or random, got 'vgg'"):
        FastStyle(FastStyle.Config(feature_net="vgg", **kw))

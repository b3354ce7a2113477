"""GAN and style transfer end to end: training through the core, the CLI verbs, bad input."""
import numpy as np
import pytest
import torch
from PIL import Image

import muse
from muse.data.report import MuseWarning
from muse.cli import main


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan") / "run"
    res = muse.train("gan", out=out, steps=12, batch_size=16, progress=False,
                     overrides=["model.ngf=8", "model.ndf=8", "model.nz=16", "data.sample_every=6", "log_every=3"])
    return out, res


def test_gan_trains_two_optimisers_and_writes_grids_and_model(gan_run):
    out, res = gan_run
    assert res.step == 12 and res.last_checkpoint.exists()
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000006.png", "step_000012.png"]
    assert (out / "loss.png").stat().st_size > 1000 and (out / "model" / "model.safetensors").exists()
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"d_loss", "g_loss", "d_lr", "g_lr"} <= set(header)
    ck = torch.load(res.last_checkpoint, weights_only=True)
    assert set(ck["optimizers"]) == {"d", "g"}


def test_gan_resume_continues(gan_run, tmp_path):
    out, _ = gan_run
    res = muse.train("gan", out=out, resume=True, steps=15, progress=False)
    assert res.step == 15


@pytest.mark.parametrize("size", [16, 64])
def test_gan_image_sizes_train(tmp_path, size):
    res = muse.train("gan", out=tmp_path / "r", steps=2, batch_size=8, progress=False,
                     overrides=[f"model.image_size={size}", "model.ngf=4", "model.ndf=4", "model.nz=8",
                                "data.sample_every=0"])
    assert res.step == 2


def test_gan_sample_cli(gan_run, tmp_path):
    out, _ = gan_run
    assert main(["gan", "sample", "--model", str(out), "--num", "16", "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size[0] > 32
    assert main(["gan", "sample", "--model", str(out), "--interpolate", "--out", str(tmp_path / "w.png")]) == 0
    assert main(["gan", "sample", "--model", str(tmp_path / "nope")]) == 2


def test_gan_on_image_folder_skips_bad_files(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    with pytest.warns(MuseWarning, match="broken.png: not an image"):
        res = muse.train("gan", data=str(folder), out=tmp_path / "r", steps=2, batch_size=4, progress=False,
                         overrides=["model.channels=3", "model.image_size=16", "model.ngf=4", "model.ndf=4",
                                    "data.sample_every=0"])
    assert res.step == 2


def _picture(path, seed, size=48):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, size, dtype=np.uint8)[None, :, None].repeat(size, 0).repeat(3, 2)
    noise = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    Image.fromarray(base // 2 + noise).save(path)
    return path


def test_fast_style_trains_and_stylizes_in_one_pass(tmp_path):
    style = _picture(tmp_path / "style.png", 1)
    res = muse.train("style", out=tmp_path / "run", steps=4, batch_size=2, progress=False,
                     overrides=[f"data.style={style}", "data.image_size=32", "data.patches=8", "model.width=4",
                                "model.n_res=1", "model.feature_net=random"])
    assert res.step == 4
    content = _picture(tmp_path / "content.png", 2)
    assert main(["stylize", str(content), "--model", str(tmp_path / "run"), "-o", str(tmp_path / "o.png"),
                 "--size", "32"]) == 0
    assert Image.open(tmp_path / "o.png").size == (32, 32)


def test_stylize_cli_optimisation_and_errors(tmp_path, capsys):
    content, style = _picture(tmp_path / "c.png", 3), _picture(tmp_path / "s.png", 4)
    assert main(["stylize", str(content), str(style), "-o", str(tmp_path / "o.png"), "--size", "32", "--steps", "3",
                 "--optimizer", "adam", "--preserve-colors"]) == 0
    assert "random multi-scale" in capsys.readouterr().out
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\x00\x01garbage")
    assert main(["stylize", str(bad), str(style), "-o", str(tmp_path / "x.png")]) == 2
    assert "bad.jpg" in capsys.readouterr().err
    assert main(["stylize", str(content), "-o", str(tmp_path / "x.png")]) == 2

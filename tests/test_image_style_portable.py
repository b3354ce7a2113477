"""`muse train style` saves nothing machine-specific: a run moved elsewhere, without its style
picture, content folder or VGG19 file, still stylizes."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from muse.cli import main
from muse.core.checkpoint import load_checkpoint
from muse.core.module import StepContext
from muse.errors import ConfigError
from muse.models.style_nets import VGG19Features
from muse.recipes.hub import load_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _empty_hub(tmp_path):
    """No VGG weights from the developer's real torch hub cache."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield
    torch.hub.set_dir(old)


def _picture(path: Path, seed: int, size: int = 40) -> Path:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, size, dtype=np.uint8)[None, :, None].repeat(size, 0).repeat(3, 2)
    Image.fromarray(base // 2 + rng.integers(0, 80, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("features", ["random", "vgg19"])
def test_trained_style_model_works_after_the_run_moves_and_its_inputs_vanish(tmp_path, features, capsys):
    work = tmp_path / "machine_a"
    folder = work / "content_images"
    folder.mkdir(parents=True)
    for i in range(4):
        _picture(folder / f"c{i}.png", i)
    style = _picture(work / "my_style.png", 10)
    args = ["train", "style", "--data", str(folder), f"data.style={style}", "--steps", "2", "--batch-size", "2",
            "--no-progress", "data.image_size=32", "model.width=4", "model.n_res=1", "model.style_size=32",
            "--out", str(work / "run")]
    if features == "vgg19":
        torch.manual_seed(0)
        vgg = work / "vgg19-local.pth"
        torch.save(VGG19Features().state_dict(), vgg)
        args.append(f"data.vgg_weights={vgg}")
    assert main(args) == 0, capsys.readouterr().err
    # the saved model names its feature network, never a file
    assert load_checkpoint(work / "run" / "checkpoints" / "last.pt")["model_config"]["feature_net"] == features

    moved = tmp_path / "machine_b" / "elsewhere"
    moved.parent.mkdir()
    shutil.move(str(work / "run"), str(moved))
    shutil.rmtree(work)  # the style picture, the content folder and the VGG19 file are gone
    model_dir = moved / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_name"] == "fast_style" and config["model_config"]["feature_net"] == features
    assert "style_image" not in config["model_config"]
    for f in sorted(model_dir.glob("*.json")):
        text = f.read_text(encoding="utf-8")
        assert str(tmp_path) not in text, f.name
        absolute = [s for s in _strings(json.loads(text)) if s.startswith("/") or os.path.isabs(s)
                    or re.match(r"^[A-Za-z]:\\", s)]
        assert absolute == [], (f.name, absolute)
    recipe = json.loads((model_dir / "recipe.json").read_text())
    assert recipe["kind"] == "style" and recipe["corpus"]["style"] == "my_style.png"
    assert recipe["corpus"]["name"] == "content_images"

    content = _picture(tmp_path / "machine_b" / "content.png", 20, size=48)
    for i, where in enumerate([model_dir, moved]):
        out = tmp_path / "machine_b" / f"out{i}.png"
        assert main(["stylize", str(content), "--model", str(where), "-o", str(out), "--size", "32"]) == 0, \
            capsys.readouterr().err
        with Image.open(out) as img:
            img.load()
            assert img.format == "PNG" and img.size == (32, 32)

    lm = load_model(model_dir)
    assert bool(lm.model.has_style) and lm.model.vgg_weights is None
    if features == "vgg19":  # training on needs VGG19 weights: one line says where to put them
        with pytest.raises(ConfigError, match="no VGG19 weights were found") as e:
            lm.model.loss({"image": torch.zeros(1, 3, 16, 16)}, StepContext())
        assert len(str(e.value).splitlines()) == 1


def test_models_never_import_the_layers_above_them_and_images_reuse_the_core():
    above = re.compile(r"^\s*(from|import)\s+muse\.(image|music|poetry|recipes|cli)\b", re.MULTILINE)
    for f in sorted((ROOT / "muse" / "models").glob("*.py")):
        assert not above.search(f.read_text(encoding="utf-8")), f.name
    for f in sorted((ROOT / "muse" / "image").glob("*.py")):
        src = f.read_text(encoding="utf-8")
        assert "torch.save(" not in src, f"{f.name}: checkpoints are written by muse.core.checkpoint"
        if f.name != "stylize.py":  # stylize.py optimises pixels of one image, it trains no model
            assert not re.search(r"\.backward\(|torch\.optim\.", src), f"{f.name}: training goes through the core"

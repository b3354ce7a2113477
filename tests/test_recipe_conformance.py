"""Every recipe passes one suite: train tiny -> export -> move the folder -> load -> generate.

Decoding models also keep the decoding contract: the KV cache (or RNN state)
gives the logits of a full recompute, and ``reorder_state`` follows beams.
"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import muse.training
from muse.recipes import get_recipe, recipe_kinds
from muse.recipes.hub import MODEL_FILES, load_model

FIX = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _melody_folder(root: Path) -> Path:
    from muse.music.melody import Melody, Note
    from muse.music.midi_io import write_midi

    rng = random.Random(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(24):
        notes, t = [], 0
        for _ in range(8 * 4):
            d = rng.choice([2, 4, 4, 8])
            notes.append(Note(t, t + d, rng.choice([60, 62, 64, 65, 67, 69, 71, 72])))
            t += d
        write_midi(Melody(notes, total_steps=t), root / f"tune{i:02d}.mid")
    return root


def _score_folder(root: Path) -> Path:
    """Twenty-four two-part pieces (a tune over a bass line) as multi-track MIDI."""
    from muse.music.melody import Note
    from muse.music.score import Part, Score
    from muse.music.score_io import write_score_midi

    rng = random.Random(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(24):
        tune = [Note(t, t + 4, rng.choice([60, 62, 64, 65, 67])) for t in range(0, 32, 4)]
        bass = [Note(t, t + 8, rng.choice([36, 41, 43])) for t in range(0, 32, 8)]
        write_score_midi(Score([Part(tune, name="Lead"), Part(bass, program=33, name="Bass")]), root / f"p{i:02d}.mid")
    return root


def _picture(path: Path, seed: int, size: int = 40) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _style_data(root: Path) -> tuple[str, list[str]]:
    folder = root / "content"
    folder.mkdir(parents=True)
    for i in range(4):
        _picture(folder / f"{i}.png", i)
    style = _picture(root / "style.png", 9)
    return str(folder), [f"data.style={style}", "data.image_size=16", "model.width=4", "model.n_res=1",
                         "model.feature_net=random"]


LM_TINY = ["model.n_layer=1", "model.n_head=2", "model.n_embd=16", "data.block_size=32", "data.workers=1"]
CASES = {
    "melody-events": ("melody", "transformer", LM_TINY + ["data.tokenizer=events"]),
    "melody-remi": ("melody", "transformer", LM_TINY + ["data.tokenizer=remi", "data.block_size=64"]),
    "melody-lstm": ("melody", "lstm", ["model.n_layer=1", "model.n_embd=16", "model.n_hidden=32", "data.block_size=32",
                                       "data.workers=1"]),
    "poem": ("poem", "transformer", LM_TINY),
    "score": ("score", "transformer", LM_TINY + ["data.block_size=48"]),
    "vae": ("vae", "vae", ["model.embed_dim=8", "model.enc_hidden=16", "model.dec_hidden=16", "model.dec_layers=1",
                           "model.z_dim=8", "data.workers=1", "data.augment=false", "data.valid_frac=0.2"]),
    "gan": ("gan", "dcgan", ["model.image_size=16", "model.ngf=4", "model.ndf=4", "model.nz=8",
                             "data.sample_every=0"]),
    "style": ("style", "fast_style", []),
}


def test_every_kind_has_a_conformance_case():
    assert {kind for kind, _, _ in CASES.values()} == set(recipe_kinds())


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSE_CACHE", str(tmp_path_factory.mktemp("conformance-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def moved(cache, tmp_path_factory):
    """{case: model folder} of every case, trained for a few steps, then moved away from its run."""
    root = tmp_path_factory.mktemp("conformance")
    melodies = _melody_folder(root / "melodies")
    out = {}
    for name, (kind, model, overrides) in CASES.items():
        data = {"melody": str(melodies), "vae": str(melodies), "poem": str(FIX / "poetry" / "tang_sample.jsonl"),
                "gan": "digits", "score": str(_score_folder(root / "scores"))}.get(kind)
        extra: list[str] = []
        if kind == "style":
            data, extra = _style_data(root / name)
        run = root / "runs" / name
        muse.training.train(kind, data=data, model=model, out=run, steps=3, batch_size=4, eval_every=3,
                            eval_batches=1, warmup_steps=0, progress=False, tensorboard=False, device="cpu",
                            overrides=[*overrides, *extra])
        assert (run / "model" / "model.safetensors").is_file(), name
        dest = root / "elsewhere" / name
        shutil.move(str(run / "model"), dest)
        shutil.rmtree(run)
        if kind == "style":
            (root / name / "style.png").unlink()  # the style lives in the weights
        out[name] = dest
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_a_moved_model_folder_loads_and_generates(moved, name):
    kind = CASES[name][0]
    d = moved[name]
    assert {"config.json", "generation_config.json", "recipe.json", "model.safetensors"} <= {f.name for f in d.iterdir()}
    for f in d.glob("*.json"):  # nothing machine-specific
        text = f.read_text(encoding="utf-8")
        assert str(Path.home()) not in text and "/tmp" not in text and "pytest-" not in text, f.name
    recipe = get_recipe(kind)
    loaded = recipe.load(d)
    if kind == "melody":
        from muse.music.compose import MelodyRequest

        mels = recipe.generate(loaded, MelodyRequest(bars=2, key="D", scale="dorian"), num=2)
        assert len(mels) == 2 and all(m.length == 2 * 16 and m.key == (2, "minor") for m in mels)
    elif kind == "poem":
        from muse.poetry.compose import PoemRequest

        poems = recipe.generate(loaded, PoemRequest(form="wujue"), num=1, generation={"seed": 0})
        lines = poems[0].split("\n")
        assert len(lines) == 4 and all(len(line) == 6 for line in lines)  # 5 characters + punctuation
    elif kind == "score":
        scores = recipe.generate(loaded, bars=2, num=2, generation={"seed": 0})
        assert len(scores) == 2 and all(s.length == 32 for s in scores)
        assert all([(p.name, p.program) for p in s.parts] == [("Lead", 0), ("Bass", 33)] for s in scores)
    elif kind == "vae":
        mels = recipe.generate(loaded, num=2, generation={"seed": 0})
        assert len(mels) == 2 and all(m.length == loaded.seq_len for m in mels)
    elif kind == "gan":
        images = recipe.generate(loaded, num=4)
        assert images.shape == (4, 1, 16, 16) and images.abs().max() <= 1
    elif kind == "style":
        x = torch.rand(1, 3, 16, 16)
        with torch.no_grad():
            y = loaded.model.render(x)
        assert y.shape == x.shape and bool(loaded.model.has_style)


@pytest.mark.parametrize("name", [n for n, (k, _, _) in CASES.items() if k in ("melody", "poem", "score")])
def test_decoding_contract_of_every_decoding_model(moved, name):
    """Incremental decoding with the model's state equals a full recompute; reorder_state follows beams."""
    model = load_model(moved[name]).model
    v = model.config.vocab_size
    x = torch.randint(3, v, (3, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full, _ = model(x)
        logits, state = model(x[:, :5])
        pieces = [logits]
        for t in range(5, 12):
            logits, state = model(x[:, t:t + 1], state)
            pieces.append(logits)
        assert torch.allclose(torch.cat(pieces, 1), full, atol=1e-4)
        idx = torch.tensor([2, 0, 2])
        _, state = model(x[:, :6])
        got, _ = model(x[idx, 6:7], model.reorder_state(state, idx))
        want, _ = model(x[idx, :7])
        assert torch.allclose(got[:, -1], want[:, -1], atol=1e-4)


def test_model_directories_are_written_once_with_the_hf_layout(moved):
    d = moved["poem"]
    gen = json.loads((d / "generation_config.json").read_text())
    assert gen == get_recipe("poem").generation_defaults
    assert json.loads((d / "recipe.json").read_text())["kind"] == "poem"
    assert set(MODEL_FILES) - {"README.md"} <= {f.name for f in d.iterdir()} | {"tokenizer.json"}
    assert not list(d.parent.glob(".*"))  # no temporary folder left beside it


def test_a_midi_tok_tokenizer_trains_through_the_melody_recipe(cache, tmp_path):
    """`muse train melody data.tokenizer=miditok`: MidiTok's REMI as the tokenizer of a muse melody model."""
    pytest.importorskip("miditok")
    run = tmp_path / "run"
    muse.training.train("melody", data=str(_melody_folder(tmp_path / "tunes")), model="transformer", out=run, steps=3,
                        batch_size=4, eval_every=3, eval_batches=1, progress=False, tensorboard=False, device="cpu",
                        overrides=[*LM_TINY, "data.tokenizer=miditok", "data.block_size=64"])
    lm = load_model(run)
    assert lm.tokenizer.kind == "miditok"
    from muse.music.compose import MelodyRequest

    mel = get_recipe("melody").generate(lm, MelodyRequest(bars=2, key="C", scale="major"), num=1)[0]
    assert mel.length == 32 and all(n.pitch % 12 in {0, 2, 4, 5, 7, 9, 11} for n in mel.notes)

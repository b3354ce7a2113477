"""One loader, one model object per kind, HF names for generation."""
import pytest
import torch

import muse
from muse.errors import ConfigError


def test_load_gives_a_model_of_each_kind_that_generates():
    mel = muse.load("melody-transformer")
    assert mel.kind == "melody" and "melody-transformer" in repr(mel)
    out = mel.generate(bars=2, key="G", scale="major", num_return_sequences=3, seed=0)
    assert len(out) == 3 and all(m.length == 32 and m.key == (7, "major") for m in out)
    again = mel.generate(muse.MelodyRequest(bars=2, key="G", scale="major"), num_return_sequences=3, seed=0)
    assert [m.notes for m in again] == [m.notes for m in out]

    poet = muse.load("poem-tang")
    poem = poet.generate(form="wujue", num_return_sequences=1, seed=1, temperature=0.7)[0]
    assert len(poem.split("\n")) == 4

    images = muse.load("gan-digits").generate(num_return_sequences=4, seed=0)
    assert images.shape[0] == 4 and torch.equal(images, muse.load("gan-digits").generate(num_return_sequences=4, seed=0))


def test_vae_model_samples_encodes_and_varies_further_as_amount_grows():
    vae = muse.load("vae-2bar")
    assert isinstance(vae, muse.MuseModel) and vae.kind == "vae"
    theme = vae.generate(num_return_sequences=1, seed=3)[0]
    assert vae.encode(theme).shape == (1, vae.vae.z_dim)

    def overlap(a, b):
        sa, sb = {(n.start, n.pitch) for n in a.notes}, {(n.start, n.pitch) for n in b.notes}
        return len(sa & sb) / max(1, len(sa | sb))

    base = vae.reconstruct(theme)
    means = []
    for amount in (0.0, 0.5, 1.0):
        vs = vae.vary(theme, amount=amount, num=6, seed=0)
        means.append(sum(overlap(base, v) for v in vs) / len(vs))
    assert means[0] == 1.0 and means[0] > means[1] > means[2]
    with pytest.raises(ConfigError, match=r"amount must be in \[0, 1\]"):
        vae.vary(theme, amount=2)


def test_save_and_from_pretrained_round_trip(tmp_path):
    mel = muse.load("melody-lstm")
    d = mel.save(tmp_path / "copy")
    back = muse.MuseModel.from_pretrained(d)
    assert back.generation_config == mel.generation_config
    a = mel.generate(bars=2, seed=5)[0]
    assert back.generate(bars=2, seed=5)[0].notes == a.notes


def test_generate_refuses_what_a_kind_cannot_use():
    mel = muse.load("melody-transformer")
    with pytest.raises(ConfigError, match="length is set by bars"):
        mel.generate(max_new_tokens=10)
    with pytest.raises(ConfigError, match="not both"):
        mel.generate(muse.MelodyRequest(bars=2), bars=3)
    with pytest.raises(ConfigError, match="unexpected keyword argument 'colour'"):
        mel.generate(colour="blue")
    with pytest.raises(ConfigError, match="takes num_return_sequences and seed only"):
        muse.load("gan-digits").generate(temperature=0.5)


def test_dir_lists_the_public_api():
    names = dir(muse)
    for name in ("load", "MuseModel", "generate_melodies", "write_poems", "GenerationConfig", "__version__"):
        assert name in names


def test_muse_generate_stays_the_sampler_function_after_any_use():
    import subprocess
    import sys

    code = ("import muse; a = muse.generate; muse.load('melody-transformer').generate(bars=1, seed=0); "
            "import muse.sampling.sampler as s; b = muse.generate; "
            "assert a is b is s.generate and callable(b), (a, b)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_vae_functions_take_any_way_of_naming_the_vae():
    """muse.load_model / muse.load / a name: the VAE functions accept each (they used to reject all but load_vae)."""
    ref = muse.sample_melodies(muse.load_vae("vae-2bar"), 2, seed=0)
    for vae in (muse.load_model("vae-2bar"), muse.load("vae-2bar"), "vae-2bar"):
        assert [m.notes for m in muse.sample_melodies(vae, 2, seed=0)] == [m.notes for m in ref]


def test_cli_vae_vary_writes_variations_closer_to_the_theme_at_small_amounts(tmp_path, capsys):
    import re
    from pathlib import Path

    from muse.cli import main

    tune = Path(__file__).parent / "fixtures" / "music" / "two_tunes.abc"
    shares = []
    for amount in ("0", "1"):
        out = tmp_path / amount
        assert main(["vae", "vary", str(tune), "--amount", amount, "--num", "3", "--seed", "2", "--out", str(out),
                     "--no-wav", "--no-png"]) == 0
        assert len(list(out.glob("variation_*.mid"))) == 3
        shares.append(int(re.search(r"at (\d+)% of", capsys.readouterr().out).group(1)))
    assert shares[0] == 100 and shares[1] < 100
    assert main(["vae", "vary", str(tune), "--amount", "2", "--out", str(tmp_path / "x")]) == 2

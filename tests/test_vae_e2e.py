"""Melody VAE end to end: `muse train vae`, the latent-space API and `muse vae`.

The fast tests train one tiny 2-bar VAE on synthetic melodies whose bars differ
only in rhythm (half, quarter or eighth notes over a fixed five-note cycle), so
note density is what the code must carry and is learnt in a few hundred steps.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import torch

import muse
from muse.cli import main
from muse.data.report import MuseWarning
from muse.errors import ConfigError, DataError
from muse.music import latent_space as ls
from muse.music.windows import melody_windows, rest_share
from muse.music.melody import Melody, Note
from muse.music.metrics import ATTRIBUTES, note_density
from muse.music.midi_io import write_midi
from muse.data.store import split_of
from muse.music.midi_io import read_melodies
from muse.recipes import get_recipe

CYCLE = (62, 64, 65, 67, 60)
TINY = ["model.embed_dim=16", "model.enc_hidden=64", "model.dec_hidden=64", "model.dec_layers=1", "model.z_dim=16",
        "model.conductor_hidden=32", "model.free_bits=8", "model.max_beta=0.05", "model.beta_rate=0",
        "model.sampling_schedule=none", "data.workers=1", "data.augment=false", "data.valid_frac=0.2",
        "data.test_frac=0.1"]


def synthetic(rng: random.Random, bars: int = 8) -> Melody:
    """Each bar all half, quarter or eighth notes; pitches cycle through CYCLE."""
    notes, t, k = [], 0, 0
    for _ in range(bars):
        dur = rng.choice([2, 4, 8])
        for _ in range(16 // dur):
            notes.append(Note(t, t + dur, CYCLE[k % len(CYCLE)]))
            t, k = t + dur, k + 1
    return Melody(notes, total_steps=t)


def write_corpus(directory: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_midi(synthetic(rng), directory / f"tune{i:03d}.mid")
    return directory


@pytest.fixture(scope="module", autouse=True)
def setup_env(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSE_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"), 40, seed=0)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vae2"
    result = muse.train("vae", data=str(corpus), out=out, steps=250, batch_size=16, lr=1e-2, eval_every=125,
                        eval_batches=4, log_every=25, progress=False, tensorboard=False, device="cpu",
                        overrides=TINY)
    return out, result


@pytest.fixture(scope="module")
def vae(trained):
    return ls.load_vae(trained[0])


def _midi_notes(path: Path) -> int:
    pm = pretty_midi.PrettyMIDI(str(path))
    return sum(len(i.notes) for i in pm.instruments)


# ---------------------------------------------------------------- windows and data
def test_melody_windows_are_bar_aligned_and_drop_silent_ones():
    notes = [Note(s, s + 2, 60) for s in range(0, 32, 2)] + [Note(32, 33, 62), Note(48, 49, 64)]
    mel = Melody(notes, total_steps=64)
    wins = melody_windows(mel, 2, hop_bars=1)
    assert [s for s, _ in wins] == [0, 16, 32]
    assert all(w.length == 32 for _, w in wins)
    assert wins[1][1].notes[0] == Note(0, 2, 60) and wins[2][1].notes == [Note(0, 1, 62), Note(16, 17, 64)]
    assert rest_share(wins[2][1]) == pytest.approx(30 / 32)
    kept = melody_windows(mel, 2, hop_bars=1, max_rest=0.5)
    assert [s for s, _ in kept] == [0, 16]  # bars 2-3 are half silent (kept), bars 3-4 mostly silent
    assert [s for s, _ in melody_windows(mel, 2)] == [0, 32]  # default hop = window
    with pytest.raises(ConfigError):
        melody_windows(mel, 0)


def test_store_holds_fixed_length_windows_and_augments_the_training_split(corpus, tmp_path):
    task = get_recipe("vae")
    base = {**task.data_defaults(), "corpus": str(corpus), "workers": 1, "valid_frac": 0.2, "test_frac": 0.1}
    plain, tok, manifest = task.load_data({**base, "augment": False})
    aug, _, _ = task.load_data({**base, "augment": True})
    sizes = {s: len(plain[s]) for s in plain}
    assert sum(sizes.values()) == 40 * 7  # 8-bar melodies, 2-bar windows every bar
    for store in plain.values():
        lengths = store.doc_lengths()
        assert len(lengths) == 0 or set(lengths.tolist()) == {32}
        assert store.n_tokens == 0 or int(np.asarray(store.tokens).min()) >= 3  # no pad/bos/eos
    # every transposition -5..+6 keeps 60..67 inside 48..83: 12 versions of each training window
    assert len(aug["train"]) == 12 * sizes["train"]
    assert len(aug["valid"]) == sizes["valid"] and len(aug["test"]) == sizes["test"]
    assert tok.transpose_to_key is False and tok.squash is True
    # the first training window is the first two bars of the first training tune, in its own key
    rng = random.Random(0)
    tunes = [synthetic(rng) for _ in range(40)]
    i = next(i for i in range(40) if split_of(f"tune{i:03d}.mid", 0.2, 0.1) == "train")
    assert tok.decode(plain["train"].doc(0).tolist()).notes == tunes[i].slice(0, 32).notes


def test_other_meters_are_left_out(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    write_midi(synthetic(random.Random(1), bars=4), d / "four.mid")
    waltz = Melody([Note(s, s + 4, 60 + s % 5) for s in range(0, 48, 4)], time_signature=(3, 4), total_steps=48)
    write_midi(waltz, d / "waltz.mid")
    task = get_recipe("vae")
    stores, _, _ = task.load_data({**task.data_defaults(), "corpus": str(d), "workers": 1, "valid_frac": 0.0,
                                   "test_frac": 0.0, "augment": False})
    assert len(stores["train"]) == 3  # only the 4/4 tune's windows (bars 1-2, 2-3, 3-4)


# ---------------------------------------------------------------- training
def test_training_writes_run_dir_model_and_attribute_vectors(trained):
    out, result = trained
    assert result.step == 250 and result.stopped == "steps"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["bars"] == 2 and cfg["model_config"]["seq_len"] == 32 and cfg["model_config"]["n_bars"] == 2
    assert cfg["train"]["min_lr"] == 1e-5 and cfg["train"]["weight_decay"] == 0.0
    rows = [line.split(",") for line in (out / "metrics.csv").read_text().splitlines()]
    head = rows[0]
    valid = [dict(zip(head, r)) for r in rows[1:] if r[head.index("split")] == "valid"]
    assert len(valid) == 2 and {"acc", "kl", "elbo", "recon_nats"} <= set(head)
    assert float(valid[-1]["elbo"]) < float(valid[0]["elbo"])
    assert float(valid[-1]["acc"]) > 0.8
    model_dir = out / "model"
    assert (model_dir / "model.safetensors").is_file()
    vectors = json.loads((model_dir / ls.ATTRIBUTES_FILE).read_text())
    assert set(vectors) == set(ATTRIBUTES) and all(len(v) == 16 for v in vectors.values())
    vae = ls.load_vae(out)
    assert vae.source == model_dir and vae.attributes.names() == list(ATTRIBUTES)


def test_hierarchical_model_via_cli(corpus, tmp_path, vae):
    out = tmp_path / "hier"
    code = main(["train", "vae", "--data", str(corpus), "--model", "vae-hier", "--steps", "4", "--batch-size", "8",
                 "--out", str(out), "--no-progress", "--device", "cpu", "data.bars=4", "eval_every=4",
                 "eval_batches=1", "tensorboard=false", *TINY])
    assert code == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == "vae-hier" and cfg["model_config"]["hierarchical"] is True
    assert cfg["model_config"]["n_bars"] == 4 and cfg["model_config"]["seq_len"] == 64
    hier = ls.load_vae(out)
    assert hier.model.config.hierarchical and len(hier.attributes) == len(ATTRIBUTES)
    assert [m.length for m in ls.sample_melodies(hier, 2, seed=0)] == [64, 64]


# ---------------------------------------------------------------- python API
def test_sample_is_seeded_and_writes_midi(vae, tmp_path):
    a = ls.sample_melodies(vae, 3, temperature=1.0, seed=7)
    b = ls.sample_melodies(vae, 3, temperature=1.0, seed=7)
    assert [m.notes for m in a] == [m.notes for m in b] and all(m.length == 32 for m in a)
    assert [m.notes for m in ls.sample_melodies(vae, 3, temperature=1.0, seed=8)] != [m.notes for m in a]
    files = muse.save_melodies(a, tmp_path, prefix="s", wav=False, png=False)
    assert [_midi_notes(f["mid"]) for f in files] == [len(m.notes) for m in a]


def test_codes_carry_the_melody(vae):
    rng = random.Random(99)
    held = [Melody([n for n in synthetic(rng, 2).notes], total_steps=32) for _ in range(12)]
    z = ls.encode_melodies(vae, held)
    assert z.shape == (12, 16)
    own = ls.decode_latents(vae, z, temperature=0)
    assert [m.notes for m in own] == [ls.reconstruct(vae, m).notes for m in held]
    shifted = ls.decode_latents(vae, z.roll(1, 0), temperature=0)

    def agree(x: Melody, y: Melody) -> float:
        tx, ty = vae.tokenizer.encode(x), vae.tokenizer.encode(y)
        return sum(p == q for p, q in zip(tx, ty)) / len(tx)

    own_acc = np.mean([agree(m, r) for m, r in zip(held, own)])
    other_acc = np.mean([agree(m, r) for m, r in zip(held, shifted)])
    assert own_acc > other_acc + 0.05
    # pitches are folded into the model's range and moved back: two octaves up reconstructs two octaves up
    high = ls.reconstruct(vae, held[0].transpose(24))
    assert high.notes == [Note(n.start, n.end, n.pitch + 24, n.velocity) for n in ls.reconstruct(vae, held[0]).notes]


def test_long_input_is_windowed_and_short_input_refused(vae):
    mel = synthetic(random.Random(3), bars=5)
    with pytest.warns(MuseWarning) as caught:
        z = ls.encode_melodies(vae, mel, label="five.mid")
    assert z.shape == (2, 16)
    assert "five.mid: melody is 5 bars, longer than the VAE's 2 bars; read as 2 windows of 2 bars (the last 1 bar " \
           "left out)" in str(caught[0].message)
    rec = ls.reconstruct(vae, mel)
    assert rec.length == 64
    with pytest.raises(DataError, match="needs at least 2 bars"):
        ls.encode_melodies(vae, synthetic(random.Random(3), bars=1))
    with pytest.raises(DataError, match=r"must be \[N, 16\]"):
        ls.decode_latents(vae, np.zeros((2, 5)))


def test_interpolation_ends_are_reconstructions(vae):
    rng = random.Random(5)
    a, b = (Melody(synthetic(rng, 2).notes, total_steps=32) for _ in range(2))
    path = ls.interpolate_melodies(vae, a, b, steps=5)
    assert len(path) == 5 and all(m.length == 32 for m in path)
    assert path[0].notes == ls.reconstruct(vae, a).notes and path[-1].notes == ls.reconstruct(vae, b).notes


def test_attribute_moves_note_density_monotonically(vae):
    rng = random.Random(2024)
    held = [Melody(synthetic(rng, 2).notes, total_steps=32) for _ in range(24)]
    amounts = [-1.0, -0.5, 0.0, 0.5, 1.0]
    means = [np.mean([note_density(ls.apply_attribute(vae, m, "density", a)) for m in held]) for a in amounts]
    assert all(x < y for x, y in zip(means, means[1:])), means


def test_attribute_vectors_from_melodies_and_user_functions(vae, corpus):
    rng = random.Random(0)
    mels = [synthetic(rng) for _ in range(30)]
    vecs = ls.attribute_vectors(vae, mels, ["note_density"])
    shipped = vae.attributes["note_density"]
    cos = torch.nn.functional.cosine_similarity(vecs["note_density"], shipped, dim=0)
    assert cos > 0.8
    custom = ls.attribute_vectors(vae, mels, {"eighths": lambda m: sum(n.duration == 2 for n in m.notes)})
    assert custom.names() == ["eighths"]
    with pytest.raises(ConfigError, match="unknown attribute 'loudness'"):
        ls.attribute_vectors(vae, mels, ["loudness"])
    with pytest.raises(DataError, match="ambiguous|unknown"):
        ls.apply_attribute(vae, mels[0], "tempo")


# ---------------------------------------------------------------- command line
def test_cli_verbs_write_files_other_tools_open(trained, corpus, tmp_path, capsys):
    run = str(trained[0])
    tune = str(corpus / "tune001.mid")
    assert main(["vae", "sample", "--model", run, "--num", "2", "--seed", "1", "--out", str(tmp_path / "s"),
                 "--synth", "builtin"]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        f"sample_00{i}.{ext}" for i in (1, 2) for ext in ("mid", "png", "wav")]
    z_path = tmp_path / "z.npy"
    assert main(["vae", "encode", tune, "-o", str(z_path), "--model", run]) == 0
    assert np.load(z_path).shape == (4, 16)
    assert main(["vae", "decode", str(z_path), "--model", run, "--out", str(tmp_path / "d"), "--no-wav"]) == 0
    assert len(list((tmp_path / "d").glob("decoded_*.mid"))) == 4
    assert main(["vae", "interpolate", tune, str(corpus / "tune002.mid"), "--steps", "4", "--model", run,
                 "--out", str(tmp_path / "i"), "--no-wav"]) == 0
    steps = [tmp_path / "i" / f"step_00{i}.mid" for i in range(1, 5)]
    joined = pretty_midi.PrettyMIDI(str(tmp_path / "i" / "interpolation.mid"))
    assert len(joined.instruments[0].notes) == sum(_midi_notes(p) for p in steps)
    assert read_melodies(tmp_path / "i" / "interpolation.mid")[0].length == 4 * 32
    assert (tmp_path / "i" / "interpolation.png").stat().st_size > 0
    assert main(["vae", "reconstruct", tune, "--model", run, "--out", str(tmp_path / "r"), "--no-wav",
                 "--no-png"]) == 0
    assert read_melodies(tmp_path / "r" / "reconstruction_001.mid")[0].length == 8 * 16
    assert main(["vae", "attribute", tune, "--attribute", "density", "--amount", "1.5", "--model", run,
                 "--out", str(tmp_path / "a"), "--no-wav", "--no-png"]) == 0
    out = capsys.readouterr().out
    assert "matches the input at" in out and "note_density: input" in out
    assert _midi_notes(tmp_path / "a" / "attribute_001.mid") > 0


def test_cli_errors_exit_2_with_a_clear_message(trained, tmp_path, capsys):
    run = str(trained[0])
    short = write_midi(synthetic(random.Random(0), bars=1), tmp_path / "short.mid")
    assert main(["vae", "reconstruct", str(short), "--model", run, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{short}: melody is 1 bar (16 steps); this VAE needs at least 2 bars of 4/4 (32 steps)" in err
    assert main(["vae", "attribute", str(short), "--attribute", "loudness", "--model", run]) == 2
    assert "unknown attribute 'loudness'; this model's attributes: note_density" in capsys.readouterr().err
    assert main(["vae", "sample", "--model", str(tmp_path / "nothing")]) == 2
    assert "no such model" in capsys.readouterr().err
    bad = tmp_path / "z.npy"
    np.save(bad, np.zeros((2, 3), dtype=np.float32))
    assert main(["vae", "decode", str(bad), "--model", run]) == 2
    assert "latent codes must be [N, 16]" in capsys.readouterr().err
    # polyphonic input: reduced to its melody line, with a warning
    pm = pretty_midi.PrettyMIDI()
    for program, base in ((0, 72), (32, 48)):
        inst = pretty_midi.Instrument(program)
        inst.notes = [pretty_midi.Note(100, base + i % 5, i * 0.25, i * 0.25 + 0.25) for i in range(16)]
        pm.instruments.append(inst)
    poly = tmp_path / "poly.mid"
    pm.write(str(poly))
    capsys.readouterr()
    assert main(["vae", "reconstruct", str(poly), "--model", run, "--out", str(tmp_path / "p"), "--no-wav",
                 "--no-png"]) == 0
    assert "muse: warning: " in (err := capsys.readouterr().err) and "polyphonic (2 parts)" in err


# ---------------------------------------------------------------- real data (slow)
@pytest.mark.slow
def test_essen_attribute_density_is_monotone(tmp_path):
    """A small VAE on part of Essen: adding the density vector adds notes (held-out windows)."""
    out = tmp_path / "essen"
    muse.train("vae", corpus="essen", out=out, steps=800, batch_size=64, lr=3e-3, progress=False, tensorboard=False,
               device="cpu", eval_every=400, overrides=["data.limit=1500", "data.workers=2", "model.enc_hidden=128",
                                                        "model.dec_hidden=128", "model.z_dim=32", "model.free_bits=8",
                                                        "model.sampling_schedule=none"])
    vae = ls.load_vae(out)
    task = get_recipe("vae")
    cfg = json.loads((out / "config.json").read_text())
    stores, tok, _ = task.load_data(cfg["data"])
    held = [tok.decode(list(map(int, stores["test"].doc(i)))) for i in range(0, len(stores["test"]), 3)][:60]
    amounts = [-1.0, 0.0, 1.0]
    means = [np.mean([note_density(ls.apply_attribute(vae, m, "density", a)) for m in held]) for a in amounts]
    assert means[0] < means[1] < means[2], means

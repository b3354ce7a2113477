"""muse.cli.options: sampling flags made from GenerationConfig, and what the verbs hand to the Python API."""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from muse.cli import main
from muse.cli.options import (
    GENERATION_DEVICE,
    SAMPLING,
    add_device_flag,
    add_generation_flags,
    field_docs,
    field_type,
    flag_of,
    generation_overrides,
    resolve_device,
)
from muse.sampling.config import GenerationConfig


def _parser(*names: str, **kw) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_generation_flags(p, names or SAMPLING, **kw)
    return p


def _flag_help(p: argparse.ArgumentParser, dest: str) -> str:
    return next(a.help for a in p._actions if a.dest == dest)


def test_every_field_has_a_docstring_and_a_command_line_type():
    fields = dataclasses.fields(GenerationConfig)
    docs = field_docs()
    assert [f.name for f in fields] == list(docs)
    p = _parser(*[f.name for f in fields])  # every field can be a flag
    args = p.parse_args([])
    assert all(getattr(args, f.name) is None for f in fields)
    assert field_type("top_k") is int and field_type("top_p") is float and field_type("do_sample") is bool
    assert p.parse_args(["--no-do-sample"]).do_sample is False and p.parse_args(["--use-cache"]).use_cache is True


def test_flags_types_help_and_aliases():
    p = _parser()  # SAMPLING
    a = p.parse_args(["--temperature", "0.7", "--top-k", "5", "--top-p", "0.9", "--repetition-penalty", "1.2",
                      "--beam-size", "3", "--branch-factor", "4", "--seed", "11"])
    assert (a.temperature, a.top_k, a.top_p, a.repetition_penalty, a.num_beams, a.branch_factor, a.seed) == (
        0.7, 5, 0.9, 1.2, 3, 4, 11)
    assert isinstance(a.top_k, int) and isinstance(a.temperature, float)
    assert p.parse_args(["--num-beams", "2"]).num_beams == 2
    with pytest.raises(SystemExit):
        p.parse_args(["--top-k", "0.5"])
    # help is the field's docstring, with GenerationConfig's default in brackets when it has one
    assert _flag_help(p, "top_p") == field_docs()["top_p"] and "Nucleus" in field_docs()["top_p"]
    assert _flag_help(p, "temperature").endswith("[1.0]")
    p2 = _parser("max_new_tokens", aliases={"max_new_tokens": ["--max-tokens"]})
    assert p2.parse_args(["--max-tokens", "30"]).max_new_tokens == 30
    assert p2.parse_args(["--max-new-tokens", "31"]).max_new_tokens == 31
    assert flag_of("no_repeat_ngram_size") == "--no-repeat-ngram-size"
    with pytest.raises(KeyError, match="beam_size"):
        _parser("beam_size")


def test_overrides_are_the_flags_given_and_update_a_config():
    p = _parser()
    args = p.parse_args(["--top-k", "8", "--beam-size", "2"])
    args.unrelated = 3
    over = generation_overrides(args)
    assert over == {"top_k": 8, "num_beams": 2}
    cfg = GenerationConfig(temperature=0.8).updated(**over)
    assert (cfg.temperature, cfg.top_k, cfg.num_beams) == (0.8, 8, 2)  # the model's own settings stay
    assert generation_overrides(args, rename={"num_beams": "beam_size"}) == {"top_k": 8, "beam_size": 2}
    assert generation_overrides(p.parse_args([])) == {}


def test_device_flag_and_auto():
    p = argparse.ArgumentParser()
    add_device_flag(p)
    assert p.parse_args([]).device == GENERATION_DEVICE == "cpu"
    assert p.parse_args(["--device", "cuda:1"]).device == "cuda:1"
    assert resolve_device(None) == "cpu"
    import torch

    from muse.errors import ConfigError

    if torch.cuda.device_count() >= 2:
        assert resolve_device("cuda:1") == "cuda:1"
    else:  # checked before any work, naming the flag and what this machine has
        with pytest.raises(ConfigError, match=r"--device cuda:1: .*; available here: auto, cpu"):
            resolve_device("cuda:1")
    with pytest.raises(ConfigError, match=r"--device tpu: not a device muse can use; available here: auto, cpu"):
        resolve_device("tpu")

    assert resolve_device("auto") == ("cuda:0" if torch.cuda.is_available() else
                                      "mps" if torch.backends.mps.is_available() else "cpu")


def test_generation_verbs_default_to_the_cpu():
    from muse.cli import build_parser

    p = build_parser()
    for argv in (["melody"], ["poem"], ["vae", "sample"], ["vae", "interpolate", "a", "b"], ["eval", "melody"]):
        assert p.parse_args(argv).device == "cpu", argv
    assert p.parse_args(["train", "melody"]).device is None  # the training config decides (auto)


# ---------------------------------------------------------------- what the verbs pass to the API


@pytest.fixture
def calls(monkeypatch):
    import muse.music.compose as mc
    import muse.music.latent_space as ls
    import muse.poetry.compose as pc

    seen: dict[str, dict] = {}

    def record(name, result):
        def fn(*a, **kw):
            seen[name] = {"args": a, **kw}
            return result() if callable(result) else result
        return fn

    monkeypatch.setattr(mc, "generate_melodies", record("generate_melodies", []))
    monkeypatch.setattr(mc, "save_melodies", record("save_melodies", []))
    monkeypatch.setattr(pc, "write_poems", record("write_poems", ["a poem"]))
    monkeypatch.setattr(pc, "stream_poem", record("stream_poem", lambda: iter(["a ", "poem"])))
    monkeypatch.setattr(ls, "load_vae", record("load_vae", object()))
    for name in ("sample_melodies", "decode_latents", "reconstruct"):
        monkeypatch.setattr(ls, name, record(name, []))
    return seen


def test_melody_passes_only_the_flags_given(calls, tmp_path):
    assert main(["melody", "--out", str(tmp_path), "--no-wav", "--no-png", "--bars", "4"]) == 0
    kw = calls["generate_melodies"]
    (model,) = kw["args"]  # the model is loaded once, then melodies are written batch by batch
    assert model.source.name == "melody-transformer" and kw["bars"] == 4 and kw["device"] == "cpu"
    given = {k for k, v in kw.items() if v is not None}
    assert not {"temperature", "top_k", "top_p", "beam_size", "branch_factor", "seed"} & given  # model decides
    assert main(["melody", "--out", str(tmp_path), "--temperature", "0.9", "--top-k", "5", "--top-p", "0.8",
                 "--beam-size", "3", "--branch-factor", "2", "--repetition-penalty", "1.1", "--seed", "4"]) == 0
    kw = calls["generate_melodies"]
    assert {k: kw[k] for k in ("temperature", "top_k", "top_p", "beam_size", "branch_factor",
                               "repetition_penalty", "seed")} == dict(
        temperature=0.9, top_k=5, top_p=0.8, beam_size=3, branch_factor=2, repetition_penalty=1.1, seed=4)
    assert main(["melody", "--out", str(tmp_path), "--num-beams", "2"]) == 0
    assert calls["generate_melodies"]["beam_size"] == 2


def test_poem_maps_flags_to_write_poems(calls, capsys):
    assert main(["poem", "--form", "wujue"]) == 0
    kw = calls["write_poems"]
    assert kw == {"args": (None, kw["args"][1]), "num": 1, "seed": None, "device": "cpu"}  # model decides the rest
    assert main(["poem", "--max-tokens", "30", "--beam-size", "2", "--temperature", "0.5", "--top-p", "0.9",
                 "--top-k", "7", "--repetition-penalty", "1.3", "--seed", "3", "--num", "2"]) == 0
    kw = calls["write_poems"]
    assert {k: kw[k] for k in ("max_tokens", "beam_size", "temperature", "top_p", "top_k", "repetition_penalty",
                               "seed", "num")} == dict(max_tokens=30, beam_size=2, temperature=0.5, top_p=0.9,
                                                       top_k=7, repetition_penalty=1.3, seed=3, num=2)
    assert main(["poem", "--max-new-tokens", "40"]) == 0 and calls["write_poems"]["max_tokens"] == 40
    capsys.readouterr()
    assert main(["poem", "--stream", "--seed", "5", "--max-tokens", "20"]) == 0
    kw = calls["stream_poem"]
    assert kw["seed"] == 5 and kw["max_tokens"] == 20 and "beam_size" not in kw
    assert capsys.readouterr().out.startswith("a poem")
    assert main(["poem", "--stream", "--num-beams", "3"]) == 2
    assert "beam search" in capsys.readouterr().err


def test_vae_temperature_left_out_is_the_api_default(calls, tmp_path):
    assert main(["vae", "sample", "--out", str(tmp_path), "--no-wav", "--no-png"]) == 0
    assert "temperature" not in calls["sample_melodies"] and calls["load_vae"]["device"] == "cpu"
    assert main(["vae", "sample", "--temperature", "0.8", "--seed", "2", "--out", str(tmp_path)]) == 0
    assert calls["sample_melodies"]["temperature"] == 0.8 and calls["sample_melodies"]["seed"] == 2

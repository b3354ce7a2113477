"""ONNX export of the decoding models: the graph with its KV cache / RNN state agrees with torch under onnxruntime."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from muse.cli import main
from muse.errors import DataError, MissingExtra
from muse.sampling.config import GenerationConfig
from muse.sampling.sampler import generate
from muse.models.onnx_export import GRAPH_FILE, OnnxDecoder, export_onnx
from muse.models.registry import build_model
from muse.recipes.hub import load_model, shipped_models

SHIPPED = ("melody-transformer", "melody-lstm", "poem-english")
TINY = {
    "tiny-gru": ("rnn", {"vocab_size": 29, "cell": "gru", "n_layer": 2, "n_embd": 16, "n_hidden": 24}),
    "tiny-rnn-tanh": ("rnn", {"vocab_size": 29, "cell": "rnn_tanh", "n_layer": 1, "n_embd": 16, "n_hidden": 24}),
    "tiny-learned": ("transformer", {"vocab_size": 29, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16,
                                     "pos": "learned"}),
    "tiny-relative": ("transformer", {"vocab_size": 29, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16}),
}
MODELS = (*SHIPPED, *TINY)
TOL = 1e-4


def _model(name: str):
    if name in TINY:
        torch.manual_seed(0)
        arch, cfg = TINY[name]
        return build_model(arch, cfg).eval(), None
    lm = load_model(name)
    return lm.model, lm.source


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (torch model, OnnxDecoder), each exported once."""
    out = {}
    root = tmp_path_factory.mktemp("onnx")
    for name in MODELS:
        model, source = _model(name)
        report = export_onnx(model, root / name, source=source)
        out[name] = (model, OnnxDecoder(report.directory, threads=1))
    return out


def _prompt(model, length: int, rows: int = 1) -> list[list[int]]:
    """A prompt the model itself would write: ``length`` ids sampled from bos (id 1), seeded."""
    cfg = GenerationConfig(max_new_tokens=length - 1, seed=0, num_return_sequences=rows)
    return generate(model, [1], cfg)


@pytest.mark.parametrize("name", MODELS)
def test_logits_of_prefill_and_ten_decode_steps_match_torch(exported, name):
    model, dec = exported[name]
    prompt = np.asarray(_prompt(model, 12, rows=2), dtype=np.int64)
    with torch.no_grad():
        want, state = model(torch.from_numpy(prompt), None)
    got, ostate = dec.forward(prompt, None)
    assert got.shape == tuple(want.shape)
    worst = float(np.abs(got - want.numpy()).max())
    for _ in range(10):
        nxt = want[:, -1].argmax(-1, keepdim=True)
        with torch.no_grad():
            want, state = model(nxt, state)
        got, ostate = dec.forward(nxt.numpy(), ostate)
        worst = max(worst, float(np.abs(got - want.numpy()).max()))
    assert ostate.pos == 22
    assert worst < TOL, f"{name}: max |logit diff| {worst:.3g}"


@pytest.mark.parametrize("name", MODELS)
def test_greedy_64_tokens_are_torchs_greedy(exported, name):
    model, dec = exported[name]
    prompt = _prompt(model, 8)
    want = generate(model, prompt, GenerationConfig(do_sample=False, max_new_tokens=64))
    assert dec.generate(prompt, 64) == want
    assert len(want[0]) == 8 + 64


@pytest.mark.parametrize("name", ["melody-transformer", "poem-english", "tiny-learned", "tiny-relative"])
def test_greedy_past_block_size_slides_as_torch_does(exported, name):
    """Prompt + 64 new tokens exceed block_size: the runner slides (relative) or recomputes (learned) like torch."""
    model, dec = exported[name]
    bs = model.config.block_size
    prompt = _prompt(model, bs - 8, rows=2)
    want = generate(model, prompt, GenerationConfig(do_sample=False, max_new_tokens=64))
    assert dec.generate(prompt, 64) == want
    long = [p + w[-20:] for p, w in zip(prompt, want)]  # a prompt longer than block_size is cropped, as torch does
    assert dec.generate(long, 16) == generate(model, long, GenerationConfig(do_sample=False, max_new_tokens=16))


def test_one_call_longer_than_block_size_is_refused(exported):
    _, dec = exported["tiny-relative"]
    with pytest.raises(DataError, match="17 tokens in one call exceed the graph's block_size 16"):
        dec.forward(np.ones((1, 17), dtype=np.int64))
    with pytest.raises(DataError, match="ids must lie in 0..28"):
        dec.forward([[3, 29]])


def test_greedy_stops_at_eos_as_torch_does(exported):
    model, dec = exported["tiny-gru"]
    prompt = _prompt(model, 4, rows=3)
    free = generate(model, prompt, GenerationConfig(do_sample=False, max_new_tokens=30))
    eos = free[0][10]  # a token the first row writes
    cfg = GenerationConfig(do_sample=False, max_new_tokens=30, eos_id=eos)
    assert dec.generate(prompt, 30, eos_id=eos) == generate(model, prompt, cfg)


def test_graph_has_the_state_as_inputs_and_outputs_with_dynamic_axes(exported):
    _, dec = exported["melody-transformer"]
    ins = {i.name: i.shape for i in dec.session.get_inputs()}
    outs = {o.name: o.shape for o in dec.session.get_outputs()}
    assert ins == {"input_ids": ["batch", "seq"], "past_key": [4, "batch", 4, "past", 32],
                   "past_value": [4, "batch", 4, "past", 32], "position": [1]}  # rope: the first new position
    assert outs["logits"] == ["batch", "seq", 69] and outs["present_key"][3] == "total"  # events + control tokens
    assert dec.meta["pos"] == "rope" and dec.max_context == 128
    _, lstm = exported["melody-lstm"]
    assert [i.name for i in lstm.session.get_inputs()] == ["input_ids", "h0", "c0"]
    assert [o.name for o in lstm.session.get_outputs()] == ["logits", "hn", "cn"]
    assert lstm.max_context is None


def test_cli_writes_the_graph_beside_the_tokenizer_and_generation_config(tmp_path, capsys):
    out = tmp_path / "melody-lstm-onnx"
    assert main(["models", "export", "melody-lstm", "--format", "onnx", "-o", str(out)]) == 0
    src = shipped_models()["melody-lstm"]
    assert sorted(p.name for p in out.iterdir()) == ["generation_config.json", GRAPH_FILE, "tokenizer.json"]
    for name in ("tokenizer.json", "generation_config.json"):
        assert (out / name).read_bytes() == (src / name).read_bytes()
    assert "max |logit diff| to torch" in capsys.readouterr().out
    dec = OnnxDecoder(out)
    assert dec.generation_config == json.loads((src / "generation_config.json").read_text(encoding="utf-8"))
    assert len(dec.generate([1, 5, 7], 5)) == 1
    # exporting again replaces the earlier export; a folder of other files is never replaced
    assert main(["models", "export", "melody-lstm", "--format", "onnx", "-o", str(out)]) == 0
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    capsys.readouterr()
    assert main(["models", "export", "melody-lstm", "--format", "onnx", "-o", str(other)]) == 2
    assert "holds other files" in capsys.readouterr().err and (other / "mine.txt").read_text() == "keep"


def test_cli_export_as_a_model_directory_still_works(tmp_path):
    out = tmp_path / "copy"
    assert main(["models", "export", "melody-lstm", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and not (out / GRAPH_FILE).exists()


@pytest.mark.parametrize("name", ["no-such-model", "vae-2bar", "gan-digits"])
def test_cli_bad_or_unsupported_model_is_one_error_line(tmp_path, capsys, name):
    out = tmp_path / "out"
    assert main(["models", "export", name, "--format", "onnx", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"muse: error: {name}: "), err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_without_an_output_is_one_error_line(capsys):
    assert main(["models", "export", "melody-lstm", "--format", "onnx"]) == 2
    assert capsys.readouterr().err.strip() == "muse: error: models export: name the output directory (OUT or -o OUT)"


def test_missing_onnxruntime_names_the_pip_command(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(MissingExtra) as e:
        OnnxDecoder(exported["tiny-gru"][1].path)
    assert str(e.value) == ("running an ONNX model needs onnxruntime, which is not installed: "
                            "pip install 'muse[onnx]'")

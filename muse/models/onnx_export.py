"""ONNX export of the decoding models, and a small onnxruntime runner for them.

The graph is one decoding step with the state as explicit inputs and outputs,
so the same graph reads a prompt (prefill, empty state) and then one token at a
time (decode). Batch and sequence axes are dynamic.

:class:`~muse.models.transformer.TransformerLM` (every ``pos``)::

    input_ids  int64   [B, T]
    past_key   float32 [n_layer, B, n_head, S, head_dim]   (S = 0 for the prefill)
    past_value float32 [n_layer, B, n_head, S, head_dim]
    position   int64   [1]   (rope only: absolute position of the first new token)
    -> logits        float32 [B, T, vocab_size]
       present_key   float32 [n_layer, B, n_head, S + T, head_dim]
       present_value float32 [n_layer, B, n_head, S + T, head_dim]

The past length is read from the shape of ``past_key``: learned positions are
``S .. S + T - 1``; the relative logits use the last ``S + T`` learned
distances (the "skew" of the model, written with dynamic shapes); alibi's bias
is ``-slope * (query - key)``; rope rotates queries and keys by the angles of
``position .. position + T - 1`` (float64, as the model), since after the window
slides the cache length no longer tells the position. The graph
holds ``S + T <= block_size`` only: going past ``block_size`` is done by
:class:`OnnxDecoder` outside the graph, exactly as ``TransformerLM.forward``
does it (rope, alibi, relative: the cache slides to its last ``block_size - T`` positions;
learned: the last ``block_size`` tokens are recomputed with an empty past).
:meth:`OnnxDecoder.forward` refuses a single call of more than ``block_size``
tokens, as the model does.

:class:`~muse.models.rnn.RNNLM` (LSTM, GRU, RNN cells)::

    input_ids int64 [B, T], h0 float32 [n_layer, B, n_hidden] (, c0 for the LSTM)
    -> logits [B, T, vocab_size], hn (, cn)

The graph's metadata (``muse.*`` properties) describe the model, so the
``.onnx`` file alone is enough for :class:`OnnxDecoder`. :func:`export_onnx`
writes ``model.onnx`` into a directory, with ``tokenizer.json`` and
``generation_config.json`` beside it, then checks the graph against the torch
model with onnxruntime.

Exporting needs ``onnx`` and ``onnxruntime``; running needs onnxruntime and
numpy only (``pip install 'muse[onnx]'``). Torch is imported only to export.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from muse.core.files import atomic_directory
from muse.errors import CheckpointError, ConfigError, DataError, require

OPSET = 17
GRAPH_FILE = "model.onnx"
COPIED_FILES = ("tokenizer.json", "generation_config.json")
"""Files of the model directory written beside the graph."""
FORMAT = 1
"""Version of the graph's interface (``muse.format`` in its metadata)."""
VERIFY_TOLERANCE = 1e-3
"""Largest |logit difference| to torch that :func:`export_onnx` accepts."""


# --------------------------------------------------------------------------- export (torch)


def exportable(model: Any) -> str | None:
    """Why ``model`` cannot be exported, or None when it can."""
    name = getattr(model, "model_name", type(model).__name__)
    if name not in ("transformer", "rnn"):
        return (f"ONNX export covers the token language models (transformer, rnn); "
                f"this is a {name!r} model")
    return None


def _step_module(model: Any):  # an nn.Module, defined here so that torch is imported only to export
    """The traced module: one decoding step of ``model`` with its state as plain tensors."""
    import torch
    from torch import nn

    class TransformerStep(nn.Module):
        """``TransformerLM.forward`` for ``past + T <= block_size``, with the cache as stacked tensors."""

        def __init__(self, m: nn.Module):
            super().__init__()
            self.m = m

        def forward(self, input_ids, past_key, past_value, position=None):
            from muse.models.transformer import ROPE_BASE, apply_rope

            m, c = self.m, self.m.config
            b, t = input_ids.shape[0], input_ids.shape[1]
            past = past_key.shape[3]
            lk = past + t
            h, d = c.n_head, c.n_embd // c.n_head
            x = m.wte(input_ids)
            if m.wpe is not None:
                x = x + m.wpe(torch.arange(past, lk, device=input_ids.device))
            # query i (absolute position past + i) sees key k when k <= past + i
            qpos = torch.arange(t, device=input_ids.device)[:, None] + past
            mask = torch.arange(lk, device=input_ids.device)[None, :] <= qpos
            scale = 1.0 / float(d) ** 0.5
            rope = bias = None
            if c.pos == "rope":
                inv_freq = ROPE_BASE ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
                ang = (torch.arange(t, device=input_ids.device).to(torch.float64) + position.to(torch.float64))[:, None]
                ang = ang * inv_freq[None, :]
                rope = ang.cos().to(torch.float32), ang.sin().to(torch.float32)
            elif c.pos == "alibi":
                dist = (qpos - torch.arange(lk, device=input_ids.device)[None, :]).to(torch.float32)
                bias = -m.alibi_slopes[:, None, None] * dist  # [H, T, lk]
            keys, values = [], []
            for layer, block in enumerate(m.blocks):
                a = block.attn
                q, k, v = a.qkv(block.ln1(x)).split(c.n_embd, dim=2)
                q, k, v = (z.reshape(b, t, h, d).transpose(1, 2) for z in (q, k, v))
                if rope is not None:
                    q, k = apply_rope(q, *rope), apply_rope(k, *rope)
                k = torch.cat([past_key[layer], k], dim=2)
                v = torch.cat([past_value[layer], v], dim=2)
                keys.append(k)
                values.append(v)
                q = q * scale
                att = q @ k.transpose(-1, -2)
                if a.rel_emb is not None:
                    e = a.rel_emb[:, c.block_size - lk:, :]  # distances lk-1 .. 0, [H, lk, D]
                    rel = q @ e.transpose(-1, -2)  # [B, H, T, lk], column j: distance lk-1-j
                    # skew: pad a column on the left, re-read with row stride lk (see transformer.skew)
                    padded = torch.nn.functional.pad(rel, (1, 0)).reshape(b, h, t * (lk + 1))
                    att = att + padded[:, :, t:].reshape(b, h, t, lk)
                if bias is not None:
                    att = att + bias
                att = att.masked_fill(~mask, float("-inf")).softmax(-1)
                y = (att @ v).transpose(1, 2).reshape(b, t, c.n_embd)
                x = x + a.proj(y)
                x = x + block.mlp(block.ln2(x))
            return m.head(m.ln_f(x)), torch.stack(keys), torch.stack(values)

    class RNNStep(nn.Module):
        """``RNNLM.forward`` with the hidden state as explicit tensors."""

        def __init__(self, m: nn.Module):
            super().__init__()
            self.m = m

        def forward(self, input_ids, h0, c0=None):
            state = h0 if c0 is None else (h0, c0)
            out, state = self.m.rnn(self.m.embed(input_ids), state)
            logits = self.m.head(out)
            if c0 is None:
                return logits, state
            return logits, state[0], state[1]

    if model.model_name == "transformer":
        return TransformerStep(model)
    return RNNStep(model)


def _interface(model: Any) -> dict[str, Any]:
    """Input/output names, dynamic axes and the metadata of ``model``'s graph."""
    cfg = model.config
    if model.model_name == "transformer":
        inputs = ["input_ids", "past_key", "past_value"] + (["position"] if cfg.pos == "rope" else [])
        outputs = ["logits", "present_key", "present_value"]
        axes = {"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"},
                "past_key": {1: "batch", 3: "past"}, "past_value": {1: "batch", 3: "past"},
                "present_key": {1: "batch", 3: "total"}, "present_value": {1: "batch", 3: "total"}}
        meta = {"arch": "transformer", "pos": cfg.pos, "block_size": cfg.block_size, "n_layer": cfg.n_layer,
                "n_head": cfg.n_head, "head_dim": cfg.n_embd // cfg.n_head, "vocab_size": cfg.vocab_size}
    else:
        lstm = cfg.cell == "lstm"
        inputs = ["input_ids", "h0"] + (["c0"] if lstm else [])
        outputs = ["logits", "hn"] + (["cn"] if lstm else [])
        axes = {"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
        axes.update({n: {1: "batch"} for n in inputs[1:] + outputs[1:]})
        meta = {"arch": "rnn", "cell": cfg.cell, "n_layer": cfg.n_layer, "n_hidden": cfg.n_hidden,
                "vocab_size": cfg.vocab_size}
    return {"inputs": inputs, "outputs": outputs, "dynamic_axes": axes, "meta": meta}


def _example_inputs(model: Any, batch: int = 2) -> tuple:
    """Tracing inputs: a past and several new tokens (no axis of size 0 or 1 where it can be helped)."""
    import torch

    cfg = model.config
    room = getattr(cfg, "block_size", 7)
    past = min(3, room // 2)
    seq = min(4, room - past)
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(0))
    if model.model_name == "transformer":
        shape = (cfg.n_layer, batch, cfg.n_head, past, cfg.n_embd // cfg.n_head)
        state = (ids, torch.randn(shape) * 0.1, torch.randn(shape) * 0.1)
        return (*state, torch.tensor([past + 2])) if cfg.pos == "rope" else state
    h = torch.zeros(cfg.n_layer, batch, cfg.n_hidden)
    return (ids, h, torch.zeros_like(h)) if cfg.cell == "lstm" else (ids, h)


def export_graph(model: Any, path: str | Path, opset: int = OPSET) -> Path:
    """Write ``model``'s decoding step as an ONNX graph at ``path`` (see the module docstring)."""
    why = exportable(model)
    if why:
        raise ConfigError(why)
    require("onnx", "onnx", "ONNX export")
    import warnings

    import onnx
    import torch

    iface = _interface(model)
    step = _step_module(model).eval()
    was_training = model.training
    model.eval()
    path = Path(path)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter of the TorchScript exporter
            torch.onnx.export(step, _example_inputs(model), str(path), input_names=iface["inputs"],
                              output_names=iface["outputs"], dynamic_axes=iface["dynamic_axes"],
                              opset_version=opset, do_constant_folding=True, dynamo=False)
    finally:
        model.train(was_training)
    proto = onnx.load(str(path))
    meta = {"muse.format": str(FORMAT), "muse.model": json.dumps(iface["meta"])}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def _torch_logits(model: Any, chunks: Sequence[np.ndarray]) -> list[np.ndarray]:
    import torch

    state = None
    out = []
    with torch.no_grad():
        for ids in chunks:
            logits, state = model(torch.from_numpy(ids), state)
            out.append(logits.numpy())
    return out


def compare_logits(model: Any, decoder: OnnxDecoder, prompt: Sequence[Sequence[int]], steps: int = 10,
                   seed: int = 0) -> float:
    """Max |logit difference| of ``decoder`` to ``model`` over a prefill of ``prompt`` and ``steps`` decode steps.

    Both read the same ids: the prompt, then ``steps`` single tokens drawn at random.
    """
    ids = np.asarray(prompt, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chunks = [ids] + [rng.integers(0, model.config.vocab_size, (ids.shape[0], 1)) for _ in range(steps)]
    expected = _torch_logits(model, chunks)
    state = None
    worst = 0.0
    for chunk, exp in zip(chunks, expected):
        got, state = decoder.forward(chunk, state)
        worst = max(worst, float(np.abs(got - exp).max()))
    return worst


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how close the graph is to torch."""

    directory: Path
    graph: Path
    files: list[str]
    max_abs_diff: float


def export_onnx(model: Any, out: str | Path, *, source: str | Path | None = None, tokenizer: Any = None,
                generation_config: Any = None, verify: bool = True) -> ExportReport:
    """Write ``out/model.onnx`` with ``tokenizer.json`` and ``generation_config.json`` beside it.

    The two files are copied from the model directory ``source`` when it has them,
    else written from ``tokenizer`` / ``generation_config``. With ``verify`` the graph
    is run with onnxruntime against the torch model (a prefill and 10 decode steps)
    and an error is raised when logits differ by more than ``VERIFY_TOLERANCE``.
    The directory appears complete or not at all.
    """
    why = exportable(model)
    if why:
        raise ConfigError(why)
    require("onnx", "onnx", "ONNX export")
    if verify:
        require("onnxruntime", "onnx", "checking the exported graph")
    d = Path(out)
    if d.exists() and not d.is_dir():
        raise ConfigError("exists and is not a directory (the ONNX export is a directory)", d)
    with atomic_directory(d, replace=lambda x: (x / GRAPH_FILE).is_file()) as tmp:  # an earlier export: replaced
        graph = export_graph(model, tmp / GRAPH_FILE)
        src = Path(source) if source is not None and Path(source).is_dir() else None
        files = [GRAPH_FILE]
        for name in COPIED_FILES:
            if src is not None and (src / name).is_file():
                shutil.copyfile(src / name, tmp / name)
            elif name == "tokenizer.json" and tokenizer is not None:
                from muse.tokenizers.base import tokenizer_to_dict

                (tmp / name).write_text(json.dumps(tokenizer_to_dict(tokenizer), indent=1, ensure_ascii=False)
                                        + "\n", encoding="utf-8")
            elif name == "generation_config.json" and generation_config is not None:
                generation_config.save_pretrained(tmp)
            else:
                continue
            files.append(name)
        diff = float("nan")
        if verify:
            n = min(5, getattr(model.config, "block_size", 5))
            prompt = np.random.default_rng(1).integers(0, model.config.vocab_size, (2, n)).tolist()
            diff = compare_logits(model, OnnxDecoder(graph, threads=1), prompt)
            if not diff <= VERIFY_TOLERANCE:
                raise CheckpointError(f"the exported graph disagrees with the torch model: max |logit diff| "
                                      f"{diff:.3g} > {VERIFY_TOLERANCE:g}", d)
    return ExportReport(d, d / GRAPH_FILE, files, diff)


# --------------------------------------------------------------------------- runner (numpy + onnxruntime)


@dataclass
class OnnxState:
    """Decoding state of :class:`OnnxDecoder`: the graph's state tensors by input name."""

    arrays: dict[str, np.ndarray]
    pos: int
    """Tokens consumed so far (may exceed the cached length once the window slides)."""
    tokens: np.ndarray | None = None
    """The last ``block_size`` ids (learned positions only, to recompute the window)."""

    @property
    def length(self) -> int:
        """Cached positions (transformer) or tokens read (RNN)."""
        past = self.arrays.get("past_key")
        return int(past.shape[3]) if past is not None else self.pos


@dataclass
class OnnxDecoder:
    """Greedy decoding with an exported graph (a ``model.onnx`` file or the directory holding it).

    ``forward(ids, state)`` behaves as the torch model's ``forward`` (numpy in and out),
    including the transformer's sliding window past ``block_size``.
    """

    path: str | Path
    threads: int | None = None
    """onnxruntime intra-op threads (None: its default)."""
    providers: Sequence[str] = ("CPUExecutionProvider",)
    meta: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        ort = require("onnxruntime", "onnx", "running an ONNX model")
        p = Path(self.path)
        if p.is_dir():
            p = p / GRAPH_FILE
        if not p.is_file():
            raise CheckpointError("no ONNX graph here", p)
        self.path = p
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(p), sess_options=opts, providers=list(self.providers))
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise CheckpointError(f"onnxruntime cannot load the graph ({str(e).splitlines()[0][:160]})", p) from None
        props = self.session.get_modelmeta().custom_metadata_map
        if props.get("muse.format") != str(FORMAT) or "muse.model" not in props:
            raise CheckpointError(f"not a muse decoding graph (format {props.get('muse.format')!r}, "
                                  f"expected {FORMAT})", p)
        self.meta = json.loads(props["muse.model"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    # ---- shape facts
    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    @property
    def max_context(self) -> int | None:
        """Longest context the model attends to (None: an RNN, unbounded)."""
        return int(self.meta["block_size"]) if self.meta["arch"] == "transformer" else None

    @property
    def generation_config(self) -> dict[str, Any]:
        """``generation_config.json`` beside the graph ({} when absent)."""
        f = Path(self.path).parent / "generation_config.json"
        return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}

    def _empty_state(self, batch: int) -> dict[str, np.ndarray]:
        m = self.meta
        if m["arch"] == "transformer":
            z = np.zeros((m["n_layer"], batch, m["n_head"], 0, m["head_dim"]), dtype=np.float32)
            return {"past_key": z, "past_value": z}
        h = np.zeros((m["n_layer"], batch, m["n_hidden"]), dtype=np.float32)
        return {name: h for name in self.inputs[1:]}

    def _run(self, ids: np.ndarray, arrays: dict[str, np.ndarray],
             start: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        feed = {"input_ids": ids, **arrays}
        if "position" in self.inputs:  # rope: the absolute position of ids[:, 0]
            feed["position"] = np.asarray([start], dtype=np.int64)
        outs = self.session.run(None, feed)
        names = [n for n in self.inputs[1:] if n != "position"]
        return outs[0], dict(zip(names, outs[1:]))

    # ---- stepping
    def forward(self, ids: Any, state: OnnxState | None = None) -> tuple[np.ndarray, OnnxState]:
        """Logits ``[B, T, V]`` for ``ids`` ``[B, T]``, continuing from ``state`` (None: a fresh context)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 2 or ids.shape[1] < 1:
            raise DataError(f"onnx decoder: ids must be [batch, tokens] with at least one token, got {ids.shape}")
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise DataError(f"onnx decoder: ids must lie in 0..{self.vocab_size - 1}, "
                            f"got {int(ids.min())}..{int(ids.max())}")
        b, t = ids.shape
        pos = (state.pos if state is not None else 0) + t
        if self.meta["arch"] == "rnn":
            logits, arrays = self._run(ids, state.arrays if state is not None else self._empty_state(b))
            return logits, OnnxState(arrays, pos)
        bs = int(self.meta["block_size"])
        if t > bs:
            raise DataError(f"onnx decoder: {t} tokens in one call exceed the graph's block_size {bs}; "
                            f"feed at most {bs} at once (the window slides between calls)")
        learned = self.meta["pos"] == "learned"
        if state is not None and learned and state.length + t > bs:
            # absolute positions cannot slide: recompute the last block_size tokens (as TransformerLM does)
            window = np.concatenate([state.tokens, ids], axis=1)[:, -bs:]
            logits, arrays = self._run(window, self._empty_state(b))
            return logits[:, -t:], OnnxState(arrays, pos, window)
        if state is not None and t < bs:  # slide: keep at most block_size - t cached positions
            keep = bs - t
            arrays = {k: np.ascontiguousarray(v[:, :, :, -keep:]) for k, v in state.arrays.items()}
        else:
            arrays = self._empty_state(b)
        logits, arrays = self._run(ids, arrays, state.pos if state is not None else 0)
        tokens = None
        if learned:
            tokens = ids if state is None else np.concatenate([state.tokens, ids], axis=1)[:, -bs:]
        return logits, OnnxState(arrays, pos, tokens)

    def generate(self, prompt: Sequence[int] | Sequence[Sequence[int]], max_new_tokens: int = 64,
                 eos_id: int | None = None) -> list[list[int]]:
        """Greedy continuation of ``prompt`` (one id list, or several of one length).

        Returns the full sequences (prompt + new ids, ``eos_id`` left out), as
        :func:`muse.sampling.sampler.generate` does with ``do_sample=False``.
        """
        single = len(prompt) > 0 and isinstance(prompt[0], (int, np.integer))
        rows = [list(prompt)] if single else [list(p) for p in prompt]
        if not rows or not rows[0] or len({len(r) for r in rows}) != 1:
            raise DataError("onnx decoder: give one or more non-empty prompts of one length")
        seqs = [list(map(int, r)) for r in rows]
        if max_new_tokens <= 0:
            return seqs
        ids = np.asarray(seqs, dtype=np.int64)
        if self.max_context is not None:
            ids = ids[:, -self.max_context:]
        logits, state = self.forward(ids, None)
        live = [True] * len(seqs)
        for step in range(max_new_tokens):
            nxt = logits[:, -1].argmax(-1)
            for r, tok in enumerate(nxt.tolist()):
                if not live[r]:
                    nxt[r] = eos_id if eos_id is not None else tok
                    continue
                if tok == eos_id:
                    live[r] = False
                else:
                    seqs[r].append(tok)
            if not any(live) or step == max_new_tokens - 1:
                break
            logits, state = self.forward(nxt[:, None].astype(np.int64), state)
        return seqs

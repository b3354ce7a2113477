"""The RNN and transformer language models: loss, training, KV cache, relative attention."""
from __future__ import annotations

import math

import pytest
import torch

from muse.core.module import StepContext
from muse.errors import ConfigError, DataError
from muse.models.lm import IGNORE_INDEX, lm_loss
from muse.models.registry import build_model
from muse.models.rnn import RNNLM
from muse.models.transformer import CausalSelfAttention, TransformerLM, relative_logits

V = 13


def tiny_transformer(pos: str, n_layer: int = 2, block_size: int = 8, **kw) -> TransformerLM:
    torch.manual_seed(0)
    cfg = dict(vocab_size=V, block_size=block_size, n_layer=n_layer, n_head=2, n_embd=16, pos=pos)
    return build_model("transformer", {**cfg, **kw}).eval()


def tiny_rnn(cell: str = "lstm", **kw) -> RNNLM:
    torch.manual_seed(0)
    return build_model("rnn", {"vocab_size": V, "cell": cell, "n_embd": 16, "n_hidden": 16, **kw}).eval()


# --------------------------------------------------------------------------- loss


def test_loss_ignores_padding_and_counts_tokens():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, V)
    target = torch.randint(0, V, (2, 5))
    target[0, 3:] = IGNORE_INDEX
    target[1, 4] = IGNORE_INDEX
    out = lm_loss(logits, target)
    keep = target != IGNORE_INDEX
    expected = torch.nn.functional.cross_entropy(logits[keep], target[keep])
    assert torch.allclose(out["loss"], expected)
    assert int(out["ntokens"]) == int(keep.sum()) == 7
    acc = (logits[keep].argmax(-1) == target[keep]).float().mean()
    assert torch.allclose(out["acc"], acc)


def test_loss_with_no_scored_target_is_zero_not_nan():
    out = lm_loss(torch.randn(1, 3, V), torch.full((1, 3), IGNORE_INDEX))
    assert float(out["loss"]) == 0.0 and int(out["ntokens"]) == 0


def test_model_loss_uses_forward_logits():
    m = tiny_transformer("relative")
    inp = torch.randint(0, V, (3, 6))
    tgt = torch.randint(0, V, (3, 6))
    tgt[2, 2:] = IGNORE_INDEX
    out = m.loss({"input": inp, "target": tgt}, StepContext())
    logits, _ = m(inp)
    assert torch.allclose(out["loss"], lm_loss(logits, tgt)["loss"])
    assert int(out["ntokens"]) == 14


def test_bad_batches_raise_data_error():
    m = tiny_rnn()
    with pytest.raises(DataError, match="lacks target"):
        m.loss({"input": torch.zeros(1, 3, dtype=torch.long)}, StepContext())
    with pytest.raises(DataError, match="input ids must lie in 0..12"):
        m.loss({"input": torch.full((1, 3), V), "target": torch.zeros(1, 3, dtype=torch.long)}, StepContext())
    t = tiny_transformer("learned")
    long = torch.zeros(1, 9, dtype=torch.long)
    with pytest.raises(DataError, match="exceed block_size 8"):
        t.loss({"input": long, "target": long}, StepContext())


# --------------------------------------------------------------------------- config


def test_tie_weights_needs_equal_sizes():
    with pytest.raises(ConfigError, match="tie_weights needs n_embd == n_hidden"):
        build_model("rnn", {"vocab_size": V, "n_embd": 16, "n_hidden": 32, "tie_weights": True})
    m = build_model("rnn", {"vocab_size": V, "n_embd": 16, "n_hidden": 16, "tie_weights": True})
    assert m.head.weight is m.embed.weight


@pytest.mark.parametrize(
    "name,cfg,msg",
    [
        ("rnn", {"vocab_size": V, "cell": "lstmx"}, "unknown cell 'lstmx'"),
        ("rnn", {"cell": "gru"}, "vocab_size must be a positive integer"),
        ("transformer", {"vocab_size": V, "n_embd": 10, "n_head": 4}, "divisible by n_head"),
        ("transformer", {"vocab_size": V, "n_embd": 12, "n_head": 4, "pos": "rope"}, "needs an even head size"),
        ("transformer", {"vocab_size": V, "pos": "rotary"}, "pos must be one of rope, alibi, relative, learned, got 'rotary'"),
    ],
)
def test_invalid_configs_raise_config_error(name, cfg, msg):
    with pytest.raises(ConfigError, match=msg):
        build_model(name, cfg)


def test_transformer_ties_head_and_counts_parameters_once():
    m = tiny_transformer("learned")
    assert m.head.weight is m.wte.weight
    unique = {id(p): p.numel() for p in m.parameters()}
    assert m.num_parameters() == sum(unique.values())
    assert m.max_context == 8 and tiny_rnn().max_context is None


def test_gpt2_style_init():
    m = tiny_transformer("relative", n_layer=4, n_embd=64, block_size=64)
    assert abs(m.wte.weight.std().item() - 0.02) < 0.003
    proj = m.blocks[0].mlp.proj.weight
    assert abs(proj.std().item() - 0.02 / math.sqrt(8)) < 0.001
    assert torch.all(m.blocks[0].attn.qkv.bias == 0)


# --------------------------------------------------------------------------- relative attention


def naive_relative_logits(q: torch.Tensor, rel: torch.Tensor, key_len: int) -> torch.Tensor:
    """O(L^2 D) reference: S[i, k] = q_i . E_r[max_rel - 1 - (i - k)] for causal pairs, 0 elsewhere."""
    b, h, tq, d = q.shape
    max_rel = rel.size(1)
    out = torch.zeros(b, h, tq, key_len)
    for i in range(tq):
        qi = i + key_len - tq  # absolute position of query i
        for k in range(qi + 1):
            e = rel[:, max_rel - 1 - (qi - k)]  # [H, D]
            out[:, :, i, k] = (q[:, :, i] * e).sum(-1)
    return out


@pytest.mark.parametrize("tq,lk", [(6, 6), (1, 6), (3, 7), (8, 8)])
def test_skewed_relative_logits_equal_naive(tq, lk):
    torch.manual_seed(1)
    q = torch.randn(2, 3, tq, 4)
    rel = torch.randn(3, 8, 4)
    got = relative_logits(q, rel, lk)
    want = naive_relative_logits(q, rel, lk)
    causal = torch.arange(lk)[None, :] <= torch.arange(tq)[:, None] + (lk - tq)
    assert torch.allclose(got[..., causal], want[..., causal], atol=1e-6)


def test_relative_attention_layer_equals_naive_attention():
    torch.manual_seed(2)
    cfg = TransformerLM.Config(vocab_size=V, block_size=8, n_head=2, n_embd=8, pos="relative")
    attn = CausalSelfAttention(cfg)
    torch.nn.init.normal_(attn.rel_emb, std=0.5)
    x = torch.randn(2, 7, 8)
    got, _ = attn(x)
    q, k, v = attn.qkv(x).split(8, dim=2)
    q, k, v = (z.view(2, 7, 2, 4).transpose(1, 2) for z in (q, k, v))
    scores = (q @ k.transpose(-1, -2) + naive_relative_logits(q, attn.rel_emb, 7)) / math.sqrt(4)
    scores = scores.masked_fill(~torch.ones(7, 7, dtype=torch.bool).tril(), float("-inf"))
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 7, 8)
    assert torch.allclose(got, attn.proj(y), atol=1e-5)


def test_relative_bias_changes_the_output():
    m = tiny_transformer("relative")
    x = torch.randint(0, V, (1, 8))
    before, _ = m(x)
    with torch.no_grad():
        for b in m.blocks:
            b.attn.rel_emb.normal_(std=1.0)
    after, _ = m(x)
    assert not torch.allclose(before, after, atol=1e-3)


# --------------------------------------------------------------------------- KV cache


@pytest.mark.parametrize("pos", ["rope", "alibi", "relative", "learned"])
def test_kv_cache_matches_full_recompute_within_block(pos):
    m = tiny_transformer(pos)
    x = torch.randint(0, V, (2, 8))
    full, _ = m(x)
    logits, state = m(x[:, :3])
    pieces = [logits]
    logits, state = m(x[:, 3:5], state)  # a chunk of two new tokens
    pieces.append(logits)
    for t in range(5, 8):
        logits, state = m(x[:, t : t + 1], state)
        pieces.append(logits)
    assert state.pos == 8 and state.length == 8
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)


def test_relative_sliding_window_equals_recompute_of_window_for_one_layer():
    """One layer: cached keys depend only on their own token, so the slid cache is exact."""
    m = tiny_transformer("relative", n_layer=1, block_size=6)
    x = torch.randint(0, V, (2, 15))
    _, state = m(x[:, :4])
    for t in range(4, 15):
        logits, state = m(x[:, t : t + 1], state)
        window = x[:, max(0, t + 1 - 6) : t + 1]
        want, _ = m(window)
        assert state.length == min(t + 1, 6)
        assert torch.allclose(logits[:, -1], want[:, -1], atol=1e-5)


def test_relative_sliding_window_deeper_layers_keep_older_context():
    """Two layers: upper-layer keys still carry tokens that left the window, so the logits
    differ from a crop-and-recompute once the window has slid (documented behaviour)."""
    m = tiny_transformer("relative", n_layer=2, block_size=4)
    with torch.no_grad():
        for b in m.blocks:
            b.attn.rel_emb.normal_(std=1.0)
    x = torch.randint(0, V, (1, 10))
    _, state = m(x[:, :1])
    for t in range(1, 10):
        logits, state = m(x[:, t : t + 1], state)
    assert state.length == 4 and state.pos == 10
    want, _ = m(x[:, -4:])
    assert torch.isfinite(logits).all()
    assert not torch.allclose(logits[:, -1], want[:, -1], atol=1e-5)


def test_learned_positions_past_block_recompute_the_window_exactly():
    m = tiny_transformer("learned", n_layer=2, block_size=5)
    x = torch.randint(0, V, (2, 12))
    _, state = m(x[:, :3])
    for t in range(3, 12):
        logits, state = m(x[:, t : t + 1], state)
        want, _ = m(x[:, max(0, t + 1 - 5) : t + 1])
        assert torch.allclose(logits[:, -1], want[:, -1], atol=1e-5)
    assert state.pos == 12 and state.length == 5


@pytest.mark.parametrize("make", [lambda: tiny_transformer("relative"), lambda: tiny_transformer("rope"),
                                  lambda: tiny_transformer("alibi"), lambda: tiny_rnn("gru"), lambda: tiny_rnn()])
def test_reorder_state_selects_and_duplicates_rows(make):
    m = make()
    x = torch.randint(0, V, (3, 5))
    _, state = m(x[:, :4])
    idx = torch.tensor([2, 0, 2])
    got, _ = m(x[idx, 4:5], m.reorder_state(state, idx))
    want, _ = m(x[idx])
    assert torch.allclose(got[:, -1], want[:, -1], atol=1e-5)


def test_rnn_state_continues_the_sequence():
    m = tiny_rnn("rnn_tanh", n_layer=3)
    x = torch.randint(0, V, (2, 9))
    full, _ = m(x)
    a, s = m(x[:, :4])
    b, _ = m(x[:, 4:], s)
    assert torch.allclose(torch.cat([a, b], 1), full, atol=1e-5)


# --------------------------------------------------------------------------- training


def _train(model: torch.nn.Module, steps: int = 100, lr: float = 2e-2) -> tuple[float, float]:
    seq = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8] * 2)
    batch = {"input": seq[None, :16], "target": seq[None, 1:17]}
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = None
    for step in range(steps):
        out = model.loss(batch, StepContext(step=step))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["loss"].item()
    model.eval()
    with torch.no_grad():
        last = float(model.loss(batch, StepContext(training=False))["loss"])
    return first, last


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_rnn_cells_learn_a_repeated_sequence(cell):
    first, last = _train(tiny_rnn(cell, dropout=0.1))
    assert last < 0.5 * first, (cell, first, last)


@pytest.mark.parametrize("pos", ["rope", "alibi", "relative", "learned"])
def test_transformer_learns_a_repeated_sequence(pos):
    first, last = _train(tiny_transformer(pos, block_size=16, dropout=0.1))
    assert last < 0.5 * first, (pos, first, last)

"""The transformer's position schemes (rope, alibi, relative, learned): the maths, the fused
attention path, and the KV cache within and past the block."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import muse.models.transformer as tr
from muse.models.registry import build_model
from muse.models.transformer import (POSITION_SCHEMES, CausalSelfAttention, TransformerLM, alibi_bias, alibi_slopes,
                                     apply_rope, rope_qk, rope_tables)
from muse.sampling.config import GenerationConfig
from muse.sampling.sampler import generate

V = 17
SLIDING = ("rope", "alibi", "relative")


def tiny(pos: str, n_layer: int = 2, block_size: int = 8, **kw) -> TransformerLM:
    torch.manual_seed(0)
    cfg = dict(vocab_size=V, block_size=block_size, n_layer=n_layer, n_head=2, n_embd=16, pos=pos)
    return build_model("transformer", {**cfg, **kw}).eval()


# --------------------------------------------------------------------------- rope


def test_rope_scores_depend_only_on_the_distance_even_far_out():
    """q_m . k_n is the same for (m, n) and (m + s, n + s), here with s up to a million."""
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 32), torch.randn(1, 1, 1, 32)

    def score(m: int, n: int) -> float:
        cq, sq = rope_tables(m, 1, 32, torch.device("cpu"))
        ck, sk = rope_tables(n, 1, 32, torch.device("cpu"))
        return float((apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum())

    base = score(7, 3)
    assert base != pytest.approx(score(7, 4), abs=1e-3)  # the distance matters
    for shift in (1, 100, 10_000, 1_000_000):
        assert score(7 + shift, 3 + shift) == pytest.approx(base, abs=1e-4)


def test_rope_is_a_rotation_and_position_zero_is_the_identity():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 5, 8)
    cos, sin = rope_tables(0, 5, 8, torch.device("cpu"))
    y = apply_rope(x, cos, sin)
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.equal(y[:, :, 0], x[:, :, 0])
    # channel pair (2j, 2j + 1) at position p turns by p * 10000^(-2j/D)
    ang = 3 * 10000.0 ** (-2 * 1 / 8)
    a, b = x[0, 0, 3, 2], x[0, 0, 3, 3]
    assert float(y[0, 0, 3, 2]) == pytest.approx(float(a * math.cos(ang) - b * math.sin(ang)), abs=1e-5)
    assert float(y[0, 0, 3, 3]) == pytest.approx(float(b * math.cos(ang) + a * math.sin(ang)), abs=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_fused_complex_rotation_of_queries_and_keys_equals_the_reference(dtype):
    torch.manual_seed(2)
    b, t, h, d = 2, 5, 3, 8
    qkv = torch.randn(b, t, 3 * h * d, dtype=dtype)
    cos, sin = rope_tables(4, t, d, torch.device("cpu"))
    q, k = rope_qk(qkv[..., : 2 * h * d], cos, sin, h)
    heads = [z.view(b, t, h, d).transpose(1, 2).float() for z in qkv.split(h * d, dim=2)]
    tol = 5e-2 if dtype == torch.bfloat16 else 1e-5
    assert q.dtype == dtype and q.shape == (b, h, t, d)
    assert torch.allclose(q.float(), apply_rope(heads[0], cos, sin), atol=tol)
    assert torch.allclose(k.float(), apply_rope(heads[1], cos, sin), atol=tol)


def naive_attention(q, k, v, bias=None):
    d = q.size(-1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if bias is not None:
        scores = scores + bias
    t = q.size(2)
    scores = scores.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
    return scores.softmax(-1) @ v


def _heads(attn: CausalSelfAttention, x: torch.Tensor):
    b, t, c = x.shape
    q, k, v = attn.qkv(x).split(c, dim=2)
    return [z.view(b, t, attn.n_head, attn.head_dim).transpose(1, 2) for z in (q, k, v)]


def test_rope_layer_equals_naive_rotated_attention():
    m = tiny("rope", n_layer=1)
    attn = m.blocks[0].attn
    x = torch.randn(2, 7, 16)
    got, _ = attn(x, None, m._positions(0, 7, 7, x.dtype, x.device))
    q, k, v = _heads(attn, x)
    cos, sin = rope_tables(0, 7, 8, x.device)
    y = naive_attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v)
    assert torch.allclose(got, attn.proj(y.transpose(1, 2).reshape(2, 7, 16)), atol=1e-5)


def test_rope_training_forward_runs_the_fused_causal_kernel(monkeypatch):
    """No mask reaches scaled_dot_product_attention: is_causal=True, so the flash/fused kernel applies."""
    calls = []
    real = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(tr.F, "scaled_dot_product_attention", spy)
    m = tiny("rope", n_layer=2).train()
    m(torch.randint(0, V, (2, 8)))
    assert len(calls) == 2 and all(c.get("is_causal") and c.get("attn_mask") is None for c in calls)
    q = torch.randn(2, 2, 8, 8, requires_grad=True)
    assert torch._fused_sdp_choice(q, q, q, is_causal=True) != 0  # 0 is the math (unfused) backend


def test_rope_has_no_parameters_and_keeps_the_learned_models_state_dict_keys():
    rope, learned = tiny("rope"), tiny("learned")
    assert set(rope.state_dict()) == set(learned.state_dict()) - {"wpe.weight"}
    assert set(tiny("alibi").state_dict()) == set(rope.state_dict())  # the slopes are not saved


# --------------------------------------------------------------------------- alibi


def test_alibi_slopes_follow_the_paper():
    assert alibi_slopes(8).tolist() == [2.0 ** -(i + 1) for i in range(8)]
    assert alibi_slopes(4).tolist() == [2.0 ** -(2 * (i + 1)) for i in range(4)]
    # 6 heads: the 4-head slopes, then every other slope of 8 heads
    assert alibi_slopes(6).tolist() == [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125]


def test_alibi_bias_penalises_distance_and_masks_the_future():
    slopes = torch.tensor([0.5, 0.25])
    b = alibi_bias(slopes, 2, 4)  # the last 2 of 4 positions query all 4 keys
    assert b.shape == (1, 2, 2, 4)
    assert b[0, 0, 0].tolist() == [-1.0, -0.5, 0.0, float("-inf")]
    assert b[0, 1, 1].tolist() == [-0.75, -0.5, -0.25, 0.0]


def test_alibi_layer_equals_naive_biased_attention():
    m = tiny("alibi", n_layer=1)
    attn = m.blocks[0].attn
    x = torch.randn(2, 7, 16)
    got, _ = attn(x, None, m._positions(0, 7, 7, x.dtype, x.device))
    q, k, v = _heads(attn, x)
    dist = torch.arange(7)[:, None] - torch.arange(7)[None, :]
    bias = -m.alibi_slopes[:, None, None] * dist.float()
    y = naive_attention(q, k, v, bias)
    assert torch.allclose(got, attn.proj(y.transpose(1, 2).reshape(2, 7, 16)), atol=1e-5)


# --------------------------------------------------------------------------- KV cache


@pytest.mark.parametrize("pos", POSITION_SCHEMES)
def test_cached_decoding_within_the_block_equals_one_forward(pos):
    m = tiny(pos, block_size=12)
    x = torch.randint(0, V, (3, 12))
    with torch.no_grad():
        full, _ = m(x)
        logits, state = m(x[:, :1])
        pieces = [logits]
        logits, state = m(x[:, 1:6], state)  # a chunk
        pieces.append(logits)
        for t in range(6, 12):
            logits, state = m(x[:, t : t + 1], state)
            pieces.append(logits)
    assert state.pos == 12 and state.length == 12
    assert torch.allclose(torch.cat(pieces, 1), full, atol=1e-5)


@pytest.mark.parametrize("pos", SLIDING)
@pytest.mark.parametrize("chunk", [1, 3])
def test_one_layer_past_the_block_equals_the_recompute_of_the_cropped_window(pos, chunk):
    """The cache slides without recomputing; one layer's keys depend on their own token only,
    and every scheme scores distances, so the slid cache gives the window's logits."""
    bs = 6
    m = tiny(pos, n_layer=1, block_size=bs)
    x = torch.randint(0, V, (2, 40))
    with torch.no_grad():
        _, state = m(x[:, :4])
        t = 4
        while t + chunk <= 40:
            logits, state = m(x[:, t : t + chunk], state)
            t += chunk
            want, _ = m(x[:, max(0, t - bs) : t])
            assert state.pos == t and state.length == min(t, bs)
            assert torch.allclose(logits, want[:, -chunk:], atol=1e-5), (pos, t)


def test_rope_slides_without_recomputing_and_deeper_layers_remember():
    """Two layers: no call past the block reads more than its new tokens, and the upper layer's
    cached keys still carry tokens that left the window (as relative attention, Transformer-XL)."""
    m = tiny("rope", n_layer=2, block_size=4)
    seen = []
    m.wte.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].size(1)))
    x = torch.randint(0, V, (1, 12))
    with torch.no_grad():
        _, state = m(x[:, :1])
        for t in range(1, 12):
            logits, state = m(x[:, t : t + 1], state)
        assert seen == [1] * 12 and state.pos == 12 and state.length == 4
        want, _ = m(x[:, -4:])
    assert torch.isfinite(logits).all() and not torch.allclose(logits[:, -1], want[:, -1], atol=1e-4)


@pytest.mark.parametrize("pos", POSITION_SCHEMES)
def test_greedy_with_and_without_the_cache_agree_within_the_block(pos):
    m = tiny(pos, block_size=32)
    prompt = [1, 2, 3, 4]
    cached = generate(m, prompt, GenerationConfig(do_sample=False, max_new_tokens=28))
    fresh = generate(m, prompt, GenerationConfig(do_sample=False, max_new_tokens=28, use_cache=False))
    assert cached == fresh and len(cached[0]) == 32


@pytest.mark.parametrize("pos", ["rope", "alibi"])
def test_bf16_autocast_forward_and_backward(pos):
    m = tiny(pos).train()
    x = torch.randint(0, V, (2, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = m(x)
    loss = F.cross_entropy(logits.float().flatten(0, 1), x.flatten())
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_default_scheme_is_rope_and_saved_configs_keep_theirs():
    assert TransformerLM.Config().pos == "rope"
    m = build_model("transformer", {"vocab_size": V, "block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 16,
                                    "pos": "relative"})
    assert m.blocks[0].attn.rel_emb is not None


@pytest.mark.parametrize("pos", ["rope", "alibi"])
def test_onnx_graph_decodes_past_the_block_as_torch_does(tmp_path, pos):
    """The exported step takes rope's absolute position as an input, so the runner slides as the model does."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from muse.models.onnx_export import OnnxDecoder, export_onnx

    m = tiny(pos, block_size=16)
    report = export_onnx(m, tmp_path / pos)
    dec = OnnxDecoder(report.directory, threads=1)
    assert report.max_abs_diff < 1e-4 and dec.meta["pos"] == pos
    assert ("position" in dec.inputs) == (pos == "rope")
    prompt = [[1, 2, 3, 4, 5, 6, 7, 8], [3, 4, 5, 6, 7, 8, 9, 1]]
    assert dec.generate(prompt, 40) == generate(m, prompt, GenerationConfig(do_sample=False, max_new_tokens=40))

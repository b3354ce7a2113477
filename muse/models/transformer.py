"""Decoder-only transformer language model (GPT-2 layout) with four position schemes.

* ``pos="rope"`` (the default): rotary position embeddings (Su et al., 2021).
  Each query and key is rotated, channel pairs ``(2j, 2j + 1)`` by the angle
  ``p * base ** (-2j / head_dim)`` at position ``p``, so ``q_m . k_n`` depends
  only on ``m - n``. The rotation is one complex multiplication of queries and
  keys together, outside ``F.scaled_dot_product_attention``, which then runs its
  fused causal kernel (``is_causal=True``): time and memory as learned
  positions, no parameters.
* ``pos="alibi"``: attention with linear biases (Press et al., 2022), a fixed
  ``-slope_h * (i - k)`` added to head ``h``'s scores. The bias ``[1, H, T, L]``
  is built once per call and shared by the layers; on CPU PyTorch's fused
  (flash) kernel accepts such a 4-D float mask, so the ``[B, H, T, L]`` scores
  are never materialised, but the bias itself is ``H * T * L`` floats (no
  batch, no gradient).
* ``pos="learned"``: a learned absolute position embedding added to the tokens.
* ``pos="relative"``: Music Transformer relative attention (Huang et al., 2018).
  Each head owns learned embeddings ``E_r`` ``[block_size, head_dim]``, row
  ``block_size - 1 - d`` standing for "the key is ``d`` tokens before the
  query". The relative logits ``S_rel[i, k] = q_i . E_r(i - k)`` are obtained
  from ``Q @ E_r^T`` by the "skew" (pad one column, re-read the memory with a
  shifted row stride), so no ``[L, L, head_dim]`` tensor is ever built: memory
  is O(L * head_dim) besides the attention matrix itself. ``S_rel`` is added to
  ``Q K^T`` before the softmax, under the causal mask.

Blocks are pre-LayerNorm with a GELU MLP; the output head shares the token
embedding matrix; weights are initialised as GPT-2 (normal(0, 0.02), residual
projections scaled by ``1/sqrt(2 * n_layer)``).

Decoding state (:class:`KVCache`) keeps each layer's keys and values, so a call
with a state feeds only the new tokens. Within ``block_size`` tokens cached
decoding is exact for every scheme: the logits equal those of one forward over
the whole context (up to float rounding). Past ``block_size`` tokens:

* rope, alibi, relative: the cache slides, keeping the last ``block_size``
  positions, and nothing is recomputed. Cached rope keys keep the rotation of
  the position they were read at and new tokens continue the count
  (``KVCache.pos``), so every score still sees the true distance ``m - n``
  (angles are computed in float64, so positions may grow without bound).
  None of these schemes has an absolute position, so sliding is exact for the
  window in the first layer; keys/values of deeper layers still carry what they
  saw of tokens that have left the window (as in Transformer-XL). A one-layer
  model therefore gives the logits of a recompute over the cropped window (rope:
  up to float rounding of the rotations, which differ by a constant angle).
* learned: absolute positions cannot slide, so once the context is full each
  call recomputes the last ``block_size`` tokens from scratch (what nanoGPT
  does at every step) and rebuilds the cache from them: exact, but slower.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from muse.errors import ConfigError, DataError
from muse.models.lm import TokenLM
from muse.models.registry import register


POSITION_SCHEMES = ("rope", "alibi", "relative", "learned")
"""Values of ``TransformerLM.Config.pos``."""


@dataclass
class KVCache:
    """Decoding state of :class:`TransformerLM`."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    """Per layer, cached keys and values ``[B, n_head, L, head_dim]``."""
    pos: int
    """Tokens consumed so far (may exceed the cached length once the window slides)."""
    tokens: torch.Tensor | None = None
    """The last ``block_size`` token ids (learned positions only, to recompute the window)."""

    @property
    def length(self) -> int:
        """Number of cached positions."""
        return self.layers[0][0].size(2) if self.layers else 0


def skew(rel_logits: torch.Tensor) -> torch.Tensor:
    """Re-index ``Q @ E^T`` from relative to absolute key positions.

    ``rel_logits[..., i, j]`` scores query ``i`` against relative distance
    ``Lk - 1 - j``; queries are the last ``Tq`` of ``Lk`` positions. The result
    ``out[..., i, k]`` is the score of query ``i`` against key ``k`` for every
    causal pair (``k <= i + Lk - Tq``); other entries are meaningless and must
    be masked by the caller.
    """
    *lead, tq, lk = rel_logits.shape
    if tq == 1:  # the one query is the last position: already in key order
        return rel_logits
    padded = F.pad(rel_logits, (1, 0))  # [..., Tq, Lk + 1]
    flat = padded.reshape(*lead, tq * (lk + 1))
    return flat[..., tq:].reshape(*lead, tq, lk)


def relative_logits(q: torch.Tensor, rel_emb: torch.Tensor, key_len: int) -> torch.Tensor:
    """``S_rel`` ``[B, H, Tq, key_len]`` for queries ``q`` ``[B, H, Tq, D]``.

    ``rel_emb`` is ``[H, max_rel, D]``; row ``max_rel - 1 - d`` embeds distance ``d``.
    The queries are the last ``Tq`` of ``key_len`` positions.
    """
    if key_len > rel_emb.size(1):
        raise DataError(f"relative attention over {key_len} keys exceeds the {rel_emb.size(1)} learned distances")
    e = rel_emb[:, rel_emb.size(1) - key_len :, :]  # distances key_len-1 .. 0
    return skew(torch.einsum("bhtd,hld->bhtl", q, e))


def causal_mask(tq: int, lk: int, device: torch.device) -> torch.Tensor:
    """Bool ``[Tq, Lk]``, True where query ``i`` (the last Tq of Lk positions) may see key ``k``."""
    i = torch.arange(tq, device=device)[:, None] + (lk - tq)
    return torch.arange(lk, device=device)[None, :] <= i


ROPE_BASE = 10000.0
"""Base of the rotary frequencies (as RoFormer and GPT-NeoX)."""


def rope_tables(start: int, count: int, head_dim: int, device: torch.device,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` ``[count, head_dim / 2]`` of the rotary angles of positions ``start .. start + count - 1``.

    Angles are computed in float64, so large positions (a long slid decode) keep their precision.
    """
    inv_freq = ROPE_BASE ** (-torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim)
    pos = torch.arange(start, start + count, dtype=torch.float64, device=device)
    ang = pos[:, None] * inv_freq[None, :]
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs ``(2j, 2j + 1)`` of ``x`` ``[..., T, D]`` by the angles of ``cos``/``sin`` ``[T, D/2]``.

    Real arithmetic: the reference, the bf16/fp16 path and what the ONNX export traces.
    """
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1).flatten(-2)


def rope_qk(qk: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, n_head: int,
            turn: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotated queries and keys ``[B, H, T, D]`` from the first two thirds of the qkv projection ``[B, T, 2 C]``.

    In float32/float64 the pairs are read as complex numbers and multiplied by
    ``cos + i sin`` in one operation (forward and backward), several times cheaper
    on CPU than :func:`apply_rope`, which half precision falls back to. ``turn``:
    ``cos + i sin`` already built (complex64).
    """
    if qk.dtype in (torch.float32, torch.float64):
        z = torch.view_as_complex(qk.unflatten(-1, (2, n_head, -1, 2)))  # [B, T, 2, H, D/2]
        turn = torch.complex(cos, sin) if turn is None else turn
        out = torch.view_as_real(z * turn.to(z.dtype)[:, None, None, :]).flatten(-2)
    else:
        out = apply_rope(qk.unflatten(-1, (2, n_head, -1)), cos.to(qk.dtype)[:, None, None, :],
                         sin.to(qk.dtype)[:, None, None, :])
    q, k = out.unbind(2)  # unbind and split (not indexing): their backward is a stack / cat, not zeros + copy
    return q.transpose(1, 2), k.transpose(1, 2)


def alibi_slopes(n_head: int) -> torch.Tensor:
    """ALiBi's per-head slopes: ``2 ** (-8 (h + 1) / n)`` for ``n`` a power of two, interleaved otherwise."""
    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    p = 2 ** math.floor(math.log2(n_head))
    slopes = geometric(p)
    if p < n_head:  # the paper's recipe: the powers of two, then every other slope of 2p heads
        slopes += geometric(2 * p)[0::2][: n_head - p]
    return torch.tensor(slopes)


def alibi_bias(slopes: torch.Tensor, tq: int, lk: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive mask ``[1, H, Tq, Lk]``: ``-slope_h * (i - k)`` where query ``i`` (the last Tq of Lk) sees key ``k``,
    ``-inf`` elsewhere. 4-D, so that SDPA's fused CPU kernel takes it."""
    dev = slopes.device
    dist = (torch.arange(tq, device=dev)[:, None] + (lk - tq)) - torch.arange(lk, device=dev)[None, :]
    bias = -slopes.to(dtype)[:, None, None] * dist.to(dtype)
    return bias.masked_fill(dist < 0, float("-inf"))[None]


@dataclass
class Positions:
    """What one forward call's layers share about positions: rope's ``(cos, sin)`` or alibi's bias."""

    rope: tuple[torch.Tensor, torch.Tensor] | None = None
    bias: torch.Tensor | None = None
    turn: torch.Tensor | None = None
    """rope's ``cos + i sin`` (complex64), built once for all layers."""


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: "TransformerLM.Config"):
        super().__init__()
        self.n_head = cfg.n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.dropout)
        self.rel_emb = (
            nn.Parameter(torch.empty(cfg.n_head, cfg.block_size, self.head_dim)) if cfg.pos == "relative" else None
        )

    def forward(
        self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None, pos: Positions | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, t, c = x.shape
        qkv = self.qkv(x)
        if pos is not None and pos.rope is not None:
            qk, v = qkv.split([2 * c, c], dim=2)
            q, k = rope_qk(qk, *pos.rope, self.n_head, pos.turn)
            v = v.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        else:
            q, k, v = (z.view(b, t, self.n_head, self.head_dim).transpose(1, 2) for z in qkv.split(c, dim=2))
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        lk = k.size(2)
        drop = self.dropout if self.training else 0.0
        if self.rel_emb is not None:
            # Written out rather than SDPA with an additive mask (which takes SDPA's slower
            # math path anyway): scaling q once serves both products, ~15% faster on CPU.
            q = q * (1.0 / math.sqrt(self.head_dim))
            att = q @ k.transpose(-1, -2) + relative_logits(q, self.rel_emb, lk)
            if t > 1:  # a single new query sees every cached key
                att = att.masked_fill(~causal_mask(t, lk, x.device), float("-inf"))
            att = att.softmax(-1)
            y = (F.dropout(att, drop) if drop else att) @ v
        elif pos is not None and pos.bias is not None:  # alibi, causal mask folded in
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=pos.bias.to(q.dtype), dropout_p=drop)
        elif t == lk:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        elif t == 1:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(t, lk, x.device), dropout_p=drop)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.resid_drop(self.proj(y)), (k, v)


class MLP(nn.Module):
    def __init__(self, cfg: "TransformerLM.Config"):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: "TransformerLM.Config"):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(
        self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None, pos: Positions | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, kv = self.attn(self.ln1(x), cache, pos)
        x = x + a
        return x + self.mlp(self.ln2(x)), kv


@register("transformer")
class TransformerLM(TokenLM):
    """GPT-style decoder; see the module docstring for positions and caching."""

    @dataclass
    class Config:
        vocab_size: int = 0
        """Number of token ids (the tokenizer's vocab_size)."""
        block_size: int = 256
        """Longest context the model attends to."""
        n_layer: int = 4
        n_head: int = 4
        n_embd: int = 256
        """Model width; must be divisible by n_head."""
        dropout: float = 0.0
        bias: bool = True
        """Biases in linear layers and LayerNorms."""
        pos: str = "rope"
        """Position scheme: "rope" (rotary), "alibi" (linear biases), "relative" (Music Transformer)
        or "learned" (absolute, GPT-2); see the module docstring."""

    def __init__(self, config: Config):
        super().__init__()
        _validate(config)
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd) if config.pos == "learned" else None
        if config.pos == "alibi":  # a fixed buffer, not saved: checkpoints hold the same tensors for every scheme
            self.register_buffer("alibi_slopes", alibi_slopes(config.n_head), persistent=False)
        self._rope_memo: tuple[tuple, Positions] | None = None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.wte.weight
        self._init_weights()

    def _init_weights(self) -> None:
        resid_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if p.dim() < 2:
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                continue  # LayerNorm weights stay at 1
            std = resid_std if name.endswith("proj.weight") else 0.02
            nn.init.normal_(p, mean=0.0, std=std)

    @property
    def max_context(self) -> int:
        return self.config.block_size

    def forward(self, idx: torch.Tensor, state: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        """Logits ``[B, T, vocab_size]`` for ``idx`` ``[B, T]``.

        Without ``state`` ``idx`` is a whole context (``T <= block_size``); with
        one, ``idx`` holds the tokens that follow those already cached.
        """
        bs = self.config.block_size
        t = idx.size(1)
        if t > bs:
            raise DataError(f"transformer: {t} tokens in one call exceed block_size {bs}")
        learned = self.wpe is not None
        if state is not None and learned and state.length + t > bs:
            window = torch.cat([state.tokens, idx], dim=1)[:, -bs:]
            logits, fresh = self.forward(window, None)
            fresh.pos = state.pos + t
            return logits[:, -t:], fresh
        caches: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.blocks)
        past = 0
        if state is not None and t < bs:  # slide: keep at most block_size - t cached positions
            keep = bs - t
            caches = [(k[:, :, -keep:], v[:, :, -keep:]) for k, v in state.layers]
            past = caches[0][0].size(2)
        x = self.wte(idx)
        if learned:
            x = x + self.wpe(torch.arange(past, past + t, device=idx.device))
        x = self.drop(x)
        positions = self._positions(state.pos if state is not None else 0, t, past + t, x.dtype, idx.device)
        new_layers = []
        for block, cache in zip(self.blocks, caches):
            x, kv = block(x, cache, positions)
            new_layers.append(kv)
        logits = self.head(self.ln_f(x))
        pos = (state.pos if state is not None else 0) + t
        tokens = None
        if learned:
            tokens = idx if state is None else torch.cat([state.tokens, idx], dim=1)[:, -bs:]
        return logits, KVCache(new_layers, pos, tokens)

    def _positions(self, start: int, t: int, lk: int, dtype: torch.dtype, device: torch.device) -> Positions | None:
        """Rope tables for absolute positions ``start .. start + t - 1``, or alibi's bias for ``t`` queries over ``lk`` keys."""
        if self.config.pos == "rope":
            key = (start, t, device, dtype)
            if self._rope_memo is None or self._rope_memo[0] != key:  # training asks for (0, T) every step
                cos, sin = rope_tables(start, t, self.config.n_embd // self.config.n_head, device, dtype)
                self._rope_memo = (key, Positions(rope=(cos, sin), turn=torch.complex(cos.float(), sin.float())))
            return self._rope_memo[1]
        if self.config.pos == "alibi":
            return Positions(bias=alibi_bias(self.alibi_slopes, t, lk, dtype))
        return None

    def reorder_state(self, state: KVCache, indices: torch.Tensor) -> KVCache:
        """Keep batch rows ``indices`` (in that order, repeats allowed) of ``state``."""
        layers = [(k.index_select(0, indices), v.index_select(0, indices)) for k, v in state.layers]
        tokens = None if state.tokens is None else state.tokens.index_select(0, indices)
        return KVCache(layers, state.pos, tokens)


def _validate(c: TransformerLM.Config) -> None:
    for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
        if int(getattr(c, name)) < 1:
            raise ConfigError(f"transformer: {name} must be a positive integer, got {getattr(c, name)!r}")
    if c.n_embd % c.n_head:
        raise ConfigError(f"transformer: n_embd ({c.n_embd}) must be divisible by n_head ({c.n_head})")
    if c.pos not in POSITION_SCHEMES:
        raise ConfigError(f"transformer: pos must be one of {', '.join(POSITION_SCHEMES)}, got {c.pos!r}")
    if c.pos == "rope" and (c.n_embd // c.n_head) % 2:
        raise ConfigError(f"transformer: pos='rope' needs an even head size, got n_embd / n_head = {c.n_embd // c.n_head}")
    if not 0.0 <= c.dropout < 1.0:
        raise ConfigError(f"transformer: dropout must be in [0, 1), got {c.dropout!r}")

"""Decoding for the token language models: sampling, greedy, beam search, streaming.

The prompt is read in one forward call (prefill); after that the model gets one
token per step together with its state (KV cache or RNN hidden state), so the
context is never recomputed — unless ``GenerationConfig.use_cache`` is False,
in which case every step recomputes the last ``model.max_context`` tokens from
scratch (nanoGPT's loop, kept for speed comparisons).

Constraints are hard: at every step the masks ``c.allowed(seq)`` of all
constraints are intersected (:func:`muse.sampling.constraints.combine_masks`)
and disallowed ids get logit -inf before any other processing. A mask shorter
than the model's output (a vocabulary padded for speed) leaves the extra ids
disallowed. When no id is left, :class:`ConstraintError` is raised. Checking
constraints against the tokenizer (``c.check(tokenizer)``) is the caller's job,
before calling :func:`generate`.

``eos_id`` ends a sequence; it is *not* included in the returned sequences.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from muse.errors import ConfigError, ConstraintError, DataError
from muse.sampling.config import GenerationConfig
from muse.sampling.constraints import Constraint, combine_masks

StepCallback = Callable[[int, list], None]
"""``callback(step, new_ids)``: after each step, the id chosen per row (``None`` for
rows already finished); in beam search the last tokens of the current beams."""

_NEG_INF = float("-inf")


# --------------------------------------------------------------------------- public API

SMALL_MODEL = 20_000_000
"""Parameter count under which CPU decoding runs on one thread (``muse.core.threads.DECODE_SMALL``)."""


def generate(
    model: nn.Module,
    prompt: Sequence[int] | Sequence[Sequence[int]],
    config: GenerationConfig,
    constraints: Sequence[Constraint] = (),
    *,
    device: torch.device | str | None = None,
    callback: StepCallback | None = None,
) -> list[list[int]]:
    """Continue ``prompt`` (one id list, or a list of them) with ``model``.

    This is the token-level decoder under :func:`muse.generate_melodies`,
    :func:`muse.write_poems` and :meth:`muse.MuseModel.generate`; it knows
    nothing about music or text. ``muse.generate`` is this function.

    Args:
        model: a token language model (``TransformerLM`` or ``RNNLM``, e.g.
            ``muse.load("poem-tang").model``).
        prompt: token ids to continue: one list (``[bos_id, ...]``) or a list of
            lists; every prompt needs at least one id, all below the vocabulary size.
        config: the decoding settings (sampling, greedy or beam search, length,
            seed...); validated first.
        constraints: hard constraints; at every step the ids their masks forbid
            get probability 0 (ConstraintError when none is left). Check them
            against the tokenizer (``c.check(tokenizer)``) before calling.
        device: where the model lives; None: the device of its parameters.
        callback: ``callback(step, new_ids)`` after each step, with the id chosen
            per row (None for finished rows); None: no callback.

    Returns:
        list[list[int]]: ``config.num_return_sequences`` full sequences (prompt +
        generated ids, without ``eos_id``) per prompt, grouped by prompt in input
        order; beam search returns its best hypotheses first.

    Example:
        >>> import muse
        >>> from muse.sampling.sampler import generate
        >>> poet = muse.load("poem-tang")
        >>> cfg = muse.GenerationConfig(max_new_tokens=10, num_return_sequences=2, seed=0)
        >>> prompt = [poet.tokenizer.bos_id, *poet.tokenizer.encode("春")]
        >>> seqs = generate(poet.model, prompt, cfg)
        >>> len(seqs), len(seqs[0])
        (2, 12)
        >>> text = poet.tokenizer.decode(seqs[0])
    """
    config.validate()
    prompts = _normalise_prompts(prompt)
    dev = _model_device(model, device)
    gen = _generator(config.seed, dev)
    out: list[list[list[int]]] = [[] for _ in prompts]
    with _eval_mode(model, dev):
        if config.num_beams > 1:
            for i, p in enumerate(prompts):
                out[i] = _beam_search(model, p, config, constraints, dev, gen, callback)
        else:
            by_len: dict[int, list[int]] = {}
            for i, p in enumerate(prompts):
                by_len.setdefault(len(p), []).append(i)
            for idxs in by_len.values():
                rows = [prompts[i] for i in idxs for _ in range(config.num_return_sequences)]
                seqs = [list(r) for r in rows]
                for step, new in enumerate(_sample(model, rows, config, constraints, dev, gen)):
                    for seq, tok in zip(seqs, new):
                        if tok is not None and tok != config.eos_id:
                            seq.append(tok)
                    if callback is not None:
                        callback(step, new)
                n = config.num_return_sequences
                for j, i in enumerate(idxs):
                    out[i] = seqs[j * n : (j + 1) * n]
    return [seq for group in out for seq in group]


def stream_generate(
    model: nn.Module,
    prompt: Sequence[int],
    config: GenerationConfig,
    constraints: Sequence[Constraint] = (),
    *,
    device: torch.device | str | None = None,
) -> Iterator[int]:
    """Yield the generated ids of one sequence as soon as each is chosen (``eos_id`` is not yielded).

    Sampling or greedy only: ``num_beams`` and ``num_return_sequences`` must be 1.
    """
    config.validate()
    if config.num_beams != 1 or config.num_return_sequences != 1:
        raise ConfigError("generation: streaming produces one sequence; set num_beams=1 and num_return_sequences=1")
    (p,) = _normalise_prompts(list(prompt))
    dev = _model_device(model, device)
    with _eval_mode(model, dev):
        for new in _sample(model, [p], config, constraints, dev, _generator(config.seed, dev)):
            tok = new[0]
            if tok is None or tok == config.eos_id:
                return
            yield tok


# --------------------------------------------------------------------------- model stepping


class _Decoder:
    """Feeds the model step by step, with its state or by recomputing the context."""

    def __init__(self, model: nn.Module, use_cache: bool):
        self.model = model
        self.use_cache = use_cache
        self.max_context: int | None = getattr(model, "max_context", None)
        self.state: Any = None
        self.ctx: torch.Tensor | None = None

    def _crop(self, ids: torch.Tensor) -> torch.Tensor:
        return ids if self.max_context is None else ids[:, -self.max_context :]

    def prefill(self, ids: torch.Tensor) -> torch.Tensor:
        """Read the prompts ``[R, T]``; logits ``[R, V]`` of the next token."""
        logits, state = self.model(self._crop(ids), None)
        if self.use_cache:
            self.state = state
        else:
            self.ctx = self._crop(ids)
        return logits[:, -1]

    def step(self, new: torch.Tensor) -> torch.Tensor:
        """Append one id per row ``[R]``; logits ``[R, V]`` of the next token."""
        if self.use_cache:
            logits, self.state = self.model(new[:, None], self.state)
        else:
            assert self.ctx is not None
            self.ctx = self._crop(torch.cat([self.ctx, new[:, None]], dim=1))
            logits, _ = self.model(self.ctx, None)
        return logits[:, -1]

    def reorder(self, indices: torch.Tensor) -> None:
        if self.use_cache:
            self.state = self.model.reorder_state(self.state, indices)
        else:
            assert self.ctx is not None
            self.ctx = self.ctx.index_select(0, indices)


# --------------------------------------------------------------------------- logit processing


def _constraint_mask(
    constraints: Sequence[Constraint], seqs: list[list[int]], live: list[bool], vocab: int, device: torch.device
) -> torch.Tensor | None:
    """Bool ``[R, V]`` of allowed ids per row (rows not live are unrestricted), or None."""
    if not constraints:
        return None
    rows: list[torch.Tensor | None] = []
    for seq, alive in zip(seqs, live):
        rows.append(combine_masks([c.allowed(seq) for c in constraints]) if alive else None)
    if all(m is None for m in rows):
        return None
    out = torch.ones(len(seqs), vocab, dtype=torch.bool)
    for r, m in enumerate(rows):
        if m is None:
            continue
        m = m.reshape(-1).to("cpu", torch.bool)
        if m.numel() > vocab:
            names = ", ".join(type(c).__name__ for c in constraints)
            raise ConstraintError(f"constraint mask ({names}) has {m.numel()} entries but the model has {vocab} outputs")
        out[r] = False
        out[r, : m.numel()] = m
    return out.to(device)


def _banned_ngram_ids(seq: list[int], n: int) -> list[int]:
    """Ids that would complete an n-gram already present in ``seq``."""
    if len(seq) < n:
        return []
    prefix = seq[len(seq) - n + 1 :]
    return [seq[i + n - 1] for i in range(len(seq) - n + 1) if seq[i : i + n - 1] == prefix]


def _process(
    logits: torch.Tensor,
    seqs: list[list[int]],
    live: list[bool],
    constraints: Sequence[Constraint],
    config: GenerationConfig,
    seen: torch.Tensor | None,
    strict: bool,
) -> torch.Tensor:
    """Constraint masks, repetition penalty and n-gram blocking applied to ``logits`` [R, V].

    With ``strict``, a live row left with no allowed id raises ConstraintError.
    """
    logits = logits.float()
    mask = _constraint_mask(constraints, seqs, live, logits.size(-1), logits.device)
    if mask is not None:
        if strict:
            for r in torch.nonzero(~mask.any(-1)).flatten().tolist():
                if live[r]:
                    raise ConstraintError(_no_token_message(constraints, seqs[r]))
        logits = logits.masked_fill(~mask, _NEG_INF)
    if seen is not None:
        p = config.repetition_penalty
        logits = torch.where(seen, torch.where(logits > 0, logits / p, logits * p), logits)
    n = config.no_repeat_ngram_size
    if n > 0:
        logits = logits.clone()
        for r, (seq, alive) in enumerate(zip(seqs, live)):
            banned = _banned_ngram_ids(seq, n) if alive else []
            if banned:
                logits[r, banned] = _NEG_INF
        if strict:
            for r in torch.nonzero(torch.isneginf(logits).all(-1)).flatten().tolist():
                if live[r]:
                    raise ConstraintError(
                        f"no token is allowed after {len(seqs[r])} tokens once no_repeat_ngram_size={n} "
                        "blocks repeated n-grams; lower it or loosen the constraints"
                    )
    return logits


def _no_token_message(constraints: Sequence[Constraint], seq: list[int]) -> str:
    names = ", ".join(type(c).__name__ for c in constraints)
    return f"constraints ({names}) allow no token after {len(seq)} tokens (last ids {seq[-8:]}); they cannot all be met"


def _tempered(logits: torch.Tensor, temperature: float, top_k: int | None = None,
              top_p: float | None = None) -> torch.Tensor:
    """Temperature, top-k and top-p applied to logits ``[R, V]`` (removed ids: -inf)."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, _NEG_INF)
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass of the more likely ids
        drop_sorted = before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, _NEG_INF)
    return logits


def _sampling_logits(logits: torch.Tensor, config: GenerationConfig) -> torch.Tensor:
    """Temperature, top-k and top-p of ``config`` applied to processed logits (removed ids: -inf)."""
    return _tempered(logits, config.temperature, config.top_k, config.top_p)


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    greedy: bool = False,
    *,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """One id per row of ``logits [R, V]``: the argmax when ``greedy``, else a draw (with
    ``generator``) from the softmax of the logits divided by ``temperature``, cut to the
    ``top_k`` most likely ids and the ``top_p`` nucleus when given. Ids with logit -inf
    are never drawn. The one next-token choice of every decoder in muse."""
    if greedy:
        return logits.argmax(-1)
    probs = _tempered(logits, temperature, top_k, top_p).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _choose(logits: torch.Tensor, config: GenerationConfig, gen: torch.Generator | None) -> torch.Tensor:
    """One id per row: argmax, or a sample from the tempered/truncated distribution."""
    return sample_next(logits, config.temperature, gen, not config.do_sample, top_k=config.top_k, top_p=config.top_p)


# --------------------------------------------------------------------------- search loops


@torch.inference_mode()
def _sample(
    model: nn.Module,
    prompts: list[list[int]],
    config: GenerationConfig,
    constraints: Sequence[Constraint],
    device: torch.device,
    gen: torch.Generator | None,
) -> Iterator[list[int | None]]:
    """Sampling/greedy for rows of equal-length prompts; yields the new id of each row per step.

    A row yields ``eos_id`` once and then ``None``.
    """
    if config.max_new_tokens == 0:
        return
    _check_ids(model, prompts)
    seqs = [list(p) for p in prompts]
    dec = _Decoder(model, config.use_cache)
    logits = dec.prefill(torch.tensor(prompts, dtype=torch.long, device=device))
    vocab = logits.size(-1)
    seen = _seen_init(prompts, vocab, device) if config.repetition_penalty != 1.0 else None
    live = [True] * len(seqs)
    eos = config.eos_id
    for step in range(config.max_new_tokens):
        proc = _process(logits, seqs, live, constraints, config, seen, strict=True)
        nxt = _choose(proc, config, gen)
        if eos is not None and not all(live):
            nxt = nxt.masked_fill(~torch.tensor(live, device=device), eos)
        ids = nxt.tolist()
        out: list[int | None] = []
        for r, tok in enumerate(ids):
            if not live[r]:
                out.append(None)
                continue
            out.append(tok)
            seqs[r].append(tok)
            if tok == eos:
                live[r] = False
        if seen is not None:
            seen[torch.arange(len(ids), device=device), nxt] = True
        yield out
        if not any(live) or step == config.max_new_tokens - 1:
            return
        logits = dec.step(nxt)


@torch.inference_mode()
def _beam_search(
    model: nn.Module,
    prompt: list[int],
    config: GenerationConfig,
    constraints: Sequence[Constraint],
    device: torch.device,
    gen: torch.Generator | None,
    callback: StepCallback | None,
) -> list[list[int]]:
    """Beam search (or Magenta-style stochastic beam search) for one prompt."""
    if config.max_new_tokens == 0:
        return [list(prompt) for _ in range(config.num_return_sequences)]
    _check_ids(model, [prompt])
    nb, eos, lp = config.num_beams, config.eos_id, config.length_penalty
    dec = _Decoder(model, config.use_cache)
    logits = dec.prefill(torch.tensor([prompt], dtype=torch.long, device=device))
    vocab = logits.size(-1)
    first = torch.zeros(nb, dtype=torch.long, device=device)
    dec.reorder(first)
    logits = logits.expand(nb, vocab)
    seqs = [list(prompt) for _ in range(nb)]
    seen = _seen_init([prompt] * nb, vocab, device) if config.repetition_penalty != 1.0 else None
    scores = torch.full((nb,), _NEG_INF, device=device)
    scores[0] = 0.0  # one live beam at the start: no duplicate hypotheses
    finished: list[tuple[float, list[int]]] = []
    for step in range(config.max_new_tokens):
        live = (scores > _NEG_INF).tolist()
        proc = _process(logits, seqs, live, constraints, config, seen, strict=False)
        logp = proc.log_softmax(-1).nan_to_num(nan=_NEG_INF)
        cand = scores[:, None] + logp  # [nb, V]
        if config.do_sample:
            keys = _sampling_logits(proc, config)
            u = torch.rand(keys.shape, generator=gen, device=device).clamp_(1e-20, 1.0)
            keys = keys - torch.log(-torch.log(u))  # Gumbel top-k: draws without replacement
            key_val, tok = keys.topk(min(config.branch_factor, vocab), dim=-1)
            cand_scores = cand.gather(1, tok).masked_fill(torch.isneginf(key_val), _NEG_INF).flatten()
            cand_beam = torch.arange(nb, device=device).repeat_interleave(tok.size(1))
            cand_scores, order = cand_scores.sort(descending=True)
            cand_tok, cand_beam = tok.flatten()[order], cand_beam[order]
        else:
            cand_scores, flat = cand.flatten().topk(min(2 * nb, cand.numel()))
            cand_beam, cand_tok = flat // vocab, flat % vocab
        kept: list[tuple[float, int, int]] = []
        gen_len = step + 1
        for rank, (s, b, t) in enumerate(zip(cand_scores.tolist(), cand_beam.tolist(), cand_tok.tolist())):
            if s == _NEG_INF:
                break
            if eos is not None and t == eos:
                if rank < nb:
                    finished.append((s / gen_len**lp, list(seqs[b])))
                continue
            kept.append((s, b, t))
            if len(kept) == nb:
                break
        if not kept:
            if finished:
                break
            raise ConstraintError(
                _no_token_message(constraints, seqs[0]) if constraints else "no token can extend any beam"
            )
        kept += [(_NEG_INF, kept[0][1], kept[0][2])] * (nb - len(kept))
        beam_idx = torch.tensor([b for _, b, _ in kept], device=device)
        toks = torch.tensor([t for _, _, t in kept], device=device)
        scores = torch.tensor([s for s, _, _ in kept], device=device)
        seqs = [seqs[b] + [t] for _, b, t in kept]
        if seen is not None:
            seen = seen.index_select(0, beam_idx)
            seen[torch.arange(nb, device=device), toks] = True
        if callback is not None:
            callback(step, toks.tolist())
        if len(finished) >= nb:
            worst_kept = sorted((f[0] for f in finished), reverse=True)[nb - 1]
            if float(scores.max()) / gen_len**lp <= worst_kept:
                break
        if step == config.max_new_tokens - 1:
            break
        dec.reorder(beam_idx)
        logits = dec.step(toks)
    gen_len = len(seqs[0]) - len(prompt)
    for s, seq in zip(scores.tolist(), seqs):
        if s > _NEG_INF and gen_len > 0:
            finished.append((s / gen_len**lp, seq))
    finished.sort(key=lambda f: f[0], reverse=True)
    return [seq for _, seq in finished[: config.num_return_sequences]]


# --------------------------------------------------------------------------- helpers


def _seen_init(prompts: list[list[int]], vocab: int, device: torch.device) -> torch.Tensor:
    seen = torch.zeros(len(prompts), vocab, dtype=torch.bool, device=device)
    for r, p in enumerate(prompts):
        seen[r, torch.tensor(p, dtype=torch.long, device=device)] = True
    return seen


def _normalise_prompts(prompt: Any) -> list[list[int]]:
    if isinstance(prompt, torch.Tensor):
        prompt = prompt.tolist()
    prompt = list(prompt)
    if not prompt:
        raise ConfigError("generation: the prompt is empty; start it with at least one id (e.g. the tokenizer's bos_id)")
    batch = [prompt] if not isinstance(prompt[0], (list, tuple)) else [list(p) for p in prompt]
    for p in batch:
        if not p:
            raise ConfigError("generation: a prompt is empty; start it with at least one id (e.g. the tokenizer's bos_id)")
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in p):
            raise ConfigError("generation: prompts must be lists of integer token ids")
    return batch


def _check_ids(model: nn.Module, prompts: list[list[int]]) -> None:
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab is None:
        return
    for p in prompts:
        bad = [t for t in p if not 0 <= t < vocab]
        if bad:
            raise DataError(f"prompt id {bad[0]} is outside the model vocabulary 0..{vocab - 1}")


def _model_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


@contextlib.contextmanager
def _eval_mode(model: nn.Module, device: torch.device | None = None) -> Iterator[None]:
    """Eval mode; on CPU, small models decode token by token on one thread (intra-op
    threading only adds synchronisation at these sizes) unless MUSE_THREADS, OMP_NUM_THREADS
    or torch.set_num_threads chose otherwise (muse.core.threads)."""
    from muse.core.threads import cpu_threads

    was_training = model.training
    model.eval()
    try:
        with cpu_threads(model, device, decoding=True):
            yield
    finally:
        model.train(was_training)

"""MusicVAE-style melody VAE: BiLSTM encoder, flat or hierarchical LSTM decoder.

Input is a fixed-length melody slice, one token per 16th step (``seq_len`` =
``n_bars`` x steps per bar; 32 for MusicVAE's 2-bar model, 256 for 16 bars).

* Encoder: bidirectional LSTM; the last layer's final forward and backward states
  give ``mu`` (linear) and ``sigma`` (softplus of a linear).
* Flat decoder: an LSTM whose initial state is ``tanh(W z)`` and whose input at
  every step is ``[embedding(previous token), z]``.
* Hierarchical decoder: a *conductor* LSTM, started from ``tanh(W z)``, emits one
  embedding per bar; each bar is then decoded by the bar-level LSTM started from
  ``tanh(W' embedding)`` with ``[embedding(previous token), bar embedding]`` as
  input. The previous token carries across bar lines, so bars join up.

Training objective (per step, i.e. MusicVAE's objective divided by ``seq_len``)::

    loss = mean_batch( sum_t NLL_t + beta * max(KL - free_bits, 0) ) / seq_len

with ``KL`` the analytic KL(q(z|x) || N(0, I)) of each sequence in nats and
``beta = (1 - beta_rate ** step) * max_beta`` (MusicVAE's annealing). With
``sampling_schedule="inverse_sigmoid"`` each decoder input is the ground-truth
token with probability ``k / (k + exp(step / k))`` (``k = sampling_rate``) and
otherwise a token sampled from the model's own prediction (scheduled sampling).
MusicVAE trains with Adam, lr 1e-3 decaying (rate 0.9999) to 1e-5, grad-norm clip 1.0.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from muse.core.module import Batch, StepContext
from muse.errors import ConfigError, DataError
from muse.sampling.sampler import sample_next
from muse.models.latent import slerp
from muse.models.registry import register
from muse.tokenizers.base import Tokenizer

_SPECIAL_IDS = (Tokenizer.pad_id, Tokenizer.bos_id, Tokenizer.eos_id)
_SCHEDULES = ("none", "inverse_sigmoid")


def kl_beta(step: int, max_beta: float, beta_rate: float) -> float:
    """MusicVAE's KL weight: ``(1 - beta_rate ** step) * max_beta``."""
    return (1.0 - beta_rate ** max(step, 0)) * max_beta


def teacher_forcing_prob(step: int, schedule: str, rate: float) -> float:
    """Probability of feeding the ground-truth token at ``step``.

    ``"none"``: always 1. ``"inverse_sigmoid"``: ``k / (k + exp(step / k))`` with
    ``k = rate`` (starts near 1, is 0.5 at ``step = k ln k``, then decays to 0).
    """
    if schedule == "none":
        return 1.0
    if schedule == "inverse_sigmoid":
        x = step / rate
        return 0.0 if x > 700 else rate / (rate + math.exp(x))
    raise ConfigError(f"vae: unknown sampling_schedule {schedule!r}; use one of {', '.join(_SCHEDULES)}")


def _lstm_state_init(in_dim: int, hidden: int, layers: int) -> nn.Linear:
    return nn.Linear(in_dim, 2 * layers * hidden)


@register("vae")
class MelodyVAE(nn.Module):
    """Variational autoencoder over fixed-length melody token slices."""

    @dataclass
    class Config:
        vocab_size: int = 130
        seq_len: int = 32
        """Tokens per example (= n_bars x steps per bar)."""
        n_bars: int = 2
        embed_dim: int = 64
        enc_hidden: int = 256
        enc_layers: int = 1
        dec_hidden: int = 256
        dec_layers: int = 2
        z_dim: int = 128
        hierarchical: bool = False
        """False: one decoder over all steps. True: conductor (one step per bar) + bar decoder."""
        conductor_hidden: int = 256
        conductor_layers: int = 2
        dropout: float = 0.0
        free_bits: float = 0.0
        """Nats of KL per sequence (total over z) that are not penalised."""
        max_beta: float = 0.2
        beta_rate: float = 0.999
        """beta = (1 - beta_rate ** step) * max_beta; 0 gives max_beta from step 1.
        MusicVAE uses 0.99999 for its long runs; 0.999 reaches max_beta within a few thousand steps."""
        sampling_schedule: str = "inverse_sigmoid"
        sampling_rate: float = 1000.0
        """k of the inverse sigmoid schedule."""

    def __init__(self, config: "MelodyVAE.Config"):
        super().__init__()
        self.config = config
        _check_config(config)
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim)
        self.encoder = nn.LSTM(
            c.embed_dim, c.enc_hidden, c.enc_layers, batch_first=True, bidirectional=True,
            dropout=c.dropout if c.enc_layers > 1 else 0.0,
        )
        self.to_mu = nn.Linear(2 * c.enc_hidden, c.z_dim)
        self.to_sigma = nn.Linear(2 * c.enc_hidden, c.z_dim)
        if c.hierarchical:
            self.conductor_init = _lstm_state_init(c.z_dim, c.conductor_hidden, c.conductor_layers)
            self.conductor = nn.LSTM(
                c.z_dim, c.conductor_hidden, c.conductor_layers, batch_first=True,
                dropout=c.dropout if c.conductor_layers > 1 else 0.0,
            )
            cond_dim = c.conductor_hidden
        else:
            cond_dim = c.z_dim
        self.dec_init = _lstm_state_init(cond_dim, c.dec_hidden, c.dec_layers)
        self.decoder = nn.LSTM(
            c.embed_dim + cond_dim, c.dec_hidden, c.dec_layers, batch_first=True,
            dropout=c.dropout if c.dec_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.dec_hidden, c.vocab_size)
        special = torch.zeros(c.vocab_size, dtype=torch.bool)
        special[list(_SPECIAL_IDS)] = True
        self.register_buffer("_special", special, persistent=False)

    # ------------------------------------------------------------------ schedules
    def beta(self, step: int) -> float:
        """KL weight at optimiser step ``step``."""
        return kl_beta(step, self.config.max_beta, self.config.beta_rate)

    def teacher_prob(self, step: int) -> float:
        """Probability of teacher forcing each decoder input at ``step``."""
        return teacher_forcing_prob(step, self.config.sampling_schedule, self.config.sampling_rate)

    # ------------------------------------------------------------------ encoder
    def encode(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, T]`` token ids -> ``(mu, sigma)``, each ``[B, z_dim]``."""
        ids = self._check_ids(ids, "encode")
        _, (h, _) = self.encoder(self.embed(ids))
        final = torch.cat([h[-2], h[-1]], dim=-1)  # last layer, forward and backward
        return self.to_mu(final), F.softplus(self.to_sigma(final)) + 1e-6

    # ------------------------------------------------------------------ decoder
    def conduct(self, z: torch.Tensor) -> torch.Tensor:
        """Hierarchical decoder's conductor: ``[B, z_dim]`` -> ``[B, n_bars, conductor_hidden]``."""
        c = self.config
        if not c.hierarchical:
            raise ConfigError("vae: conduct() needs a hierarchical model (hierarchical=True)")
        state = self._init_state(self.conductor_init, z, c.conductor_layers, c.conductor_hidden)
        inputs = z.unsqueeze(1).expand(-1, c.n_bars, -1)
        out, _ = self.conductor(inputs, state)
        return out

    def _segments(self, z: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Conditioning vector per decoded segment ``[B, S, C]`` and the segment length."""
        if self.config.hierarchical:
            return self.conduct(z), self.config.seq_len // self.config.n_bars
        return z.unsqueeze(1), self.config.seq_len

    @staticmethod
    def _init_state(proj: nn.Linear, x: torch.Tensor, layers: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
        hc = torch.tanh(proj(x)).view(x.shape[0], 2, layers, hidden).permute(1, 2, 0, 3)
        return hc[0].contiguous(), hc[1].contiguous()

    def _teacher_logits(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Decoder logits ``[B, T, V]`` with the ground truth as every input."""
        c = self.config
        cond, seg_len = self._segments(z)
        b, n_seg, cdim = cond.shape
        prev = torch.cat([ids.new_full((b, 1), Tokenizer.bos_id), ids[:, :-1]], dim=1)
        x = self.embed(prev).view(b * n_seg, seg_len, -1)
        cond = cond.reshape(b * n_seg, cdim)
        inp = torch.cat([x, cond.unsqueeze(1).expand(-1, seg_len, -1)], dim=-1)
        out, _ = self.decoder(inp, self._init_state(self.dec_init, cond, c.dec_layers, c.dec_hidden))
        return self.out(self.drop(out)).view(b, c.seq_len, c.vocab_size)

    def _free_run(
        self,
        z: torch.Tensor,
        *,
        targets: torch.Tensor | None = None,
        teacher_mask: torch.Tensor | None = None,
        temperature: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Step-by-step decoding. Returns ``(logits [B,T,V], chosen tokens [B,T])``.

        Where ``teacher_mask`` is True the next input is ``targets`` (scheduled
        sampling); elsewhere it is the token chosen from the model's prediction.
        Special ids (pad/bos/eos) are never chosen.
        """
        c = self.config
        cond, seg_len = self._segments(z)
        b = z.shape[0]
        prev = torch.full((b,), Tokenizer.bos_id, dtype=torch.long, device=z.device)
        all_logits, chosen = [], []
        for s in range(cond.shape[1]):
            seg = cond[:, s]
            state = self._init_state(self.dec_init, seg, c.dec_layers, c.dec_hidden)
            for t in range(seg_len):
                inp = torch.cat([self.embed(prev), seg], dim=-1).unsqueeze(1)
                out, state = self.decoder(inp, state)
                logits = self.out(self.drop(out[:, 0]))
                masked = logits.detach().masked_fill(self._special, float("-inf"))
                tok = sample_next(masked, temperature, generator, greedy)
                all_logits.append(logits)
                chosen.append(tok)
                if targets is not None and teacher_mask is not None:
                    pos = s * seg_len + t
                    tok = torch.where(teacher_mask[:, pos], targets[:, pos], tok)
                prev = tok
        return torch.stack(all_logits, 1), torch.stack(chosen, 1)

    # ------------------------------------------------------------------ training
    def loss(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Beta-weighted negative ELBO per step; see the module docstring.

        Also returns ``recon_nats`` (NLL per step), ``kl`` (raw KL per sequence,
        nats), ``kl_cost`` (KL above ``free_bits``), ``beta`` (``max_beta`` in
        evaluation), ``teacher_prob``, ``acc`` (per-step argmax accuracy; inputs are
        the ground truth except where scheduled sampling fed back model tokens),
        ``elbo`` (unweighted recon + KL per sequence, an upper bound on -log p(x))
        and ``ntokens``.
        """
        c = self.config
        if "input" not in batch:
            raise DataError(f"vae: batch has no 'input' key (keys: {', '.join(sorted(batch)) or 'none'})")
        ids = self._check_ids(batch["input"], "batch['input']")
        mu, sigma = self.encode(ids)
        z = mu + sigma * torch.randn_like(mu)

        p_teacher = self.teacher_prob(ctx.step) if ctx.training else 1.0
        teacher_mask = None
        if p_teacher < 1.0:
            teacher_mask = torch.rand(ids.shape, device=ids.device) < p_teacher
        if teacher_mask is None or bool(teacher_mask.all()):
            logits = self._teacher_logits(z, ids)
        else:
            logits, _ = self._free_run(z, targets=ids, teacher_mask=teacher_mask)

        b, t = ids.shape
        nll = F.cross_entropy(logits.reshape(b * t, -1), ids.reshape(-1), reduction="none").view(b, t)
        recon = nll.sum(1)
        kl = 0.5 * (mu.pow(2) + sigma.pow(2) - 1.0 - 2.0 * torch.log(sigma)).sum(1)
        kl_cost = torch.clamp(kl - c.free_bits, min=0.0)
        beta = self.beta(ctx.step) if ctx.training else c.max_beta
        loss = ((recon + beta * kl_cost) / t).mean()
        acc = (logits.detach().argmax(-1) == ids).float().mean()
        return {
            "loss": loss,
            "recon_nats": nll.detach().mean(),
            "kl": kl.detach().mean(),
            "kl_cost": kl_cost.detach().mean(),
            "beta": torch.tensor(beta),
            "teacher_prob": torch.tensor(p_teacher),
            "acc": acc,
            "elbo": (recon + kl).detach().mean(),
            "ntokens": torch.tensor(b * t),
        }

    # ------------------------------------------------------------------ inference
    @contextmanager
    def _inference(self) -> Iterator[None]:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)

    def decode(
        self,
        z: torch.Tensor,
        *,
        temperature: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Free-running decode of codes ``[B, z_dim]`` -> token ids ``[B, T]``.

        ``greedy`` takes the argmax at every step; otherwise tokens are sampled at
        ``temperature`` using ``generator`` (on the model's device) when given.
        """
        if z.dim() != 2 or z.shape[1] != self.config.z_dim:
            raise DataError(f"vae decode: codes must be [B, {self.config.z_dim}], got {tuple(z.shape)}")
        if not greedy and not temperature > 0:
            raise ConfigError(f"vae decode: temperature must be > 0 (got {temperature}); use greedy=True for argmax")
        with self._inference():
            _, tokens = self._free_run(
                z.to(self.out.weight), temperature=temperature, greedy=greedy, generator=generator
            )
        return tokens

    def sample(self, n: int, *, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new melodies ``[n, T]`` decoded from prior codes ``z ~ N(0, I)``."""
        if n < 1:
            raise ConfigError(f"vae sample: n must be >= 1, got {n}")
        w = self.out.weight
        z = torch.randn(n, self.config.z_dim, generator=generator, device=w.device, dtype=w.dtype)
        return self.decode(z, temperature=temperature, generator=generator)

    def reconstruct(
        self, ids: torch.Tensor, *, greedy: bool = True, temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Encode ``[B, T]`` ids, decode from ``z = mu``."""
        with self._inference():
            mu, _ = self.encode(ids)
        return self.decode(mu, greedy=greedy, temperature=temperature, generator=generator)

    def reconstruction_accuracy(
        self, ids: torch.Tensor, mode: str = "teacher", *, generator: torch.Generator | None = None
    ) -> float:
        """Per-step reconstruction accuracy from ``z = mu`` (MusicVAE's Table 1 metric).

        ``"teacher"``: argmax of the teacher-forced prediction; ``"sample"``:
        free-running decode sampling at temperature 1; ``"greedy"``: free-running argmax.
        """
        if mode not in ("teacher", "sample", "greedy"):
            raise ConfigError(f"vae: unknown accuracy mode {mode!r}; use teacher, sample or greedy")
        ids = self._check_ids(ids, "reconstruction_accuracy")
        with self._inference():
            mu, _ = self.encode(ids)
            if mode == "teacher":
                pred = self._teacher_logits(mu, ids).argmax(-1)
            else:
                pred = self.decode(mu, greedy=mode == "greedy", generator=generator)
        return (pred == ids).float().mean().item()

    def interpolate(
        self, ids_a: torch.Tensor, ids_b: torch.Tensor, steps: int, *, greedy: bool = True,
        temperature: float = 1.0, generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``steps`` melodies ``[steps, T]`` decoded along the slerp from ``mu(a)`` to ``mu(b)``."""
        if steps < 2:
            raise ConfigError(f"vae interpolate: steps must be >= 2, got {steps}")
        a = ids_a.unsqueeze(0) if ids_a.dim() == 1 else ids_a
        b = ids_b.unsqueeze(0) if ids_b.dim() == 1 else ids_b
        if a.shape[0] != 1 or b.shape[0] != 1:
            raise DataError("vae interpolate: give one melody [T] (or [1, T]) for each end")
        with self._inference():
            mu, _ = self.encode(torch.cat([a, b]))
        ts = torch.linspace(0.0, 1.0, steps, device=mu.device, dtype=mu.dtype)
        zs = slerp(mu[0], mu[1], ts)
        return self.decode(zs, greedy=greedy, temperature=temperature, generator=generator)

    # ------------------------------------------------------------------ checks
    def _check_ids(self, ids: torch.Tensor, where: str) -> torch.Tensor:
        c = self.config
        if not isinstance(ids, torch.Tensor) or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise DataError(f"vae {where}: token ids must be an integer tensor")
        if ids.dim() != 2 or ids.shape[1] != c.seq_len:
            raise DataError(
                f"vae {where}: token ids must be [B, {c.seq_len}] (seq_len of this model), got {tuple(ids.shape)}"
            )
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= c.vocab_size):
            raise DataError(
                f"vae {where}: token id out of range [0, {c.vocab_size}): min {int(ids.min())}, max {int(ids.max())}"
            )
        return ids.to(device=self.out.weight.device, dtype=torch.long)


def _check_config(c: MelodyVAE.Config) -> None:
    def bad(msg: str) -> None:
        raise ConfigError(f"vae config: {msg}")

    for name in ("seq_len", "n_bars", "embed_dim", "enc_hidden", "enc_layers", "dec_hidden", "dec_layers",
                 "z_dim", "conductor_hidden", "conductor_layers"):
        if int(getattr(c, name)) < 1:
            bad(f"{name} must be >= 1, got {getattr(c, name)}")
    if c.vocab_size <= max(_SPECIAL_IDS) + 1:
        bad(f"vocab_size {c.vocab_size} leaves no ids besides pad/bos/eos")
    if c.hierarchical and c.seq_len % c.n_bars:
        bad(f"seq_len {c.seq_len} is not a whole number of bars (n_bars={c.n_bars})")
    if not 0.0 <= c.dropout < 1.0:
        bad(f"dropout must be in [0, 1), got {c.dropout}")
    if c.free_bits < 0 or c.max_beta < 0:
        bad("free_bits and max_beta must be >= 0")
    if not 0.0 <= c.beta_rate <= 1.0:
        bad(f"beta_rate must be in [0, 1], got {c.beta_rate}")
    if c.sampling_schedule not in _SCHEDULES:
        bad(f"unknown sampling_schedule {c.sampling_schedule!r}; use one of {', '.join(_SCHEDULES)}")
    if not c.sampling_rate > 0:
        bad(f"sampling_rate must be > 0, got {c.sampling_rate}")

"""Recurrent token language model: embedding -> stacked LSTM/GRU/RNN -> vocabulary logits.

The hidden state is the decoding state, so generation feeds one token at a time
and never re-reads the context.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch
from torch import nn

from muse.errors import ConfigError
from muse.models.lm import TokenLM
from muse.models.registry import register

RNNState = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]
"""``h`` of shape [n_layer, B, n_hidden], or ``(h, c)`` for the LSTM."""

_CELLS = {
    "lstm": (nn.LSTM, {}),
    "gru": (nn.GRU, {}),
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
}


@register("rnn")
class RNNLM(TokenLM):
    """Token embedding, ``n_layer`` recurrent layers of one cell type, linear output head."""

    @dataclass
    class Config:
        vocab_size: int = 0
        """Number of token ids (the tokenizer's vocab_size)."""
        cell: str = "lstm"
        """Recurrent cell: lstm, gru, rnn_tanh or rnn_relu."""
        n_layer: int = 2
        """Stacked recurrent layers."""
        n_embd: int = 128
        """Token embedding size."""
        n_hidden: int = 128
        """Hidden units per recurrent layer."""
        dropout: float = 0.0
        """Dropout on embeddings, between layers and before the head."""
        tie_weights: bool = False
        """Share the embedding matrix with the output head (needs n_embd == n_hidden)."""

    def __init__(self, config: Config):
        super().__init__()
        _validate(config)
        self.config = config
        rnn_cls, extra = _CELLS[config.cell]
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.rnn = rnn_cls(
            config.n_embd,
            config.n_hidden,
            num_layers=config.n_layer,
            dropout=config.dropout if config.n_layer > 1 else 0.0,
            batch_first=True,
            **extra,
        )
        self.head = nn.Linear(config.n_hidden, config.vocab_size)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        nn.init.zeros_(self.head.bias)
        if config.tie_weights:
            self.head.weight = self.embed.weight
        else:
            nn.init.uniform_(self.head.weight, -0.1, 0.1)

    def forward(self, idx: torch.Tensor, state: RNNState | None = None) -> tuple[torch.Tensor, RNNState]:
        """Logits ``[B, T, vocab_size]`` for ``idx`` ``[B, T]``, continuing from ``state``."""
        x = self.drop(self.embed(idx))
        out, state = self.rnn(x, state)
        return self.head(self.drop(out)), state

    def reorder_state(self, state: RNNState, indices: torch.Tensor) -> RNNState:
        """Keep batch rows ``indices`` (in that order, repeats allowed) of ``state``."""
        if isinstance(state, tuple):
            return tuple(s.index_select(1, indices) for s in state)  # type: ignore[return-value]
        return state.index_select(1, indices)

    @property
    def max_context(self) -> None:
        """An RNN reads any length of context."""
        return None


def _validate(c: RNNLM.Config) -> None:
    if c.cell not in _CELLS:
        raise ConfigError(f"rnn: unknown cell {c.cell!r}; choose one of {', '.join(_CELLS)}")
    for name in ("vocab_size", "n_layer", "n_embd", "n_hidden"):
        if int(getattr(c, name)) < 1:
            raise ConfigError(f"rnn: {name} must be a positive integer, got {getattr(c, name)!r}")
    if not 0.0 <= c.dropout < 1.0:
        raise ConfigError(f"rnn: dropout must be in [0, 1), got {c.dropout!r}")
    if c.tie_weights and c.n_embd != c.n_hidden:
        raise ConfigError(
            f"rnn: tie_weights needs n_embd == n_hidden, got n_embd={c.n_embd} and n_hidden={c.n_hidden}"
        )

"""A tiny language model and token store used by the training-core tests."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muse.core.module import StepContext
from muse.data.store import build_store, open_store


class TinyLM(nn.Module):
    @dataclass
    class Config:
        vocab_size: int = 16
        n_embd: int = 32
        dropout: float = 0.1

    model_name = "tiny"

    def __init__(self, config: "TinyLM.Config"):
        super().__init__()
        self.config = config
        self.emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.mix = nn.Linear(2 * config.n_embd, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.n_embd, config.vocab_size)

    def loss(self, batch, ctx: StepContext):
        x = self.emb(batch["input"])
        prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        h = self.drop(torch.tanh(self.mix(torch.cat([x, prev], -1))))
        logits = self.head(h)
        tgt = batch["target"]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1), ignore_index=-100)
        return {"loss": loss, "ntokens": (tgt != -100).sum()}


def pattern_store(directory: Path, n_docs: int = 60, vocab: int = 16, seed: int = 0):
    """Documents following a learnable pattern (next = (cur * 3 + 1) % vocab)."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n_docs):
        x = [int(rng.integers(3, vocab))]
        for _ in range(int(rng.integers(20, 60))):
            x.append(3 + (x[-1] * 3 + 1) % (vocab - 3))
        docs.append(("valid" if i % 10 == 0 else "train", [1] + x + [2]))
    build_store(directory, docs, vocab, key={"test": seed})
    return open_store(directory)

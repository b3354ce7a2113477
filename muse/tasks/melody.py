"""``muse train melody``: RNN-family or transformer language models over melody tokens."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from muse.data.store import split_of
from muse.errors import ConfigError, DataError
from muse.music.corpora import CorpusReport, augment_transpositions, corpus_sources, iter_corpus
from muse.music.melody import Melody
from muse.tasks.lm import LM_DATA_DEFAULTS, LMTask, lm_models
from muse.tokenizers.base import Tokenizer



def split_and_versions(piece_id: str, mel: Melody, data: dict[str, Any]) -> tuple[str, list[Melody]]:
    """The piece's split and the melodies to encode: its transpositions when augmenting the train split."""
    split = split_of(piece_id, data["valid_frac"], data["test_frac"])
    if data["augment"] and split == "train":
        return split, augment_transpositions(mel, low=data["min_pitch"], high=data["max_pitch"] + 1) or [mel]
    return split, [mel]


def melody_filter_hint(data: dict[str, Any]) -> str:
    return (f"; a melody needs at least {data['min_bars']} bars and {data['min_pitches']} distinct pitches "
            "(data.min_bars, data.min_pitches)")


class MelodyTask(LMTask):
    name = "melody"
    help = "melody language model (Magenta-style events or REMI tokens)"
    default_model = "lstm"
    models = lm_models(rnn_dropout=0.2)
    data_defaults = {
        **LM_DATA_DEFAULTS,
        "corpus": "essen",
        "block_size": 256,
        "batching": "window",
        "doc_start_frac": 0.5,  # generation starts from an empty context: train tune openings from one too
        "tokenizer": "events",  # events | remi
        "transpose_to_key": True,
        "min_pitch": 48,
        "max_pitch": 83,
        "augment": False,  # transposition augmentation of the training split
        "min_bars": 7,
        "min_pitches": 5,
        "max_steps": 512,
        "limit": None,  # parse at most this many pieces
    }
    train_defaults = {"steps": 3000, "batch_size": 32, "lr": 2e-3, "min_lr": 1e-4, "warmup_steps": 100,
                      "weight_decay": 0.05, "eval_every": 250, "grad_clip": 1.0}

    def sources(self, data: dict[str, Any]) -> list[Path]:
        return corpus_sources(data["corpus"])

    def tokenizer_options(self, data: dict[str, Any]) -> dict[str, Any]:
        keys = ("tokenizer", "transpose_to_key", "min_pitch", "max_pitch", "augment", "min_bars", "min_pitches",
                "max_steps", "limit")
        return {k: data[k] for k in keys}

    def load_items(self, data: dict[str, Any]):
        report = CorpusReport()
        items = list(iter_corpus(data["corpus"], workers=int(data["workers"]), limit=data["limit"],
                                 min_bars=data["min_bars"], min_pitches=data["min_pitches"],
                                 max_steps=data["max_steps"], report=report))
        return items, list(report.skipped)

    def make_tokenizer(self, items: Sequence[tuple[str, Any]], data: dict[str, Any]) -> Tokenizer:
        return make_melody_tokenizer(data)

    def empty_hint(self, data: dict[str, Any]) -> str:
        return melody_filter_hint(data)

    def encode_docs(self, items, tok, data):
        n_fail = 0
        for piece_id, mel in items:
            split, versions = split_and_versions(piece_id, mel, data)
            for m in versions:
                try:
                    ids = tok.encode(m)
                except DataError as e:  # unrepresentable melody (e.g. a meter REMI does not know)
                    n_fail += 1
                    if n_fail <= 5:
                        print(f"muse: skipped a melody of {piece_id}: {e}", file=sys.stderr)
                    continue
                yield split, [tok.bos_id, *ids, tok.eos_id]
        if n_fail:
            print(f"muse: {n_fail} melodies could not be tokenized and were skipped", file=sys.stderr)

    def generation_defaults(self) -> dict[str, Any]:
        return {"temperature": 0.9}


def make_melody_tokenizer(data: dict[str, Any]) -> Tokenizer:
    if data["tokenizer"] == "events":
        from muse.tokenizers.melody import MelodyEventTokenizer

        return MelodyEventTokenizer(data["min_pitch"], data["max_pitch"], squash=True,
                                    transpose_to_key=bool(data["transpose_to_key"]))
    if data["tokenizer"] == "remi":
        from muse.tokenizers.remi import RemiTokenizer

        return RemiTokenizer()
    raise ConfigError(f"data.tokenizer must be events or remi, not {data['tokenizer']!r}")


TASK = MelodyTask()

"""``muse train poem``: character or sentencepiece language models over poems."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from muse.errors import ConfigError
from muse.poetry.corpora import available_text_corpora, iter_corpus_poems, poem_to_text
from muse.tasks.lm import LM_DATA_DEFAULTS, LMTask, lm_models
from muse.tokenizers.base import Tokenizer



class PoemTask(LMTask):
    name = "poem"
    help = "poem language model (characters or sentencepiece)"
    default_model = "transformer"
    models = lm_models(rnn_dropout=0.1)
    data_defaults = {
        **LM_DATA_DEFAULTS,
        "corpus": None,
        "block_size": 128,
        "fmt": "auto",
        "tokenizer": "char",  # char | unigram | bpe
        "vocab_size": 4000,  # sentencepiece only
        "min_freq": 1,  # char only: rarer characters become <unk>
        "with_title": False,
        "with_author": False,
    }
    train_defaults = {"steps": 2000, "batch_size": 32, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100,
                      "eval_every": 250}

    def sources(self, data: dict[str, Any]) -> list[Path]:
        named = {c.name: c.path for c in available_text_corpora()}
        p = named.get(str(data["corpus"]), Path(str(data["corpus"])))
        if p.is_dir():
            return sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        return [p] if p.exists() else []

    def tokenizer_options(self, data: dict[str, Any]) -> dict[str, Any]:
        keys = ("fmt", "tokenizer", "vocab_size", "min_freq", "with_title", "with_author")
        return {k: data[k] for k in keys}

    def load_items(self, data: dict[str, Any]):
        poems, report = iter_corpus_poems(data["corpus"], fmt=data["fmt"])
        # piece ids relative to the corpus root, so the split does not depend on where the corpus lives
        roots = self.sources(data)
        root = roots[0].parent if len(roots) == 1 else Path(str(data["corpus"]))
        items = [(f"{_relative(p.source, root)}#{i}",
                  poem_to_text(p, with_title=data["with_title"], with_author=data["with_author"]))
                 for i, p in enumerate(poems)]
        return items, list(report.skipped)

    def make_tokenizer(self, items: Sequence[tuple[str, Any]], data: dict[str, Any]) -> Tokenizer:
        texts = [t for _, t in items]
        kind = data["tokenizer"]
        if kind == "char":
            from muse.tokenizers.char import CharTokenizer

            return CharTokenizer.train(texts, min_freq=int(data["min_freq"]))
        if kind in ("unigram", "bpe"):
            from muse.tokenizers.spm import SentencePieceTokenizer

            return SentencePieceTokenizer.train(texts, vocab_size=int(data["vocab_size"]), model_type=kind)
        raise ConfigError(f"data.tokenizer must be char, unigram or bpe, not {kind!r}")

    def finish(self, cfg, prepared, run_dir: Path) -> None:  # noqa: ANN001
        """Export the model with its corpus vocabulary (English rhyme words come from it)."""
        super().finish(cfg, prepared, run_dir)
        config = run_dir / "model" / "config.json"
        if config.exists():
            items, _ = self.load_items(cfg.data)
            words = corpus_words(t for _, t in items)
            if words:
                meta = json.loads(config.read_text(encoding="utf-8"))
                meta["words"] = words
                config.write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")

    def generation_defaults(self) -> dict[str, Any]:
        return {"temperature": 0.8, "top_p": 0.95}


def corpus_words(texts, min_count: int = 2, limit: int = 20000) -> list[str]:  # noqa: ANN001
    """Latin-script words used at least ``min_count`` times, most frequent first (empty for CJK corpora)."""
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z']*[A-Za-z]|[A-Za-z]", t))
    return [w for w, c in counts.most_common(limit) if c >= min_count and (len(w) > 1 or w in ("a", "i", "o"))]


def _relative(source: str, root: Path) -> str:
    try:
        return Path(source).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(source).name


TASK = PoemTask()

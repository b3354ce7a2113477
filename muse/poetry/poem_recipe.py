"""``muse train poem``: character or sentencepiece language models over poems."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from muse.errors import ConfigError
from muse.poetry.compose import WORDS_FILE
from muse.poetry.corpora import CONTROLS, available_text_corpora, iter_corpus_poems, poem_to_text
from muse.recipes.base import build_request
from muse.recipes.lm import LMData, LMRecipe, lm_models
from muse.tokenizers.base import Tokenizer



@dataclass
class PoemData(LMData):
    """Data settings of ``muse train poem``."""

    corpus: str | None = None
    block_size: int = 128
    fmt: str = "auto"
    """auto | text | lines | fortune | json | jsonl."""
    tokenizer: str = "char"
    """char | unigram | bpe."""
    vocab_size: int = 4000
    """sentencepiece only."""
    min_freq: int = 1
    """char only: rarer characters become <unk>."""
    with_title: bool = False
    with_author: bool = False
    control: str = "none"
    """none | form: each document's prefix names its form (五绝, 七律, 五言...; :func:`~muse.poetry.corpora.form_tag`),
    and generation writes the requested form's tag before the poem."""

    def validate(self) -> None:
        super().validate()
        if self.control not in CONTROLS:
            raise ConfigError(f"data.control must be one of {', '.join(CONTROLS)}, not {self.control!r}")
        if self.tokenizer not in ("char", "unigram", "bpe"):
            raise ConfigError(f"data.tokenizer must be char, unigram or bpe, not {self.tokenizer!r}")


class PoemRecipe(LMRecipe):
    kind = "poem"
    help = "poem language model (characters or sentencepiece)"
    default_model = "transformer"
    models = lm_models(rnn_dropout=0.1)
    Data = PoemData
    train_defaults = {"steps": 2000, "batch_size": 32, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100,
                      "eval_every": 250}
    generation_defaults = {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 400}

    # ---- training half
    def sources(self, data: PoemData) -> list[Path]:
        named = {c.name: c.path for c in available_text_corpora()}
        p = named.get(str(data.corpus), Path(str(data.corpus)))
        if p.is_dir():
            return sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        return [p] if p.exists() else []

    def tokenizer_options(self, data: PoemData) -> dict[str, Any]:
        keys = ("fmt", "tokenizer", "vocab_size", "min_freq", "with_title", "with_author")
        opts = {k: getattr(data, k) for k in keys}
        if data.control != "none":  # only then: stores built before the option existed keep their cache key
            opts["control"] = data.control
        return opts

    def load_items(self, data: PoemData | dict):
        data = self.data_config(data)
        poems, report = iter_corpus_poems(data.corpus, fmt=data.fmt)
        # split by each poem's stable id (the corpus's own, else a hash of its content), never by path or order
        items = [(p.stable_id(), poem_to_text(p, with_title=data.with_title, with_author=data.with_author,
                                                control=data.control))
                 for p in poems]
        return items, report

    def corpus_text(self, data: PoemData) -> str:
        """The corpus files' text as it is (decompressed), in source order, for ``data.split=contiguous``."""
        from muse.data.shipped import read_bytes
        from muse.errors import DataError

        files = self.sources(data)
        if not files:
            raise DataError("no text to read here", data.corpus)
        for f in files:
            plain = f.name.removesuffix(".xz").removesuffix(".gz")
            if data.fmt in ("json", "jsonl") or plain.endswith((".json", ".jsonl")):
                raise ConfigError(f"data.split=contiguous cuts plain text by position; {f.name} is JSON (data.split=hash)")
        try:
            return "\n\n".join(read_bytes(f).decode("utf-8") for f in files)
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read the corpus as UTF-8 text ({e})", data.corpus) from None

    def make_tokenizer(self, items: Sequence[tuple[str, Any]], data: PoemData) -> Tokenizer:
        texts = [t for _, t in items]
        if data.tokenizer == "char":
            from muse.tokenizers.char import CharTokenizer

            return CharTokenizer.train(texts, min_freq=int(data.min_freq))
        from muse.tokenizers.spm import SentencePieceTokenizer

        return SentencePieceTokenizer.train(texts, vocab_size=int(data.vocab_size), model_type=data.tokenizer)

    def export_files(self, cfg, prepared, run_dir: Path) -> dict[str, Any]:  # noqa: ANN001
        """The corpus vocabulary (English rhyme words come from it)."""
        items, _ = self.load_items(self.data_config(cfg.data))
        words = corpus_words(t for _, t in items)
        return {WORDS_FILE: words} if words else {}

    # ---- generation half
    def generate(self, loaded: Any, request: Any = None, constraints: Sequence[Any] = (), *, num: int = 1,
                 generation: dict[str, Any] | None = None, device: str = "cpu", **fields: Any) -> list[str]:
        """Poems for a :class:`~muse.poetry.compose.PoemRequest` (or its fields as keywords)."""
        from muse.poetry.compose import PoemRequest, write_poems

        if constraints:
            raise ConfigError("poem constraints come from the request (form, rhyme, acrostic, lines)")
        g = generation or {}
        unknown = sorted(set(g) - {"temperature", "top_k", "top_p", "repetition_penalty", "num_beams", "max_new_tokens",
                                   "seed"})
        if unknown:
            raise ConfigError(f"poems take no {', '.join(unknown)}")
        req = build_request(PoemRequest, request, fields)
        return write_poems(loaded, req, num=num, temperature=g.get("temperature"), top_k=g.get("top_k"),
                           top_p=g.get("top_p"), repetition_penalty=g.get("repetition_penalty"),
                           beam_size=g.get("num_beams"), max_tokens=g.get("max_new_tokens"), seed=g.get("seed"),
                           device=device)


def corpus_words(texts, min_count: int = 2, limit: int = 20000) -> list[str]:  # noqa: ANN001
    """Latin-script words used at least ``min_count`` times, most frequent first (empty for CJK corpora)."""
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z']*[A-Za-z]|[A-Za-z]", t))
    return [w for w, c in counts.most_common(limit) if c >= min_count and (len(w) > 1 or w in ("a", "i", "o"))]


RECIPE = PoemRecipe()

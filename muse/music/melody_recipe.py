"""The melody recipe: RNN-family or transformer language models over melody tokens.

Training half: corpus -> melodies (Magenta's extraction) -> a music tokenizer ->
token store -> windows. Generation half: :meth:`MelodyRecipe.generate` continues
a primer (or starts fresh) under key/scale/range/length constraints.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from muse.data.store import split_of
from muse.errors import ConfigError, DataError
from muse.music.corpora import MAGENTA_FILTERS, CorpusReport, augment_transpositions, corpus_sources, iter_corpus
from muse.music.events import MelodyEventTokenizer
from muse.music.melody import Melody
from muse.music.miditok_adapter import MidiTokTokenizer
from muse.music.remi import RemiTokenizer
from muse.music.tokenizer import MusicTokenizer, analysis_key, melody_mode, parse_controls
from muse.recipes.base import build_request
from muse.recipes.lm import LMData, LMRecipe, lm_models


@dataclass
class MelodyData(LMData):
    """Data settings of ``muse train melody``."""

    corpus: str | None = "essen"
    block_size: int = 256
    batching: str = "window"
    doc_start_frac: float = 0.5
    """Generation starts from an empty context: train tune openings from one too."""
    tokenizer: str = "events"
    """events (Magenta melody events) | remi | miditok (a MidiTok REMI; see ``miditok_config``)."""
    miditok_config: str | None = None
    """tokenizer=miditok: a saved MidiTok tokenizer (its ``tokenizer.json`` or folder); None: a melody REMI."""
    transpose_to_key: bool = True
    """events: move each melody to C major / A minor before encoding."""
    min_pitch: int = 48
    max_pitch: int = 83
    augment: bool = False
    """Transposition augmentation of the training split."""
    min_bars: float = MAGENTA_FILTERS["min_bars"]
    min_pitches: int = MAGENTA_FILTERS["min_pitches"]
    max_steps: int | None = MAGENTA_FILTERS["max_steps"]
    limit: int | None = None
    """Parse at most this many pieces."""
    control: str = ""
    """Control prefix after BOS: a comma list of meter, corpus, mode, key ("": none). Each training melody
    is told its time signature, corpus (a built-in corpus's name; in a folder, the subfolder a piece is in,
    else the folder's name), mode (:func:`~muse.music.tokenizer.melody_mode` around the key the notes
    suggest, :func:`~muse.music.tokenizer.analysis_key`: file key signatures often say only the signature)
    and tonic (in model space: under transpose_to_key the signature is always C major / A minor, so the tonic
    says where the music centres in it; ``mode`` is the part that carries most); generation writes the
    request's. tokenizer=events or remi."""

    def validate(self) -> None:
        super().validate()
        if self.tokenizer not in ("events", "remi", "miditok"):
            raise ConfigError(f"data.tokenizer must be events, remi or miditok, not {self.tokenizer!r}")
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise ConfigError(f"data.min_pitch..data.max_pitch ({self.min_pitch}..{self.max_pitch}) must lie in 0..127")
        if parse_controls(self.control) and self.tokenizer == "miditok":
            raise ConfigError("data.control: control tokens need data.tokenizer=events or remi, not miditok")


def split_and_versions(piece_id: str, mel: Melody, data: Any) -> tuple[str, list[Melody]]:
    """The piece's split and the melodies to encode: its transpositions when augmenting the train split."""
    split = split_of(piece_id, data.valid_frac, data.test_frac)
    if data.augment and split == "train":
        return split, augment_transpositions(mel, low=data.min_pitch, high=data.max_pitch + 1) or [mel]
    return split, [mel]


def melody_filter_hint(data: Any) -> str:
    return (f"; a melody needs at least {data.min_bars:g} bars and {data.min_pitches} distinct pitches "
            "(data.min_bars, data.min_pitches)")


def corpus_label(corpus: str | None, piece_id: str = "") -> str:
    """The corpus a piece is told it comes from: a built-in corpus's name; in a folder, the
    subfolder the piece lies in (``piece_id``'s first part), else the folder's own name."""
    from muse.music.corpora import BUILTIN_CORPORA

    name = str(corpus or "corpus")
    if name in BUILTIN_CORPORA:
        return name
    parts = Path(piece_id.partition("#")[0]).parts
    label = parts[0] if len(parts) > 1 else (Path(name).stem if Path(name).is_file() else Path(name).name)
    return label.replace(" ", "_") or "corpus"


def make_melody_tokenizer(data: MelodyData, corpora: Sequence[str] = ()) -> MusicTokenizer:
    """The tokenizer ``data`` asks for; with a corpus control, ``corpora`` are the names it knows."""
    controls = parse_controls(data.control)
    if data.tokenizer == "events":
        return MelodyEventTokenizer(data.min_pitch, data.max_pitch, squash=True,
                                    transpose_to_key=bool(data.transpose_to_key), controls=controls,
                                    corpora=corpora)
    if data.tokenizer == "miditok":
        if controls:
            raise ConfigError("data.control: control tokens need data.tokenizer=events or remi, not miditok")
        return MidiTokTokenizer(data.miditok_config)
    return RemiTokenizer(controls=controls, corpora=corpora)


def control_prefix(tok: MusicTokenizer, piece_id: str, mel: Melody, data: Any) -> list[int]:
    """The control ids a training melody is told: its meter, corpus, mode and tonic (of
    :func:`~muse.music.tokenizer.analysis_key`; the tonic moved as encoding moves the melody)."""
    if not tok.controls:
        return []
    key = analysis_key(mel)
    tonic = None if key is None else (key[0] + tok.transform_for(mel.key).semitones) % 12
    return tok.control_tokens(meter=mel.time_signature, key=tonic,
                              mode=None if key is None else melody_mode(mel, key),
                              corpus=corpus_label(data.corpus, piece_id))


class MelodyRecipe(LMRecipe):
    kind = "melody"
    help = "melody language model (Magenta-style events or REMI tokens)"
    default_model = "lstm"
    models = lm_models(rnn_dropout=0.2)
    Data = MelodyData
    train_defaults = {"steps": 3000, "batch_size": 32, "lr": 2e-3, "min_lr": 1e-4, "warmup_steps": 100,
                      "weight_decay": 0.05, "eval_every": 250, "grad_clip": 1.0}
    generation_defaults = {"temperature": 0.9}

    # ---- training half
    def sources(self, data: MelodyData) -> list[Path]:
        return corpus_sources(data.corpus)

    def tokenizer_options(self, data: MelodyData) -> dict[str, Any]:
        keys = ("tokenizer", "miditok_config", "transpose_to_key", "min_pitch", "max_pitch", "augment", "min_bars",
                "min_pitches", "max_steps", "limit")
        opts = {k: getattr(data, k) for k in keys}
        if parse_controls(data.control):  # only then: stores built before the option existed keep their cache key
            opts["control"] = ",".join(parse_controls(data.control))
        return opts

    def load_items(self, data: MelodyData | dict):
        data = self.data_config(data)
        report = CorpusReport()
        items = list(iter_corpus(data.corpus, workers=int(data.workers), limit=data.limit,
                                 min_bars=data.min_bars, min_pitches=data.min_pitches,
                                 max_steps=data.max_steps, report=report))
        return items, report

    def make_tokenizer(self, items: Sequence[tuple[str, Any]], data: MelodyData) -> MusicTokenizer:
        corpora: list[str] = []
        if "corpus" in parse_controls(data.control):  # most melodies first: the default at generation
            from collections import Counter

            counts = Counter(corpus_label(data.corpus, piece_id) for piece_id, _ in items)
            corpora = sorted(counts, key=lambda c: (-counts[c], c))
        return make_melody_tokenizer(data, corpora)

    def empty_hint(self, data: MelodyData) -> str:
        return melody_filter_hint(data)

    def encode_docs(self, items, tok, data):
        from muse.data.report import SkipReport

        failed = SkipReport()
        for piece_id, mel in items:
            split, versions = split_and_versions(piece_id, mel, data)
            for m in versions:
                try:
                    ids = control_prefix(tok, piece_id, m, data) + tok.encode(m)
                except DataError as e:  # unrepresentable melody (e.g. a meter REMI does not know)
                    failed.skip(piece_id, str(e))
                    continue
                yield split, [tok.bos_id, *ids, tok.eos_id]
        failed.warn("that the tokenizer cannot represent")

    # ---- generation half
    def generate(self, loaded: Any, request: Any = None, constraints: Sequence[Any] = (), *, num: int = 1,
                 generation: dict[str, Any] | None = None, device: str = "cpu", **fields: Any) -> list[Melody]:
        """Melodies for a :class:`~muse.music.compose.MelodyRequest` (or its fields as keywords)."""
        from muse.music.compose import MelodyRequest, compose

        gen = {k: v for k, v in (generation or {}).items() if v is not None}
        if gen.pop("max_new_tokens", None) is not None:
            raise ConfigError("a melody's length is set by bars, not max_new_tokens")
        req = build_request(MelodyRequest, request, fields)
        return compose(loaded, req, loaded.generation_config.updated(**gen), constraints, num=num, device=device)


RECIPE = MelodyRecipe()

"""The score recipe: transformer (or RNN) language models over multi-track score tokens.

Training half: corpus -> scores (:func:`~muse.music.corpora.iter_corpus_scores`;
Bach chorales reduced to their four voices) -> :class:`~muse.music.score_tokens.ScoreTokenizer`
(REMI, parts interleaved by onset) -> token store -> windows. Generation half
(:mod:`muse.music.score_compose`): chorales and compositions from nothing or a
primer, four-part harmonizations of a given soprano, and bar infilling, all as
one constrained decoding over the same tokens (:mod:`muse.music.score_constraints`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from muse.data.report import SkipReport
from muse.data.store import split_of
from muse.errors import ConfigError, DataError
from muse.music.corpora import CorpusReport, corpus_sources, iter_corpus_scores
from muse.music.score import Score, home_shift
from muse.music.score_tokens import ScoreTokenizer
from muse.recipes.lm import LMData, LMRecipe, lm_models

SATB = ("soprano", "alto", "tenor", "bass")


@dataclass
class ScoreData(LMData):
    """Data settings of ``muse train score``."""

    corpus: str | None = "bach"
    block_size: int = 512
    batching: str = "window"
    doc_start_frac: float = 0.25
    """Share of training windows that begin at a piece's start (generation starts from one)."""
    steps_per_quarter: int = 4
    order: str = "remi"
    """remi (parts interleaved at each onset: what harmonize and infill decode) | mmm (part by part)."""
    velocity_bins: int = 0
    """0: no velocity tokens (notes come back at velocity 100); N: N velocity bins."""
    max_tracks: int = 8
    """Pieces with more parts than this are skipped."""
    satb: bool | None = None
    """Keep only the Soprano/Alto/Tenor/Bass parts, in that order (pieces without all four are skipped);
    None: on for the bach corpus."""
    transpose_to_key: bool = True
    """Move each piece to C major / A minor (key declared, else estimated) before encoding."""
    augment: int = 0
    """Train split only: also encode every transposition by -augment..augment semitones."""
    max_bars: int | None = None
    """Cut pieces longer than this into consecutive segments of at most this many bars."""
    limit: int | None = None
    """Read at most this many pieces."""

    def validate(self) -> None:
        super().validate()
        if self.order not in ("remi", "mmm"):
            raise ConfigError(f"data.order must be remi or mmm, not {self.order!r}")
        if self.steps_per_quarter not in (1, 2, 3, 4, 6, 8, 12):
            raise ConfigError(f"data.steps_per_quarter must be one of 1, 2, 3, 4, 6, 8, 12, not {self.steps_per_quarter}")
        if not 0 <= self.augment <= 6:
            raise ConfigError(f"data.augment must be 0..6 semitones, got {self.augment}")
        if self.max_tracks < 1:
            raise ConfigError(f"data.max_tracks must be >= 1, got {self.max_tracks}")
        if self.max_bars is not None and self.max_bars < 1:
            raise ConfigError(f"data.max_bars must be >= 1, got {self.max_bars}")


def satb_only(score: Score) -> Score | None:
    """The score's Soprano, Alto, Tenor and Bass parts in that order; None unless it has each exactly once."""
    found: dict[str, int] = {}
    for i, p in enumerate(score.parts):
        name = (p.name or "").strip().lower()
        for voice in SATB:
            if name.startswith(voice):
                if voice in found:
                    return None
                found[voice] = i
    if len(found) != 4:
        return None
    return replace(score, parts=[score.parts[found[v]] for v in SATB])


def cut_bars(score: Score, max_bars: int) -> list[Score]:
    """Consecutive segments of at most ``max_bars`` bars (notes that start in a segment, clipped to it)."""
    span = max_bars * score.steps_per_bar
    if score.length <= span:
        return [score]
    out = []
    for a in range(0, score.length, span):
        b = a + span
        parts = [replace(p, notes=[replace(n, start=n.start - a, end=min(n.end, b) - a)
                                   for n in p.notes if a <= n.start < b]) for p in score.parts]
        if any(p.notes for p in parts):
            out.append(replace(score, parts=parts, total_steps=min(b, score.length) - a))
    return out


class ScoreRecipe(LMRecipe):
    kind = "score"
    help = "multi-track score language model (Bach chorales, or a folder of MIDI)"
    default_model = "transformer"
    models = lm_models()
    Data = ScoreData
    train_defaults = {"steps": 3000, "batch_size": 16, "lr": 1.5e-3, "min_lr": 1e-4, "warmup_steps": 100,
                      "weight_decay": 0.1, "eval_every": 200, "grad_clip": 1.0}
    generation_defaults = {"temperature": 0.9}

    def data_config(self, data: Any) -> ScoreData:
        d = super().data_config(data)
        if d.satb is None:
            d = replace(d, satb=str(d.corpus) == "bach")
        return d

    # ---- training half
    def sources(self, data: ScoreData) -> list[Path]:
        return corpus_sources(data.corpus)

    def tokenizer_options(self, data: ScoreData) -> dict[str, Any]:
        keys = ("steps_per_quarter", "order", "velocity_bins", "max_tracks", "satb", "transpose_to_key", "augment",
                "max_bars", "limit")
        return {k: getattr(data, k) for k in keys}

    def load_items(self, data: ScoreData | dict):
        data = self.data_config(data)
        report = CorpusReport()
        items: list[tuple[str, Score]] = []
        dropped = SkipReport()
        for piece_id, score in iter_corpus_scores(data.corpus, steps_per_quarter=data.steps_per_quarter,
                                                  workers=int(data.workers), limit=data.limit, report=report):
            score = replace(score, parts=[p for p in score.parts if p.notes])
            if data.satb:
                four = satb_only(score)
                if four is None:
                    dropped.skip(piece_id, "no single Soprano, Alto, Tenor and Bass part")
                    continue
                score = four
            if len(score.parts) > data.max_tracks:
                dropped.skip(piece_id, f"{len(score.parts)} parts, more than data.max_tracks={data.max_tracks}")
                continue
            items.append((piece_id, score))
        dropped.warn("the score recipe leaves out")
        return items, report

    def make_tokenizer(self, items: Sequence[tuple[str, Any]], data: ScoreData) -> ScoreTokenizer:
        return ScoreTokenizer(steps_per_quarter=data.steps_per_quarter, max_tracks=data.max_tracks,
                              velocity_bins=data.velocity_bins, order=data.order)

    def empty_hint(self, data: ScoreData) -> str:
        return "; with data.satb=true a piece needs parts named Soprano, Alto, Tenor and Bass"

    def encode_docs(self, items, tok: ScoreTokenizer, data: ScoreData):
        failed = SkipReport()
        for piece_id, score in items:
            split = split_of(piece_id, data.valid_frac, data.test_frac)
            base = home_shift(score) if data.transpose_to_key else 0
            shifts = [base + s for s in range(-data.augment, data.augment + 1)] if split == "train" else [base]
            for shift in shifts:
                moved = score.transpose(shift) if shift else score
                for seg in cut_bars(moved, data.max_bars) if data.max_bars else [moved]:
                    try:
                        ids = tok.encode_score(seg)
                    except DataError as e:
                        failed.skip(piece_id, str(e))
                        break
                    yield split, [tok.bos_id, *ids, tok.eos_id]
        failed.warn("that the score tokenizer cannot represent")

    def export_files(self, cfg, prepared, run_dir: Path) -> dict[str, Any]:  # noqa: ANN001
        """The parts and meter the model writes by default (``score_parts.json``)."""
        from muse.music.score_compose import PARTS_FILE, parts_summary

        data = self.data_config(cfg.data)
        items, _ = self.load_items(data)
        summary = parts_summary(items, bool(data.satb))
        return {PARTS_FILE: summary} if summary else {}

    # ---- generation half
    def generate(self, loaded: Any, request: Any = None, constraints: Sequence[Any] = (), *, num: int = 1,
                 generation: dict[str, Any] | None = None, device: str = "cpu", **fields: Any) -> list[Score]:
        """Scores for a :class:`~muse.music.score_compose.ScoreRequest` (or its fields as keywords)."""
        from muse.music.score_compose import ScoreRequest, compose_scores
        from muse.recipes.base import build_request

        gen = {k: v for k, v in (generation or {}).items() if v is not None}
        if gen.pop("max_new_tokens", None) is not None:
            raise ConfigError("a score's length is set by bars, not max_new_tokens")
        req = build_request(ScoreRequest, request, fields)
        return compose_scores(loaded, req, loaded.generation_config.updated(**gen), constraints, num=num,
                              device=device)


RECIPE = ScoreRecipe()

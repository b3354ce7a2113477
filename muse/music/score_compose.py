"""Writing scores with a score model: compose (from nothing or a primer), harmonize, infill.

All three are one constrained decoding (:mod:`muse.music.score_constraints`):
a :class:`~muse.music.score_constraints.ScorePlan` says which notes are kept
and which (part, bar) cells the model writes. Models trained with
``data.transpose_to_key`` work in C major / A minor: requests are moved there
and the result moved back.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from muse.errors import ConfigError, DataError
from muse.music.events import key_offset
from muse.music.melody import Melody, Note
from muse.music.score import DRUM_PROGRAM, Part, Score, score_key
from muse.music.score_constraints import ScorePlan, ScorePlanConstraint
from muse.music.theory import GENERATION_TIME_SIGNATURES, parse_key, parse_time_signature
from muse.recipes.hub import LoadedModel, load_model
from muse.sampling.config import GenerationConfig
from muse.sampling.constraints import Constraint
from muse.sampling.sampler import generate

PARTS_FILE = "score_parts.json"
"""Model directory file: the parts (name, program, drum flag) and meter the model writes by default."""

SATB_RANGES = ((60, 81), (53, 74), (48, 69), (40, 64))
"""Soprano, alto, tenor and bass ranges (MIDI pitches) of free voices in chorale models."""

INSTRUMENTS = {
    "piano": 0, "epiano": 4, "organ": 19, "guitar": 25, "eguitar": 27, "bass": 33, "violin": 40, "cello": 42,
    "strings": 48, "choir": 52, "trumpet": 56, "brass": 61, "sax": 65, "oboe": 68, "clarinet": 71, "flute": 73,
    "lead": 80, "pad": 88, "drums": DRUM_PROGRAM,
}
"""Part names ``--tracks`` accepts, with their General MIDI programs (drums: a percussion part)."""


def part_for(spec: str | int) -> Part:
    """A Part (no notes) for an instrument name of :data:`INSTRUMENTS` or a program number 0..127."""
    if isinstance(spec, int) or str(spec).strip().isdigit():
        prog = int(spec)
        if not 0 <= prog <= 127:
            raise ConfigError(f"program {prog} is outside 0..127")
        return Part([], program=prog, name=f"Program {prog}")
    name = str(spec).strip().lower()
    if name not in INSTRUMENTS:
        raise ConfigError(f"unknown part {spec!r}; use a program number or one of: {', '.join(INSTRUMENTS)}")
    prog = INSTRUMENTS[name]
    if prog == DRUM_PROGRAM:
        return Part([], program=0, is_drum=True, name="Drums")
    return Part([], program=prog, name=name.capitalize())


@dataclass
class ScoreRequest:
    """What :func:`compose_scores` writes.

    Example:
        >>> import muse
        >>> req = muse.ScoreRequest(bars=8, key="G", parts=["piano", "bass", "drums"])
    """

    bars: int = 8
    """New bars to write (after the primer's, when there is one)."""
    key: str | None = None
    """"D", "D minor", "Gm"...; None: the primer's key, else the model chooses C major or A minor."""
    time_signature: str | None = None
    """"3/4", "6/8"...; None: the primer's, else the model's usual meter."""
    qpm: float | None = None
    """Tempo in quarter notes per minute; None: the primer's, else 120."""
    parts: Sequence[str | int] | None = None
    """Instrument names (:data:`INSTRUMENTS`) or programs; None: the primer's parts, else the model's."""
    primer: Any = None
    """A Score, Melody or file whose first ``primer_bars`` bars are kept and continued."""
    primer_bars: int | None = None
    """Bars of the primer kept (None: all of it)."""
    rules: bool = True
    """Chorale models: no parallel fifths/octaves, no hidden ones between soprano and bass, no voice crossing
    (hard rules of the decoding, see :class:`~muse.music.score_constraints.ScorePlan`)."""

    def validate(self) -> "ScoreRequest":
        """The request itself; ConfigError naming the first bad field (bars, qpm, primer_bars, key).

        Returns:
            ScoreRequest: ``self``.

        Example:
            >>> import muse
            >>> muse.ScoreRequest(bars=4, key="D minor").validate().bars
            4
        """
        if not 1 <= int(self.bars) <= 256:
            raise ConfigError(f"bars must be 1..256, got {self.bars}")
        if self.qpm is not None and not 10 <= float(self.qpm) <= 400:
            raise ConfigError(f"qpm must be 10..400, got {self.qpm}")
        if self.primer_bars is not None and self.primer_bars < 1:
            raise ConfigError(f"primer_bars must be >= 1, got {self.primer_bars}")
        if self.key is not None:
            try:
                parse_key(self.key)
            except ValueError as e:
                raise ConfigError(f"key {self.key!r}: {e}") from None
        return self


# ---------------------------------------------------------------- model facts

def score_model(lm: LoadedModel | str | Path) -> LoadedModel:
    """``lm`` loaded, if it is not already; ConfigError unless it is a score model."""
    if not isinstance(lm, LoadedModel):
        lm = load_model(lm)
    if lm.kind != "score" or getattr(lm.tokenizer, "kind", "") != "score-remi":
        raise ConfigError(f"this is a {lm.kind!r} model; scores need a score model (muse train score, "
                          "or the shipped chorale-transformer)")
    return lm


def model_parts(lm: LoadedModel) -> tuple[list[Part], tuple[int, int], bool]:
    """The parts and meter the model writes by default, and whether it writes four choir voices."""
    info = lm.files.get(PARTS_FILE) or {}
    parts = [Part([], program=int(p.get("program", 0)), is_drum=bool(p.get("is_drum", False)),
                  name=str(p.get("name", ""))) for p in info.get("parts", [])] or [Part([], name="Piano")]
    ts = tuple(info.get("time_signature", (4, 4)))
    return parts, (int(ts[0]), int(ts[1])), bool(info.get("satb", False))


def parts_summary(items: Sequence[tuple[str, Score]], satb: bool) -> dict[str, Any]:
    """:data:`PARTS_FILE` content for a training set: its most common part list and meter."""
    lists = Counter(tuple((p.program, p.is_drum) for p in s.parts) for _, s in items)
    meters = Counter(s.time_signature for _, s in items)
    if not lists:
        return {}
    best = lists.most_common(1)[0][0]
    names = next(tuple(p.name for p in s.parts) for _, s in items
                 if tuple((p.program, p.is_drum) for p in s.parts) == best)
    return {"parts": [{"name": n, "program": prog, "is_drum": drum} for n, (prog, drum) in zip(names, best)],
            "time_signature": list(meters.most_common(1)[0][0]), "satb": bool(satb)}


def _moves_to_home(lm: LoadedModel) -> bool:
    return bool((lm.meta.get("data") or {}).get("transpose_to_key", True))


# ---------------------------------------------------------------- the one decoding

def _decode(lm: LoadedModel, template: Score, plan: ScorePlan, shift: int, generation: GenerationConfig | None,
            constraints: Sequence[Constraint], num: int, device: str, choose_key: bool) -> list[Score]:
    """``num`` scores of ``plan``: ``template`` (parts, meter, key; model space, moved by ``shift``) decoded."""
    tok = lm.tokenizer
    if num < 1:
        raise ConfigError(f"num must be >= 1, got {num}")
    if len(template.parts) > tok.max_tracks:
        raise DataError(f"{len(template.parts)} parts; this model writes at most {tok.max_tracks}")
    header = tok.header_tokens(template)
    prompt = [tok.bos_id, *header]
    extra: list[Constraint] = []
    body_start = len(prompt)
    if choose_key:
        body_start += 1
        extra.append(_FirstToken(body_start - 1, [tok.key_id((0, "major")), tok.key_id((9, "minor"))],
                                 tok.vocab_size))
    plan_c = ScorePlanConstraint(tok, plan, body_start)
    gen = (generation or lm.generation_config).updated(
        max_new_tokens=plan_c.max_tokens() + (1 if choose_key else 0), eos_id=tok.eos_id, num_return_sequences=num)
    for c in constraints:
        c.check(tok)
    seqs = generate(lm.model, prompt, gen, [*extra, plan_c, *constraints], device=device)
    out = []
    for seq in seqs:
        got = tok.decode_score(seq[1:])
        parts = [replace(t, notes=sorted(g.notes)) for t, g in zip(template.parts, got.parts)]
        parts += [replace(t, notes=[]) for t in template.parts[len(parts):]]
        key = got.key if choose_key else template.key
        s = Score(parts, template.steps_per_quarter, template.qpm, template.time_signature, key,
                  plan.bars * plan.steps_per_bar)
        s = _tidy(s, plan.mono)
        out.append(s.transpose(-shift) if shift else s)
    return out


class _FirstToken(Constraint):
    """The token at index ``at`` is one of ``ids`` (the model chooses C major or A minor)."""

    def __init__(self, at: int, ids: Sequence[int | None], vocab: int):
        import torch

        self.at = at
        self.mask = torch.zeros(vocab, dtype=torch.bool)
        for i in ids:
            if i is not None:
                self.mask[i] = True

    def allowed(self, seq: Sequence[int]):  # noqa: ANN201
        return self.mask if len(seq) == self.at else None


def _tidy(score: Score, mono: Sequence[bool] | None) -> Score:
    """Monophonic parts: each note ends where the part's next note starts."""
    if not mono:
        return score
    parts = []
    for p, is_mono in zip(score.parts, mono):
        notes = sorted(p.notes)
        if is_mono:
            notes = [replace(n, end=min(n.end, notes[i + 1].start)) if i + 1 < len(notes) and
                     notes[i + 1].start > n.start else n for i, n in enumerate(notes)]
        parts.append(replace(p, notes=notes))
    return replace(score, parts=parts)


def _ranges(satb: bool, n: int, shift: int) -> list[tuple[int, int]]:
    """Pitch ranges of free notes in model space (moved by ``shift``): the four voices' for a chorale model,
    else whatever stays inside MIDI's 0..127 once moved back."""
    if not satb or n != 4:
        return [(max(0, shift), min(127, 127 + shift))] * n
    return [(lo + shift, hi + shift) for lo, hi in SATB_RANGES]


def _beat(steps_per_quarter: int, ts: tuple[int, int]) -> int:
    """Grid steps per metrical beat (:func:`muse.music.metrics.beat_steps`)."""
    from muse.music.metrics import beat_steps

    return max(1, int(round(beat_steps(Melody([], steps_per_quarter, time_signature=ts)))))


def _as_score(obj: Any, steps_per_quarter: int, what: str) -> Score:
    if isinstance(obj, Score):
        score = obj
    elif isinstance(obj, Melody):
        score = Score.from_melody(obj)
    elif isinstance(obj, (str, Path)):
        from muse.music.score_io import read_score

        score = read_score(obj, steps_per_quarter=steps_per_quarter)
    else:
        raise ConfigError(f"{what} must be a Score, a Melody or a file, not {type(obj).__name__}")
    if score.steps_per_quarter != steps_per_quarter:
        raise DataError(f"{what} is on a grid of {score.steps_per_quarter} steps per quarter; "
                        f"the model uses {steps_per_quarter}")
    return score


def _meter(value: str | Sequence[int] | None, default: tuple[int, int]) -> tuple[int, int]:
    if value is None:
        return default
    return parse_time_signature(value, GENERATION_TIME_SIGNATURES)


# ---------------------------------------------------------------- the three tasks

def compose_scores(lm: LoadedModel | str | Path, request: ScoreRequest | None = None,
                   generation: GenerationConfig | None = None, constraints: Sequence[Constraint] = (), *,
                   num: int = 1, device: str = "cpu") -> list[Score]:
    """``num`` new scores: ``request.bars`` bars, after the primer's kept bars when there is one.

    Args:
        lm: a score model (loaded, a directory, a run or a shipped name).
        request: bars, key, meter, tempo, parts and primer (None: the defaults).
        generation: sampling settings over the model's own.
        constraints: extra decoding constraints.
        num: how many scores.
        device: where to run the model.

    Returns:
        list[Score]: each with the request's parts (the primer's, else the model's),
        the primer's notes kept exactly in its bars.

    Example:
        >>> import muse
        >>> from muse.music.score_compose import compose_scores
        >>> chorales = compose_scores("chorale-transformer", muse.ScoreRequest(bars=4), num=2)
        >>> [len(s.parts) for s in chorales]
        [4, 4]
    """
    lm = score_model(lm)
    tok = lm.tokenizer
    req = (request or ScoreRequest()).validate()
    parts, meter, satb = model_parts(lm)
    primer = None if req.primer is None else _as_score(req.primer, tok.steps_per_quarter, "primer")
    if req.parts is not None:
        parts = [part_for(p) for p in req.parts]
        satb = satb and len(parts) == 4
    elif primer is not None:
        parts = [replace(p, notes=[]) for p in primer.parts]
        satb = satb and len(parts) == 4
    ts = _meter(req.time_signature, primer.time_signature if primer is not None else meter)
    qpm = float(req.qpm or (primer.qpm if primer is not None else 120.0))
    spb = Score([], tok.steps_per_quarter, time_signature=ts).steps_per_bar
    keep_bars = 0
    notes: list[list[Note]] = [[] for _ in parts]
    key = parse_key(req.key) if req.key else None
    if primer is not None:
        if primer.time_signature != ts:
            raise ConfigError(f"the primer is in {primer.time_signature[0]}/{primer.time_signature[1]}; "
                              "leave time_signature unset or match it")
        keep_bars = math.ceil(primer.length / spb) if req.primer_bars is None else int(req.primer_bars)
        if req.parts is not None and len(parts) != len(primer.parts):
            raise ConfigError(f"the primer has {len(primer.parts)} parts, the request names {len(parts)}")
        notes = [[n for n in p.notes if n.start < keep_bars * spb] for p in primer.parts]
        if key is None:
            key = score_key(primer)
    choose_key = key is None and _moves_to_home(lm) and getattr(tok, "tempo_bins", 0) == 0
    shift = key_offset(key) if (key is not None and _moves_to_home(lm)) else 0
    model_key = None if key is None else ((key[0] + shift) % 12, key[1])
    bars = keep_bars + int(req.bars)
    free = {(j, b) for j in range(len(parts)) for b in range(keep_bars, bars)}
    moved = [[replace(n, pitch=n.pitch + (0 if parts[j].is_drum else shift)) for n in ns] for j, ns in enumerate(notes)]
    plan = ScorePlan.build(moved, bars, spb, free, _ranges(satb, len(parts), shift), [satb] * len(parts),
                           tok.max_duration, rules=satb and req.rules, beat=_beat(tok.steps_per_quarter, ts))
    template = Score(parts, tok.steps_per_quarter, qpm, ts, model_key)
    return _decode(lm, template, plan, shift, generation, constraints, num, device, choose_key)


def harmonize(lm: LoadedModel | str | Path, melody: Any, *, num: int = 1, generation: GenerationConfig | None = None,
              device: str = "cpu", rules: bool = True) -> list[Score]:
    """Four-part harmonizations of ``melody``, which stays the soprano note for note.

    The melody's key (declared, else estimated) is the harmonization's; alto, tenor
    and bass are generated in their ranges (:data:`SATB_RANGES`) under the kept
    soprano by the constrained decoding of :mod:`muse.music.score_constraints`.

    Args:
        lm: a chorale model (four choir voices, e.g. the shipped ``chorale-transformer``).
        melody: a Melody, a one-part Score, or a file (its melody is taken).
        num: how many harmonizations.
        generation: sampling settings over the model's own.
        device: where to run the model.
        rules: forbid parallel fifths and octaves, hidden ones between soprano and bass, and voice
            crossings (see :class:`~muse.music.score_constraints.ScorePlan`).

    Returns:
        list[Score]: four parts (Soprano, Alto, Tenor, Bass); the soprano's notes
        equal the melody's.

    Example:
        >>> import muse
        >>> from muse.music.score_compose import harmonize
        >>> tune = muse.Melody([muse.Note(0, 4, 72), muse.Note(4, 8, 71), muse.Note(8, 16, 72)])
        >>> [s.parts[0].notes == tune.notes for s in harmonize("chorale-transformer", tune)]
        [True]
    """
    lm = score_model(lm)
    tok = lm.tokenizer
    parts, _, satb = model_parts(lm)
    if len(parts) != 4:
        raise ConfigError("harmonize needs a model of four voices (a chorale model)")
    if isinstance(melody, (str, Path)):
        from muse.music.score_io import read_score

        melody = read_score(melody, steps_per_quarter=tok.steps_per_quarter).melody()
    elif isinstance(melody, Score):
        melody = melody.melody()
    if not isinstance(melody, Melody):
        raise ConfigError(f"melody must be a Melody, a Score or a file, not {type(melody).__name__}")
    if not melody.notes:
        raise DataError("the melody to harmonize has no notes")
    if melody.steps_per_quarter != tok.steps_per_quarter:
        raise DataError(f"the melody is on a grid of {melody.steps_per_quarter} steps per quarter; "
                        f"the model uses {tok.steps_per_quarter}")
    from muse.music.metrics import estimate_key

    key = melody.key or estimate_key(melody)
    shift = key_offset(key) if _moves_to_home(lm) else 0
    spb = melody.steps_per_bar
    bars = math.ceil(melody.length / spb)
    soprano = [replace(n, pitch=n.pitch + shift) for n in melody.notes]
    free = {(j, b) for j in (1, 2, 3) for b in range(bars)}
    plan = ScorePlan.build([soprano, [], [], []], bars, spb, free, _ranges(True, 4, shift), [True] * 4,
                           tok.max_duration, rules=rules, beat=_beat(tok.steps_per_quarter, melody.time_signature))
    template = Score(parts, tok.steps_per_quarter, melody.qpm, melody.time_signature, ((key[0] + shift) % 12, key[1]))
    out = _decode(lm, template, plan, shift, generation, (), num, device, False)
    return [replace(s, key=key, total_steps=max(s.length, melody.length)) for s in out]


def infill(lm: LoadedModel | str | Path, score: Any, bars: tuple[int, int], *, parts: Sequence[int] | None = None,
           num: int = 1, generation: GenerationConfig | None = None, device: str = "cpu",
           rules: bool = True) -> list[Score]:
    """``score`` with bars ``bars[0]..bars[1]`` (1-based, inclusive) of ``parts`` (0-based; None: all) rewritten.

    Args:
        lm: a score model.
        score: a Score or a file.
        bars: the first and last bar to rewrite, counted from 1.
        parts: indices of the parts to rewrite (None: every part).
        num: how many versions.
        generation: sampling settings over the model's own.
        device: where to run the model.
        rules: chorale models: the four-part rules of :func:`harmonize` for the rewritten notes.

    Returns:
        list[Score]: every note outside the chosen bars and parts kept exactly.

    Example:
        >>> import muse
        >>> from muse.music.score_compose import compose_scores, infill
        >>> piece = compose_scores("chorale-transformer", muse.ScoreRequest(bars=8))[0]
        >>> new = infill("chorale-transformer", piece, (3, 4), parts=[1, 2])[0]
    """
    lm = score_model(lm)
    tok = lm.tokenizer
    score = _as_score(score, tok.steps_per_quarter, "score")
    spb = score.steps_per_bar
    total = max(1, math.ceil(score.length / spb))
    a, b = int(bars[0]), int(bars[1])
    if not 1 <= a <= b <= total:
        raise ConfigError(f"bars {a}-{b} are not inside the score's 1-{total}")
    chosen = list(range(len(score.parts))) if parts is None else [int(j) for j in parts]
    bad = [j for j in chosen if not 0 <= j < len(score.parts)]
    if bad:
        raise ConfigError(f"part {bad[0] + 1} does not exist; the score has {len(score.parts)} parts")
    _, _, satb = model_parts(lm)
    satb = satb and len(score.parts) == 4
    key = score_key(score)
    shift = key_offset(key) if _moves_to_home(lm) else 0
    moved = score.transpose(shift) if shift else score
    free = {(j, bar) for j in chosen for bar in range(a - 1, b)}
    plan = ScorePlan.build([p.notes for p in moved.parts], total, spb, free, _ranges(satb, len(score.parts), shift),
                           [satb] * len(score.parts), tok.max_duration, rules=satb and rules,
                           beat=_beat(tok.steps_per_quarter, score.time_signature))
    template = replace(moved, parts=[replace(p, notes=[]) for p in moved.parts], key=((key[0] + shift) % 12, key[1]))
    out = _decode(lm, template, plan, shift, generation, (), num, device, False)
    return [replace(s, key=key, qpm=score.qpm, total_steps=max(s.length, score.length)) for s in out]


# ---------------------------------------------------------------- files

def save_scores(scores: Sequence[Score], out_dir: str | Path, *, prefix: str = "score", wav: bool = True,
                png: bool = True, xml: bool = True, synth: str = "auto", start: int = 1) -> list[dict[str, Path]]:
    """Write each score as ``<prefix>_NNN.mid`` and, when asked, ``.musicxml``, ``.wav`` and ``.png``.

    MIDI has one track per part, MusicXML one staff per part; the audio plays every part with its
    program, and the piano roll draws the parts in colours.

    Args:
        scores: the scores to write.
        out_dir: the folder to write into (created with its parents).
        prefix: start of every file name.
        wav: also render each MIDI file to audio (:func:`muse.render_wav`).
        png: also draw each score's piano roll (:func:`muse.plot_pianoroll`).
        xml: also write MusicXML.
        synth: ``"auto"``, ``"fluidsynth"`` or ``"builtin"`` (see :func:`muse.render_wav`).
        start: number of the first file (>= 1).

    Returns:
        list[dict[str, Path]]: per score, ``"mid"`` and the other files written, by suffix.

    Example:
        >>> import muse
        >>> from muse.music.score_compose import compose_scores, save_scores
        >>> files = save_scores(compose_scores("chorale-transformer"), "out", prefix="chorale", wav=False)
        >>> files[0]["mid"].name
        'chorale_001.mid'
    """
    from muse.core.files import check_output_dir
    from muse.music.score_io import write_score_midi, write_score_musicxml
    from muse.music.theory import key_name

    if start < 1:
        raise ConfigError(f"start must be >= 1, got {start}")
    out = check_output_dir(out_dir)
    Path(out).mkdir(parents=True, exist_ok=True)
    written = []
    for i, score in enumerate(scores, start):
        stem = Path(out) / f"{prefix}_{i:03d}"
        files = {"mid": write_score_midi(score, stem.with_suffix(".mid"))}
        if xml:
            files["musicxml"] = write_score_musicxml(score, stem.with_suffix(".musicxml"))
        if wav:
            from muse.music.render import render_wav

            files["wav"] = render_wav(files["mid"], stem.with_suffix(".wav"), synth=synth)
        if png:
            from muse.music.pianoroll import plot_pianoroll

            key = None if score.key is None else key_name(score.key)
            files["png"] = plot_pianoroll(score, stem.with_suffix(".png"), titles=[stem.name], key=key)
        written.append(files)
    return written

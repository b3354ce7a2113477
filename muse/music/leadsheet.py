"""Lead sheets: a melody over chords, with a model trained on melodies and their chords.

A lead-sheet model is a score model whose first part is a ``Chords`` part of block
chords (:mod:`muse.music.chords`) and whose second is the melody: ``muse train score
--corpus nottingham`` (the shipped ``leadsheet-transformer``). One constrained
decoding (:mod:`muse.music.score_constraints`) does both directions:

* :func:`melody_over_chords` keeps the chords and writes the melody (Improv RNN's task);
* :func:`suggest_chords` keeps the melody and weighs chords under it, bar by bar.

In the token order (parts interleaved at each onset, chords first) the melody note
at an onset is written after the chord that starts there, so the melody hears the
current chord. A chord *sampled* that way is chosen before the notes it carries, so
:func:`suggest_chords` does not sample: it scores each candidate chord together with
the whole bar of melody under it and keeps the likeliest (the model inverted by Bayes'
rule, greedily from left to right).
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from muse.errors import ConfigError, DataError
from muse.music.chords import CHORD_PART_NAME, ChordSpan, chord_part, chord_spans, parse_progression
from muse.music.events import key_offset
from muse.music.melody import Melody, Note
from muse.music.score import Part, Score
from muse.music.score_compose import _as_score, _beat, _decode, _moves_to_home, model_parts, score_model
from muse.music.score_constraints import ScorePlan
from muse.music.theory import bar_steps, parse_key, parse_time_signature
from muse.recipes.hub import LoadedModel
from muse.sampling.config import GenerationConfig

MELODY_RANGE = (55, 88)
"""Pitches the melody may take in the model's home key (C major / A minor): G3..E6."""
CHORD_RANGE = (48, 72)
"""Pitches a suggested chord part may take in the home key."""


def lead_sheet_model(lm: LoadedModel | str | Path) -> LoadedModel:
    """``lm`` loaded; ConfigError unless it is a score model with a chord part first and a melody second."""
    lm = score_model(lm)
    parts, _, _ = model_parts(lm)
    if len(parts) != 2 or parts[0].name != CHORD_PART_NAME:
        raise ConfigError("this score model has no chord part; use a lead-sheet model (the shipped "
                          "leadsheet-transformer, or muse train score --corpus nottingham)")
    return lm


def _steps(lm: LoadedModel, time_signature: str | Sequence[int] | None) -> tuple[tuple[int, int], int, int]:
    ts = parse_time_signature(time_signature) if isinstance(time_signature, str) else \
        tuple(time_signature) if time_signature else (4, 4)
    spq = lm.tokenizer.steps_per_quarter
    return ts, bar_steps(ts, spq), _beat(spq, ts)  # type: ignore[arg-type, return-value]


def chords_key(spans: Sequence[ChordSpan]) -> tuple[int, str]:
    """The key a progression suggests: the major or minor key whose scale holds the most chord tones
    (weighted by length), ties to the key of the first or last chord."""
    from muse.music.theory import scale_pitch_classes

    weight: dict[int, float] = {}
    for s in spans:
        for pc in s.chord.pitch_classes:
            weight[pc] = weight.get(pc, 0.0) + (s.end - s.start)
    first, last = spans[0].chord, spans[-1].chord

    def score(k: tuple[int, str]) -> tuple[float, int]:
        scale = scale_pitch_classes(*k)
        fits = sum(w for pc, w in weight.items() if pc in scale)
        home = sum(c.root == k[0] and (c.quality in ("min", "min7")) == (k[1] == "minor") for c in (first, last))
        return fits, home

    return max(((t, m) for t in range(12) for m in ("major", "minor")), key=score)


def melody_over_chords(lm: LoadedModel | str | Path, chords: str | Sequence[str], *, bars: int | None = None,
                       time_signature: str | Sequence[int] | None = None, key: str | None = None,
                       qpm: float = 120.0, num: int = 1, generation: GenerationConfig | None = None,
                       device: str = "cpu") -> list[Score]:
    """Melodies over a chord progression: scores of a ``Chords`` part (block chords, kept) and a melody.

    Args:
        lm: a lead-sheet model (shipped ``leadsheet-transformer``).
        chords: ``"C G Am F"`` (a bar each) or ``"C:2 G:2 Am F"`` (``:n`` beats); any symbol music21
            reads, reduced to a triad or seventh chord (:func:`muse.music.chords.parse_chord`).
        bars: length in bars; the progression repeats (or is cut) to fill it. None: the progression's.
        time_signature: ``"4/4"``, ``"3/4"``, ``"6/8"``... (default 4/4).
        key: the key, e.g. ``"G"`` or ``"Em"``; None: the key the chords suggest (:func:`chords_key`).
        qpm: tempo.
        num: how many melodies.
        generation: sampling settings over the model's own.
        device: where to run the model.

    Returns:
        list[Score]: part 0 the chords exactly as asked, part 1 the melody (monophonic).

    Example:
        >>> import muse
        >>> sheet = muse.melody_over_chords("leadsheet-transformer", "C G Am F")[0]
        >>> [p.name for p in sheet.parts], sheet.num_bars
        (['Chords', 'Melody'], 4.0)
    """
    lm = lead_sheet_model(lm)
    tok = lm.tokenizer
    parts, _, _ = model_parts(lm)
    ts, spb, beat = _steps(lm, time_signature)
    spans = parse_progression(chords, steps_per_bar=spb, steps_per_beat=beat)
    total = spans[-1].end
    if bars is not None:
        if bars < 1:
            raise ConfigError(f"bars must be >= 1, got {bars}")
        want = bars * spb
        cycle, t = [], 0
        while t < want:
            for s in spans:
                if t + (s.end - s.start) > want:
                    cycle.append(ChordSpan(t, want, s.chord))
                    t = want
                    break
                cycle.append(ChordSpan(t, t + s.end - s.start, s.chord))
                t += s.end - s.start
        spans, total = cycle, want
    n_bars = math.ceil(total / spb)
    home = parse_key(key) if key else chords_key(spans)
    shift = key_offset(home) if _moves_to_home(lm) else 0
    moved = [ChordSpan(s.start, s.end, s.chord.transpose(shift)) for s in spans]
    kept = chord_part(moved).notes
    lo, hi = MELODY_RANGE
    plan = ScorePlan.build([kept, []], n_bars, spb, {(1, b) for b in range(n_bars)},
                           [(0, 127), (lo, hi)], [False, True], tok.max_duration, rules=False, beat=beat)
    template = Score([replace(p, notes=[]) for p in parts], tok.steps_per_quarter, qpm, ts,  # type: ignore[arg-type]
                     ((home[0] + shift) % 12, home[1]))
    out = _decode(lm, template, plan, shift, generation, (), num, device, False)
    chord_notes = chord_part(spans)
    return [replace(s, parts=[chord_notes, replace(s.parts[1], name=s.parts[1].name or "Melody")], key=home,
                    total_steps=max(total, s.length)) for s in out]


def _melody_of(obj: Any, steps_per_quarter: int) -> Melody:
    if isinstance(obj, Melody):
        return obj
    return _as_score(obj, steps_per_quarter, "melody").melody()


CANDIDATE_QUALITIES = ("maj", "min", "7")
"""Chords :func:`suggest_chords` weighs on every root: major, minor and dominant seventh (36 in all)."""


def _sequence_logprob(lm: LoadedModel, seqs: Sequence[Sequence[int]], start: int) -> list[float]:
    """log p of the tokens ``seq[start:]`` of each sequence given those before it (one batch; a sequence
    longer than the model's context is cut to its last tokens, ``start`` with it)."""
    import torch

    model = lm.model
    ctx = getattr(model, "max_context", None) or 10**9
    cut = [max(0, len(q) - 1 - ctx) for q in seqs]
    rows = [list(q[c:]) for q, c in zip(seqs, cut)]
    width = max(len(r) for r in rows) - 1
    pad = lm.tokenizer.pad_id
    inp = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        inp[i, :len(r) - 1] = torch.tensor(r[:-1])
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        logits, _ = model(inp.to(device))
        logp = torch.log_softmax(logits.float(), -1).cpu()
    out = []
    for i, (r, c) in enumerate(zip(rows, cut)):
        first = max(1, start - c)
        idx = torch.arange(first, len(r))
        out.append(float(logp[i, idx - 1, torch.tensor(r[first:], dtype=torch.long)].sum()))
    return out


def suggest_chords(lm: LoadedModel | str | Path, melody: Any, *, per_bar: int = 1,
                   candidates: Sequence[Any] | None = None, device: str = "cpu") -> tuple[list[ChordSpan], Score]:
    """Chords for a melody: bar by bar, the chord the model finds most likely together with the bar's notes.

    For each bar in turn, every candidate chord is put under the melody (the chords chosen so far
    before it) and the model scores the bar's chord and melody tokens; the best is kept (greedy
    search of ``argmax p(chord, melody bar | what came before)``). So, unlike sampling a chord
    part, each chord is chosen having heard the whole bar of melody it carries.

    Args:
        lm: a lead-sheet model.
        melody: a Melody, a Score or a file (its melody is taken).
        per_bar: 1: a chord per bar; 2: also weigh two chords a bar (half bar each) where the meter
            halves (2/4, 4/4, 6/8...), keeping the split only when the model prefers it.
        candidates: chords to weigh (:class:`~muse.music.chords.Chord` or symbols, in the melody's key);
            None: every root as major, minor and dominant seventh.
        device: where to run the model.

    Returns:
        tuple[list[ChordSpan], Score]: the chords (in the melody's key) and the lead sheet (chords, melody).

    Example:
        >>> import muse
        >>> tune = muse.Melody([muse.Note(0, 8, 72), muse.Note(8, 16, 76), muse.Note(16, 32, 74)])
        >>> spans, sheet = muse.suggest_chords("leadsheet-transformer", tune)
        >>> files = muse.save_lead_sheets([sheet], "out", prefix="chords", wav=False)
    """
    from muse.music.chords import Chord, parse_chord
    from muse.music.metrics import estimate_key

    lm = lead_sheet_model(lm)
    tok = lm.tokenizer
    parts, _, _ = model_parts(lm)
    mel = _melody_of(melody, tok.steps_per_quarter)
    if not mel.notes:
        raise DataError("the melody has no notes")
    if mel.steps_per_quarter != tok.steps_per_quarter:
        raise DataError(f"the melody is on a grid of {mel.steps_per_quarter} steps per quarter; "
                        f"the model uses {tok.steps_per_quarter}")
    if per_bar not in (1, 2):
        raise ConfigError(f"per_bar must be 1 or 2, got {per_bar}")
    key = mel.key or estimate_key(mel)
    shift = key_offset(key) if _moves_to_home(lm) else 0
    pool = [c if isinstance(c, Chord) else parse_chord(str(c)) for c in candidates] if candidates is not None \
        else [Chord(r, q) for r in range(12) for q in CANDIDATE_QUALITIES]
    if not pool:
        raise ConfigError("candidates: give at least one chord")
    pool = [c.transpose(shift) for c in pool]
    spb = mel.steps_per_bar
    half = spb // 2 if per_bar == 2 and spb % 2 == 0 and mel.time_signature[0] % 2 == 0 else None
    n_bars = math.ceil(mel.length / spb)
    tune = [replace(n, pitch=n.pitch + shift) for n in mel.notes]
    home = ((key[0] + shift) % 12, key[1])
    skeleton = [replace(p, notes=[]) for p in parts]

    def ids_of(spans: list[ChordSpan], upto: int) -> list[int]:
        notes = [n for n in tune if n.start < upto]
        score = Score([replace(skeleton[0], notes=chord_part(spans).notes), replace(skeleton[1], notes=notes)],
                      tok.steps_per_quarter, mel.qpm, mel.time_signature, home, upto)
        return [tok.bos_id, *tok.encode_score(score)]

    def best_of(options: list[list[ChordSpan]], upto: int) -> tuple[float, list[ChordSpan]]:
        seqs = [ids_of(o, upto) for o in options]
        common = min(len(q) for q in seqs)
        for i in range(common):
            if any(q[i] != seqs[0][i] for q in seqs):
                common = i
                break
        scores: list[float] = []
        for i in range(0, len(seqs), 64):
            scores += _sequence_logprob(lm, seqs[i:i + 64], common)
        j = max(range(len(options)), key=lambda k: scores[k])
        return scores[j], options[j]

    chosen: list[ChordSpan] = []
    for b in range(n_bars):
        a, z = b * spb, (b + 1) * spb
        _, pick = best_of([[*chosen, ChordSpan(a, z, c)] for c in pool], z)
        if half is not None:
            one = pick[-1].chord
            splits = [[*chosen, ChordSpan(a, a + half, x), ChordSpan(a + half, z, y)]
                      for x in pool for y in pool if x == one or y == one]
            _, pick = best_of([pick, *splits], z)
        chosen = pick
    spans: list[ChordSpan] = []
    for s in chosen:  # a chord repeated across a bar line is one span
        c = s.chord.transpose(-shift)
        if spans and spans[-1].chord == c and spans[-1].end == s.start:
            spans[-1] = ChordSpan(spans[-1].start, s.end, c)
        else:
            spans.append(ChordSpan(s.start, s.end, c))
    sheet = Score([chord_part(spans), Part(tuple(mel.notes), name="Melody")], mel.steps_per_quarter, mel.qpm,
                  mel.time_signature, key, max(mel.length, n_bars * spb))
    return spans, sheet


def lead_sheet_music21(score: Score, spans: Sequence[ChordSpan] | None = None) -> Any:
    """A music21 score of the melody alone with chord symbols above it (a lead sheet).

    ``spans``: the chords; None reads them from the score's ``Chords`` part."""
    from music21 import clef, harmony

    from muse.music.score_io import score_to_music21

    chords_i = next((i for i, p in enumerate(score.parts) if p.name == CHORD_PART_NAME), None)
    if spans is None:
        if chords_i is None:
            raise DataError("the score has no Chords part and no chords were given")
        spans = chord_spans(score.parts[chords_i], score.length)
    melody = [p for i, p in enumerate(score.parts) if i != chords_i]
    m21 = score_to_music21(replace(score, parts=melody))
    part = m21.parts[0]
    part.insert(0, clef.bestClef(part, recurse=True))  # chosen before chord symbols' pitches can sway it
    spq = score.steps_per_quarter
    for s in spans:
        name = s.chord.name
        figure = name[0] + "-" + name[2:] if name[1:2] == "b" else name  # music21 writes flats as "-"
        cs = harmony.ChordSymbol(figure)
        cs.writeAsChord = False
        part.insert(s.start / spq, cs)
    return m21


def write_lead_sheet(score: Score, path: str | Path, spans: Sequence[ChordSpan] | None = None) -> Path:
    """Write the lead sheet (melody + chord symbols) as MusicXML (``.mxl``: compressed); returns the path."""
    from music21 import metadata

    from muse.core.files import atomic_file, check_output_file
    from muse.music.midi_io import quiet

    path = check_output_file(path)
    m21 = lead_sheet_music21(score, spans)
    m21.metadata = metadata.Metadata(title=path.stem, movementName=path.stem, composer="muse")
    fmt = "mxl" if path.suffix.lower() == ".mxl" else "musicxml"
    with atomic_file(path) as tmp, quiet():
        m21.write(fmt, fp=str(tmp))
    return path


def save_lead_sheets(scores: Sequence[Score], out_dir: str | Path, *, prefix: str = "leadsheet",
                     wav: bool = True, png: bool = True, synth: str = "auto") -> list[dict[str, Path]]:
    """Write lead sheets: MIDI with a chord and a melody track, MusicXML with chord symbols, audio, piano roll.

    ``<prefix>_NNN.mid`` holds a chord track and a melody track, ``.musicxml`` the melody with
    chord symbols above it; ``.wav`` and ``.png`` when asked.

    Args:
        scores: lead sheets (a ``Chords`` part and a melody), e.g. from :func:`melody_over_chords`.
        out_dir: the folder to write into (created with its parents).
        prefix: start of every file name.
        wav: also render each MIDI file to audio.
        png: also draw each piano roll.
        synth: ``"auto"``, ``"fluidsynth"`` or ``"builtin"`` (see :func:`muse.render_wav`).

    Returns:
        list[dict[str, Path]]: per score, the files written, by suffix (``"mid"``, ``"musicxml"``...).

    Example:
        >>> import muse
        >>> sheets = muse.melody_over_chords("leadsheet-transformer", "C G Am F", num=2)
        >>> files = muse.save_lead_sheets(sheets, "out", wav=False)
        >>> files[0]["musicxml"].name
        'leadsheet_001.musicxml'
    """
    from muse.music.score_compose import save_scores

    files = save_scores(scores, out_dir, prefix=prefix, wav=wav, png=png, xml=False, synth=synth)
    for score, f in zip(scores, files):
        f["musicxml"] = write_lead_sheet(score, f["mid"].with_suffix(".musicxml"))
    return files


def melody_notes(score: Score) -> list[Note]:
    """The melody part's notes of a lead sheet (the first part that is not ``Chords``)."""
    return list(next(p for p in score.parts if p.name != CHORD_PART_NAME).notes)

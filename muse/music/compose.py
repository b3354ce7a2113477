"""Melody generation: primers, key/scale constraints, and writing .mid/.wav/.png."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from muse.errors import ConfigError, DataError
from muse.generate.config import GenerationConfig
from muse.generate.sampler import generate
from muse.music.constraints import MelodyConstraint
from muse.music.melody import Melody, Note
from muse.music.scales import MINOR_LIKE, scale_intervals, scale_pitches, tonic_pitch_class
from muse.pretrained import LoadedModel, load_model

log = logging.getLogger(__name__)
DEFAULT_MELODY_MODEL = "melody-transformer"
SUPPORTED_TIME_SIGNATURES = {(2, 4), (3, 4), (4, 4), (5, 4), (6, 8), (9, 8), (12, 8), (3, 8), (2, 2), (6, 4), (7, 8)}


def estimate_key(melody: Melody) -> tuple[int, str]:
    """Most likely major/minor key: most notes in scale, ties broken by tonic/final-note weight."""
    pcs = [p % 12 for p in melody.pitches]
    if not pcs:
        return 0, "major"
    final = pcs[-1]

    def score(k: tuple[int, str]) -> tuple[float, float]:
        scale = {(k[0] + i) % 12 for i in scale_intervals(k[1])}
        return sum(pc in scale for pc in pcs), (pcs.count(k[0]) + 2 * (final == k[0]))

    return max(((t, m) for t in range(12) for m in ("major", "minor")), key=score)


def parse_time_signature(text: str | tuple[int, int]) -> tuple[int, int]:
    if isinstance(text, tuple):
        ts = text
    else:
        try:
            num, den = (int(x) for x in str(text).split("/"))
            ts = (num, den)
        except ValueError:
            raise ConfigError(f"time signature {text!r} must look like 3/4") from None
    if ts not in SUPPORTED_TIME_SIGNATURES:
        raise ConfigError(f"time signature {ts[0]}/{ts[1]} is not supported; use one of "
                          + ", ".join(f"{a}/{b}" for a, b in sorted(SUPPORTED_TIME_SIGNATURES)))
    return ts


@dataclass
class _Plan:
    shift: int
    """Real pitch = model pitch + shift."""
    key: tuple[int, str] | None
    pitches: set[int] | None
    """Allowed model-space pitches (None: any)."""


def _plan(tok, key: str | None, scale: str | None, primer: Melody | None, low: int, high: int) -> _Plan:
    normalised = bool(getattr(tok, "transpose_to_key", False))
    tonic: int | None = None
    if key is not None:
        tonic = tonic_pitch_class(key)
    if scale is not None:
        scale_intervals(scale)  # validate early
    if tonic is None and primer is not None and (key is None and (scale is not None or normalised)):
        pk = primer.key or estimate_key(primer)
        tonic, scale = pk[0], scale or pk[1]
    if tonic is None and scale is not None:
        tonic = 9 if scale in MINOR_LIKE else 0
    scale = scale or ("major" if tonic is not None else None)
    if tonic is None:
        shift, out_key = 0, None
    else:
        home = (9 if scale in MINOR_LIKE else 0) if normalised else tonic
        shift = (tonic - home + 6) % 12 - 6
        out_key = (tonic, "minor" if scale in MINOR_LIKE else "major")
    pitches = None
    if scale is not None and tonic is not None:
        pitches = {p - shift for p in scale_pitches(tonic, scale, low, high)}
    elif (low, high) != (0, 127):
        pitches = {p - shift for p in range(low, high + 1)}
    return _Plan(shift, out_key, pitches)


def generate_melodies(
    model: str | Path | LoadedModel = DEFAULT_MELODY_MODEL,
    *,
    bars: int = 8,
    num: int = 1,
    key: str | None = None,
    scale: str | None = None,
    low: int = 0,
    high: int = 127,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    beam_size: int = 1,
    branch_factor: int = 2,
    primer: Melody | None = None,
    qpm: float | None = None,
    time_signature: str | tuple[int, int] = (4, 4),
    start_with_note: bool = False,
    seed: int | None = None,
    device: str = "cpu",
) -> list[Melody]:
    """Generate ``num`` melodies of ``bars`` bars (including the primer, if any).

    ``temperature`` defaults to the one the model was shipped with.
    ``key``/``scale`` and ``low``/``high`` are hard constraints: every generated
    pitch lies in the scale and the range. A primer is continued from its end;
    its notes are kept exactly. Without a primer a melody may open with a
    pick-up (rests, then a lead-in note; at most two bars of rest), as most of
    the tunes the model learned from do; ``start_with_note`` makes the first
    step a note.
    """
    lm = model if isinstance(model, LoadedModel) else load_model(model, device=device, expect_kind="melody")
    if temperature is None:  # the model's own default (its generation config), else 1
        temperature = float((lm.meta.get("generation") or {}).get("temperature", 1.0))
    tok = lm.tokenizer
    if tok is None or not hasattr(tok, "pitch_of"):
        raise ConfigError("this model has no melody tokenizer; use a model trained with `muse train melody`")
    ts = parse_time_signature(time_signature)
    if bars < 1 or num < 1:
        raise ConfigError("bars and num must be >= 1")
    if not 0 <= low <= high <= 127:
        raise ConfigError(f"pitch range {low}..{high} must lie within 0..127 with low <= high")
    spq = getattr(tok, "steps_per_quarter", 4)
    if primer is not None:
        if primer.steps_per_quarter != spq:
            raise DataError(f"primer is on a grid of {primer.steps_per_quarter} steps per quarter, the model uses {spq}")
        ts = primer.time_signature if time_signature == (4, 4) and primer.time_signature in SUPPORTED_TIME_SIGNATURES else ts
    template = Melody([], spq, qpm or (primer.qpm if primer else 120.0), ts)
    total = bars * template.steps_per_bar
    plan = _plan(tok, key, scale, primer, low, high)
    prompt = [tok.bos_id]
    extra = 0
    if primer is not None:
        if primer.length > total:
            raise ConfigError(f"primer is {primer.num_bars:.1f} bars long, longer than the {bars} bars requested; "
                              "ask for more --bars")
        ids, extra = tok.encode_with_offset(replace(primer.transpose(-plan.shift), key=None)) \
            if hasattr(tok, "encode_with_offset") else (tok.encode(primer), 0)
        prompt += ids
        if plan.pitches is not None:
            plan.pitches = {p + extra for p in plan.pitches}
    constraint = MelodyConstraint(tok, plan.pitches, total, template.steps_per_bar,
                                  max_lead_in=0 if start_with_note and primer is None else None)
    constraint.check(tok)
    gen = GenerationConfig(
        max_new_tokens=max(1, total * (4 if tok.kind == "remi" else 1) + 1), temperature=temperature, top_k=top_k,
        top_p=top_p, num_beams=beam_size, branch_factor=branch_factor, eos_id=tok.eos_id,
        num_return_sequences=num if beam_size == 1 else min(num, beam_size), seed=seed)
    seqs: list[list[int]] = []
    while len(seqs) < num:
        seqs += generate(lm.model, prompt, gen, [constraint], device=device)
        gen = replace(gen, seed=None if seed is None else seed + len(seqs))
    out = []
    for seq in seqs[:num]:
        mel = tok.decode(seq, qpm=template.qpm, time_signature=ts, offset=extra) if tok.kind != "remi" \
            else tok.decode(seq)
        mel = mel.transpose(plan.shift)
        mel = replace(mel, qpm=template.qpm, time_signature=ts, key=plan.key or (primer.key if primer else None),
                      total_steps=total)
        if primer is not None:
            mel = _keep_primer(primer, mel)
        out.append(mel)
    return out


def _keep_primer(primer: Melody, mel: Melody) -> Melody:
    """Primer notes exactly as given, then the generated notes (a held last primer note is extended)."""
    p_end = primer.length
    gen_notes = [n for n in mel.notes if n.start >= p_end]
    notes = list(primer.notes)
    held = [n for n in mel.notes if n.start < p_end < n.end]
    if notes and held and notes[-1].end == p_end:
        notes[-1] = replace(notes[-1], end=held[0].end)
    return replace(mel, notes=notes + gen_notes)


def save_melodies(melodies: Sequence[Melody], out_dir: str | Path, *, prefix: str = "melody", wav: bool = True,
                  png: bool = True, synth: str = "auto") -> list[dict[str, Path]]:
    """Write ``<prefix>_NNN.mid`` (+ .wav, + piano-roll .png) for each melody."""
    from muse.music.midi_io import write_midi
    from muse.music.pianoroll import plot_pianoroll
    from muse.music.render import render_wav

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create output folder ({e.strerror})", out) from None
    written = []
    for i, mel in enumerate(melodies, 1):
        stem = out / f"{prefix}_{i:03d}"
        files = {"mid": write_midi(mel, stem.with_suffix(".mid"))}
        if wav:
            files["wav"] = render_wav(files["mid"], stem.with_suffix(".wav"), synth=synth)
        if png:
            key = None if mel.key is None else f"{'C C# D Eb E F F# G Ab A Bb B'.split()[mel.key[0]]} {mel.key[1]}"
            files["png"] = plot_pianoroll(mel, stem.with_suffix(".png"), titles=[stem.name], key=key)
        written.append(files)
    return written


def melody_pitch_check(melodies: Sequence[Melody], key: str, scale: str, low: int = 0, high: int = 127) -> list[Note]:
    """Notes that break a key/scale/range request (empty when all comply)."""
    allowed = scale_pitches(tonic_pitch_class(key), scale, low, high)
    return [n for m in melodies for n in m.notes if n.pitch not in allowed]

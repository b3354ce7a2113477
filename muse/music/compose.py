"""Melody generation: a request (bars, key, scale, primer...), constraints, and writing .mid/.wav/.png."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from muse.errors import ConfigError, DataError
from muse.sampling.config import GenerationConfig
from muse.sampling.constraints import Constraint
from muse.sampling.sampler import generate
from muse.music.constraints import MelodyConstraint
from muse.music.interop import MelodySource, as_melody
from muse.music.melody import Melody
from muse.music.metrics import estimate_key, strong_steps
from muse.music.theory import (GENERATION_TIME_SIGNATURES, MINOR_LIKE, key_name, parse_time_signature,
                               scale_intervals, scale_pitches, tonic_pitch_class)
from muse.music.tokenizer import (ControlPrefixRule, MusicTokenizer, analysis_key, melody_mode, mode_signature,
                                  scale_mode)
from muse.recipes.hub import LoadedModel, load_model

DEFAULT_MELODY_MODEL = "melody-transformer"
PRIMER_BARS = 4
"""Bars of a longer primer used when ``primer_bars`` is not given (its first bars with notes)."""
PRIMER_FROM = ("start", "end")


@dataclass
class MelodyRequest:
    """What melody to write. Pitch settings are hard constraints.

    Give it to :meth:`muse.MuseModel.generate` of a melody model (or its fields as
    keywords there, or to :func:`muse.generate_melodies`). Every generated pitch
    lies in ``low..high`` and, with ``key``/``scale``, in that scale; a primer's
    notes are kept exactly and the melody continues from its end for ``bars``
    new bars. A long primer (a whole song) is cut to ``primer_bars`` bars taken
    from its start or end (default: its first 4 bars with notes, with a warning).

    Example:
        >>> import muse
        >>> req = muse.MelodyRequest(bars=4, key="D", scale="dorian", low=55, high=79).validate()
        >>> tunes = muse.load("melody-transformer").generate(req, num_return_sequences=2, seed=0)
        >>> waltz = muse.MelodyRequest(bars=8, time_signature="3/4", qpm=150, start_with_note=True)
        >>> more = muse.load("melody-lstm").generate(waltz, seed=1)
        >>> song = muse.MelodyRequest(bars=8, primer="song.mid", primer_bars=2, primer_from="end")
    """

    bars: int = 8
    """Bars to write: the whole length without a primer; with one, the new bars generated after it
    (the melody is the primer, rounded up to whole bars, then ``bars`` bars)."""
    key: str | None = None
    """Tonic such as D, F#, Bb (with ``scale``: every pitch in that scale)."""
    scale: str | None = None
    """major, minor, dorian, pentatonic, blues, ... (see :data:`muse.music.theory.SCALES`)."""
    low: int = 0
    """Lowest MIDI pitch allowed."""
    high: int = 127
    """Highest MIDI pitch allowed."""
    primer: MelodySource | None = None
    """A melody to continue; its notes are kept exactly. A :class:`Melody`, a MIDI/MusicXML/ABC
    file path, a ``pretty_midi.PrettyMIDI`` or a music21 stream (see :func:`muse.music.interop.as_melody`)."""
    qpm: float | None = None
    """Tempo (default: the primer's, else 120)."""
    time_signature: str | tuple[int, int] | None = None
    """Meter (default: the primer's, else 4/4)."""
    start_with_note: bool = False
    """No pick-up: the first step is a note."""
    primer_bars: int | None = None
    """Bars of the primer to use (>= 1), in the primer's meter; None: the whole primer when it is at
    most :data:`PRIMER_BARS` bars long, else its first :data:`PRIMER_BARS` bars with notes (with a
    :class:`~muse.errors.MuseWarning`)."""
    primer_from: str = "start"
    """Where ``primer_bars`` are taken: ``"start"`` (from the primer's first bar with a note) or
    ``"end"`` (its last bars, up to the bar of its last note)."""
    cadence: bool = True
    """End on a cadence: the last note is the tonic (of ``key``, else of the primer's key, else of the
    key the melody suggests before its last bar), starts on a strong beat of the last bar (its
    downbeat, or its middle in 4/4, 6/4, 12/8) and is held to the end. For tokenizers that can
    steer endings (melody events; REMI and MidiTok models end where the length rule ends them)."""
    corpus: str | None = None
    """Style: the training corpus to write like, for a model trained with ``data.control`` holding
    ``corpus`` (its tokenizer's ``corpora``). None: the corpus most of its training melodies came from."""

    def validate(self) -> "MelodyRequest":
        """Check the settings; raise :class:`~muse.errors.ConfigError` for the first bad one.

        Checks that ``bars >= 1``, ``0 <= low <= high <= 127``, ``qpm > 0`` when
        given, that ``key`` is a note name and ``scale`` a known scale, that
        ``primer_bars`` is None or >= 1 and ``primer_from`` "start" or "end". The primer
        and the time signature are checked when the melody is composed.

        Returns:
            MelodyRequest: this request itself (unchanged), so calls chain.

        Example:
            >>> import muse
            >>> req = muse.MelodyRequest(bars=8, key="Bb", scale="major").validate()
            >>> muse.MelodyRequest(bars=8, low=80, high=60).validate()
            Traceback (most recent call last):
            ...
            muse.errors.ConfigError: pitch range 80..60 must lie within 0..127 with low <= high
        """
        if self.bars < 1:
            raise ConfigError(f"bars must be >= 1, got {self.bars}")
        if self.primer_bars is not None and self.primer_bars < 1:
            raise ConfigError(f"primer_bars must be >= 1, got {self.primer_bars}")
        if self.primer_from not in PRIMER_FROM:
            raise ConfigError(f"primer_from must be 'start' or 'end', got {self.primer_from!r}")
        if not 0 <= self.low <= self.high <= 127:
            raise ConfigError(f"pitch range {self.low}..{self.high} must lie within 0..127 with low <= high")
        if self.qpm is not None and not self.qpm > 0:
            raise ConfigError(f"qpm must be > 0, got {self.qpm}")
        if self.key is not None:
            tonic_pitch_class(self.key)
        if self.scale is not None:
            scale_intervals(self.scale)
        return self


def _melody_tokenizer(lm: LoadedModel) -> MusicTokenizer:
    if not isinstance(lm.tokenizer, MusicTokenizer):
        raise ConfigError("this model has no melody tokenizer; use a model trained with `muse train melody`")
    return lm.tokenizer


def _target_key(req: MelodyRequest, primer: Melody | None) -> tuple[tuple[int, str] | None, str | None]:
    """(key written to the file, scale constraining pitches) from the request and the primer."""
    tonic = None if req.key is None else tonic_pitch_class(req.key)
    scale = req.scale
    if tonic is None and primer is not None and primer.key is not None and scale is not None:
        tonic = primer.key[0]
    if tonic is None and scale is not None:
        tonic = 9 if scale in MINOR_LIKE else 0
    if tonic is None:
        return (primer.key if primer is not None else None), None
    scale = scale or "major"
    return (tonic, "minor" if scale in MINOR_LIKE else "major"), scale


def compose(
    lm: LoadedModel,
    request: MelodyRequest,
    generation: GenerationConfig | None = None,
    constraints: Sequence[Constraint] = (),
    *,
    num: int = 1,
    device: str = "cpu",
) -> list[Melody]:
    """``num`` melodies from ``lm`` for ``request``, sampled with ``generation``
    (default: the model's own generation config), under the request's constraints
    and any extra ``constraints``.

    The engine under :func:`generate_melodies` and a melody model's
    :meth:`~muse.MuseModel.generate`: the request is validated, the primer (if
    any) read and encoded as the prompt, and every token decoded under the
    melody grammar (length, bar lines, pitch set of the key/scale and range).
    The primer's notes are kept exactly in every melody.

    Args:
        lm: the loaded melody model (:func:`muse.load_model` with a melody
            tokenizer; ConfigError otherwise).
        request: what to write (bars, key, scale, range, primer, tempo, meter).
        generation: sampling settings; None uses ``lm.generation_config``. Its
            ``max_new_tokens``, ``eos_id`` and ``num_return_sequences`` are set here
            from the request and ``num``.
        constraints: extra decoding constraints
            (:class:`muse.sampling.constraints.Constraint`) applied after the
            melody grammar; each is checked against the tokenizer first.
        num: how many melodies (>= 1). With beam search (``num_beams > 1``) each
            search gives at most ``num_beams``; further searches use ``seed + n``.
        device: where to run the model (``"cpu"``, ``"cuda"``...).

    Returns:
        list[Melody]: ``num`` melodies of exactly ``request.bars`` bars, or with a
        primer its excerpt (:func:`primer_excerpt`) rounded up to whole bars then
        ``request.bars`` new bars, in the request's (else the primer's, else 120 qpm / 4/4) tempo
        and meter, with the target key set when one is known.

    Example:
        >>> import muse
        >>> from muse.music.compose import compose
        >>> lm = muse.load_model("melody-transformer")
        >>> tunes = compose(lm, muse.MelodyRequest(bars=4, key="G", scale="major"), num=2)
        >>> len(tunes), tunes[0].num_bars
        (2, 4.0)
    """
    tok = _melody_tokenizer(lm)
    req = request.validate()
    if num < 1:
        raise ConfigError(f"num must be >= 1, got {num}")
    gen = generation or lm.generation_config
    given = None if req.primer is None else as_melody(req.primer, what="primer",
                                                       steps_per_quarter=tok.steps_per_quarter)
    primer = given
    if primer is not None and primer.steps_per_quarter != tok.steps_per_quarter:
        raise DataError(f"primer is on a grid of {primer.steps_per_quarter} steps per quarter, "
                        f"the model uses {tok.steps_per_quarter}")
    ts_default = primer.time_signature if primer is not None else (4, 4)
    ts = parse_time_signature(req.time_signature or ts_default, GENERATION_TIME_SIGNATURES) \
        if req.time_signature is not None or ts_default in GENERATION_TIME_SIGNATURES else ts_default
    template = Melody([], tok.steps_per_quarter, req.qpm or (primer.qpm if primer else 120.0), ts)
    bar = template.steps_per_bar
    total = req.bars * bar
    if primer is not None:
        if primer.key is None:  # the key of the whole primer, not only of the bars used
            primer = replace(primer, key=estimate_key(primer))
        given = primer_excerpt(given, req.primer_bars, req.primer_from, name=_source_name(req.primer))
        primer = replace(given, key=primer.key)
        total += -(-primer.length // bar) * bar  # the primer, rounded up to whole bars, then `bars` new bars
    out_key, scale = _target_key(req, primer)
    if primer is not None:
        ids, transform = tok.encode_melody(primer)
    else:
        ids, transform = [], tok.transform_for(_model_key(tok, out_key, scale))
    prompt = [tok.bos_id, *_control_prefix(tok, req, ts, out_key, scale, primer, transform), *ids]
    pitches = None
    if scale is not None and out_key is not None:
        pitches = {transform.to_model(p) for p in scale_pitches(out_key[0], scale, req.low, req.high)}
    elif (req.low, req.high) != (0, 127):
        pitches = {transform.to_model(p) for p in range(req.low, req.high + 1)}
    final_steps: list[int] = []
    tonic = None
    if req.cadence:
        final_steps = [total - bar + s for s in strong_steps(template)]
        if out_key is not None:
            tonic = transform.to_model(60 + out_key[0]) % 12
    melody_rule = MelodyConstraint(tok, pitches, total, template.steps_per_bar,
                                   max_lead_in=0 if req.start_with_note and primer is None else None,
                                   final_steps=final_steps, tonic_pc=tonic)
    rules = [melody_rule, *([ControlPrefixRule(tok)] if tok.controls else []), *constraints]
    for rule in rules:
        rule.check(tok)
    gen = replace(gen, max_new_tokens=max(1, tok.max_tokens(total)) + len(tok.controls), eos_id=tok.eos_id,
                  num_return_sequences=num if gen.num_beams == 1 else min(num, gen.num_beams)).validate()
    seqs: list[list[int]] = []
    seed = gen.seed
    while len(seqs) < num:
        seqs += generate(lm.model, prompt, gen, rules, device=device)
        gen = replace(gen, seed=None if seed is None else seed + len(seqs))
    like = replace(template, key=out_key)
    out = []
    for seq in seqs[:num]:
        mel = tok.decode_melody(seq, transform, like=like).slice(0, total)  # a last note ends with the melody
        mel = replace(mel, qpm=template.qpm, time_signature=ts, key=out_key, total_steps=total)
        if primer is not None:
            mel = _keep_primer(given, mel)
            mel = replace(mel, key=out_key)
        if mel.key is None and mel.notes:  # no key asked or known: the file still carries one, the tune's own
            mel = replace(mel, key=estimate_key(mel))
        out.append(mel)
    return out


def _model_key(tok: MusicTokenizer, key: tuple[int, str] | None, scale: str | None) -> tuple[int, str] | None:
    """The key a fresh melody is moved from: ``key``, or for a model trained with controls and a modal
    scale the key of its signature (D dorian as C major), as such tunes were moved in training."""
    mode = scale_mode(scale)
    if key is None or not tok.controls or mode is None:
        return key
    return mode_signature(key[0], mode)


def _control_prefix(tok: MusicTokenizer, req: MelodyRequest, ts: tuple[int, int], out_key: tuple[int, str] | None,
                    scale: str | None, primer: Melody | None, transform: Any) -> list[int]:
    """The control ids telling a model trained with ``data.control`` the request's meter, corpus,
    mode and model-space tonic ([] for a model trained without; parts not known are left to the model)."""
    if req.corpus is not None and req.corpus not in tok.corpora:
        known = f"; it knows {', '.join(tok.corpora)}" if tok.corpora else " (trained without data.control=corpus)"
        raise ConfigError(f"corpus {req.corpus!r} is not a style of this model{known}")
    if not tok.controls:
        return []
    mode, tonic = scale_mode(scale), None if out_key is None else out_key[0]
    if scale is None and primer is not None and (home := analysis_key(primer)) is not None:
        mode, tonic = melody_mode(primer, home), home[0]  # as the training melodies were told
    tonic = None if tonic is None or mode is None else transform.to_model(tonic) % 12  # a prefix of the order
    meter: tuple[int, int] | None = ts
    if "meter" in tok.controls:
        try:
            tok.control_tokens(meter=ts)
        except DataError:  # a meter the model never saw: bar lines only, as models without controls write it
            from muse.data.report import warn

            warn(f"this model was not trained on {ts[0]}/{ts[1]} tunes: it is told no meter and writes "
                 f"{ts[0]}/{ts[1]} bar lines only")
            meter = None
    return tok.control_tokens(meter=meter, key=tonic, mode=mode,
                              corpus=req.corpus or (tok.corpora[0] if tok.corpora else None))


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
    beam_size: int | None = None,
    branch_factor: int | None = None,
    primer: MelodySource | None = None,
    primer_bars: int | None = None,
    primer_from: str = "start",
    qpm: float | None = None,
    time_signature: str | tuple[int, int] | None = None,
    start_with_note: bool = False,
    cadence: bool = True,
    seed: int | None = None,
    device: str = "cpu",
    corpus: str | None = None,
    **generation: Any,
) -> list[Melody]:
    """Generate ``num`` melodies of ``bars`` bars (with a primer: ``bars`` new bars after it).

    Sampling settings default to the model's ``generation_config.json``; any
    :class:`~muse.sampling.config.GenerationConfig` field can be given here.
    ``key``/``scale`` and ``low``/``high`` are hard constraints: every generated
    pitch lies in the scale and the range. A primer (a :class:`Melody`, a
    MIDI/MusicXML/ABC file path, a ``pretty_midi.PrettyMIDI`` or a music21 stream;
    files and objects give their melody line) is continued from its end for
    ``bars`` new bars; its notes are kept exactly. A primer longer than 4 bars (a
    whole song) is cut to its first 4 bars with notes, with a warning, unless
    ``primer_bars``/``primer_from`` say which bars to use. Without a primer a melody may open with a
    pick-up (rests, then a lead-in note; at most two bars of rest), as most of
    the tunes the model learned from do; ``start_with_note`` makes the first
    step a note.

    Args:
        model: a shipped melody model name (``"melody-transformer"``, the default,
            or ``"melody-lstm"``), a model or run directory, a checkpoint, or a
            model already loaded with :func:`muse.load_model` (reused as it is).
        bars: bars to generate (>= 1; default 8): the whole melody without a
            primer; with one, the new bars after it (the melody is the primer
            rounded up to whole bars, then ``bars`` bars).
        num: how many melodies (>= 1; default 1).
        key: tonic as a note name (``"C"``, ``"F#"``, ``"Bb"``); with ``scale``
            every pitch is in that scale, alone it means that major key. None: no
            key constraint (a primer's key is kept).
        scale: ``"major"``, ``"minor"``, ``"dorian"``, ``"pentatonic"``,
            ``"blues"``... (see :data:`muse.music.theory.SCALES`); without ``key``
            the tonic is the primer's, else C (A for minor-like scales). None: no
            scale constraint.
        low: lowest MIDI pitch allowed, 0..127 (default 0).
        high: highest MIDI pitch allowed, ``low``..127 (default 127).
        temperature: sampling temperature (> 0; below 1 is more conservative);
            None: the model's default.
        top_k: sample among the ``top_k`` most likely tokens only; None: the
            model's default.
        top_p: nucleus sampling threshold in (0, 1]; None: the model's default.
        beam_size: beam width (``num_beams``): 1 samples, more runs stochastic
            beam search; None: the model's default.
        branch_factor: stochastic beam search only: sampled continuations per beam
            and step; None: the model's default.
        primer: a melody to continue: a :class:`Melody`, a MIDI/MusicXML/ABC file
            path, a ``pretty_midi.PrettyMIDI`` or a music21 stream; on the model's
            grid (4 steps per quarter); any length (see ``primer_bars``). None:
            start from nothing.
        primer_bars: how many bars of the primer to use (>= 1, in its meter);
            None: all of a primer of at most 4 bars, else its first 4 bars with
            notes (with a :class:`~muse.errors.MuseWarning`).
        primer_from: ``"start"`` (default: ``primer_bars`` bars from the
            primer's first bar with a note) or ``"end"`` (its last bars, ending
            with the bar of its last note).
        qpm: tempo in quarter notes per minute (> 0); None: the primer's, else 120.
        time_signature: meter as ``"3/4"`` or ``(3, 4)`` (2/4, 3/4, 4/4, 5/4, 6/4,
            3/8, 6/8, 7/8, 9/8, 12/8, 2/2); None: the primer's, else 4/4.
        start_with_note: True: no pick-up, the first step is a note (without a
            primer). Default False.
        cadence: end on the tonic, on a strong beat of the last bar, held to the
            end (see :attr:`MelodyRequest.cadence`). Default True.
        seed: random seed; the same seed and settings give the same melodies.
            None: not seeded.
        device: where the model runs (``"cpu"``, the default, ``"cuda"``, ``"mps"``).
        corpus: the style (training corpus) to write like, for a model trained with
            ``data.control`` holding ``corpus``; None: its main training corpus.
        **generation: any other :class:`~muse.sampling.config.GenerationConfig`
            field (``repetition_penalty=1.2``, ``no_repeat_ngram_size=4``...); an
            unknown name raises ConfigError.

    Returns:
        list[Melody]: ``num`` melodies, each exactly ``bars`` bars long, or with
        a primer its bars (rounded up) + ``bars`` (``total_steps`` set), with tempo, meter and key (when known) set, ready
        for :func:`muse.save_melodies` or :func:`muse.write_midi`.

    Example:
        >>> import muse
        >>> tunes = muse.generate_melodies("melody-transformer", bars=8, num=3, key="D", scale="dorian", seed=0)
        >>> len(tunes), tunes[0].num_bars
        (3, 8.0)
        >>> more = muse.generate_melodies("melody-lstm", bars=8, primer=tunes[0], temperature=0.9, low=60, high=84)
        >>> more[0].num_bars  # the 8-bar primer, then 8 new bars
        16.0
        >>> files = muse.save_melodies(tunes + more, "out", wav=False)
    """
    lm = model if isinstance(model, LoadedModel) else load_model(model, device=device, expect_kind="melody")
    gen = lm.generation_config.updated(temperature=temperature, top_k=top_k, top_p=top_p, num_beams=beam_size,
                                       branch_factor=branch_factor, seed=seed, **generation)
    req = MelodyRequest(bars=bars, key=key, scale=scale, low=low, high=high, primer=primer, qpm=qpm,
                        time_signature=time_signature, start_with_note=start_with_note, cadence=cadence,
                        primer_bars=primer_bars,
                        primer_from=primer_from, corpus=corpus)
    return compose(lm, req, gen, num=num, device=device)


def _source_name(source: object) -> str:
    return f"primer {source}" if isinstance(source, (str, Path)) else "primer"


def primer_excerpt(primer: Melody, bars: int | None = None, where: str = "start", *, name: str = "primer") -> Melody:
    """The bars of ``primer`` that a melody continues (bars in the primer's own meter).

    ``bars`` bars from the bar holding the first note (``where="start"``), or the
    last ``bars`` bars up to the bar holding the last note's end (``"end"``),
    never past the notes' bars. ``bars=None``: the whole primer when it is at
    most :data:`PRIMER_BARS` bars long, else its first :data:`PRIMER_BARS` bars
    with notes, with a :class:`~muse.errors.MuseWarning` naming ``name``, its
    length and the option. A primer with no notes comes back unchanged.

    Example:
        >>> import muse
        >>> from muse.music.compose import primer_excerpt
        >>> song = muse.Melody([muse.Note(16 * b, 16 * b + 4, 60 + b) for b in range(10)])
        >>> primer_excerpt(song, 2, "end").pitches, primer_excerpt(song, 3).num_bars
        ([68, 69], 3.0)
    """
    if where not in PRIMER_FROM:
        raise ConfigError(f"primer_from must be 'start' or 'end', got {where!r}")
    if not primer.notes:
        return primer
    bar = primer.steps_per_bar
    if bars is None:
        if primer.length <= PRIMER_BARS * bar:
            return primer
        from muse.data.report import warn

        warn(f"{name} is {primer.num_bars:.1f} bars long; continuing its first {PRIMER_BARS} bars with notes "
             "(choose others with --primer-bars N and --primer-from start|end, or primer_bars/primer_from)")
        bars, where = PRIMER_BARS, "start"
    first = (primer.notes[0].start // bar) * bar
    last = -(-max(n.end for n in primer.notes) // bar) * bar
    if where == "start":
        start, end = first, min(first + bars * bar, last)
    else:
        start, end = max(first, last - bars * bar), last
    if start == 0 and end >= primer.length:
        return primer  # the whole primer (its trailing rest kept)
    return primer.slice(start, end)


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
                  png: bool = True, synth: str = "auto", start: int = 1) -> list[dict[str, Path]]:
    """Write ``<prefix>_NNN.mid`` (+ .wav, + piano-roll .png) for each melody.

    Numbers begin at ``start`` (default 1), so melodies written a few at a time
    continue one sequence: ``save_melodies(first, out)`` then
    ``save_melodies(more, out, start=len(first) + 1)``. Files already there with
    the same names are replaced.

    Args:
        melodies: the melodies to write (e.g. from :func:`muse.generate_melodies`).
        out_dir: the folder to write into (created with its parents;
            :class:`~muse.errors.DataError` when it cannot be).
        prefix: start of every file name (default ``"melody"``: ``melody_001.mid``).
        wav: also render each MIDI file to a 16-bit WAV (:func:`muse.render_wav`;
            default True).
        png: also draw each melody's piano roll as a PNG (:func:`muse.plot_pianoroll`,
            titled with the file name and the key; default True).
        synth: the WAV renderer: ``"auto"`` (FluidSynth when it and a soundfont
            are found, else the built-in synth; the default), ``"fluidsynth"`` or
            ``"builtin"``.
        start: number of the first file (>= 1; default 1); numbers have three
            digits, more past 999.

    Returns:
        list[dict[str, Path]]: one dict per melody, in order, mapping ``"mid"``
        and, when written, ``"wav"`` and ``"png"`` to the file paths.

    Example:
        >>> import muse
        >>> tunes = muse.generate_melodies("melody-transformer", bars=4, num=2, seed=0)
        >>> files = muse.save_melodies(tunes, "out", prefix="tune", synth="builtin")
        >>> files[0]["mid"].name, files[1]["wav"].name
        ('tune_001.mid', 'tune_002.wav')
        >>> more = muse.save_melodies(tunes, "out", prefix="tune", wav=False, png=False, start=3)
    """
    if start < 1:
        raise ConfigError(f"start must be >= 1, got {start}")
    from muse.music.midi_io import write_midi

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create output folder ({e.strerror})", out) from None
    written = []
    for i, mel in enumerate(melodies, start):
        stem = out / f"{prefix}_{i:03d}"
        files = {"mid": write_midi(mel, stem.with_suffix(".mid"))}
        if wav:  # each output's libraries (soundfile; matplotlib) are imported only when it is written
            from muse.music.render import render_wav

            files["wav"] = render_wav(files["mid"], stem.with_suffix(".wav"), synth=synth)
        if png:
            from muse.music.pianoroll import plot_pianoroll

            key = None if mel.key is None else key_name(mel.key)
            files["png"] = plot_pianoroll(mel, stem.with_suffix(".png"), titles=[stem.name], key=key)
        written.append(files)
    return written


"""The music-tokenizer protocol: what melody code may ask of any music tokenizer.

Code outside a tokenizer never branches on its kind. It encodes with
:meth:`MusicTokenizer.encode_melody`, which returns the ids *and* the
:class:`Transform` the tokenizer applied (transposition to a home key, octave
folding), and decodes with :meth:`MusicTokenizer.decode_melody`, which undoes
that transform. Constraints ask the tokenizer about structure (which ids are
pitches, where a melody must end, how long the opening rest is) through the
methods below.

Control prefixes (``data.control``): a model trained with controls reads, right
after BOS, tokens naming the melody's meter, source corpus, mode and tonic
(``TimeSig_6/8 Corpus_essen Mode_dorian Tonic_A``, in :data:`CONTROLS` order, a
part left out when unknown). :meth:`MusicTokenizer.control_tokens` writes them; the
structure methods and decoding skip them, so a body starts after the prefix.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch

from muse.errors import ConfigError, DataError
from muse.music.melody import Melody
from muse.music.theory import PITCH_CLASS_NAMES, TIME_SIGNATURES, parse_time_signature, ts_name
from muse.sampling.constraints import Constraint
from muse.tokenizers.base import Tokenizer

CONTROLS = ("meter", "corpus", "mode", "key")
"""The control parts a melody model can be trained with, in the order they follow BOS."""
MODES = ("major", "minor", "dorian", "mixolydian", "lydian", "phrygian")
"""The modes a ``Mode_`` control names (:func:`melody_mode` finds a melody's)."""
_SCALE_MODES = {"major": "major", "ionian": "major", "pentatonic": "major", "minor": "minor", "aeolian": "minor",
                "natural_minor": "minor", "harmonic_minor": "minor", "melodic_minor": "minor",
                "minor_pentatonic": "minor", "blues": "minor", "dorian": "dorian", "mixolydian": "mixolydian",
                "lydian": "lydian", "phrygian": "phrygian"}


def parse_controls(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"meter,mode"`` -> ``("meter", "mode")`` in :data:`CONTROLS` order; ``""``/``"none"``/None -> ().

    ConfigError (naming ``data.control``) for an unknown part.
    """
    parts = text.split(",") if isinstance(text, str) else list(text or ())
    names = {p.strip().lower() for p in parts if p.strip() and p.strip().lower() != "none"}
    unknown = sorted(names - set(CONTROLS))
    if unknown:
        raise ConfigError(f"data.control: unknown part {unknown[0]!r}; use a comma list of {', '.join(CONTROLS)}")
    return tuple(c for c in CONTROLS if c in names)


def scale_mode(scale: str | None) -> str | None:
    """The :data:`MODES` entry a requested scale asks for (pentatonic: major, blues: minor...);
    None for no scale or one without a mode (chromatic)."""
    if scale is None:
        return None
    return _SCALE_MODES.get(scale.strip().lower().replace("-", "_").replace(" ", "_"))


_MODE_DEGREE = {"major": 0, "minor": 9, "dorian": 2, "mixolydian": 7, "lydian": 5, "phrygian": 4}


def mode_signature(tonic: int, mode: str) -> tuple[int, str]:
    """The major key whose signature ``mode`` on ``tonic`` is written with: D dorian -> C major."""
    return (tonic - _MODE_DEGREE[mode]) % 12, "major"


def analysis_key(melody: Melody) -> tuple[int, str] | None:
    """The key a mode control is reckoned from: the key the notes suggest
    (:func:`~muse.music.metrics.estimate_key`) when the melody has none or when that key's
    tonic lies in the scale of its own (so a tune notated with a G major signature that the
    notes say is E minor counts as minor), else its own key; None without notes."""
    if not melody.notes:
        return melody.key
    from muse.music.metrics import estimate_key
    from muse.music.theory import scale_pitch_classes

    est = estimate_key(melody)
    if melody.key is None or est[0] in scale_pitch_classes(*melody.key):
        return est
    return melody.key


def melody_mode(melody: Melody, key: tuple[int, str]) -> str:
    """The mode of ``melody`` in ``key`` (tonic, major/minor): the key's own mode unless the
    degree that tells a church mode apart is heard more often than the key's own
    (minor: a major 6th -> dorian, else a minor 2nd -> phrygian; major: a minor 7th ->
    mixolydian, else an augmented 4th -> lydian). Counts are note durations."""
    weight = [0] * 12
    for n in melody.notes:
        weight[(n.pitch - key[0]) % 12] += n.duration
    if key[1] == "minor":
        if weight[9] > weight[8]:
            return "dorian"
        return "phrygian" if weight[1] > weight[2] else "minor"
    if weight[10] > weight[11]:
        return "mixolydian"
    return "lydian" if weight[6] > weight[5] else "major"


def control_names(controls: Sequence[str], corpora: Sequence[str]) -> list[str]:
    """Every control token name of ``controls`` (meters of :data:`~muse.music.theory.TIME_SIGNATURES`)."""
    names: list[str] = []
    if "meter" in controls:
        names += [f"TimeSig_{ts_name(ts)}" for ts in TIME_SIGNATURES]
    if "corpus" in controls:
        names += [f"Corpus_{c}" for c in corpora]
    if "mode" in controls:
        names += [f"Mode_{m}" for m in MODES]
    if "key" in controls:
        names += [f"Tonic_{n}" for n in PITCH_CLASS_NAMES]
    return names


@dataclass(frozen=True)
class Transform:
    """What encoding did to pitches: model pitch = real pitch + ``semitones``."""

    semitones: int = 0

    def to_model(self, pitch: int) -> int:
        return pitch + self.semitones

    def to_real(self, pitch: int) -> int:
        return pitch - self.semitones


def check_melody(melody: Melody, steps_per_quarter: int) -> None:
    """DataError unless ``melody`` is monophonic and on a grid of ``steps_per_quarter``."""
    if melody.steps_per_quarter != steps_per_quarter:
        raise DataError(
            f"melody is on a grid of {melody.steps_per_quarter} steps per quarter; "
            f"this tokenizer uses {steps_per_quarter}"
        )
    try:
        melody.validate()
    except ValueError as err:
        raise DataError(f"not a monophonic melody: {err}") from None


class MusicTokenizer(Tokenizer):
    """Base of the melody tokenizers. Subclasses implement the methods that raise."""

    steps_per_quarter: int = 4
    controls: tuple[str, ...] = ()
    """The control parts (:data:`CONTROLS`) this vocabulary has; () for a model trained without."""
    corpora: tuple[str, ...] = ()
    """With a ``corpus`` control: the corpus names it knows (the first is the default)."""

    # ---- control prefix
    def control_tokens(self, meter: str | Sequence[int] | None = None, key: int | None = None,
                       mode: str | None = None, corpus: str | None = None) -> list[int]:
        """The control prefix (written right after BOS) naming ``meter``, ``corpus``, ``mode`` and
        ``key`` (the tonic's pitch class in *model space*, after :meth:`transform_for`); parts this
        tokenizer was not trained with, or given as None, are left out ([] without controls).
        DataError naming the value when the vocabulary has no token for it."""
        parts = {"meter": None if meter is None else f"TimeSig_{ts_name(parse_time_signature(meter))}",
                 "corpus": None if corpus is None else f"Corpus_{corpus}",
                 "mode": None if mode is None else f"Mode_{mode}",
                 "key": None if key is None else f"Tonic_{PITCH_CLASS_NAMES[int(key) % 12]}"}
        ids = []
        for part in self.controls:
            name = parts[part]
            if name is None:
                continue
            try:
                ids.append(self.token_to_id(name))
            except DataError:
                known = {"corpus": self.corpora, "mode": MODES}.get(part)
                hint = f" (known: {', '.join(known)})" if known else ""
                raise DataError(f"this model has no {part} control {name.partition('_')[2]!r}{hint}") from None
        return ids

    def is_control(self, i: int) -> bool:
        """True for an id of the control prefix."""
        return int(i) in self._control_ids()

    def _control_ids(self) -> frozenset[int]:
        cached = self.__dict__.get("_control_id_set")
        if cached is None:
            ids = []
            for name in control_names(self.controls, self.corpora):
                try:
                    ids.append(self.token_to_id(name))
                except DataError:  # a meter this vocabulary does not have
                    pass
            cached = self.__dict__["_control_id_set"] = frozenset(ids)
        return cached

    def prefix_only_ids(self) -> list[int]:
        """Control ids that never occur in a melody's body (forbidden there while decoding)."""
        return sorted(self._control_ids())

    def strip_controls(self, body: Sequence[int]) -> Sequence[int]:
        """``body`` (tokens after BOS) without its leading control prefix."""
        if not self.controls:
            return body
        ids = self._control_ids()
        k = 0
        while k < len(body) and int(body[k]) in ids:
            k += 1
        return body[k:]

    def controls_of_ids(self, ids: Sequence[int]) -> dict[str, Any]:
        """The control prefix of ``ids`` (after an optional BOS) as ``{"meter": (6, 8), "mode": "dorian",
        "key": 9, "corpus": "essen"}`` (parts absent from the prefix left out)."""
        out: dict[str, Any] = {}
        body = list(ids)[1:] if ids and int(ids[0]) == self.bos_id else list(ids)
        for i in body[: len(body) - len(self.strip_controls(body))]:
            kind, _, value = self.id_to_token(int(i)).partition("_")
            if kind == "TimeSig":
                out["meter"] = parse_time_signature(value)
            elif kind == "Corpus":
                out["corpus"] = value
            elif kind == "Mode":
                out["mode"] = value
            elif kind == "Tonic":
                out["key"] = PITCH_CLASS_NAMES.index(value)
        return out

    # ---- encode / decode
    def encode_melody(self, melody: Melody) -> tuple[list[int], Transform]:
        """Ids of ``melody`` (no BOS/EOS) and the transform applied before encoding."""
        raise NotImplementedError

    def transform_for(self, key: tuple[int, str] | None) -> Transform:
        """The transform :meth:`encode_melody` applies to a melody in ``key`` (before octave folding)."""
        return Transform()

    def decode_ids(self, ids: Sequence[int]) -> Melody:
        """Melody of the ids in model space, metadata from the tokens where they carry it."""
        raise NotImplementedError

    def decode_melody(self, ids: Sequence[int], transform: Transform = Transform(),
                      like: Melody | None = None) -> Melody:
        """Melody of ``ids`` with ``transform`` undone. ``like`` gives the tempo, meter and key
        where the tokens carry none."""
        mel = self.decode_ids(ids)
        if transform.semitones:
            mel = mel.transpose(-transform.semitones)
            mel = replace(mel, notes=[replace(n, pitch=fold_pitch(n.pitch, 0, 127)) for n in mel.notes])
        if like is not None:
            mel = replace(mel, qpm=like.qpm if self.tempo_of_ids(ids) is None else mel.qpm,
                          time_signature=mel.time_signature if self.meter_of_ids(ids) else like.time_signature,
                          key=mel.key if self.key_of_ids(ids) else like.key)
        return mel

    def encode(self, item: Melody) -> list[int]:
        return self.encode_melody(item)[0]

    def decode(self, ids: Sequence[int]) -> Melody:
        return self.decode_ids(ids)

    # ---- what the tokens say about metadata (None: they say nothing)
    def tempo_of_ids(self, ids: Sequence[int]) -> float | None:
        return None

    def meter_of_ids(self, ids: Sequence[int]) -> tuple[int, int] | None:
        return None

    def key_of_ids(self, ids: Sequence[int]) -> tuple[int, str] | None:
        return None

    # ---- structure, for constraints and budgets
    def pitch_of(self, i: int) -> int | None:
        """Model-space pitch a note-starting id plays; None for any other id."""
        raise NotImplementedError

    def max_tokens(self, steps: int) -> int:
        """Upper bound on the tokens of a melody of ``steps`` grid steps (for generation budgets)."""
        raise NotImplementedError

    def closing_mask(self, body: Sequence[int], total_steps: int, steps_per_bar: int,
                     allowed: torch.Tensor) -> torch.Tensor | None:
        """Once ``body`` (tokens after BOS) reaches ``total_steps``, the ids allowed to finish it
        (derived from ``allowed``, always including EOS); None while the melody goes on."""
        raise NotImplementedError

    def opening_rest(self, body: Sequence[int]) -> int | None:
        """Grid steps of rest so far when ``body`` has no note yet, for the pick-up rule;
        None when a note has come, or when the tokenizer cannot tell."""
        return None

    def cadence_mask(self, body: Sequence[int], total_steps: int, final_steps: Sequence[int], tonic_pc: int,
                     allowed: torch.Tensor) -> torch.Tensor | None:
        """The ids allowed next so that the melody ends on a cadence: its last note a tonic
        (model-space pitch class ``tonic_pc``) starting on one of the grid steps ``final_steps``
        (strong beats of the last bar) and held to ``total_steps``. None where the rule does not
        restrict this step, and always None for a tokenizer that cannot steer endings (the default)."""
        return None


def close_at_bar(body: Sequence[int], bar_id: int, eos_id: int, total_steps: int, steps_per_bar: int,
                 allowed: torch.Tensor) -> torch.Tensor | None:
    """:meth:`MusicTokenizer.closing_mask` of bar-based tokens (REMI-like): in the last bar,
    finish its notes, then end instead of starting another bar."""
    bars = sum(1 for t in body if t == bar_id)
    if bars < -(-total_steps // steps_per_bar):
        return None
    m = allowed.clone()
    m[bar_id] = False
    m[eos_id] = True
    return m


def fold_pitch(pitch: int, low: int, high: int) -> int:
    """Move ``pitch`` by octaves into [low, high] (the range must span an octave)."""
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


class ControlPrefixRule(Constraint):
    """Decoding rule for a model trained with controls: control tokens come only in the prefix
    right after BOS, each part once and in :data:`CONTROLS` order (the model may add the parts
    the prompt left out); once the body has begun, none. Without controls it restricts nothing."""

    _PARTS = {"TimeSig": "meter", "Corpus": "corpus", "Mode": "mode", "Tonic": "key"}

    def __init__(self, tokenizer: MusicTokenizer):
        self.tok = tokenizer
        self.body_ids = torch.ones(tokenizer.vocab_size, dtype=torch.bool)
        self.body_ids[tokenizer.prefix_only_ids()] = False
        self.part_of = {i: CONTROLS.index(self._PARTS[tokenizer.id_to_token(i).partition("_")[0]])
                        for i in tokenizer._control_ids()}
        self.after: dict[int, torch.Tensor] = {}

    def allowed(self, seq: Sequence[int]) -> torch.Tensor | None:
        if not self.tok.controls:
            return None
        bos = self.tok.bos_id
        last = max((i for i, t in enumerate(seq) if int(t) == bos), default=-1)
        body = seq[last + 1:]
        rest = self.tok.strip_controls(body)
        if len(rest):
            return self.body_ids
        done = max((self.part_of[int(t)] for t in body), default=-1)
        if done not in self.after:
            m = self.body_ids.clone()
            m[[i for i, part in self.part_of.items() if part > done]] = True
            self.after[done] = m
        return self.after[done]

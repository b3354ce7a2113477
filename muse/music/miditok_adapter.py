"""MidiTok tokenizers behind muse's :class:`~muse.music.tokenizer.MusicTokenizer` protocol.

:class:`MidiTokTokenizer` wraps a MidiTok REMI tokenizer (``miditok.REMI`` or a
subclass: the one-vocabulary tokenizations with ``Bar`` tokens, which is what the
length rule of generation needs), so it can be the tokenizer of a muse melody model:
``encode_melody`` / ``decode_melody``, ``pitch_of`` (``Pitch_p`` starts a note),
``max_tokens``, ``closing_mask`` (after the last bar's ``Bar``, no further bar: the
melody ends) and its state as JSON (``to_dict``: MidiTok's own parameters and the
vocabulary; :func:`muse.tokenizers.base.tokenizer_from_dict` rebuilds it with MidiTok
from them, kind ``"miditok"``, once this module is imported).

A melody goes to MidiTok as a ``symusic.Score`` of one track at MidiTok's time
division (tempo, time signature and key at time 0) and is encoded by MidiTok; the
score MidiTok decodes comes back through muse's own grid quantisation and skyline
(:mod:`muse.music.extract`). Round trips are exact on the grid when the vocabulary
can hold it: onsets always (the positions must be a multiple of the grid, checked),
durations up to MidiTok's longest (longer notes are clipped to it, as MidiTok does),
velocities when MidiTok keeps them (the default vocabulary has none: notes come back
at velocity 100); the meter comes from ``TimeSig`` tokens where the vocabulary has
them, the tempo from ``Tempo`` tokens; the length comes back rounded up to whole bars
(empty trailing bars are kept as ``Bar`` tokens).

Without a MidiTok tokenizer, :func:`default_remi` builds one made for melodies: full
MIDI pitch range, a position per grid step, durations up to 16 beats, no velocities,
time signatures (x/4 and x/8; x/2 meters would need twice the positions per beat).
A trained (BPE/Unigram/WordPiece) or multi-vocabulary MidiTok tokenizer is refused:
muse needs one id per token to constrain pitches.

miditok is imported when a tokenizer is made (``pip install 'muse[bench]'``).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from muse.errors import CheckpointError, ConfigError, DataError, require
from muse.music.extract import quantize, skyline
from muse.music.melody import Melody, Note
from muse.music.tokenizer import MusicTokenizer, Transform, check_melody, close_at_bar

_SPECIALS = ("PAD_None", "BOS_None", "EOS_None")
_VERSION_KEYS = ("miditok_version", "symusic_version", "hf_tokenizers_version")


def _miditok() -> Any:
    return require("miditok", "bench", "the MidiTok tokenizer adapter")


def default_remi(steps_per_quarter: int = 4, **config: Any) -> Any:
    """A MidiTok REMI tokenizer for muse melodies on a grid of ``steps_per_quarter``;
    ``config`` overrides any ``miditok.TokenizerConfig`` setting."""
    miditok = _miditok()
    settings: dict[str, Any] = {
        "pitch_range": (0, 127), "beat_res": {(0, 16): int(steps_per_quarter)}, "use_velocities": False,
        "use_time_signatures": True, "use_pitchdrum_tokens": False, "special_tokens": ["PAD", "BOS", "EOS"],
        "time_signature_range": {8: [3, 6, 7, 9, 12], 4: [1, 2, 3, 4, 5, 6, 7]},
    }
    settings.update(config)
    return miditok.REMI(miditok.TokenizerConfig(**settings))


def load_miditok(source: str | os.PathLike[str] | dict[str, Any]) -> Any:
    """A MidiTok tokenizer from its saved ``tokenizer.json`` (a file, or a directory holding
    one) or from the dict ``tokenizer.to_dict()`` gives; the class is its ``tokenization``."""
    miditok = _miditok()
    if isinstance(source, dict):
        params, where = source, None
    else:
        path = Path(source)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise ConfigError("no MidiTok tokenizer file here", path)
        try:
            params = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"not a MidiTok tokenizer file ({e})", path) from None
        where = path
    name = params.get("tokenization") if isinstance(params, dict) else None
    cls = getattr(miditok, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, miditok.MusicTokenizer)):
        raise ConfigError(f"MidiTok parameters name no MidiTok tokenization ({name!r})", where)
    with tempfile.TemporaryDirectory() as tmp:  # MidiTok reads its parameters from a file only
        file = Path(tmp) / "tokenizer.json"
        file.write_text(json.dumps(params), encoding="utf-8")
        try:
            return cls(params=file)
        except Exception as e:  # noqa: BLE001 - MidiTok raises many kinds on bad parameters
            raise ConfigError(f"MidiTok cannot build its {name} tokenizer from these parameters ({e})",
                              where) from None


class MidiTokTokenizer(MusicTokenizer):
    """muse's music-tokenizer protocol around a MidiTok REMI tokenizer (see the module doc).

    ``tokenizer``: a ``miditok.REMI`` (or subclass) object, the path of a saved MidiTok
    ``tokenizer.json`` (or its directory), MidiTok's parameter dict, or None for
    :func:`default_remi`. ``steps_per_quarter``: the grid of the melodies it reads and writes.
    """

    kind = "miditok"

    def __init__(self, tokenizer: Any = None, *, steps_per_quarter: int = 4):
        miditok = _miditok()
        self.steps_per_quarter = int(steps_per_quarter)
        if self.steps_per_quarter < 1:
            raise ConfigError(f"steps_per_quarter must be >= 1, got {steps_per_quarter}")
        if tokenizer is None:
            tokenizer = default_remi(self.steps_per_quarter)
        elif isinstance(tokenizer, (str, os.PathLike, dict)):
            tokenizer = load_miditok(tokenizer)
        if not isinstance(tokenizer, miditok.MusicTokenizer):
            raise ConfigError(f"not a MidiTok tokenizer: {type(tokenizer).__name__}; give a miditok tokenizer, "
                              "the path of its tokenizer.json or None")
        name = type(tokenizer).__name__
        if not isinstance(tokenizer, miditok.REMI):
            raise ConfigError(f"MidiTok {name} is not supported: muse wraps REMI tokenizers (their Bar tokens "
                              "end a melody at its length)")
        if tokenizer.is_multi_voc:
            raise ConfigError(f"MidiTok {name} has several vocabularies; muse needs one")
        if tokenizer.is_trained:
            raise ConfigError(f"MidiTok {name} is trained (BPE/Unigram/WordPiece); muse needs its base tokens")
        self.miditok = tokenizer
        vocab: dict[str, int] = dict(tokenizer.vocab)
        self._tokens = [""] * len(vocab)
        for tok, i in vocab.items():
            self._tokens[i] = tok
        missing = [t for t in _SPECIALS if t not in vocab]
        if missing:
            raise ConfigError(f"MidiTok {name} lacks the special token(s) {', '.join(missing)}; "
                              "give it special_tokens=['PAD', 'BOS', 'EOS']")
        self.pad_id, self.bos_id, self.eos_id = (vocab[t] for t in _SPECIALS)
        self._special = {i for t, i in vocab.items() if t.split("_")[0] in ("PAD", "BOS", "EOS", "MASK")}
        self.bar_id = vocab["Bar_None"]
        self._pitch = {i: int(t.split("_")[1]) for t, i in vocab.items() if t.startswith("Pitch_")}
        self._pitch_id = {p: i for i, p in self._pitch.items()}
        self._ts = {i: _fraction_pair(t.split("_")[1]) for t, i in vocab.items() if t.startswith("TimeSig_")}
        self._ts_id = {ts: i for i, ts in self._ts.items()}
        self._tempo = {i: float(t.split("_")[1]) for t, i in vocab.items() if t.startswith("Tempo_")}
        cfg = tokenizer.config
        self.use_time_signatures = bool(cfg.use_time_signatures)
        self.time_division = int(tokenizer.time_division)
        self._per_note = 3 + bool(cfg.use_velocities) + bool(cfg.use_programs)
        self._per_bar = 1 + self.use_time_signatures + bool(cfg.use_tempos) + 2 * bool(cfg.use_programs)
        if self.time_division % self.steps_per_quarter:
            raise ConfigError(f"MidiTok {name} has {self.time_division} ticks per quarter, no multiple of "
                              f"a grid of {self.steps_per_quarter} steps per quarter")

    # ---------------------------------------------------------------- vocabulary

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def id_to_token(self, i: int) -> str:
        if not 0 <= i < len(self._tokens):
            raise DataError(f"id {i} outside the MidiTok vocabulary of {self.vocab_size}")
        return self._tokens[i]

    def pitch_of(self, i: int) -> int | None:
        """Pitch of a ``Pitch_p`` id (a note starts with it), None for any other id."""
        return self._pitch.get(int(i))

    # ---------------------------------------------------------------- meters

    def _meter(self, ts: tuple[int, int]) -> tuple[int, int]:
        """The meter MidiTok counts bars in for a melody in ``ts`` (4/4 without TimeSig tokens)."""
        return tuple(ts) if self.use_time_signatures else (4, 4)  # type: ignore[return-value]

    def _bar_steps(self, ts: tuple[int, int]) -> int:
        num, den = self._meter(ts)
        return num * self.steps_per_quarter * 4 // den

    def check_meter(self, ts: tuple[int, int]) -> None:
        """DataError unless this vocabulary holds melodies in ``ts`` exactly on the grid."""
        num, den = self._meter(ts)
        name = f"{ts[0]}/{ts[1]}"
        if self.use_time_signatures and (num, den) not in self._ts_id:
            known = " ".join(f"{a}/{b}" for a, b in self._ts_id)
            raise DataError(f"time signature {name} is not in this MidiTok vocabulary (it has: {known})")
        res = self.miditok.config.beat_res
        for r in {max(res.values()), *res.values()}:
            per_quarter = r * den / 4  # MidiTok's beats are the time signature's denominator
            if per_quarter != int(per_quarter) or int(per_quarter) % self.steps_per_quarter:
                raise DataError(f"in {name} this MidiTok vocabulary has {per_quarter:g} positions or duration "
                                f"steps per quarter, not a multiple of the grid's {self.steps_per_quarter}")

    # ---------------------------------------------------------------- encode / decode

    def melody_score(self, melody: Melody) -> Any:
        """The ``symusic.Score`` MidiTok reads for ``melody``: one track, at MidiTok's time division."""
        import symusic

        from muse.music.theory import KEY_MODES

        tpq = self.time_division
        tick = tpq // melody.steps_per_quarter
        score = symusic.Score(tpq)
        score.tempos.append(symusic.Tempo(0, float(melody.qpm)))
        score.time_signatures.append(symusic.TimeSignature(0, *melody.time_signature))
        if melody.key is not None and melody.key[1] in KEY_MODES:
            minor = melody.key[1] == "minor"
            major_tonic = (melody.key[0] + 3 * minor) % 12
            fifths = (major_tonic * 7 + 6) % 12 - 6  # sharps (> 0) or flats (< 0) of the signature
            score.key_signatures.append(symusic.KeySignature(0, fifths, int(minor)))
        track = symusic.Track(name="melody", program=0)
        for n in melody.notes:
            track.notes.append(symusic.Note(n.start * tick, n.duration * tick, n.pitch, max(1, n.velocity)))
        score.tracks.append(track)
        return score

    def encode_melody(self, melody: Melody) -> tuple[list[int], Transform]:
        """MidiTok's ids of ``melody`` (pitches as they are: the transform is the identity),
        with a ``Bar`` for each empty bar up to the melody's length."""
        check_melody(melody, self.steps_per_quarter)
        self.check_meter(melody.time_signature)
        for n in melody.notes:
            if n.pitch not in self._pitch_id:
                lo, hi = min(self._pitch_id), max(self._pitch_id)
                raise DataError(f"pitch {n.pitch} outside this MidiTok vocabulary's range {lo}..{hi}")
        if not melody.notes:
            ids: list[int] = []
        else:
            try:
                seq = self.miditok.encode(self.melody_score(melody))
            except Exception as e:  # noqa: BLE001 - MidiTok raises many kinds
                raise DataError(f"MidiTok cannot encode this melody ({e})") from None
            seq = seq if not isinstance(seq, list) else (seq[0] if seq else None)
            ids = [] if seq is None else [int(i) for i in seq.ids]
        bars = sum(1 for i in ids if i == self.bar_id)
        need = max(1, math.ceil(melody.length / self._bar_steps(melody.time_signature)))
        tail = [self.bar_id]
        if self.use_time_signatures:
            tail.append(self._ts_id[self._meter(melody.time_signature)])
        ids += tail * max(0, need - bars)
        return ids, Transform()

    def decode_ids(self, ids: Sequence[int]) -> Melody:
        """Melody of the ids as MidiTok decodes them (specials skipped), on the grid, monophonic
        (highest note at one onset; a note ends where the next starts); its length is the bars'."""
        body = [int(i) for i in ids if int(i) not in self._special]
        bad = [i for i in body if not 0 <= i < self.vocab_size]
        if bad:
            raise DataError(f"id {bad[0]} outside the MidiTok vocabulary of {self.vocab_size}")
        ts = self.meter_of_ids(body) or (4, 4)
        qpm = self.tempo_of_ids(body) or 120.0
        notes: list[Note] = []
        if any(i in self._pitch for i in body):
            try:
                score = self.miditok.decode(body if self.miditok.one_token_stream else [body])
            except Exception as e:  # noqa: BLE001 - MidiTok raises many kinds on odd sequences
                raise DataError(f"MidiTok cannot decode these ids ({e})") from None
            raw = [(n.time / score.tpq, (n.time + n.duration) / score.tpq, int(n.pitch), int(n.velocity))
                   for tr in score.tracks for n in tr.notes]
            notes = skyline(quantize(raw, self.steps_per_quarter))
        bars = sum(1 for i in body if i == self.bar_id)
        return Melody(notes, self.steps_per_quarter, qpm, ts, None, total_steps=bars * self._bar_steps(ts))

    # ---------------------------------------------------------------- what the tokens say

    def tempo_of_ids(self, ids: Sequence[int]) -> float | None:
        return next((self._tempo[int(i)] for i in ids if int(i) in self._tempo), None)

    def meter_of_ids(self, ids: Sequence[int]) -> tuple[int, int] | None:
        return next((self._ts[int(i)] for i in ids if int(i) in self._ts), None)

    # ---------------------------------------------------------------- structure

    def max_tokens(self, steps: int) -> int:
        return (self._per_note + self._per_bar) * max(1, steps) + 1

    def closing_mask(self, body: Sequence[int], total_steps: int, steps_per_bar: int,
                     allowed: torch.Tensor) -> torch.Tensor | None:
        """In the last bar: finish its notes, then end instead of starting another bar."""
        if not self.use_time_signatures:
            steps_per_bar = 4 * self.steps_per_quarter
        return close_at_bar(body, self.bar_id, self.eos_id, total_steps, steps_per_bar, allowed)

    # ---------------------------------------------------------------- state

    def to_dict(self) -> dict[str, Any]:
        params = {k: v for k, v in self.miditok.to_dict().items() if k not in _VERSION_KEYS}
        return {"steps_per_quarter": self.steps_per_quarter, "miditok": json.loads(json.dumps(params)),
                "vocab": list(self._tokens)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MidiTokTokenizer:
        try:
            params, spq = d["miditok"], int(d.get("steps_per_quarter", 4))
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"MidiTok tokenizer state lacks {e}") from None
        try:
            tok = cls(load_miditok(dict(params)), steps_per_quarter=spq)
        except ConfigError as e:
            raise CheckpointError(str(e)) from None
        if "vocab" in d and list(d["vocab"]) != tok._tokens:
            raise CheckpointError("this MidiTok version builds another vocabulary from the saved parameters "
                                  f"({tok.vocab_size} tokens, {len(d['vocab'])} saved)")
        return tok


def _fraction_pair(text: str) -> tuple[int, int]:
    a, b = text.split("/")
    return int(a), int(b)

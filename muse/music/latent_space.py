"""A melody VAE's latent space, on melodies: encode, decode, sample, interpolate, reconstruct, steer.

A VAE trained with ``muse train vae`` reads and writes fixed-length slices of
``n_bars`` bars of 4/4 (16 steps per bar at 4 steps per quarter; 2 bars for
``vae-2bar``). Melodies given here are cut into such *windows*:

* a melody longer than one window is cut into consecutive windows from bar 1
  (a remainder shorter than a window is dropped); this is logged;
* a melody shorter than one window raises :class:`~muse.errors.DataError`;
* a melody in another meter is read as 4/4 bars of 16 steps (logged).

Every function taking melodies takes each as a :class:`~muse.music.melody.Melody`,
a MIDI/MusicXML/ABC file path, a ``pretty_midi.PrettyMIDI`` or a music21 stream
(files and objects give their melody line, see :func:`read_input_melody`).

Pitches are folded by octaves into the model's range (the tokenizer's ``squash``);
reconstructions and attribute edits are moved back to the input's octave.
``temperature=0`` decodes greedily (argmax at every step).

Attribute vectors (MusicVAE): the mean code of the windows with the most of an
attribute (top quartile) minus that of the windows with the least (bottom
quartile). A model directory written by training carries them in
``attributes.json``.
"""
from __future__ import annotations

import os
import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from muse.data.report import warn
from muse.errors import CheckpointError, ConfigError, DataError
from muse.models.latent import ATTRIBUTES_FILE, AttributeVectors, slerp
from muse.music.interop import MelodySource, is_melody_source
from muse.music.melody import Melody
from muse.music.tokenizer import Transform
from muse.music.windows import BAR_STEPS, STEPS_PER_QUARTER, concat_melodies, melody_windows

if TYPE_CHECKING:
    from muse.music.events import MelodyEventTokenizer

DEFAULT_VAE_MODEL = "vae-2bar"

AttributeFn = Callable[[Melody], float]


# ------------------------------------------------------------------ the model
@dataclass
class VAE:
    """A loaded melody VAE: model, tokenizer and attribute vectors."""

    model: torch.nn.Module
    tokenizer: "MelodyEventTokenizer"
    attributes: AttributeVectors = field(default_factory=AttributeVectors)
    source: Path | None = None

    @property
    def n_bars(self) -> int:
        return int(self.model.config.n_bars)

    @property
    def seq_len(self) -> int:
        return int(self.model.config.seq_len)

    @property
    def z_dim(self) -> int:
        return int(self.model.config.z_dim)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def load_vae(name_or_path: str | Path = DEFAULT_VAE_MODEL, device: str = "cpu") -> VAE:
    """Load a melody VAE with its tokenizer and attribute vectors, ready for the latent-space functions.

    The model is found by the one rule of :func:`muse.recipes.hub.resolve_model_path`
    (shipped name, model directory, run directory or checkpoint); the attribute
    vectors come from its ``attributes.json`` (empty when there is none).
    ``muse.load("vae-2bar").vae`` gives the same object.

    Args:
        name_or_path: a shipped VAE name (default ``"vae-2bar"``, 2 bars of 4/4),
            a model directory, a run directory (its ``model/``, else
            ``checkpoints/best.pt``, else ``last.pt``), a checkpoint file, or a
            model already loaded with :func:`muse.load_model`.
        device: where the model runs (``"cpu"``, the default, ``"cuda"``,
            ``"cuda:1"``, ``"mps"``); ignored for an already loaded model.

    Returns:
        VAE: the model, its tokenizer and its attribute vectors, with ``n_bars``,
        ``seq_len`` (steps per window), ``z_dim`` and ``device``. Raises
        :class:`~muse.errors.CheckpointError` when the model is not a melody VAE
        on 4/4 bars of 16 steps, or its attribute vectors do not fit its codes.

    Example:
        >>> import muse
        >>> vae = muse.load_vae("vae-2bar")
        >>> vae.n_bars, vae.seq_len, vae.z_dim
        (2, 32, 128)
        >>> vae.attributes.names()
        ['note_density', 'mean_interval', 'syncopation', 'pitch_span']
        >>> same = muse.load("vae-2bar").vae
    """
    from muse.models.vae import MelodyVAE
    from muse.music.events import MelodyEventTokenizer
    from muse.recipes.hub import LoadedModel, load_model

    lm = name_or_path if isinstance(name_or_path, LoadedModel) else load_model(name_or_path, device=device,
                                                                                  expect_kind="vae")
    if not isinstance(lm.model, MelodyVAE) or not isinstance(lm.tokenizer, MelodyEventTokenizer):
        raise CheckpointError("is not a melody VAE (train one with `muse train vae`)", lm.source)
    c = lm.model.config
    if c.seq_len != c.n_bars * BAR_STEPS or lm.tokenizer.steps_per_quarter != STEPS_PER_QUARTER:
        raise CheckpointError(f"VAE slices of {c.seq_len} steps for {c.n_bars} bars are not 4/4 bars of "
                              f"{BAR_STEPS} steps", lm.source)
    attrs = AttributeVectors()
    if ATTRIBUTES_FILE in lm.files:
        attrs = AttributeVectors.from_dict(lm.files[ATTRIBUTES_FILE])
        if attrs.dim not in (None, c.z_dim):
            raise CheckpointError(f"attribute vectors have {attrs.dim} dims, the model's codes {c.z_dim}",
                                  lm.source)
    return VAE(lm.model, lm.tokenizer, attrs, lm.source)


def as_vae(obj: Any) -> VAE:
    """A :class:`VAE` from itself, a ``muse.load`` VAE model, a loaded model, or a name/path to load."""
    if isinstance(obj, VAE):
        return obj
    if hasattr(obj, "vae") and isinstance(obj.vae, VAE):
        return obj.vae
    return load_vae(obj)


def _takes_vae(fn: Callable) -> Callable:
    """Let ``fn``'s first argument be anything :func:`as_vae` reads."""
    @functools.wraps(fn)
    def wrapper(vae: Any, *args: Any, **kw: Any) -> Any:
        return fn(as_vae(vae), *args, **kw)

    return wrapper


def _generator(vae: VAE, seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator(device=vae.device).manual_seed(int(seed))


# ------------------------------------------------------------------ melodies <-> ids
def _windows(vae: VAE, melody: Melody, where: str, note_long: bool = True) -> list[Melody]:
    """The consecutive windows a melody is read as (see the module doc)."""
    if not isinstance(melody, Melody):
        raise DataError(f"{where}: expected a Melody, got {type(melody).__name__}")
    if melody.steps_per_quarter != STEPS_PER_QUARTER:
        raise DataError(f"{where}: melody is on a grid of {melody.steps_per_quarter} steps per quarter; "
                        f"the VAE uses {STEPS_PER_QUARTER}")
    size = vae.seq_len
    if melody.length < size:
        raise DataError(f"{where}: melody is {_bars(melody.length)} ({melody.length} steps); "
                        f"this VAE needs at least {_bars(size)} of 4/4 ({size} steps)")
    if melody.steps_per_bar != BAR_STEPS:
        num, den = melody.time_signature
        warn(f"{where}: melody is in {num}/{den}; the VAE reads it as 4/4 bars of {BAR_STEPS} steps")
    windows = [w for _, w in melody_windows(melody, vae.n_bars)]
    if melody.length > size and note_long:
        rest = melody.length - len(windows) * size
        note = f" (the last {_bars(rest)} left out)" if rest else ""
        warn(f"{where}: melody is {_bars(melody.length)}, longer than the VAE's {_bars(size)}; "
             f"read as {len(windows)} windows of {_bars(size)}{note}")
    return windows


def _bars(steps: int) -> str:
    n = steps / BAR_STEPS
    return f"{n:g} bar" if n == 1 else f"{n:g} bars"


def _encode_ids(vae: VAE, windows: Sequence[Melody], where: str) -> tuple[torch.Tensor, list[int]]:
    ids, offsets = [], []
    for w in windows:
        try:
            seq, transform = vae.tokenizer.encode_melody(w)
            off = transform.semitones
        except DataError as e:
            raise DataError(f"{where}: {e}") from None
        ids.append(seq)
        offsets.append(off)
    return torch.tensor(ids, dtype=torch.long, device=vae.device), offsets


def _mu(vae: VAE, ids: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    was = vae.model.training
    vae.model.eval()
    try:
        with torch.no_grad():
            return torch.cat([vae.model.encode(ids[i:i + batch_size])[0] for i in range(0, len(ids), batch_size)])
    finally:
        vae.model.train(was)


def _as_list(melodies: MelodySource | Iterable[MelodySource]) -> list[MelodySource]:
    """One melody input as a list of one; a collection of them as a list (never a path's characters)."""
    if is_melody_source(melodies):
        return [melodies]
    try:
        return list(melodies)  # type: ignore[arg-type]
    except TypeError:
        return [melodies]  # a foreign object: input_melody names its type


def input_melody(source: MelodySource, label: str = "melody") -> Melody:
    """A Melody as it is; a file path or a pretty_midi/music21 object read by :func:`read_input_melody`."""
    return source if isinstance(source, Melody) else read_input_melody(source, what=label)


def _codes_and_offsets(vae: VAE, melodies: MelodySource | Iterable[MelodySource], label: str = "melody"
                       ) -> tuple[torch.Tensor, list[int], list[int]]:
    """Codes (mu) of every window of every melody, their octave offsets, and windows per melody."""
    items = _as_list(melodies)
    if not items:
        raise DataError("no melodies to encode")
    windows: list[Melody] = []
    counts = []
    for i, m in enumerate(items):
        name = label if len(items) == 1 else f"{label} {i + 1}"
        ws = _windows(vae, input_melody(m, name), name)
        windows += ws
        counts.append(len(ws))
    ids, offsets = _encode_ids(vae, windows, "encode")
    return _mu(vae, ids), offsets, counts


@_takes_vae
def encode_melodies(vae: VAE, melodies: MelodySource | Iterable[MelodySource], *, label: str = "melody"
                    ) -> torch.Tensor:
    """Codes ``[W, z_dim]`` (posterior means): one per window, melodies in order.

    A melody of exactly the model's length gives one code; a longer one gives one
    per consecutive window (logged, naming the melody by ``label``). Too short a
    melody raises DataError.

    Args:
        vae: the VAE (:func:`muse.load_vae` or ``muse.load("vae-2bar").vae``).
        melodies: one melody or a list of them, each a :class:`~muse.Melody` on a
            grid of 4 steps per quarter, a MIDI/MusicXML/ABC file path, a
            ``pretty_midi.PrettyMIDI`` or a music21 stream; each at least
            ``vae.n_bars`` bars of 4/4 long (a trailing part shorter than a window
            is dropped, logged).
        label: how log and error messages name the melody (numbered ``"melody 2"``
            when several are given; default ``"melody"``).

    Returns:
        torch.Tensor: float32 codes ``[W, z_dim]`` on the VAE's device, W being the
        total number of windows of all melodies, in order (no gradient).

    Example:
        >>> import muse
        >>> vae = muse.load_vae("vae-2bar")
        >>> themes = muse.sample_melodies(vae, 3, seed=0)
        >>> z = muse.encode_melodies(vae, themes)
        >>> tuple(z.shape)
        (3, 128)
        >>> z_file = muse.encode_melodies(vae, "tune.mid", label="tune")
    """
    return _codes_and_offsets(vae, melodies, label)[0]


def _check_codes(vae: VAE, z: torch.Tensor | np.ndarray | Sequence[Sequence[float]]) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(z, dtype=np.float32) if not isinstance(z, torch.Tensor) else z)
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2 or t.shape[1] != vae.z_dim or t.shape[0] == 0:
        raise DataError(f"latent codes must be [N, {vae.z_dim}] for this VAE, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise DataError("latent codes contain NaN or inf")
    return t.to(device=vae.device, dtype=torch.float32)


def _decode_ids(vae: VAE, z: torch.Tensor, temperature: float, seed: int | None) -> torch.Tensor:
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    return vae.model.decode(z, temperature=temperature or 1.0, greedy=temperature == 0,
                            generator=_generator(vae, seed))


def _to_melody(vae: VAE, ids: torch.Tensor, offset: int = 0, qpm: float = 120.0) -> Melody:
    mel = vae.tokenizer.decode_melody(ids.tolist(), Transform(offset))
    return replace(mel, qpm=qpm, time_signature=(4, 4), total_steps=vae.seq_len)


@_takes_vae
def decode_latents(vae: VAE, z: torch.Tensor | np.ndarray, *, temperature: float = 0.5, seed: int | None = None,
                   qpm: float = 120.0) -> list[Melody]:
    """One melody of ``n_bars`` bars per code in ``z`` (``[N, z_dim]`` or ``[z_dim]``).

    Args:
        vae: the VAE (:func:`muse.load_vae` or ``muse.load("vae-2bar").vae``).
        z: latent codes, ``[N, vae.z_dim]`` or a single ``[vae.z_dim]`` code, as a
            tensor, a NumPy array or nested lists of floats (finite values;
            DataError for another shape or NaN/inf).
        temperature: decoder sampling temperature (>= 0; default 0.5); 0 decodes
            greedily (argmax at every step), higher values are more adventurous.
        seed: random seed of the decoder's sampling; the same seed and codes give
            the same melodies. None: not seeded.
        qpm: tempo of the melodies, in quarter notes per minute (default 120).

    Returns:
        list[Melody]: N melodies in 4/4, each exactly ``vae.n_bars`` bars long
        (``total_steps`` set), in the model's pitch range.

    Example:
        >>> import muse, torch
        >>> vae = muse.load_vae("vae-2bar")
        >>> z = torch.randn(4, vae.z_dim, generator=torch.Generator().manual_seed(0))
        >>> tunes = muse.decode_latents(vae, z, temperature=0.0)
        >>> len(tunes), tunes[0].num_bars
        (4, 2.0)
        >>> again = muse.decode_latents(vae, muse.encode_melodies(vae, tunes), temperature=0.5, seed=1, qpm=90.0)
    """
    codes = _check_codes(vae, z)
    ids = _decode_ids(vae, codes, temperature, seed)
    return [_to_melody(vae, row, qpm=qpm) for row in ids]


@_takes_vae
def sample_melodies(vae: VAE, n: int = 1, *, temperature: float = 0.5, seed: int | None = None,
                    qpm: float = 120.0) -> list[Melody]:
    """``n`` new melodies decoded from codes drawn from the prior N(0, I).

    Args:
        vae: the VAE (:func:`muse.load_vae` or ``muse.load("vae-2bar").vae``).
        n: how many melodies (>= 1; default 1).
        temperature: decoder sampling temperature (>= 0; default 0.5); 0 decodes
            each code greedily.
        seed: random seed of both the prior codes and the decoder; the same seed
            gives the same melodies. None: not seeded.
        qpm: tempo of the melodies, in quarter notes per minute (default 120).

    Returns:
        list[Melody]: ``n`` melodies in 4/4, each exactly ``vae.n_bars`` bars long.

    Example:
        >>> import muse
        >>> vae = muse.load_vae("vae-2bar")
        >>> tunes = muse.sample_melodies(vae, 4, temperature=0.5, seed=0)
        >>> [t.num_bars for t in tunes]
        [2.0, 2.0, 2.0, 2.0]
        >>> files = muse.save_melodies(tunes, "samples", wav=False)
    """
    if n < 1:
        raise ConfigError(f"number of melodies must be >= 1, got {n}")
    g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    z = torch.randn(n, vae.z_dim, generator=g)
    return decode_latents(vae, z, temperature=temperature, seed=seed, qpm=qpm)


@_takes_vae
def interpolate_melodies(vae: VAE, a: MelodySource, b: MelodySource, steps: int = 5, *, temperature: float = 0.0,
                         seed: int | None = None, labels: tuple[str, str] = ("first melody", "second melody")
                         ) -> list[Melody]:
    """``steps`` melodies along the spherical path from ``a``'s code to ``b``'s.

    The first and last are the reconstructions of ``a`` and ``b`` (of their first
    windows when they are longer than the model's length, which is logged).
    Codes in between are spherical interpolations (slerp) at evenly spaced
    fractions; each melody is moved to an octave between ``a``'s and ``b``'s.

    Args:
        vae: the VAE (:func:`muse.load_vae` or ``muse.load("vae-2bar").vae``).
        a: the melody to start from: a :class:`~muse.Melody` (4 steps per
            quarter), a MIDI/MusicXML/ABC file path, a ``pretty_midi.PrettyMIDI``
            or a music21 stream, at least ``vae.n_bars`` bars of 4/4.
        b: the melody to end at, the same kinds as ``a``.
        steps: how many melodies, ends included (>= 2; default 5).
        temperature: decoder sampling temperature (>= 0); 0 (the default) decodes
            greedily, so the path is deterministic.
        seed: random seed of the decoder's sampling (for ``temperature > 0``).
            None: not seeded.
        labels: how messages name ``a`` and ``b`` (default ``("first melody",
            "second melody")``).

    Returns:
        list[Melody]: ``steps`` melodies of ``vae.n_bars`` bars in 4/4 at ``a``'s
        tempo, from (the reconstruction of) ``a`` to that of ``b``.

    Example:
        >>> import muse
        >>> vae = muse.load_vae("vae-2bar")
        >>> a, b = muse.sample_melodies(vae, 2, seed=3)
        >>> path = muse.interpolate_melodies(vae, a, b, steps=7)
        >>> len(path)
        7
        >>> from_files = muse.interpolate_melodies(vae, "a.mid", "b.mid", 5, temperature=0.3, seed=1)
    """
    if steps < 2:
        raise ConfigError(f"interpolation needs steps >= 2, got {steps}")
    a, b = input_melody(a, labels[0]), input_melody(b, labels[1])
    ends = []
    for name, m in zip(labels, (a, b)):
        ws = _windows(vae, m, name, note_long=False)
        if m.length > vae.seq_len:
            warn(f"{name}: melody is {_bars(m.length)}, longer than the VAE's {_bars(vae.seq_len)}; "
                 f"interpolating from its first {_bars(vae.seq_len)}")
        ids, offs = _encode_ids(vae, ws[:1], name)
        ends.append((_mu(vae, ids)[0], offs[0]))
    (za, oa), (zb, ob) = ends
    ts = torch.linspace(0.0, 1.0, steps, device=za.device)
    ids = _decode_ids(vae, slerp(za, zb, ts), temperature, seed)
    out = []
    for t, row in zip(ts.tolist(), ids):
        offset = 12 * round(((1 - t) * oa + t * ob) / 12)
        out.append(_to_melody(vae, row, offset, qpm=a.qpm))
    return out


@_takes_vae
def reconstruct(vae: VAE, melody: MelodySource, *, temperature: float = 0.0, seed: int | None = None,
                label: str = "melody") -> Melody:
    """Encode and decode ``melody`` (window by window, joined again).

    How well the VAE knows a melody: each window of ``vae.n_bars`` bars goes
    through the encoder (posterior mean) and the decoder, and the windows are
    joined again. A part at the end shorter than a window is dropped (logged).
    Each window is moved back to the input's octave.

    Args:
        vae: the VAE (:func:`muse.load_vae` or ``muse.load("vae-2bar").vae``).
        melody: a :class:`~muse.Melody` (4 steps per quarter), a MIDI/MusicXML/ABC
            file path, a ``pretty_midi.PrettyMIDI`` or a music21 stream, at least
            ``vae.n_bars`` bars of 4/4.
        temperature: decoder sampling temperature (>= 0); 0 (the default) decodes
            greedily.
        seed: random seed of the decoder's sampling (for ``temperature > 0``).
            None: not seeded.
        label: how log and error messages name the melody (default ``"melody"``).

    Returns:
        Melody: the reconstruction, a whole number of windows long, at the input's
        tempo and with its key.

    Example:
        >>> import muse
        >>> vae = muse.load_vae("vae-2bar")
        >>> theme = muse.sample_melodies(vae, 1, seed=0)[0]
        >>> echo = muse.reconstruct(vae, theme)
        >>> echo.length == theme.length
        True
        >>> from_file = muse.reconstruct(vae, "tune.mid", temperature=0.2, seed=1, label="tune")
    """
    melody = input_melody(melody, label)
    z, offsets, _ = _codes_and_offsets(vae, melody, label)
    ids = _decode_ids(vae, z, temperature, seed)
    parts = [_to_melody(vae, row, off, qpm=melody.qpm) for row, off in zip(ids, offsets)]
    return replace(concat_melodies(parts), key=melody.key)


# ------------------------------------------------------------------ attributes
def _attribute_fns(attributes: Iterable[str] | Mapping[str, AttributeFn] | None) -> dict[str, AttributeFn]:
    from muse.music.metrics import ATTRIBUTES

    if attributes is None:
        return dict(ATTRIBUTES)
    if isinstance(attributes, Mapping):
        bad = [k for k, f in attributes.items() if not callable(f)]
        if bad:
            raise ConfigError(f"attribute(s) {', '.join(map(str, bad))} must be functions Melody -> float")
        return {str(k): f for k, f in attributes.items()}
    out = {}
    for name in attributes:
        if name not in ATTRIBUTES:
            raise ConfigError(f"unknown attribute {name!r}; built-in: {', '.join(ATTRIBUTES)} "
                              "(or pass {name: function})")
        out[name] = ATTRIBUTES[name]
    return out


def fit_attribute_vectors(vae: VAE, ids: torch.Tensor, windows: Sequence[Melody],
                          attributes: Iterable[str] | Mapping[str, AttributeFn] | None = None,
                          batch_size: int = 256) -> AttributeVectors:
    """Attribute vectors from token windows ``ids [N, T]`` and the same windows as melodies."""
    fns = _attribute_fns(attributes)
    if len(windows) != len(ids):
        raise DataError(f"{len(ids)} token windows but {len(windows)} melodies")
    if len(windows) < 8:
        raise DataError(f"need at least 8 windows of {vae.n_bars} bars to fit attribute vectors, got {len(windows)}")
    z = _mu(vae, ids.to(vae.device), batch_size).cpu()
    vectors = AttributeVectors()
    for name, fn in fns.items():
        values = torch.tensor([float(fn(w)) for w in windows], dtype=torch.float64)
        vectors.fit(name, z, values)
    return vectors


@_takes_vae
def attribute_vectors(vae: VAE, corpus_melodies: MelodySource | Iterable[MelodySource],
                      attributes: Iterable[str] | Mapping[str, AttributeFn] | None = None, *,
                      hop_bars: int = 1, max_rest: float = 0.5) -> AttributeVectors:
    """Attribute vectors over the windows of ``corpus_melodies``.

    ``attributes``: None for :data:`muse.music.metrics.ATTRIBUTES`, a list of their
    names, or ``{name: function(Melody) -> float}``. Windows are taken every
    ``hop_bars`` bars; mostly silent ones (rest share above ``max_rest``) are skipped.
    Each vector is the mean code of the windows in the top quartile of the
    attribute minus that of the bottom quartile (MusicVAE's recipe).

    Args:
        vae: the VAE (:func:`muse.load_vae` or ``muse.load("vae-2bar").vae``).
        corpus_melodies: one melody or a list of them, each a :class:`~muse.Melody`
            (4 steps per quarter), a MIDI/MusicXML/ABC file path, a
            ``pretty_midi.PrettyMIDI`` or a music21 stream; together they need at
            least 8 windows of ``vae.n_bars`` bars (DataError otherwise).
        attributes: None (default) for the built-in ``note_density``,
            ``mean_interval``, ``syncopation`` and ``pitch_span``; a list of some
            of those names; or a dict ``{name: function(Melody) -> float}`` of your
            own (each function gets one window).
        hop_bars: bars between the starts of consecutive windows (>= 1; default
            1, overlapping windows).
        max_rest: largest share of silent steps a window may have to be used,
            0..1 (default 0.5).

    Returns:
        AttributeVectors: one vector of ``vae.z_dim`` per attribute, usable with
        :func:`muse.apply_attribute` (``vectors=...``) or stored as
        ``vae.attributes``.

    Example:
        >>> import muse
        >>> vae = muse.load_vae("vae-2bar")
        >>> tunes = [m for _, m in muse.iter_corpus("nottingham", limit=40)]
        >>> vecs = muse.attribute_vectors(vae, tunes, ["note_density", "pitch_span"], hop_bars=2)
        >>> vecs.names()
        ['note_density', 'pitch_span']
        >>> highest = muse.attribute_vectors(vae, tunes, {"top": lambda m: max(m.pitches, default=0)})
    """
    items = _as_list(corpus_melodies)
    mels = [input_melody(m, "melody" if len(items) == 1 else f"melody {i + 1}") for i, m in enumerate(items)]
    windows = [w for m in mels for _, w in melody_windows(m, vae.n_bars, hop_bars=hop_bars, max_rest=max_rest)]
    if not windows:
        raise DataError(f"no window of {vae.n_bars} bars with notes in the melodies given")
    ids, _ = _encode_ids(vae, windows, "attribute_vectors")
    return fit_attribute_vectors(vae, ids, windows, attributes)


def resolve_attribute(vectors: AttributeVectors, name: str) -> str:
    """The stored attribute ``name`` names: exact, or the one whose name contains it as a word
    (``density`` -> ``note_density``)."""
    if name in vectors:
        return name
    words = name.strip().lower().replace("-", "_").split("_")
    hits = [n for n in vectors.names() if all(w in n.lower().split("_") for w in words)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(vectors.names()) or "none (compute them with attribute_vectors)"
    what = "ambiguous" if hits else "unknown"
    raise DataError(f"{what} attribute {name!r}; this model's attributes: {known}")


@_takes_vae
def apply_attribute(vae: VAE, melody: MelodySource, name: str, amount: float = 1.0, *, temperature: float = 0.0,
                    seed: int | None = None, vectors: AttributeVectors | None = None,
                    label: str = "melody") -> Melody:
    """``melody`` with ``amount`` times attribute vector ``name`` added to its code(s).

    Uses the model's own vectors unless ``vectors`` is given; ``amount`` 0 gives
    the plain reconstruction, negative amounts move the other way.
    Every window of the melody is edited alike and the windows are joined again
    (a part at the end shorter than a window is dropped, logged).

    Args:
        vae: the VAE (:func:`muse.load_vae` or ``muse.load("vae-2bar").vae``).
        melody: a :class:`~muse.Melody` (4 steps per quarter), a MIDI/MusicXML/ABC
            file path, a ``pretty_midi.PrettyMIDI`` or a music21 stream, at least
            ``vae.n_bars`` bars of 4/4.
        name: the attribute: ``"note_density"``, ``"mean_interval"``,
            ``"syncopation"``, ``"pitch_span"`` or any name in ``vectors``; a word
            of a stored name is enough when it names one (``"density"``).
            DataError for an unknown or ambiguous name.
        amount: how far to move, in multiples of the attribute vector (default
            1.0; 0 reconstructs, negative moves towards less of the attribute).
        temperature: decoder sampling temperature (>= 0); 0 (the default) decodes
            greedily.
        seed: random seed of the decoder's sampling (for ``temperature > 0``).
            None: not seeded.
        vectors: attribute vectors to use instead of ``vae.attributes`` (e.g. from
            :func:`muse.attribute_vectors`). None: the model's own (DataError when
            it has none).
        label: how log and error messages name the melody (default ``"melody"``).

    Returns:
        Melody: the edited melody, a whole number of windows long, at the input's
        tempo, with its key, in its octave.

    Example:
        >>> import muse
        >>> vae = muse.load_vae("vae-2bar")
        >>> theme = muse.sample_melodies(vae, 1, seed=0)[0]
        >>> busier = muse.apply_attribute(vae, theme, "note_density", 1.5)
        >>> calmer = muse.apply_attribute(vae, theme, "density", amount=-1.0, temperature=0.2, seed=1)
    """
    vecs = vae.attributes if vectors is None else vectors
    if not len(vecs):
        raise DataError("this VAE has no attribute vectors; compute them with attribute_vectors(vae, melodies)")
    key = resolve_attribute(vecs, name)
    melody = input_melody(melody, label)
    z, offsets, _ = _codes_and_offsets(vae, melody, label)
    ids = _decode_ids(vae, vecs.apply(z, key, float(amount)), temperature, seed)
    parts = [_to_melody(vae, row, off, qpm=melody.qpm) for row, off in zip(ids, offsets)]
    return replace(concat_melodies(parts), key=melody.key)


@_takes_vae
def vary_melody(vae: VAE, melody: Melody, amount: float = 0.5, num: int = 4, *, temperature: float = 0.0,
                seed: int | None = None, label: str = "melody") -> list[Melody]:
    """``num`` variations of ``melody``: each window's code moved towards a fresh prior sample.

    Each code becomes ``z' = sqrt(1 - a^2) z + a e`` with ``e ~ N(0, I)`` and
    ``a = amount`` in [0, 1] (0: the reconstruction; 1: unrelated new melodies).
    The code keeps the prior's scale, so every amount decodes like a real code.
    Windows are joined again, each in the input's octave.

    Args:
        vae: the VAE (:func:`muse.load_vae` or ``muse.load("vae-2bar").vae``).
        melody: the theme, a :class:`~muse.Melody` on a grid of 4 steps per
            quarter, at least ``vae.n_bars`` bars of 4/4 (read a file first with
            :func:`muse.read_melodies` or ``muse.Melody.coerce``).
        amount: how far from the theme, 0..1 (default 0.5; ConfigError outside).
        num: how many variations (>= 1; default 4).
        temperature: decoder sampling temperature (>= 0); 0 (the default) decodes
            greedily.
        seed: random seed of the prior samples and the decoder; the same seed
            gives the same variations. None: not seeded.
        label: how log and error messages name the melody (default ``"melody"``).

    Returns:
        list[Melody]: ``num`` variations, each a whole number of windows long, at
        the theme's tempo and with its key.

    Example:
        >>> import muse
        >>> from muse.music.latent_space import vary_melody
        >>> vae = muse.load_vae("vae-2bar")
        >>> theme = muse.sample_melodies(vae, 1, seed=0)[0]
        >>> close = vary_melody(vae, theme, amount=0.2, num=3, seed=1)
        >>> far = muse.load("vae-2bar").vary(theme, amount=0.8, num=2, seed=2)
    """
    if not 0.0 <= float(amount) <= 1.0:
        raise ConfigError(f"amount must be in [0, 1] (0 = the theme, 1 = unrelated), got {amount}")
    if num < 1:
        raise ConfigError(f"num must be >= 1, got {num}")
    melody = input_melody(melody, label)
    z, offsets, _ = _codes_and_offsets(vae, melody, label)
    g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    a = float(amount)
    out = []
    for k in range(num):
        eps = torch.randn(z.shape, generator=g).to(z)
        ids = _decode_ids(vae, (1.0 - a * a) ** 0.5 * z + a * eps, temperature, None if seed is None else seed + k)
        parts = [_to_melody(vae, row, off, qpm=melody.qpm) for row, off in zip(ids, offsets)]
        out.append(replace(concat_melodies(parts), key=melody.key))
    return out


# ------------------------------------------------------------------ files
def read_input_melody(path: MelodySource, *, what: str = "melody") -> Melody:
    """The melody of a MIDI/MusicXML/ABC file, or of a ``pretty_midi.PrettyMIDI`` or music21
    stream, for the VAE (a :class:`Melody` is returned as it is).

    A polyphonic file or object (several parts or chords) is reduced to its melody
    line (most melodic part, highest note at each time), with a logged warning. An
    ABC file with several tunes gives its first tune (logged). Any other type raises
    a one-line DataError naming it (``what`` names the input).
    """
    from muse.music.extract import extract_melodies
    from muse.music.interop import object_piece
    from muse.music.midi_io import ABC_SUFFIXES, check_source, load_piece, read_melodies

    if isinstance(path, Melody):
        return path
    if not isinstance(path, (str, os.PathLike)):
        piece, p = object_piece(path, what)  # DataError for any type but pretty_midi/music21
    elif (p := check_source(path)).suffix.lower() in ABC_SUFFIXES:
        mels = read_melodies(p)
        if not mels:
            raise DataError("no melody found", p)
        if len(mels) > 1:
            warn(f"{p}: holds {len(mels)} melodies; using the first")
        return mels[0]
    else:
        piece = load_piece(p)
    pitched = [t for t in piece.tracks if t.notes and not t.is_drum]
    chords = any(_overlaps(t.notes) for t in pitched)
    if len(pitched) > 1 or chords:
        what = f"{len(pitched)} parts" if len(pitched) > 1 else "chords"
        warn(f"{p}: polyphonic ({what}); using its melody line (most melodic part, highest note at each time)")
    mels = extract_melodies(piece.tracks, steps_per_quarter=STEPS_PER_QUARTER, qpm=piece.qpm,
                            time_signature=piece.time_signature, key=piece.key, end_quarters=piece.end_quarters)
    if not mels:
        raise DataError("no melody found", p)
    return mels[0]


def _overlaps(notes: Sequence[tuple[float, float, int, int]]) -> bool:
    end = -1.0
    for start, stop, _, _ in sorted(notes):
        if start < end - 1e-6:
            return True
        end = max(end, stop)
    return False

"""Operations in a VAE's latent space: spherical interpolation and attribute vectors.

``slerp`` walks along the great circle between two codes, which keeps the path
inside the shell where a Gaussian prior puts its mass (a straight line between two
typical codes passes through atypically short ones). Attribute vectors follow
MusicVAE: the mean code of the examples with the most of an attribute (top
quartile) minus the mean code of those with the least (bottom quartile); adding a
multiple of it to a code moves the decoded output along that attribute.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from muse.errors import DataError

_PARALLEL_EPS = 1e-6


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``z0`` (t=0) to ``z1`` (t=1) along the last dim.

    ``z0`` and ``z1`` are ``[..., D]`` and broadcast together; ``t`` is a float or a
    tensor broadcast against the leading dims (a ``[S]`` tensor with ``[D]`` codes
    gives ``[S, D]``). Near-parallel (or anti-parallel) pairs, where the great
    circle is undefined or unstable, fall back to linear interpolation. The
    endpoints are returned exactly.
    """
    z0, z1 = torch.broadcast_tensors(z0, z1)
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device).unsqueeze(-1)
    n0 = z0.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n1 = z1.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = ((z0 / n0) * (z1 / n1)).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    ok = sin.abs() > _PARALLEL_EPS
    safe_sin = torch.where(ok, sin, torch.ones_like(sin))
    spherical = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / safe_sin
    linear = (1 - t) * z0 + t * z1
    out = torch.where(ok, spherical, linear)
    out = torch.where(t == 0, z0, out)
    return torch.where(t == 1, z1, out)


def attribute_vector(zs: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Mean code of the top quartile of ``values`` minus that of the bottom quartile.

    ``zs`` is ``[N, D]`` (one code per example), ``values`` is ``[N]`` (the attribute
    measured on each example, e.g. note density). Quartiles are taken by rank
    (``max(1, round(N / 4))`` examples each, ties in input order).
    """
    if zs.dim() != 2 or values.dim() != 1 or zs.shape[0] != values.shape[0]:
        raise DataError(
            f"attribute_vector: need codes [N, D] and values [N]; got {tuple(zs.shape)} and {tuple(values.shape)}"
        )
    n = zs.shape[0]
    if n < 2:
        raise DataError(f"attribute_vector: need at least 2 examples, got {n}")
    values = values.to(torch.float64)
    if not torch.isfinite(values).all():
        raise DataError("attribute_vector: attribute values contain NaN or inf")
    k = max(1, round(n / 4))
    order = torch.argsort(values, stable=True)
    low, high = order[:k], order[-k:]
    return zs[high].mean(0) - zs[low].mean(0)


def apply_attribute(z: torch.Tensor, vector: torch.Tensor, amount: float | torch.Tensor = 1.0) -> torch.Tensor:
    """``z + amount * vector`` (``z`` is ``[D]`` or ``[B, D]``; ``amount`` a float or ``[B]``)."""
    if z.shape[-1] != vector.shape[-1]:
        raise DataError(f"apply_attribute: code has {z.shape[-1]} dims but the attribute vector has {vector.shape[-1]}")
    amount = torch.as_tensor(amount, dtype=z.dtype, device=z.device)
    if amount.dim() > 0:
        amount = amount.unsqueeze(-1)
    return z + amount * vector.to(device=z.device, dtype=z.dtype)


ATTRIBUTES_FILE = "attributes.json"
"""Attribute vectors of a trained VAE, saved beside its weights."""


class AttributeVectors:
    """Named attribute vectors of one latent space (all the same size).

    A mapping-like container (``vecs["note_density"]``, ``"name" in vecs``,
    ``len(vecs)``, iteration over names). A trained VAE carries its own as
    ``muse.load_vae(...).attributes``; :func:`muse.attribute_vectors` computes new
    ones from a corpus.

    Args:
        vectors: initial vectors, name -> 1-D tensor (or anything
            ``torch.as_tensor`` accepts), stored as float32 on the CPU; all must
            have the same length. None: start empty.

    Example:
        >>> import torch, muse
        >>> vecs = muse.AttributeVectors({"note_density": torch.ones(4)})
        >>> vecs.names(), vecs.dim
        (['note_density'], 4)
        >>> vecs.apply(torch.zeros(4), "note_density", amount=0.5)
        tensor([0.5000, 0.5000, 0.5000, 0.5000])
    """

    def __init__(self, vectors: Mapping[str, torch.Tensor] | None = None):
        self._vectors: dict[str, torch.Tensor] = {}
        for name, vec in (vectors or {}).items():
            self[name] = vec

    @property
    def dim(self) -> int | None:
        """Size of the vectors (the latent dimension), or None while empty."""
        return next(iter(self._vectors.values())).shape[0] if self._vectors else None

    def fit(self, name: str, zs: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Compute and store the attribute vector ``name`` from codes and attribute values.

        The vector is the mean code of the top quartile of ``values`` minus the
        mean code of the bottom quartile (MusicVAE's recipe); it replaces any
        vector already stored under ``name``.

        Args:
            name: the attribute's name (e.g. ``"note_density"``).
            zs: codes ``[N, D]``, one per example (N >= 2).
            values: the attribute measured on each example, ``[N]``, all finite.

        Returns:
            torch.Tensor: the new vector ``[D]``.

        Example:
            >>> import torch, muse
            >>> vecs = muse.AttributeVectors()
            >>> zs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
            >>> vecs.fit("loudness", zs, torch.tensor([0.0, 1.0, 2.0, 3.0]))
            tensor([3., 0.])
        """
        vec = attribute_vector(zs, values)
        self[name] = vec
        return vec

    def __setitem__(self, name: str, vector: torch.Tensor) -> None:
        vector = torch.as_tensor(vector, dtype=torch.float32).detach().cpu()
        if vector.dim() != 1:
            raise DataError(f"attribute vector {name!r} must be 1-D, got shape {tuple(vector.shape)}")
        others = [v.shape[0] for n, v in self._vectors.items() if n != name]
        if others and vector.shape[0] != others[0]:
            raise DataError(f"attribute vector {name!r} has {vector.shape[0]} dims; the others have {others[0]}")
        self._vectors[name] = vector

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._vectors:
            known = ", ".join(sorted(self._vectors)) or "none"
            raise DataError(f"unknown attribute {name!r}; known attributes: {known}")
        return self._vectors[name]

    def __contains__(self, name: object) -> bool:
        return name in self._vectors

    def __iter__(self) -> Iterator[str]:
        return iter(self._vectors)

    def __len__(self) -> int:
        return len(self._vectors)

    def names(self) -> list[str]:
        """The attribute names, in the order they were added.

        Returns:
            list[str]: e.g. ``['note_density', 'mean_interval', 'syncopation', 'pitch_span']``.

        Example:
            >>> import muse
            >>> muse.load_vae("vae-2bar").attributes.names()
            ['note_density', 'mean_interval', 'syncopation', 'pitch_span']
        """
        return list(self._vectors)

    def apply(self, z: torch.Tensor, name: str, amount: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Move ``z`` by ``amount`` times the vector ``name``.

        Args:
            z: a code ``[D]`` or a batch of codes ``[B, D]``.
            name: the attribute (DataError listing the known ones if absent).
            amount: how far to move: a float (negative moves away from the
                attribute) or one value per code, ``[B]``. Default 1.0.

        Returns:
            torch.Tensor: ``z + amount * vector``, with ``z``'s shape, dtype and device.

        Example:
            >>> import torch, muse
            >>> vecs = muse.AttributeVectors({"pitch_span": torch.tensor([1.0, -1.0])})
            >>> vecs.apply(torch.zeros(2, 2), "pitch_span", torch.tensor([1.0, 2.0]))
            tensor([[ 1., -1.],
                    [ 2., -2.]])
        """
        return apply_attribute(z, self[name], amount)

    def to_dict(self) -> dict[str, list[float]]:
        """The vectors as plain data.

        Returns:
            dict[str, list[float]]: JSON-able ``{name: [floats]}``, what
            :meth:`save` writes.

        Example:
            >>> import torch, muse
            >>> muse.AttributeVectors({"syncopation": torch.tensor([0.5, 1.0])}).to_dict()
            {'syncopation': [0.5, 1.0]}
        """
        return {name: vec.tolist() for name, vec in self._vectors.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AttributeVectors":
        """Vectors from :meth:`to_dict` output.

        Args:
            d: ``{name: [numbers]}``; every list must hold finite numbers and all
                lists the same count (DataError otherwise).

        Returns:
            AttributeVectors: the vectors, as float32 tensors.

        Example:
            >>> import muse
            >>> muse.AttributeVectors.from_dict({"note_density": [0.1, -0.2, 0.3]}).dim
            3
        """
        out = cls()
        for name, vals in d.items():
            if not isinstance(vals, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vals
            ):
                raise DataError(f"attribute vector {name!r} is not a list of finite numbers")
            out[str(name)] = torch.tensor(vals, dtype=torch.float32)
        return out

    def save(self, path: str | Path) -> None:
        """Write the vectors as a JSON file (see :meth:`to_dict`).

        Args:
            path: the file to write (e.g. ``attributes.json``); it is overwritten.

        Example:
            >>> import muse
            >>> muse.load_vae("vae-2bar").attributes.save("attributes.json")
        """
        Path(path).write_text(json.dumps(self.to_dict()), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "AttributeVectors":
        """Read vectors written by :meth:`save`.

        Args:
            path: a JSON file holding ``{name: [numbers]}``; unreadable or malformed
                files raise DataError naming the file.

        Returns:
            AttributeVectors: the vectors.

        Example:
            >>> import muse
            >>> vecs = muse.AttributeVectors.load("attributes.json")
            >>> "note_density" in vecs
            True
        """
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise DataError(f"cannot read attribute vectors: {e.strerror or e}", path) from None
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON (line {e.lineno}): {e.msg}", path) from None
        if not isinstance(d, dict):
            raise DataError("attribute vectors file must hold a JSON object {name: [numbers]}", path)
        try:
            return cls.from_dict(d)
        except DataError as e:
            raise DataError(str(e), path) from None

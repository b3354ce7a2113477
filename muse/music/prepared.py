"""Pre-parsed corpora: the pieces of music21's bundled corpora as note data, shipped with muse.

Parsing the 8,514 Essen tunes with music21 takes a minute or more; the result,
before melody extraction, is small. ``corpora/music21/NAME.npz`` (installed as
``muse.corpora``, built by ``scripts/build_corpora.py --only music21``) holds, for
every piece of a corpus, what :func:`muse.music.midi_io.load_piece` returns: its
tracks (notes as ``(start, end, pitch, velocity)`` in quarter notes, exactly the
floats the parser gives, track names, drum flags, programs), tempo, time
signature, key (declared, or chosen by the final note) and end; or the reason the
piece could not be read. Extraction (grid, skyline, filters, voices) still runs
on every read, so any ``steps_per_quarter`` or filter setting gives exactly what
parsing would, and the tokenizer never enters it.

A source file is read from here only when its path (relative to music21's
corpus folder) and the sha1 of its bytes match those recorded; any other file,
or a music21 whose corpus differs, is parsed as before. Piece ids, hence
splits, are the parser's: the path plus ``#n`` for the n-th ABC tune.

File layout (``numpy.savez_compressed``): ``start``, ``end`` (float64, quarter
notes), ``pitch``, ``velocity`` (uint8), one row per note, tracks one after another
in piece order; ``meta``: UTF-8 JSON (uint8) with ``format``, ``corpus``,
``music21``, ``sources`` (``[path, sha1, piece count, error or null]``) and
``pieces`` (``[id, error]`` or ``[id, null, qpm, [num, den], key or null, end,
[[name, is_drum, program, notes], ...]]``).
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from muse.music.extract import Track
from muse.music.midi_io import Piece

FORMAT = 1

Outcome = Piece | str
"""A parsed piece, or the reason it could not be read."""


@dataclass(frozen=True)
class PreparedSource:
    """One source file of a pre-parsed corpus: its sha1, its piece ids in order, or why it gave none."""

    sha1: str
    ids: tuple[str, ...]
    error: str | None = None


@dataclass
class PreparedCorpus:
    """A pre-parsed corpus: source files by relative path, and each piece's outcome by id."""

    name: str
    music21: str
    sources: dict[str, PreparedSource]
    pieces: dict[str, Outcome]

    def source(self, rel: str, path: Path) -> PreparedSource | None:
        """The record of ``rel`` when ``path``'s bytes are the ones it was built from, else None."""
        src = self.sources.get(rel)
        if src is None:
            return None
        try:
            return src if file_sha1(path) == src.sha1 else None
        except OSError:
            return None


def file_sha1(path: str | Path) -> str:
    """Hex sha1 of a file's bytes."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def prepared_path(rel: str) -> Path:
    """The file ``rel`` (``"music21/essen.npz"``, a corpus's ``CorpusSpec.prepared``) in ``muse.corpora``."""
    from muse.data.shipped import corpora_root

    return corpora_root() / rel


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> PreparedCorpus | None:
    return read_prepared(path)


def load_prepared(rel: str) -> PreparedCorpus | None:
    """The shipped pre-parsed corpus in file ``rel`` of ``muse.corpora`` (see :func:`prepared_path`), or None
    when there is none or it is unreadable. Read once per process (while the file is unchanged)."""
    path = prepared_path(rel)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    return _load_cached(str(path), stamp)


def read_prepared(path: str | Path) -> PreparedCorpus | None:
    """Read a pre-parsed corpus file; None when it is missing, corrupt or of another format."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            if meta.get("format") != FORMAT:
                return None
            start, end = z["start"].tolist(), z["end"].tolist()
            pitch, velocity = z["pitch"].tolist(), z["velocity"].tolist()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    pieces: dict[str, Outcome] = {}
    i = 0
    for row in meta["pieces"]:
        pid, error = row[0], row[1]
        if error is not None:
            pieces[pid] = error
            continue
        qpm, ts, key, end_q, tracks = row[2:7]
        out = []
        for name, is_drum, program, n in tracks:
            notes = list(zip(start[i:i + n], end[i:i + n], pitch[i:i + n], velocity[i:i + n]))
            out.append(Track(notes, name, bool(is_drum), int(program)))
            i += n
        pieces[pid] = Piece(out, qpm, (int(ts[0]), int(ts[1])), None if key is None else (int(key[0]), key[1]),
                            end_q)
    if i != len(start):
        return None
    sources = {rel: PreparedSource(sha1, tuple(ids), error) for rel, sha1, ids, error in meta["sources"]}
    return PreparedCorpus(meta["corpus"], meta.get("music21", ""), sources, pieces)


def write_prepared(path: str | Path, corpus: PreparedCorpus) -> Path:
    """Write ``corpus`` in the layout of the module doc (sources and pieces in the given order)."""
    import numpy as np

    rows: list[list[Any]] = []
    start: list[float] = []
    end: list[float] = []
    pitch: list[int] = []
    velocity: list[int] = []
    for pid, outcome in corpus.pieces.items():
        if isinstance(outcome, str):
            rows.append([pid, outcome])
            continue
        tracks = []
        for t in outcome.tracks:
            tracks.append([t.name, bool(t.is_drum), int(t.program), len(t.notes)])
            for s, e, p, v in t.notes:
                start.append(float(s))
                end.append(float(e))
                pitch.append(int(p))
                velocity.append(int(v))
        key = None if outcome.key is None else [int(outcome.key[0]), outcome.key[1]]
        rows.append([pid, None, float(outcome.qpm), list(outcome.time_signature), key,
                     None if outcome.end_quarters is None else float(outcome.end_quarters), tracks])
    meta = {
        "format": FORMAT, "corpus": corpus.name, "music21": corpus.music21,
        "sources": [[rel, s.sha1, list(s.ids), s.error] for rel, s in corpus.sources.items()],
        "pieces": rows,
    }
    blob = np.frombuffer(json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=blob, start=np.asarray(start, dtype=np.float64),
                        end=np.asarray(end, dtype=np.float64), pitch=np.asarray(pitch, dtype=np.uint8),
                        velocity=np.asarray(velocity, dtype=np.uint8))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return path


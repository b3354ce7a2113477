"""The corpora shipped inside the package (the ``muse.corpora`` data package, ``corpora/`` in the repository).

Each corpus folder holds a ``corpus.json`` card: name, kind (poem, text, melody),
format, data file or folder, items, licence, description, split rule. Nothing
here looks outside the installed package.
"""
from __future__ import annotations

import gzip
import json
import lzma
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path



@dataclass(frozen=True)
class ShippedCorpus:
    """One corpus that ships with muse."""

    name: str
    kind: str
    format: str
    path: Path
    """The data file or folder."""
    items: int
    licence: str
    description: str
    folder: Path

    @property
    def size_bytes(self) -> int:
        files = [self.path] if self.path.is_file() else [f for f in self.path.rglob("*") if f.is_file()]
        return sum(f.stat().st_size for f in files)

    @property
    def card(self) -> str:
        readme = self.folder / "README.md"
        return readme.read_text(encoding="utf-8") if readme.is_file() else self.description


def corpora_root() -> Path:
    import muse.corpora

    return Path(muse.corpora.__file__).parent


@lru_cache(maxsize=1)
def shipped_corpora() -> dict[str, ShippedCorpus]:
    """Name -> corpus, for every folder of ``muse.corpora`` with a ``corpus.json``."""
    out = {}
    for card in sorted(corpora_root().glob("*/corpus.json")):
        d = json.loads(card.read_text(encoding="utf-8"))
        out[d["name"]] = ShippedCorpus(d["name"], d["kind"], d["format"], card.parent / d["data"], int(d["items"]),
                                       d["licence"], d["description"], card.parent)
    return out


def shipped_corpus(name: str, kind: str | None = None) -> ShippedCorpus | None:
    """The shipped corpus ``name`` (of ``kind`` when given), or None."""
    c = shipped_corpora().get(str(name))
    return c if c is not None and (kind is None or c.kind == kind) else None


def read_bytes(path: str | Path) -> bytes:
    """Bytes of a file, decompressing ``.xz`` and ``.gz`` transparently (OSError when unreadable)."""
    p = Path(path)
    if p.suffix == ".xz":
        try:
            return lzma.decompress(p.read_bytes())
        except lzma.LZMAError as e:
            raise OSError(f"corrupt xz data ({e})") from None
    if p.suffix == ".gz":
        try:
            return gzip.decompress(p.read_bytes())
        except (gzip.BadGzipFile, EOFError) as e:
            raise OSError(f"corrupt gzip data ({e})") from None
    return p.read_bytes()

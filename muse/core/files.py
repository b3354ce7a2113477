"""Writing files and folders so that a reader never sees half of one (standard library only)."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Build a directory in a temporary sibling, then put it in place as a whole.

    The ``with`` body writes into the yielded folder; on success its files become
    0644, the folder 0755, and it replaces ``path`` (an old directory there is moved
    aside first and removed after). On any error the temporary folder is removed and
    ``path`` is left as it was.
    """
    d = Path(path)
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", dir=d.parent))
    try:
        yield tmp
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        os.chmod(tmp, 0o755)
        if d.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{d.name}.old.", dir=d.parent))
            d.rename(old / d.name)
            tmp.rename(d)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(d)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

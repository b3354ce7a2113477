"""muse: learn from music and poetry; write new melodies, poems and images.

>>> import muse
>>> melodies = muse.generate_melodies(bars=8, num=2, key="D", scale="minor")
>>> muse.save_melodies(melodies, "out/")
>>> print(muse.write_poems(request=muse.PoemRequest(form="qijue"))[0])
"""
from __future__ import annotations

__version__ = "0.1.0"

# Checkpoints and model directories record the format they were written in; loading refuses others.
CHECKPOINT_FORMAT = 1

from muse.api import __all__, __getattr__  # noqa: E402,F401

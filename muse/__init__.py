"""muse: learn from music and poetry; write new melodies, poems and images.

>>> import muse
>>> melodies = muse.generate_melodies(bars=8, num=2, key="D", scale="minor")
>>> muse.save_melodies(melodies, "out/")
>>> print(muse.write_poems(request=muse.PoemRequest(form="qijue"))[0])
"""
from __future__ import annotations

from muse._version import CHECKPOINT_FORMAT, MODEL_DIR_FORMAT, __version__  # noqa: F401
from muse.api import __all__, __dir__, __getattr__  # noqa: F401

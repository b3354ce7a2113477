"""muse: learn from music and poetry; write new melodies, poems and images."""
from __future__ import annotations

__version__ = "0.1.0"

# Checkpoints record the format they were written in; loading refuses others.
CHECKPOINT_FORMAT = 1

from muse.api import *  # noqa: E402,F401,F403

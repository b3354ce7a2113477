"""Public Python API (filled in as capabilities land)."""
from __future__ import annotations

__all__: list[str] = []

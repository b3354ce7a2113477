"""The one way muse reports inputs it skipped: a :class:`SkipReport` and :class:`MuseWarning`.

Readers of corpora, folders and files never stop at a bad input: they record it
(``report.skip(where, why)``) and go on. When the read is done,
:meth:`SkipReport.warn` emits one :class:`MuseWarning` listing what was skipped.
Library users filter or catch it like any warning; the command line prints it
as ``muse: warning: ...`` lines on stderr.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

SHOWN = 20
"""Skipped inputs listed one per line; the rest are counted."""


class MuseWarning(UserWarning):
    """Something muse skipped or worked around; the work went on."""


def warn(message: str) -> None:
    """Emit ``message`` as a :class:`MuseWarning`."""
    warnings.warn(message, MuseWarning, stacklevel=2)


@dataclass
class SkipReport:
    """Inputs a reader could not use, with the reason for each."""

    source: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(file or item, reason)."""

    def skip(self, where: str, why: str) -> None:
        self.skipped.append((str(where), str(why)))

    def lines(self, more: str = "") -> list[str]:
        out = [f"  {where}: {why}" for where, why in self.skipped[:SHOWN]]
        if len(self.skipped) > SHOWN:
            out.append(f"  ... and {len(self.skipped) - SHOWN} more" + (f" ({more})" if more else ""))
        return out

    def warn(self, context: str = "", more: str = "") -> None:
        """One warning naming every skipped input (nothing when none was skipped)."""
        if not self.skipped:
            return
        head = f"skipped {len(self.skipped)} input(s)" + (f" {context}" if context else "") + ":"
        warn("\n".join([head, *self.lines(more)]))

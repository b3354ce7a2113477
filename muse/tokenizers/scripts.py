"""Which writing system a character belongs to: the one CJK test every text component uses."""
from __future__ import annotations

import re

CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x323AF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
"""CJK unified ideographs, extension A, extensions B-H, compatibility ideographs and their supplement."""
CJK_PATTERN = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in CJK_RANGES) + "]")


def is_cjk_ideograph(ch: str) -> bool:
    """True for CJK unified/compatibility ideographs (汉字), False for punctuation etc."""
    o = ord(ch)
    return any(a <= o <= b for a, b in CJK_RANGES)

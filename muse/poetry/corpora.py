"""Read poem corpora into :class:`Poem` records with one canonical text layout.

Formats (``fmt``):

* ``"text"`` (alias ``"blocks"``): UTF-8 text, poems separated by blank lines.
* ``"lines"``: UTF-8 text, every non-blank line is its own document.
* ``"fortune"``: entries separated by lines holding only ``%`` (fortune(6) files);
  ``《title》``/``题目:`` and ``作者:`` header lines become title and author, an
  attribution line ``"    -- Name"`` becomes the author (removed from the text
  unless ``strip_attribution=False``), and indented ``其一``-style sub-headings
  split an entry into several poems.
* ``"json"``: chinese-poetry JSON, a list of objects (or one object) with
  ``title`` (or ``rhythmic``), ``author`` and ``paragraphs`` (list) or ``content``.
* ``"jsonl"``: one such object per line.
* ``"auto"``: by suffix (``.json``, ``.jsonl``), fortune when the file has ``%``
  separator lines or a known fortune name, else ``"text"``. Folders are read
  recursively (``.txt``, ``.json``, ``.jsonl`` and suffix-less files); a bad file
  there is skipped and listed in the :class:`CorpusReport`.

Built-in corpus names (:func:`iter_corpus_poems`): the corpora shipped in
``muse.corpora`` — ``tang``, ``english-poetry`` (poems with ids; ``.jsonl.xz``)
and ``shakespeare`` (one speech per document) — and the optional fortune files
``tang300``, ``song100``, ``songs-poems`` in /usr/share/games/fortunes.

Canonical layout: ``Poem.text`` holds the lines joined with ``"\\n"``, no
trailing newline. Chinese poems (mostly CJK text) are laid out *one half-line
per line with its punctuation kept at the line end*, e.g. a 五言绝句::

    秦川雄帝宅，
    函谷壮皇居。
    绮殿千寻起，
    离宫百雉余。

Lines are split after "，", "。", "？", "！" and "；" (closing quotes stay with
their line) and editorial notes such as ``（一作「叉」）`` and ``〖1〗`` are
removed. :mod:`muse.poetry.forms` generates and checks exactly this layout.
English poems keep their lines, with a blank line between stanzas.
"""
from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from muse.data.report import SkipReport
from muse.data.shipped import read_bytes, shipped_corpora
from muse.errors import DataError
from muse.tokenizers.char import SEP_CHAR
from muse.tokenizers.scripts import CJK_PATTERN

PREFIX_SEP = SEP_CHAR
"""Ends the optional ``title\\nauthor\\n`` conditioning prefix of a document."""

FORMATS = ("auto", "text", "blocks", "lines", "fortune", "json", "jsonl")
FORTUNE_NAMES = frozenset({"songs-poems", "tang300", "song100"})
FORTUNE_DIR = Path("/usr/share/games/fortunes")

_HALF_LINE_END = "，。？！；"
_HALF_LINE = re.compile(rf"[^{_HALF_LINE_END}]+(?:[{_HALF_LINE_END}]+[」』”’》）]*)?")
_NOTE = re.compile(r"（[^（）]*）|〖[^〖〗]*〗")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FORTUNE_SEP = re.compile(r"^%[ \t]*$", re.M)
_TITLE_LINE = re.compile(r"^(?:题目[:：]\s*)?《(?P<title>[^》]*)》(?P<rest>.*)$")
_AUTHOR_LINE = re.compile(r"^作者[:：]\s*(?P<author>.*?)\s*(?:（[^）]*）|\([^)]*\))?\s*$")
_ATTRIBUTION = re.compile(r"^\s+--\s*(?P<who>.+?)\s*$")


@dataclass
class Poem:
    """One document: ``text`` is its lines joined with ``"\\n"``."""

    text: str
    title: str | None = None
    author: str | None = None
    source: str = ""
    id: str | None = None
    """A stable id given by the corpus (None: use :func:`poem_id`, a hash of the content)."""

    def stable_id(self) -> str:
        """The id held-out splits are a function of: the corpus's own id, else a hash of title, author and text."""
        if self.id:
            return self.id
        import hashlib

        blob = "\x1f".join([self.title or "", self.author or "", self.text])
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


@dataclass
class CorpusReport(SkipReport):
    """What a corpus read found: files read, poems kept, files skipped and why."""

    files: int = 0
    poems: int = 0

    def summary(self) -> str:
        s = f"{self.source}: {self.poems} poems from {self.files} files"
        if self.skipped:
            s += f"; skipped {len(self.skipped)}: " + "; ".join(f"{f} ({r})" for f, r in self.skipped[:5])
            if len(self.skipped) > 5:
                s += "; ..."
        return s


@dataclass(frozen=True)
class TextCorpus:
    """A built-in corpus name and where its file is on this machine."""

    name: str
    path: Path
    fmt: str
    description: str

    @property
    def present(self) -> bool:
        return self.path.is_file()

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.present else 0


# ---------------------------------------------------------------- layout helpers


def is_mostly_cjk(text: str) -> bool:
    """More than half of the non-space characters are CJK ideographs."""
    compact = "".join(text.split())
    return bool(compact) and len(CJK_PATTERN.sub("", compact)) * 2 < len(compact)


def chinese_lines(paragraph: str) -> list[str]:
    """Split Chinese text into half-lines, punctuation kept at each line end."""
    text = _strip_notes("".join(paragraph.split()))
    return _HALF_LINE.findall(text)


def _strip_notes(text: str) -> str:
    if "（" not in text and "〖" not in text:
        return text
    prev = None
    while prev != text:  # nested notes: innermost first
        prev, text = text, _NOTE.sub("", text)
    return text


def _layout(lines: Iterable[str], title: str | None, author: str | None, source: str) -> Poem | None:
    """Canonical poem from raw lines (blank lines = stanza breaks), or None if empty."""
    raw = [ln.rstrip() for ln in lines]
    if is_mostly_cjk("".join(raw)):
        joined = _strip_notes("\n".join(raw))  # a note may span paragraphs
        body = [half for ln in joined.split("\n") for half in chinese_lines(ln)]
        title = _strip_notes(title).strip() if title else title
    else:
        body = textwrap.dedent("\n".join(raw)).split("\n")
        body = _collapse_blank_lines(body)
    if not body:
        return None
    return Poem("\n".join(body), _one_line(title) or None, _one_line(author) or None, source)


def _one_line(field_text: str | None) -> str:
    """A title/author as one line: whitespace runs (newlines too) become one space."""
    return " ".join((field_text or "").replace(SEP_CHAR, " ").split())


def _collapse_blank_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    for ln in lines:
        if ln.strip() or (out and out[-1]):
            out.append(ln if ln.strip() else "")
    while out and not out[-1]:
        out.pop()
    return out


# ---------------------------------------------------------------- readers


def _read_text(path: Path) -> str:
    try:
        raw = read_bytes(path)
    except OSError as e:
        raise DataError(f"cannot read file: {e.strerror or e}", path) from None
    if not raw.strip():
        raise DataError("empty file", path)
    if b"\x00" in raw:
        raise DataError("binary file (contains NUL bytes), expected UTF-8 text", path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text (invalid byte 0x{raw[e.start]:02x} at offset {e.start})", path) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _blocks(text: str) -> list[list[str]]:
    return [b.split("\n") for b in re.split(r"\n[ \t]*\n", text.strip("\n")) if b.strip()]


def _parse_text(text: str, src: str, fmt: str) -> list[Poem]:
    if fmt == "lines":
        groups = [[ln] for ln in text.split("\n") if ln.strip()]
    else:
        groups = _blocks(text)
    return [p for g in groups if (p := _layout(g, None, None, src)) is not None]


def _parse_fortune(text: str, src: str, strip_attribution: bool) -> list[Poem]:
    poems: list[Poem] = []
    for entry in _FORTUNE_SEP.split(_ANSI.sub("", text)):
        lines = entry.strip("\n").split("\n")
        title = author = None
        while lines and (m := _TITLE_LINE.match(lines[0].strip()) or _AUTHOR_LINE.match(lines[0].strip())):
            if "title" in m.groupdict():
                title = (m.group("title") + m.group("rest")).strip()
            else:
                author = m.group("author")
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        if lines and (m := _ATTRIBUTION.match(lines[-1])):
            author = author or m.group("who")
            if strip_attribution:
                lines.pop()
        poems.extend(_split_sections(lines, title, author, src))
    return poems


def _split_sections(lines: list[str], title: str | None, author: str | None, src: str) -> list[Poem]:
    """Split a Chinese entry at indented sub-headings (其一, 其二, ...) into poems."""
    if not is_mostly_cjk("".join(lines)):
        p = _layout(lines, title, author, src)
        return [p] if p else []
    sections: list[tuple[str | None, list[str]]] = [(title, [])]
    for ln in lines:
        s = ln.strip()
        if s and ln[:1].isspace() and not any(c in s for c in _HALF_LINE_END):
            sections.append((f"{title} {s}" if title else s, []))
        else:
            sections[-1][1].append(ln)
    return [p for t, body in sections if (p := _layout(body, t, author, src)) is not None]


def _json_poem(obj: Any, where: str, src: str) -> Poem | None:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected an object with 'paragraphs' or 'content', got {type(obj).__name__}", src)
    body = obj.get("paragraphs", obj.get("lines", obj.get("content")))
    if isinstance(body, str):
        lines = body.split("\n")
    elif isinstance(body, list) and all(isinstance(x, str) for x in body):
        lines = body
    else:
        raise DataError(f"{where}: needs 'paragraphs' (list of strings) or 'content' (string)", src)
    title = obj.get("title") or obj.get("rhythmic") or obj.get("chapter")
    author = obj.get("author")
    poem = _layout(lines, title if isinstance(title, str) else None, author if isinstance(author, str) else None, src)
    if poem is not None and isinstance(obj.get("id"), str):
        poem.id = obj["id"]
    return poem


def _parse_json(text: str, src: str) -> list[Poem]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON at line {e.lineno}: {e.msg}", src) from None
    items = data if isinstance(data, list) else [data]
    return [p for k, obj in enumerate(items) if (p := _json_poem(obj, f"entry {k}", src)) is not None]


def _parse_jsonl(text: str, src: str) -> list[Poem]:
    poems: list[Poem] = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"line {n}: invalid JSON ({e.msg})", src) from None
        if (p := _json_poem(obj, f"line {n}", src)) is not None:
            poems.append(p)
    return poems


def _detect(path: Path, text: str) -> str:
    suffix = Path(path.name.removesuffix(".xz").removesuffix(".gz")).suffix.lower()
    if suffix in (".json", ".jsonl"):
        return suffix[1:]
    if path.name in FORTUNE_NAMES or _FORTUNE_SEP.search(text):
        return "fortune"
    return "text"


def _read_file(path: Path, fmt: str, strip_attribution: bool) -> list[Poem]:
    text = _read_text(path)
    kind = _detect(path, text) if fmt == "auto" else fmt
    src = str(path)
    if kind == "json":
        poems = _parse_json(text, src)
    elif kind == "jsonl":
        poems = _parse_jsonl(text, src)
    elif kind == "fortune":
        poems = _parse_fortune(text, src, strip_attribution)
    else:
        poems = _parse_text(text, src, kind)
    if not poems:
        raise DataError(f"no poems found (read as {kind})", path)
    return poems


def _folder_files(folder: Path) -> list[Path]:
    seen: set[Path] = set()
    out: list[Path] = []
    for p in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(folder).parts) or not p.is_file():
            continue
        if p.suffix.lower() not in (".txt", ".json", ".jsonl", ""):
            continue
        real = p.resolve()
        if real not in seen:
            seen.add(real)
            out.append(p)
    return out


def read_poems(
    path: str | Path,
    *,
    fmt: str = "auto",
    report: CorpusReport | None = None,
    strip_attribution: bool = True,
) -> list[Poem]:
    """Poems from a file or folder (see the module doc for formats and layout).

    A bad single file raises :class:`DataError` naming it; in a folder bad files
    are skipped and recorded in ``report`` (without one, a warning lists them).
    Chinese poems are laid out one half-line per line, punctuation kept at the
    line end, the layout :func:`muse.check_chinese_form` judges.

    Args:
        path: a poem file or a folder, read recursively (``.txt``, ``.json``,
            ``.jsonl`` and suffix-less files).
        fmt: ``"auto"`` (by suffix and content), ``"text"`` (alias
            ``"blocks"``: poems separated by blank lines), ``"lines"`` (one
            document per non-blank line), ``"fortune"`` (``%`` separators),
            ``"json"`` or ``"jsonl"`` (chinese-poetry objects with ``title``,
            ``author`` and ``paragraphs``).
        report: a :class:`~muse.poetry.corpora.CorpusReport` that receives the
            counts and the skipped files; None: skipped files are only warned about.
        strip_attribution: fortune files: remove an attribution line
            (``"    -- Name"``) from the text after taking it as the author.

    Returns:
        list[Poem]: poems in file order, each with ``text`` (lines joined with
        ``"\\n"``), ``title``, ``author``, ``source`` and ``id`` (None when the
        file gives none). DataError when none is found.

    Example:
        >>> from pathlib import Path
        >>> import muse
        >>> _ = Path("poems.txt").write_text("Roses are red,\\nviolets are blue.\\n\\nSugar is sweet\\nand so are you.\\n")
        >>> poems = muse.read_poems("poems.txt")
        >>> len(poems), poems[1].text
        (2, 'Sugar is sweet\\nand so are you.')
    """
    if fmt not in FORMATS:
        raise DataError(f"unknown poem format {fmt!r}; choose one of {FORMATS}", path)
    path = Path(path)
    warn = report is None
    report = report if report is not None else CorpusReport(source=str(path))
    if path.is_dir():
        poems: list[Poem] = []
        for f in _folder_files(path):
            try:
                got = _read_file(f, fmt, strip_attribution)
            except DataError as e:
                report.skip(str(f), str(e).removeprefix(f"{f}: "))
                continue
            report.files += 1
            poems.extend(got)
        if not poems:
            why = f" ({len(report.skipped)} files skipped)" if report.skipped else ""
            raise DataError(f"no poems found in folder{why}", path)
        if warn:
            report.warn(f"while reading {path}")
    elif path.exists():
        poems = _read_file(path, fmt, strip_attribution)
        report.files += 1
    else:
        raise DataError("no such file or folder", path)
    report.poems += len(poems)
    return poems


# ---------------------------------------------------------------- built-in corpora


def available_text_corpora() -> list[TextCorpus]:
    """The built-in corpus names: those shipped in ``muse.corpora``, then optional fortune files."""
    fmt = {"poems-jsonl": "jsonl", "text": "blocks"}
    shipped = [TextCorpus(c.name, c.path, fmt.get(c.format, "auto"), c.description)
               for c in shipped_corpora().values() if c.kind in ("poem", "text")]
    return shipped + [
        TextCorpus("tang300", FORTUNE_DIR / "tang300", "fortune", "唐诗三百首 (fortunes-zh; apt-get install fortunes-zh)"),
        TextCorpus("song100", FORTUNE_DIR / "song100", "fortune", "宋词一百首 (fortunes-zh; apt-get install fortunes-zh)"),
        TextCorpus("songs-poems", FORTUNE_DIR / "songs-poems", "fortune",
                   "English songs and poems (apt-get install fortunes)"),
    ]


def iter_corpus_poems(path_or_name: str | Path, *, fmt: str = "auto") -> tuple[list[Poem], CorpusReport]:
    """Poems and a read report for a built-in corpus name or a file/folder path."""
    named = {c.name: c for c in available_text_corpora()}
    key = str(path_or_name)
    if key in named:
        c = named[key]
        if not c.present:
            raise DataError(f"corpus {key!r} is not on this machine ({c.description}); or train on your own "
                            "files with --data PATH")
        report = CorpusReport(source=key)
        return read_poems(c.path, fmt=c.fmt if fmt == "auto" else fmt, report=report), report
    if not Path(key).exists():
        raise DataError(f"no such file or folder, and not a corpus name (built-in: {', '.join(named)}); "
                        "give your own data with --data PATH", key)
    report = CorpusReport(source=key)
    return read_poems(key, fmt=fmt, report=report), report


# ---------------------------------------------------------------- document text


CONTROLS = ("none", "form")
"""``data.control`` values: ``"form"`` tells the model the poem's form (:func:`form_tag`) in its prefix."""

FORM_TAGS = {(4, 5): "五绝", (4, 7): "七绝", (8, 5): "五律", (8, 7): "七律"}
"""(lines, characters per line) -> the control tag of the four regulated forms."""
FREE_TAGS = {5: "五言", 7: "七言"}
"""Characters per line -> the tag of other poems whose lines all have that length; else :data:`MIXED_TAG`."""
MIXED_TAG = "杂言"
_LINE_PUNCT = "，。？！；：、」』”’》）「『“‘《（"


def form_tag(text: str) -> str:
    """The control tag of a Chinese poem body (one half-line per line): its form by line count and length.

    ``"五绝"``/``"七绝"``/``"五律"``/``"七律"`` for 4 or 8 lines of 5 or 7 characters,
    ``"五言"``/``"七言"`` for other poems whose lines all have 5 or 7 characters,
    ``"杂言"`` for the rest (and for empty text).
    """
    lengths = {len([c for c in ln if c not in _LINE_PUNCT]) for ln in text.split("\n") if ln.strip()}
    n = sum(1 for ln in text.split("\n") if ln.strip())
    if len(lengths) != 1:
        return MIXED_TAG
    (width,) = lengths
    return FORM_TAGS.get((n, width)) or FREE_TAGS.get(width, MIXED_TAG)


def poem_to_text(poem: Poem, *, with_title: bool = False, with_author: bool = False, control: str = "none") -> str:
    """Document text for training: ``poem.text``, optionally after a prefix.

    With a title, an author and/or a control the document is
    ``f"{title}\\n{author}\\n{tag}{PREFIX_SEP}{text}"`` (a missing or unrequested
    field is empty; ``tag`` is :func:`form_tag` of the text when ``control="form"``),
    so the body always starts right after :data:`PREFIX_SEP`, which the char
    tokenizer encodes as its ``sep`` id. The tokenizer adds BOS/EOS.
    :func:`split_prefix` inverts this.
    """
    if control not in CONTROLS:
        raise DataError(f"data.control must be one of {', '.join(CONTROLS)}, not {control!r}")
    if not (with_title or with_author or control != "none"):
        return poem.text
    tag = form_tag(poem.text) if control == "form" else None
    return prompt_prefix(poem.title if with_title else None, poem.author if with_author else None, tag) + poem.text


def prompt_prefix(title: str | None = None, author: str | None = None, tag: str | None = None) -> str:
    """The conditioning prefix alone (a generation prompt for a titled poem, or one of a given form ``tag``)."""
    return f"{_one_line(title)}\n{_one_line(author)}\n{_one_line(tag)}{PREFIX_SEP}"


def prefix_tag(text: str) -> str | None:
    """The control tag of a document's prefix (see :func:`poem_to_text`), None when it has none."""
    if PREFIX_SEP not in text:
        return None
    fields = text.split(PREFIX_SEP, 1)[0].split("\n")
    return fields[2].strip() or None if len(fields) > 2 else None


def split_prefix(text: str) -> tuple[str | None, str | None, str]:
    """``(title, author, body)`` of a document; None for absent fields."""
    if PREFIX_SEP not in text:
        return None, None, text
    head, body = text.split(PREFIX_SEP, 1)
    fields = head.split("\n")
    title = fields[0].strip() or None
    author = fields[1].strip() or None if len(fields) > 1 else None
    return title, author, body

"""Melody corpora: collections bundled with music21 (no download) or any folder of files.

A corpus is a list of source files; each ABC tune, or each other file, is one
*piece* with a stable id (its path relative to the corpus root, plus ``#n`` for
the n-th tune of an ABC file). :func:`iter_corpus` parses pieces in parallel
worker processes and yields ``(piece_id, melody)``; one piece may give several
melodies (choir voices, segments split at long rests or cut at ``max_steps``),
which share its id, so a train/valid/test split by id keeps a piece on one side.
Pieces that cannot be read are skipped and listed in a :class:`CorpusReport`.
The built-in corpora ship pre-parsed (:mod:`muse.music.prepared`): their pieces
are read from there wherever a source file is the one pre-parsed, so a first build
only extracts melodies; :func:`prepare_corpus` makes that form.
"""
from __future__ import annotations

import contextlib
import importlib.util
import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from muse.data.report import SkipReport
from muse.data.shipped import shipped_corpora
from muse.errors import DataError
from muse.music.melody import Melody
from muse.music.midi_io import (
    ABC_SUFFIXES,
    MIDI_SUFFIXES,
    SUPPORTED_SUFFIXES,
    Piece,
    abc_tunes,
    extract_piece,
    load_piece,
    piece_melodies,
)
from muse.music.prepared import PreparedCorpus, PreparedSource, load_prepared
from muse.music.score import Score


@dataclass(frozen=True)
class CorpusSpec:
    """A built-in corpus: source globs under music21's corpus folder, or under a corpus shipped with muse."""

    name: str
    description: str
    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    voices: str = "melody"
    """Which parts become melodies (see :func:`muse.music.extract.extract_melodies`)."""
    shipped: bool = False
    """True: the patterns are under ``muse.corpora/NAME`` (see :mod:`muse.data.shipped`), not music21's folder."""
    prepared: str | None = None
    """Its pre-parsed form, a path under ``muse.corpora`` (see :mod:`muse.music.prepared`); None: always parse."""
    chords: bool = False
    """Its scores carry chord symbols (:func:`muse.music.chords.nottingham_chords`), added as a chord part."""

    @property
    def root(self) -> Path:
        if self.shipped:
            return shipped_corpora()[self.name].folder
        return music21_corpus_dir()

    @property
    def source_glob(self) -> str:
        return " ".join(self.patterns)


BUILTIN_CORPORA: dict[str, CorpusSpec] = {
    s.name: s
    for s in [
        CorpusSpec("essen", "Essen folk song collection: European and Chinese folk songs (ABC, ~8.5k tunes)",
                   ("essenFolksong/*.abc",), prepared="music21/essen.npz"),
        CorpusSpec("oneills", "O'Neill's Music of Ireland, 1850 Irish dance tunes and airs (ABC, ~2k tunes)",
                   ("oneills1850/*.abc",), prepared="music21/oneills.npz"),
        CorpusSpec("ryans", "Ryan's Mammoth Collection, 1883 fiddle tunes (ABC, ~1k tunes)",
                   ("ryansMammoth/*.abc",), prepared="music21/ryans.npz"),
        CorpusSpec("bach", "J. S. Bach chorales, soprano line (MusicXML, ~400 chorales)",
                   ("bach/bwv*.mxl", "bach/bwv*.xml"), exclude=("bwv846*",), prepared="music21/bach.npz"),
        CorpusSpec("bach-all", "J. S. Bach chorales, each voice (S, A, T, B) its own melody (MusicXML)",
                   ("bach/bwv*.mxl", "bach/bwv*.xml"), exclude=("bwv846*",), voices="satb",
                   prepared="music21/bach.npz"),
        CorpusSpec("nottingham", "Nottingham Music Database: 1,034 British and American folk tunes with chord "
                   "symbols (ABC, GPL-3.0 data, ships with muse)", ("abc/*.abc",), shipped=True,
                   prepared="nottingham/parsed.npz", chords=True),
    ]
}

MAGENTA_FILTERS: dict[str, Any] = dict(min_bars=7, min_pitches=5, max_steps=512, split_silence_bars=1.0)
"""Magenta Melody RNN's dataset extraction settings (the defaults of :func:`iter_corpus`)."""


def music21_corpus_dir() -> Path:
    """music21's bundled corpus folder (found without importing music21)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("music21 is not installed; built-in corpora need it")
    return Path(list(spec.submodule_search_locations)[0]) / "corpus"


def _is_builtin(name_or_dir: str | Path) -> bool:
    return isinstance(name_or_dir, str) and name_or_dir in BUILTIN_CORPORA


def corpus_root(name_or_dir: str | Path) -> Path:
    """Folder that piece ids are relative to."""
    if _is_builtin(name_or_dir):
        return BUILTIN_CORPORA[str(name_or_dir)].root
    p = Path(name_or_dir)
    return p.parent if p.is_file() else p


def corpus_sources(name_or_dir: str | Path) -> list[Path]:
    """Source files of a built-in corpus, of a folder (recursive; .mid .midi .musicxml
    .xml .mxl .abc; hidden entries skipped), or a single file. Sorted, so stable."""
    if _is_builtin(name_or_dir):
        spec = BUILTIN_CORPORA[str(name_or_dir)]
        root = spec.root
        found = {
            p for pat in spec.patterns for p in root.glob(pat)
            if not any(p.match(x) for x in spec.exclude)
        }
        if not found:
            raise DataError(f"built-in corpus {spec.name!r} not found under {root} (music21 without its corpus?)")
        return sorted(found)
    p = Path(name_or_dir)
    if p.is_file():
        if p.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise DataError(f"unsupported file type {p.suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}", p)
        return [p]
    if not p.is_dir():
        names = ", ".join(BUILTIN_CORPORA)
        raise DataError(f"not a built-in corpus ({names}) nor an existing folder or file", p)
    files = [
        f for f in p.rglob("*")
        if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in f.relative_to(p).parts)
    ]
    if not files:
        raise DataError(f"no music files ({' '.join(SUPPORTED_SUFFIXES)}) in folder", p)
    return sorted(files)


_X_FIELD = re.compile(rb"(?m)^X:")


def count_pieces(name_or_dir: str | Path) -> int:
    """Number of pieces (ABC tunes + other files) by a quick text scan, without parsing."""
    n = 0
    for f in corpus_sources(name_or_dir):
        if f.suffix.lower() in ABC_SUFFIXES:
            n += max(1, len(_X_FIELD.findall(f.read_bytes())))
        else:
            n += 1
    return n


def corpus_info(name_or_dir: str | Path) -> dict[str, Any]:
    """Name, description, root, number of source files and of pieces (for ``muse corpora list``)."""
    files = corpus_sources(name_or_dir)
    spec = BUILTIN_CORPORA.get(str(name_or_dir)) if _is_builtin(name_or_dir) else None
    return {
        "name": str(name_or_dir),
        "description": spec.description if spec else "folder of melody files",
        "root": str(corpus_root(name_or_dir)),
        "files": len(files),
        "pieces": count_pieces(name_or_dir),
    }


def list_corpora() -> list[dict[str, Any]]:
    """:func:`corpus_info` of every built-in corpus."""
    return [corpus_info(name) for name in BUILTIN_CORPORA]


@dataclass
class CorpusReport(SkipReport):
    """What :func:`iter_corpus` read: counts, and the pieces it skipped with reasons."""

    sources: int = 0
    pieces: int = 0
    melodies: int = 0
    filtered: int = 0
    """Pieces read fine whose melodies all failed the length/pitch filters."""
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.source

    def __str__(self) -> str:
        head = (
            f"corpus {self.source}: {self.sources} files, {self.pieces} pieces read -> {self.melodies} melodies; "
            f"{self.filtered} pieces filtered out, {len(self.skipped)} skipped ({self.seconds:.1f} s)"
        )
        return "\n".join([head, *self.lines()])


@dataclass(frozen=True)
class _Task:
    piece_id: str
    path: str
    tune: str | None = None
    index: int | None = None
    prepared: Any = None
    """The piece already parsed (a :class:`~muse.music.midi_io.Piece`) or the reason it failed; None: parse it."""


def _tasks(sources: list[Path], root: Path, report: CorpusReport, limit: int | None,
           prepared: PreparedCorpus | None = None) -> list[_Task]:
    tasks: list[_Task] = []
    for f in sources:
        if limit is not None and len(tasks) >= limit:
            break
        rel = f.relative_to(root).as_posix() if f.is_relative_to(root) else f.name
        known = prepared.source(rel, f) if prepared is not None else None
        if known is not None:
            if known.error is not None:
                report.skip(rel, known.error)
            tasks.extend(_Task(pid, str(f), prepared=prepared.pieces[pid]) for pid in known.ids)
            continue
        if f.suffix.lower() not in ABC_SUFFIXES:
            tasks.append(_Task(rel, str(f)))
            continue
        try:
            tunes = abc_tunes(f) if f.stat().st_size else []
        except (DataError, OSError) as err:
            report.skip(rel, _reason(err))
            continue
        if not tunes:
            report.skip(rel, "empty file (0 bytes)")
        for i, text in enumerate(tunes, 1):
            tasks.append(_Task(f"{rel}#{i}", str(f), text, i))
    return tasks if limit is None else tasks[:limit]


def _reason(err: BaseException) -> str:
    if isinstance(err, DataError) and err.path and str(err).startswith(err.path + ": "):
        return str(err)[len(err.path) + 2:]
    msg = " ".join(str(err).split())
    return msg or type(err).__name__


def _guarded(tasks: list[_Task], work: Any) -> list[tuple[str, Any, str | None]]:
    """``(piece_id, work(task), None)`` for each task, or ``(piece_id, None, reason)`` where it failed."""
    out: list[tuple[str, Any, str | None]] = []
    for t in tasks:
        try:
            out.append((t.piece_id, work(t), None))
        except DataError as err:
            out.append((t.piece_id, None, _reason(err)))
        except Exception as err:  # noqa: BLE001 - one odd piece must not stop a corpus
            out.append((t.piece_id, None, f"unexpected {type(err).__name__}: {_reason(err)}"))
    return out


def _task_piece(t: _Task) -> Piece:
    """The parsed piece of a task: its pre-parsed form, else parsed now (DataError with the reason)."""
    if isinstance(t.prepared, str):
        raise DataError(t.prepared)
    if t.prepared is not None:
        return t.prepared
    return load_piece(t.path, tune=t.tune, tune_index=t.index)


def _parse_tasks(tasks: list[_Task], opts: dict[str, Any]) -> list[tuple[str, list[Melody], str | None]]:
    """Worker: melodies of each task, or the reason it failed."""
    def work(t: _Task) -> list[Melody]:
        if t.prepared is None:
            return piece_melodies(t.path, tune=t.tune, tune_index=t.index, **opts)
        return extract_piece(_task_piece(t), **opts)

    return [(pid, mels or [], reason) for pid, mels, reason in _guarded(tasks, work)]


def _score_tasks(tasks: list[_Task], opts: dict[str, Any]) -> list[tuple[str, Any, str | None]]:
    """Worker: the :class:`~muse.music.score.Score` of each task, or the reason it failed."""
    from muse.music.score_io import score_from_piece

    return _guarded(tasks, lambda t: score_from_piece(_task_piece(t), opts["steps_per_quarter"]))


def _load_tasks(tasks: list[_Task], opts: dict[str, Any]) -> list[tuple[str, Any]]:
    """Worker: each task's parsed piece, or the reason it failed (as :func:`_parse_tasks` words it)."""
    return [(pid, piece if reason is None else reason) for pid, piece, reason in _guarded(tasks, _task_piece)]


def _run_parallel(chunks: list[list[_Task]], opts: dict[str, Any], workers: int, fn: Any = None
                  ) -> Iterator[list[Any]]:
    """Results of the chunks, in order, computed by ``workers`` processes.

    Workers are forked where the platform allows (as torch's DataLoader does), so
    scripts need no ``if __name__ == "__main__"`` guard; they only run music21.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    fn = fn or _parse_tasks
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
    todo = iter(chunks)
    pending: deque = deque()
    try:
        for chunk in todo:
            pending.append(ex.submit(fn, chunk, opts))
            if len(pending) >= workers * 4:
                break
        while pending:
            results = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(ex.submit(fn, nxt, opts))
            yield results
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _results(tasks: list[_Task], opts: dict[str, Any], workers: int, chunk_size: int, fn: Any
             ) -> Iterable[list[Any]]:
    """``fn``'s results for chunks of ``tasks``, in order: in this process when ``workers <= 1``,
    there is one chunk or every task is pre-parsed, else in worker processes (:func:`_run_parallel`)."""
    chunks = [tasks[i:i + chunk_size] for i in range(0, len(tasks), chunk_size)]
    if workers <= 1 or len(chunks) <= 1 or all(t.prepared is not None for t in tasks):
        return (fn(c, opts) for c in chunks)
    return _run_parallel(chunks, opts, workers, fn)


def iter_corpus(
    name_or_dir: str | Path,
    *,
    workers: int = 2,
    progress: bool = True,
    limit: int | None = None,
    steps_per_quarter: int = 4,
    min_bars: float = MAGENTA_FILTERS["min_bars"],
    min_pitches: int = MAGENTA_FILTERS["min_pitches"],
    max_steps: int | None = MAGENTA_FILTERS["max_steps"],
    split_silence_bars: float | None = MAGENTA_FILTERS["split_silence_bars"],
    voices: str | None = None,
    report: CorpusReport | None = None,
    chunk_size: int = 16,
    prepared: bool = True,
) -> Iterator[tuple[str, Melody]]:
    """Yield ``(piece_id, melody)`` for a built-in corpus or a folder, in source order.

    ``limit`` caps the number of pieces parsed. Parsing runs in ``workers`` processes
    (in this process when ``workers <= 1`` or there is little to do). Unreadable
    pieces are skipped and recorded in ``report`` (pass a :class:`CorpusReport` to
    read it afterwards). Filters default to Magenta's (:data:`MAGENTA_FILTERS`);
    ``voices`` defaults to the corpus's own setting ("melody" for folders).
    A built-in corpus is read from its shipped pre-parsed form
    (:mod:`muse.music.prepared`) wherever its source files are the ones it was
    built from, giving exactly the melodies parsing gives, in a few seconds.

    Args:
        name_or_dir: a built-in corpus (``"essen"``, ``"nottingham"``,
            ``"oneills"``, ``"ryans"``, ``"bach"``, ``"bach-all"``), a folder
            (searched recursively for .mid .midi .musicxml .xml .mxl .abc) or one file.
        workers: parser processes; <= 1 parses in this process.
        progress: show a progress bar (on stderr).
        limit: parse at most this many pieces (ABC tunes or files); None: all.
        steps_per_quarter: grid resolution, in steps per quarter note (4:
            sixteenth notes).
        min_bars: drop melodies shorter than this many bars (default 7).
        min_pitches: drop melodies with fewer distinct pitches (default 5).
        max_steps: cut longer melodies at bar lines into segments of at most this
            many steps (default 512); None: no cut.
        split_silence_bars: split at rests of at least this many bars (default
            1.0); None: no split.
        voices: ``"melody"``, ``"all"`` or ``"satb"`` (see
            :func:`muse.read_melodies`); None: the corpus's own setting.
        report: a :class:`~muse.music.corpora.CorpusReport` to fill with counts,
            timing and skipped pieces; None: a private one.
        chunk_size: pieces handed to a worker at a time.
        prepared: use the shipped pre-parsed form of a built-in corpus where its
            sources match (default True); False: parse every piece.

    Returns:
        Iterator[tuple[str, Melody]]: ``(piece_id, melody)`` pairs; the id is the
        source path relative to the corpus root, plus ``#n`` for the n-th tune of
        an ABC file, and is shared by all melodies of one piece.

    Example:
        >>> import muse
        >>> from muse.music.corpora import CorpusReport
        >>> report = CorpusReport()
        >>> pairs = list(muse.iter_corpus("nottingham", limit=20, progress=False, report=report))
        >>> piece_id, melody = pairs[0]
        >>> report.pieces
        20
    """
    start = time.perf_counter()
    report = report if report is not None else CorpusReport()
    report.source = str(name_or_dir)
    sources = corpus_sources(name_or_dir)
    report.sources = len(sources)
    if voices is None:
        voices = BUILTIN_CORPORA[str(name_or_dir)].voices if _is_builtin(name_or_dir) else "melody"
    opts = dict(
        steps_per_quarter=steps_per_quarter, voices=voices, split_silence_bars=split_silence_bars,
        max_steps=max_steps, min_bars=min_bars, min_pitches=min_pitches,
    )
    store = _prepared_of(name_or_dir) if prepared else None
    tasks = _tasks(sources, corpus_root(name_or_dir), report, limit, store)
    results = _results(tasks, opts, workers, chunk_size, _parse_tasks)
    with _reading(results, len(tasks), report, progress, start) as bar:
        for batch in results:
            for piece_id, melodies, reason in batch:
                report.pieces += 1
                if reason is not None:
                    report.skip(piece_id, reason)
                elif not melodies:
                    report.filtered += 1
                for mel in melodies:
                    report.melodies += 1
                    yield piece_id, mel
            bar.update(len(batch))


@contextlib.contextmanager
def _reading(results: Iterable[Any], total: int, report: CorpusReport, progress: bool, start: float) -> Iterator[Any]:
    """A progress bar over ``total`` pieces while ``results`` are read; at the end (or when the
    caller stops early) the workers are stopped, the bar closed and the time recorded in ``report``."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="piece", desc=report.source, disable=not progress)
    try:
        yield bar
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # stops worker processes when the caller stops early
        bar.close()
        report.seconds = time.perf_counter() - start


def iter_corpus_scores(
    name_or_dir: str | Path,
    *,
    steps_per_quarter: int = 4,
    workers: int = 2,
    progress: bool = True,
    limit: int | None = None,
    report: CorpusReport | None = None,
    chunk_size: int = 16,
    prepared: bool = True,
) -> Iterator[tuple[str, Score]]:
    """Yield ``(piece_id, score)`` for each piece of a built-in corpus or a folder, in source order.

    The polyphonic counterpart of :func:`iter_corpus`: each piece whole, every part
    quantised to the grid (:func:`muse.music.score_io.score_from_piece`), no melody
    extraction or filters. Piece ids are :func:`iter_corpus`'s, so splits by id agree.
    Built-in corpora are read from their shipped pre-parsed form where the sources
    match (``"bach"``: the chorales with parts Soprano, Alto, Tenor, Bass; ``"nottingham"``: a
    ``Chords`` part of block chords from the tunes' chord symbols first, then the melody); folders
    are parsed in ``workers`` processes (in this one when they hold only MIDI files,
    which symusic reads faster than scores travel between processes). Unreadable
    pieces are skipped and recorded in ``report``.

    Args:
        name_or_dir: a built-in corpus (``"bach"``, ``"essen"``, ``"nottingham"``...),
            a folder (searched recursively for .mid .midi .musicxml .xml .mxl .abc) or one file.
        steps_per_quarter: grid resolution, in steps per quarter note (4: sixteenth notes).
        workers: parser processes; <= 1 parses in this process.
        progress: show a progress bar (on stderr).
        limit: read at most this many pieces (ABC tunes or files); None: all.
        report: a :class:`CorpusReport` to fill with counts (``melodies`` counts
            scores), timing and skipped pieces; None: a private one.
        chunk_size: pieces handed to a worker at a time.
        prepared: use the shipped pre-parsed form of a built-in corpus (default True).

    Returns:
        Iterator[tuple[str, Score]]: ``(piece_id, score)`` pairs, one per piece read.

    Example:
        >>> import muse
        >>> pid, score = next(muse.iter_corpus_scores("bach", limit=1, progress=False))
        >>> [p.name for p in score.parts]
        ['Soprano', 'Alto', 'Tenor', 'Bass']
    """
    start = time.perf_counter()
    report = report if report is not None else CorpusReport()
    report.source = str(name_or_dir)
    sources = corpus_sources(name_or_dir)
    report.sources = len(sources)
    store = _prepared_of(name_or_dir) if prepared else None
    tasks = _tasks(sources, corpus_root(name_or_dir), report, limit, store)
    if all(t.prepared is not None or Path(t.path).suffix.lower() in MIDI_SUFFIXES for t in tasks):
        workers = 1  # symusic reads MIDI faster than a worker's scores cross back (2.6x slower with 2 workers)
    results = _results(tasks, {"steps_per_quarter": steps_per_quarter}, workers, chunk_size, _score_tasks)
    chords = None
    if _is_builtin(name_or_dir) and BUILTIN_CORPORA[str(name_or_dir)].chords:
        from muse.music.chords import nottingham_chords, with_chord_part

        chords = nottingham_chords()
    with _reading(results, len(tasks), report, progress, start) as bar:
        for batch in results:
            for piece_id, score, reason in batch:
                report.pieces += 1
                if reason is not None:
                    report.skip(piece_id, reason)
                    continue
                report.melodies += 1
                yield piece_id, (score if chords is None else with_chord_part(score, chords.get(piece_id)))
            bar.update(len(batch))


def _prepared_of(name_or_dir: str | Path) -> PreparedCorpus | None:
    if not _is_builtin(name_or_dir):
        return None
    spec = BUILTIN_CORPORA[str(name_or_dir)]
    return load_prepared(spec.prepared) if spec.prepared else None


def prepare_corpus(name: str, *, workers: int = 2, progress: bool = True) -> PreparedCorpus:
    """Parse every piece of built-in corpus ``name`` (no shipped form used): the content of its
    pre-parsed file (see :mod:`muse.music.prepared`; ``scripts/build_corpora.py`` writes it)."""
    from importlib.metadata import version

    from tqdm import tqdm

    from muse.music.prepared import file_sha1

    if not _is_builtin(name):
        raise DataError(f"not a built-in corpus ({', '.join(BUILTIN_CORPORA)})", name)
    root = corpus_root(name)
    sources: dict[str, PreparedSource] = {}
    tasks: list[_Task] = []
    for f in corpus_sources(name):
        rel = f.relative_to(root).as_posix()
        report = CorpusReport()
        mine = _tasks([f], root, report, None)
        error = report.skipped[0][1] if report.skipped else None
        sources[rel] = PreparedSource(file_sha1(f), tuple(t.piece_id for t in mine), error)
        tasks.extend(mine)
    chunks = [tasks[i:i + 16] for i in range(0, len(tasks), 16)]
    results = ((_load_tasks(c, {}) for c in chunks) if workers <= 1 or len(chunks) <= 1
               else _run_parallel(chunks, {}, workers, _load_tasks))
    pieces: dict[str, Any] = {}
    with tqdm(total=len(tasks), unit="piece", desc=f"parse {name}", disable=not progress) as bar:
        for batch in results:
            pieces.update(batch)
            bar.update(len(batch))
    try:
        m21 = version("music21")
    except Exception:  # noqa: BLE001 - a music21 without metadata
        m21 = ""
    return PreparedCorpus(name, m21, sources, pieces)


def augment_transpositions(
    melody: Melody, semitones: Iterable[int] = range(-5, 7), low: int = 48, high: int = 84
) -> list[Melody]:
    """Transposed copies (key moved along) whose pitches all stay in ``[low, high)``."""
    if not melody.notes:
        return []
    lo, hi = min(melody.pitches), max(melody.pitches)
    return [melody.transpose(s) for s in semitones if low <= lo + s and hi + s < high]

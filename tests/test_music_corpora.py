"""Melody corpora: music21's bundled collections and user folders, with a report of bad files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pretty_midi
import pytest

from muse.errors import DataError
from muse.music.corpora import (
    BUILTIN_CORPORA,
    CorpusReport,
    augment_transpositions,
    corpus_info,
    corpus_sources,
    iter_corpus,
)
from muse.music.melody import Melody, Note
from muse.music.midi_io import melody_from_pitches, write_midi

FIXTURES = Path(__file__).parent / "fixtures" / "music"
NO_FILTERS = dict(min_bars=0, min_pitches=1, max_steps=None, split_silence_bars=None)


def test_builtin_corpora_are_found_without_network() -> None:
    assert set(BUILTIN_CORPORA) >= {"essen", "oneills", "ryans", "bach", "bach-all"}
    for name, spec in BUILTIN_CORPORA.items():
        files = corpus_sources(name)
        assert files and all(f.is_file() for f in files), name
        assert spec.description and spec.source_glob
    essen = corpus_info("essen")
    assert essen["files"] >= 30 and essen["pieces"] > 8000
    assert not any("bwv846" in f.name for f in corpus_sources("bach"))  # a prelude, not a chorale


def test_essen_slice_parses_with_stable_piece_ids() -> None:
    report = CorpusReport()
    first = list(iter_corpus("essen", limit=3, workers=1, progress=False, report=report, **NO_FILTERS))
    assert report.pieces == 3 and not report.skipped
    ids = [pid for pid, _ in first]
    src = corpus_sources("essen")[0]
    assert ids[0] == f"essenFolksong/{src.name}#1"
    assert sorted(set(ids)) == [f"essenFolksong/{src.name}#{i}" for i in (1, 2, 3)]
    for _, mel in first:
        mel.validate()
        assert mel.key is not None and len(mel.notes) > 10
    again = list(iter_corpus("essen", limit=1, workers=1, progress=False, **NO_FILTERS))
    assert again == [x for x in first if x[0] == ids[0]]


def test_bach_all_gives_each_choir_voice_under_one_piece_id() -> None:
    soprano = list(iter_corpus("bach", limit=1, workers=1, progress=False, **NO_FILTERS))
    voices = list(iter_corpus("bach-all", limit=1, workers=1, progress=False, **NO_FILTERS))
    assert len(soprano) == 1 and len(voices) == 4
    assert {pid for pid, _ in voices} == {soprano[0][0]}
    assert voices[0][1] == soprano[0][1]  # the soprano comes first and is the "bach" melody
    means = [sum(m.pitches) / len(m.pitches) for _, m in voices]
    assert means == sorted(means, reverse=True)  # S > A > T > B


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "songs"
    (root / "sub").mkdir(parents=True)
    write_midi(melody_from_pitches([60, 62, 64, 65, 67, 69, 71, 72]), root / "a_good.mid")
    shutil.copy(FIXTURES / "two_tunes.abc", root / "sub" / "tunes.abc")
    (root / "b_broken.mid").write_bytes(b"not a midi file at all")
    pm = pretty_midi.PrettyMIDI()
    drums = pretty_midi.Instrument(0, is_drum=True)
    drums.notes = [pretty_midi.Note(100, 36, 0.0, 0.5)]
    pm.instruments.append(drums)
    pm.write(str(root / "c_drums.mid"))
    (root / "readme.txt").write_text("not music")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.mid").write_bytes(b"")
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_folder_corpus_skips_bad_files_and_reports_them(tmp_path: Path, workers: int) -> None:
    root = _folder(tmp_path)
    assert [p.relative_to(root).as_posix() for p in corpus_sources(root)] == [
        "a_good.mid", "b_broken.mid", "c_drums.mid", "sub/tunes.abc",
    ]
    report = CorpusReport()
    got = list(iter_corpus(root, workers=workers, chunk_size=1, progress=False, report=report, **NO_FILTERS))
    assert [pid for pid, _ in got] == ["a_good.mid", "sub/tunes.abc#1", "sub/tunes.abc#2"]
    assert got[0][1].pitches == [60, 62, 64, 65, 67, 69, 71, 72]
    assert got[2][1].key == (9, "minor")
    assert [pid for pid, _ in report.skipped] == ["b_broken.mid", "c_drums.mid"]
    assert "not a readable MIDI file" in report.skipped[0][1]
    assert "drum-only" in report.skipped[1][1]
    text = str(report)
    assert "b_broken.mid" in text and "c_drums.mid" in text and "3 melodies" in text
    assert report.sources == 4 and report.pieces == 5
    # stopping early shuts the workers down and keeps what was read
    gen = iter_corpus(root, workers=workers, chunk_size=1, progress=False, **NO_FILTERS)
    assert next(gen) == got[0]
    gen.close()


def test_magenta_filters_drop_short_melodies(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    report = CorpusReport()
    assert list(iter_corpus(root, workers=1, progress=False, report=report)) == []  # all < 7 bars
    assert report.filtered == 3


def test_unknown_corpus_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a built-in corpus"):
        corpus_sources("no-such-corpus")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no music files"):
        corpus_sources(tmp_path / "empty")


def test_augment_transpositions_keeps_only_those_in_range() -> None:
    mel = Melody([Note(0, 4, 50), Note(4, 8, 79)], key=(2, "major"))
    out = augment_transpositions(mel)
    shifts = [m.pitches[0] - 50 for m in out]
    assert shifts == [-2, -1, 0, 1, 2, 3, 4]  # 50-2 = 48 lowest, 79+4 = 83 highest
    assert out[0].key == (0, "major") and out[-1].key == (6, "major")
    assert augment_transpositions(mel, range(0, 1), low=60, high=84) == []


# ---------------------------------------------------------------- the shipped pre-parsed corpora

def _prepared_names() -> list[str]:
    """One corpus per pre-parsed file (bach-all shares bach's)."""
    seen: dict[str, str] = {}
    for name, spec in BUILTIN_CORPORA.items():
        if spec.prepared:
            seen.setdefault(spec.prepared, name)
    return list(seen.values())


def _parsed_tasks(name: str) -> list:
    from muse.music.corpora import _tasks, corpus_root

    return _tasks(corpus_sources(name), corpus_root(name), CorpusReport(), None)


@pytest.mark.parametrize("name", _prepared_names())
def test_shipped_pre_parsed_corpus_is_what_music21_parsing_gives(name: str) -> None:
    from muse.data.store import split_of
    from muse.music.corpora import _load_tasks, _prepared_of, corpus_root, count_pieces

    store = _prepared_of(name)
    assert store is not None, f"{name}: no pre-parsed form shipped (python scripts/build_corpora.py --only music21)"
    root = corpus_root(name)
    # every source file, in order, with the sha1 of the bytes on disk and its pieces in order
    assert list(store.sources) == [f.relative_to(root).as_posix() for f in corpus_sources(name)]
    assert all(store.source(rel, root / rel) is not None for rel in store.sources)
    tasks = _parsed_tasks(name)
    assert [t.piece_id for t in tasks] == list(store.pieces) == [i for s in store.sources.values() for i in s.ids]
    assert len(tasks) == count_pieces(name)
    # a sample spread over the whole corpus, parsed again: the very same tracks, notes (floats), meter, key, end
    step = max(1, len(tasks) // (4 if name == "bach" else 10))
    sample = tasks[::step]
    assert _load_tasks(sample, {}) == [(t.piece_id, store.pieces[t.piece_id]) for t in sample]
    # and the melodies, ids and splits iter_corpus gives, with the default (Magenta) filters and without
    for opts in ({}, NO_FILTERS):
        limit = 3 if name == "bach" else 25
        shipped = list(iter_corpus(name, limit=limit, workers=1, progress=False, **opts))
        parsed = list(iter_corpus(name, limit=limit, workers=1, progress=False, prepared=False, **opts))
        assert shipped == parsed and shipped
        assert [split_of(pid) for pid, _ in shipped] == [split_of(pid) for pid, _ in parsed]


@pytest.mark.slow
@pytest.mark.parametrize("name", _prepared_names())
def test_every_shipped_piece_gives_the_melodies_parsing_gives(name: str) -> None:
    from muse.data.store import split_of

    shipped_report, parsed_report = CorpusReport(), CorpusReport()
    shipped = list(iter_corpus(name, workers=1, progress=False, report=shipped_report))
    parsed = list(iter_corpus(name, workers=2, progress=False, prepared=False, report=parsed_report))
    assert shipped == parsed
    assert {pid: split_of(pid) for pid, _ in shipped} == {pid: split_of(pid) for pid, _ in parsed}
    assert shipped_report.skipped == parsed_report.skipped
    assert (shipped_report.pieces, shipped_report.filtered) == (parsed_report.pieces, parsed_report.filtered)


def test_a_source_whose_bytes_differ_is_parsed_not_read_from_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import muse.music.corpora as corpora
    from muse.music.extract import Track
    from muse.music.prepared import PreparedCorpus

    store = corpora._prepared_of("nottingham")
    assert store is not None
    first_rel = next(iter(store.sources))
    first_id = store.sources[first_rel].ids[0]
    piece = store.pieces[first_id]
    up = [Track([(s, e, p + 1, v) for s, e, p, v in t.notes], t.name, t.is_drum, t.program) for t in piece.tracks]
    tampered = PreparedCorpus(store.name, store.music21, dict(store.sources),
                              {**store.pieces, first_id: dataclasses.replace(piece, tracks=up)})
    monkeypatch.setattr(corpora, "_prepared_of", lambda name: tampered)
    parsed = list(iter_corpus("nottingham", limit=1, workers=1, progress=False, prepared=False, **NO_FILTERS))
    read = list(iter_corpus("nottingham", limit=1, workers=1, progress=False, **NO_FILTERS))
    assert [pid for pid, _ in read] == [first_id] == [pid for pid, _ in parsed]
    assert read[0][1].pitches == [p + 1 for p in parsed[0][1].pitches]  # the store is what was read
    src = tampered.sources[first_rel]
    tampered.sources[first_rel] = dataclasses.replace(src, sha1="0" * 40)  # as if the file had changed
    assert list(iter_corpus("nottingham", limit=1, workers=1, progress=False, **NO_FILTERS)) == parsed


def test_pre_parsed_files_round_trip_and_a_corrupt_one_is_ignored(tmp_path: Path) -> None:
    from muse.music.corpora import BUILTIN_CORPORA as specs
    from muse.music.prepared import prepared_path, read_prepared, write_prepared

    shipped = prepared_path(specs["ryans"].prepared)
    store = read_prepared(shipped)
    assert store is not None and store.name == "ryans" and store.music21
    again = read_prepared(write_prepared(tmp_path / "ryans.npz", store))
    assert again == store
    bad = tmp_path / "bad.npz"
    bad.write_bytes(shipped.read_bytes()[:1000])
    assert read_prepared(bad) is None and read_prepared(tmp_path / "missing.npz") is None

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

"""ScoreTokenizer: exact round trips at the grid, both orders, its queries, garbage and errors."""
from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from muse.errors import ConfigError, DataError
from muse.music.melody import Note
from muse.music.score import DRUM_PROGRAM, Part, Score
from muse.music.score_tokens import ScoreTokenizer, part_name, velocity_values
from muse.tokenizers.base import tokenizer_from_dict, tokenizer_to_dict

ORDERS = ("remi", "mmm")


def expected(tok: ScoreTokenizer, s: Score) -> Score:
    """What decoding must give back: velocities to their bin (100 without bins), durations clipped,
    tempo to its bin (120 without), length rounded up to bars, parts named by program."""
    vals = velocity_values(tok.velocity_bins) if tok.velocity_bins else None

    def vel(v: int) -> int:
        return tok.kind_of(tok.velocity_id(v))[1] if vals else 100  # type: ignore[return-value]

    parts = [Part(sorted((Note(n.start, n.start + min(n.duration, tok.max_duration), n.pitch, vel(n.velocity))
                          for n in p.notes), key=lambda n: (n.start, n.pitch, n.end, n.velocity)),
                  program=0 if p.is_drum else p.program, is_drum=p.is_drum, name=part_name(p.token_program))
             for p in s.parts]
    qpm = tok.kind_of(tok.tempo_id(s.qpm))[1] if tok.tempo_bins else 120.0
    bars = -(-s.length // s.steps_per_bar) if s.parts or tok.order == "remi" else 0  # mmm: bars live in tracks
    return Score(parts, s.steps_per_quarter, qpm, s.time_signature, s.key if tok.use_key else None,
                 total_steps=bars * s.steps_per_bar)


def same(a: Score, b: Score) -> None:
    assert [(p.program, p.is_drum, p.name) for p in a.parts] == [(p.program, p.is_drum, p.name) for p in b.parts]
    assert [list(p.notes) for p in a.parts] == [list(p.notes) for p in b.parts]
    assert (a.time_signature, a.key, a.qpm, a.total_steps, a.steps_per_quarter) == \
        (b.time_signature, b.key, b.qpm, b.total_steps, b.steps_per_quarter)


def roundtrip(tok: ScoreTokenizer, s: Score) -> list[int]:
    ids = tok.encode_score(s)
    same(tok.decode_score(ids), expected(tok, s))
    return ids


def band(ts: tuple[int, int] = (4, 4), key: tuple[int, str] | None = (9, "minor")) -> Score:
    """Chords, a bass line, drums and an empty bar between."""
    chords = [Note(0, 8, 60, 70), Note(0, 8, 64, 71), Note(0, 8, 67, 72), Note(8, 12, 62, 90), Note(8, 12, 65, 91)]
    bass = [Note(0, 4, 36, 100), Note(4, 8, 43, 100), Note(40, 44, 38, 110)]  # bars 1 (and 2 in 3/4) empty
    drums = [Note(0, 1, 36, 120), Note(0, 1, 42, 60), Note(2, 3, 42, 60), Note(4, 5, 38, 110), Note(40, 41, 49, 127)]
    return Score([Part(chords, program=0, name="Keys"), Part(bass, program=33, name="Bass"),
                  Part(drums, program=0, is_drum=True, name="Kit")], time_signature=ts, key=key, qpm=96.0)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("velocity_bins", [0, 32])
@pytest.mark.parametrize("ts", [(4, 4), (3, 4), (6, 8)])
def test_band_round_trips_exactly(order: str, velocity_bins: int, ts: tuple[int, int]) -> None:
    tok = ScoreTokenizer(order=order, velocity_bins=velocity_bins)
    roundtrip(tok, band(ts))


def test_remi_sequence_is_the_documented_one() -> None:
    tok = ScoreTokenizer(velocity_bins=0)
    s = Score([Part([Note(0, 4, 60), Note(0, 4, 64), Note(6, 8, 67)], program=5),
               Part([Note(0, 2, 36)], is_drum=True)], time_signature=(3, 4), key=(2, "minor"), total_steps=24)
    names = [tok.id_to_token(i) for i in tok.encode_score(s)]
    assert names == ["Program_5", "Program_128", "TimeSig_3/4", "Key_Dm",
                     "Bar", "Position_0", "Track_0", "Pitch_64", "Duration_4", "Track_0", "Pitch_60", "Duration_4",
                     "Track_1", "Pitch_36", "Duration_2", "Position_6", "Track_0", "Pitch_67", "Duration_2", "Bar"]
    mmm = ScoreTokenizer(order="mmm", velocity_bins=4, use_key=False, tempo_bins=3)
    names = [mmm.id_to_token(i) for i in mmm.encode_score(s)]
    assert names == ["Program_5", "Program_128", "TimeSig_3/4", "Tempo_98",
                     "Track_0", "Bar", "Position_0", "Pitch_64", "Velocity_95", "Duration_4",
                     "Pitch_60", "Velocity_95", "Duration_4", "Position_6", "Pitch_67", "Velocity_95", "Duration_2",
                     "Bar", "Track_1", "Bar", "Position_0", "Pitch_36", "Velocity_95", "Duration_2", "Bar"]


@pytest.mark.parametrize("order", ORDERS)
def test_empty_bars_parts_and_scores(order: str) -> None:
    tok = ScoreTokenizer(order=order)
    s = Score([Part([Note(32, 36, 60)]), Part([], program=40)], total_steps=64)  # bars 0, 1, 3 empty
    ids = roundtrip(tok, s)
    assert ids.count(tok.bar_id) == (4 if order == "remi" else 8)
    assert roundtrip(tok, Score([])) == [tok.timesig_id((4, 4))]
    roundtrip(tok, Score([Part([], is_drum=True)], total_steps=5))


@pytest.mark.parametrize("order", ORDERS)
def test_long_notes_are_clipped(order: str) -> None:
    tok = ScoreTokenizer(order=order, max_duration=8)
    s = Score([Part([Note(0, 30, 60), Note(2, 5, 62)])])
    out = tok.decode_score(tok.encode_score(s))
    assert out.parts[0].notes == [Note(0, 8, 60), Note(2, 5, 62)]
    assert out.total_steps == 32  # the length still counts the long note
    roundtrip(tok, s)


def test_too_many_tracks_and_other_bad_scores() -> None:
    tok = ScoreTokenizer(max_tracks=2)
    with pytest.raises(DataError, match="max_tracks=2"):
        tok.encode_score(Score([Part([Note(0, 1, 60)])] * 3))
    with pytest.raises(DataError, match="grid of 8"):
        tok.encode_score(Score([], steps_per_quarter=8))
    with pytest.raises(DataError, match="11/4"):
        ScoreTokenizer(time_signatures=["4/4"]).encode_score(Score([], time_signature=(11, 4)))
    with pytest.raises(DataError, match="part 0"):
        ScoreTokenizer(min_pitch=40).encode_score(Score([Part([Note(0, 1, 30)])]))
    with pytest.raises(DataError, match="start < end"):
        tok.encode_score(Score([Part([Note(3, 3, 60)])]))
    with pytest.raises(ConfigError, match="order"):
        ScoreTokenizer(order="cpword")


@pytest.mark.parametrize("order", ORDERS)
def test_to_dict_from_dict_round_trip(order: str) -> None:
    tok = ScoreTokenizer(steps_per_quarter=6, max_tracks=5, min_pitch=21, max_pitch=108, max_duration=40,
                         velocity_bins=16, time_signatures=["4/4", (3, 4), "6/8"], use_key=False, tempo_bins=12,
                         order=order)
    d = json.loads(json.dumps(tokenizer_to_dict(tok)))
    assert d["kind"] == "score-remi"
    back = tokenizer_from_dict(d)
    assert isinstance(back, ScoreTokenizer) and back.to_dict() == tok.to_dict()
    assert [back.id_to_token(i) for i in range(back.vocab_size)] == [tok.id_to_token(i) for i in range(tok.vocab_size)]
    assert back.fingerprint() == tok.fingerprint() != ScoreTokenizer().fingerprint()


def test_vocabulary_and_queries() -> None:
    tok = ScoreTokenizer(velocity_bins=32, tempo_bins=8)
    assert [tok.id_to_token(i) for i in (0, 1, 2)] == ["PAD", "BOS", "EOS"]
    assert tok.kind_of(0) == ("special", None) and tok.kind_of(tok.bar_id) == ("bar", None)
    assert tok.kind_of(tok.pitch_id(60)) == ("pitch", 60)
    assert tok.max_positions == 64  # 4/1 is the longest bar: 64 steps
    assert tok.kind_of(tok.position_id(63)) == ("position", 63)
    assert tok.position_id(64) is None and tok.track_id(16) is None and tok.pitch_id(128) is None
    assert tok.kind_of(tok.track_id(3)) == ("track", 3)
    assert tok.kind_of(tok.program_id(DRUM_PROGRAM)) == ("program", 128) and tok.program_id(129) is None
    assert tok.kind_of(tok.duration_id(64)) == ("duration", 64) and tok.duration_id(65) is None
    assert tok.kind_of(tok.timesig_id("3/4")) == ("timesig", (3, 4))
    assert tok.kind_of(tok.key_id((2, "minor"))) == ("key", (2, "minor"))
    assert tok.id_to_token(tok.key_id((2, "minor"))) == "Key_Dm"
    assert tok.kind_of(tok.velocity_id(100)) == ("velocity", 99)
    assert tok.kind_of(tok.tempo_id(120))[0] == "tempo"
    assert ScoreTokenizer().velocity_id(100) is None and ScoreTokenizer(use_key=False).key_id((0, "major")) is None
    kinds = {tok.kind_of(i)[0] for i in range(tok.vocab_size)}
    assert kinds == {"special", "bar", "position", "track", "program", "pitch", "velocity", "duration", "timesig",
                     "key", "tempo"}
    assert len(velocity_values(32)) == 32 and velocity_values(32)[-1] == 127
    with pytest.raises(DataError):
        tok.kind_of(tok.vocab_size)
    assert [tok.id_to_token(i) for i in tok.note_tokens(2, 64, 100, velocity=64)] == \
        ["Track_2", "Pitch_64", "Velocity_63", "Duration_64"]
    s = band((6, 8))
    ids = tok.encode_score(s)
    assert ids[:len(tok.header_tokens(s))] == tok.header_tokens(s)
    assert tok.steps_per_bar_of(ids) == 12 and tok.steps_per_bar_of([tok.bar_id]) is None
    for order in ORDERS:
        t = ScoreTokenizer(order=order, velocity_bins=32)
        assert len(t.encode_score(s)) <= t.max_tokens(s.length, len(s.parts), s.num_notes)
    assert ScoreTokenizer().encode(s) == ScoreTokenizer().encode_score(s)
    same(ScoreTokenizer().decode(ScoreTokenizer().encode(s)), expected(ScoreTokenizer(), s))


@pytest.mark.parametrize("order", ORDERS)
def test_garbage_ids_decode_without_error(order: str) -> None:
    tok = ScoreTokenizer(order=order, velocity_bins=8, tempo_bins=4)
    rng = random.Random(7)
    header = tok.header_tokens(band())
    for trial in range(300):
        n = rng.randrange(0, 200)
        ids = [rng.randrange(-5, tok.vocab_size + 5) for _ in range(n)]
        if trial % 2:
            ids = header + ids
        s = tok.decode_score(ids)
        for p in s.parts:
            for note in p.notes:
                assert 0 <= note.start < note.end and 0 <= note.pitch <= 127
        assert s.total_steps % s.steps_per_bar == 0
        tok.encode_score(s)  # what decoding gives back is always encodable
    # a note without a position, a track without a program, a Program after the body: skipped
    bad = [tok.program_id(0), tok.timesig_id("4/4"), tok.bar_id, tok.pitch_id(60), tok.duration_id(4)]
    bad += [tok.position_id(0)] + ([tok.track_id(5)] if order == "remi" else []) + [tok.pitch_id(62), tok.duration_id(2)]
    bad += [tok.program_id(7)]
    out = tok.decode_score(bad)
    assert len(out.parts) == 1 and out.parts[0].notes == []
    assert out.total_steps == (16 if order == "remi" else 0)  # mmm: a Bar before any Track is skipped


def random_score(rng: random.Random, tok: ScoreTokenizer) -> Score:
    ts = rng.choice([(4, 4), (3, 4), (6, 8), (5, 4), (2, 2), (7, 8), (12, 8)])
    parts = []
    for _ in range(rng.randrange(0, 6)):
        drum = rng.random() < 0.2
        notes = []
        for _ in range(rng.randrange(0, 40)):
            start = rng.randrange(0, 200)
            notes.append(Note(start, start + rng.randrange(1, tok.max_duration + 1), rng.randrange(0, 128),
                              rng.randrange(1, 128)))
        if rng.random() < 0.3 and notes:  # a chord
            notes += [replace(notes[0], pitch=(notes[0].pitch + d) % 128) for d in (3, 7)]
        parts.append(Part(notes, program=rng.randrange(0, 128), is_drum=drum))
    key = rng.choice([None, (rng.randrange(12), rng.choice(["major", "minor"]))])
    total = rng.choice([None, rng.randrange(0, 300)])
    return Score(parts, qpm=rng.uniform(30, 250), time_signature=ts, key=key, total_steps=total)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("velocity_bins", [0, 32])
def test_randomized_round_trips(order: str, velocity_bins: int) -> None:
    rng = random.Random(1234)
    for use_key, tempo_bins in ((True, 0), (False, 16)):
        tok = ScoreTokenizer(order=order, velocity_bins=velocity_bins, use_key=use_key, tempo_bins=tempo_bins)
        for _ in range(60):
            s = random_score(rng, tok)
            ids = roundtrip(tok, s)
            assert len(ids) <= tok.max_tokens(s.length, len(s.parts), s.num_notes)
            assert all(0 <= i < tok.vocab_size for i in ids) and not {0, 1, 2} & set(ids)


@pytest.mark.parametrize("order", ORDERS)
def test_scores_read_from_midi_round_trip(tmp_path, order: str) -> None:
    from muse.music.score_io import read_score, write_score

    rng = random.Random(99)
    tok = ScoreTokenizer(order=order, velocity_bins=32)
    for k in range(5):
        s = random_score(rng, tok)
        s.parts = [p for p in s.parts if p.notes][:4]  # MIDI files keep parts with notes
        if not s.parts:
            continue
        back = read_score(write_score(s, tmp_path / f"s{k}.mid"))
        assert back.num_notes > 0
        roundtrip(tok, back)

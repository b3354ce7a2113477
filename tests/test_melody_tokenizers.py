"""Melody tokenizers: Magenta-style events and REMI; exact round trips and vocabularies."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muse.errors import ConfigError, DataError
from muse.music.melody import Melody, Note
from muse.tokenizers.base import tokenizer_from_dict, tokenizer_to_dict
from muse.music.events import MelodyEventTokenizer, key_offset
from muse.music.remi import DEFAULT_TIME_SIGNATURES, RemiTokenizer

KEYS = st.none() | st.tuples(st.integers(0, 11), st.sampled_from(["major", "minor"]))


@st.composite
def melodies(
    draw: st.DrawFn,
    low: int = 0,
    high: int = 127,
    span: int | None = None,
    max_dur: int = 24,
    time_signatures: tuple = DEFAULT_TIME_SIGNATURES,
) -> Melody:
    """Random monophonic melodies (rests included) with pitches in [low, high],
    within ``span`` semitones of each other when given."""
    n = draw(st.integers(0, 30))
    base = draw(st.integers(low, high - (span or 0)))
    top = base + span if span is not None else high
    bottom = base if span is not None else low
    t, notes = draw(st.integers(0, 8)), []
    for _ in range(n):
        dur = draw(st.integers(1, max_dur))
        notes.append(Note(t, t + dur, draw(st.integers(bottom, top))))
        t += dur + draw(st.integers(0, 5))
    total = draw(st.none() | st.integers(t, t + 20))
    return Melody(notes, time_signature=draw(st.sampled_from(time_signatures)), key=draw(KEYS), total_steps=total)


# ---------------------------------------------------------------- melody events


@settings(max_examples=60, deadline=None)
@given(melodies())
def test_events_round_trip_is_exact_without_squash(mel: Melody) -> None:
    tok = MelodyEventTokenizer(squash=False, transpose_to_key=False)
    ids = tok.encode(mel)
    assert len(ids) == mel.length
    back = tok.decode_melody(ids, like=mel)
    assert back.notes == mel.notes
    assert back.length == mel.length
    assert (back.time_signature, back.key) == (mel.time_signature, mel.key)


@settings(max_examples=60, deadline=None)
@given(melodies(low=20, high=110, span=24))  # an octave shift fits any 2-octave span
def test_events_round_trip_through_key_and_octave_transposition(mel: Melody) -> None:
    tok = MelodyEventTokenizer()  # squash into 48..83, transpose to C major / A minor
    ids, transform = tok.encode_melody(mel)
    pitches = [tok.pitch_of(i) for i in ids if tok.pitch_of(i) is not None]
    assert all(48 <= p <= 83 for p in pitches)
    if mel.key is not None:
        assert (transform.semitones - key_offset(mel.key)) % 12 == 0
    back = tok.decode_melody(ids, transform, like=mel)
    assert back.notes == mel.notes and back.key == mel.key


def test_events_key_transposition_targets_c_major_and_a_minor() -> None:
    tok = MelodyEventTokenizer()
    d_major = Melody([Note(0, 4, 62), Note(4, 8, 66), Note(8, 12, 69)], key=(2, "major"))
    ids, off = tok.encode_melody(d_major)
    assert off.semitones == -2 and [tok.id_to_token(i) for i in ids[::4]] == ["ON_60", "ON_64", "ON_67"]
    e_minor = Melody([Note(0, 4, 64), Note(4, 8, 67)], key=(4, "minor"))
    ids, off = tok.encode_melody(e_minor)
    assert off.semitones == 5 and tok.pitch_of(ids[0]) == 69  # E -> A
    assert MelodyEventTokenizer(transpose_to_key=False).encode_melody(e_minor)[1].semitones == 0


def test_events_squash_folds_outliers_by_octaves() -> None:
    tok = MelodyEventTokenizer(transpose_to_key=False)
    mel = Melody([Note(0, 2, 60), Note(2, 4, 62), Note(4, 6, 100), Note(6, 8, 30)])
    ids, off = tok.encode_melody(mel)
    assert off.semitones == 0
    assert [tok.pitch_of(i) for i in ids[::2]] == [60, 62, 100 - 24, 30 + 24]


def test_events_token_layout_and_helpers() -> None:
    tok = MelodyEventTokenizer()
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    assert tok.vocab_size == 5 + 36
    assert [tok.id_to_token(i) for i in range(6)] == ["PAD", "BOS", "EOS", "OFF", "HOLD", "ON_48"]
    assert tok.id_to_token(tok.vocab_size - 1) == "ON_83"
    assert tok.note_on_id(47) is None and tok.note_on_id(84) is None
    for p in range(48, 84):
        assert tok.pitch_of(tok.note_on_id(p)) == p
        assert tok.token_to_id(f"ON_{p}") == tok.note_on_id(p)
    assert tok.pitch_of(tok.off_id) is None and tok.pitch_of(tok.hold_id) is None
    assert MelodyEventTokenizer(squash=False).vocab_size == 5 + 128
    with pytest.raises(DataError, match="outside"):
        tok.id_to_token(tok.vocab_size)


def test_events_encoding_matches_magenta_semantics() -> None:
    tok = MelodyEventTokenizer(squash=False, transpose_to_key=False)
    mel = Melody([Note(1, 3, 60), Note(3, 4, 62), Note(6, 8, 64)], total_steps=10)
    names = [tok.id_to_token(i) for i in tok.encode(mel)]
    assert names == ["HOLD", "ON_60", "HOLD", "ON_62", "OFF", "HOLD", "ON_64", "HOLD", "OFF", "HOLD"]
    # specials are skipped when decoding
    decoded = tok.decode([tok.bos_id] + tok.encode(mel) + [tok.eos_id, tok.pad_id])
    assert decoded.notes == mel.notes and decoded.length == 10


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=60))
def test_events_decode_any_ids_to_a_valid_melody(ids: list[int]) -> None:
    mel = MelodyEventTokenizer().decode(ids)
    mel.validate()
    assert all(48 <= p <= 83 for p in mel.pitches)


def test_events_state_round_trip_and_errors() -> None:
    tok = MelodyEventTokenizer(50, 90, squash=True, transpose_to_key=False)
    again = tokenizer_from_dict(tokenizer_to_dict(tok))
    assert isinstance(again, MelodyEventTokenizer) and again.to_dict() == tok.to_dict()
    assert again.fingerprint() == tok.fingerprint()
    with pytest.raises(DataError, match="outside"):
        MelodyEventTokenizer(60, 72, squash=False).encode(Melody([Note(0, 1, 80)]))
    with pytest.raises(DataError, match="steps per quarter"):
        tok.encode(Melody([Note(0, 1, 60)], steps_per_quarter=3))
    with pytest.raises(ConfigError, match="octave"):
        MelodyEventTokenizer(60, 65)
    with pytest.raises(ConfigError, match="5/16"):
        RemiTokenizer(steps_per_quarter=2, time_signatures=["4/4", "5/16"])


# ---------------------------------------------------------------- REMI


@settings(max_examples=60, deadline=None)
@given(melodies(max_dur=64))
def test_remi_round_trip_is_exact(mel: Melody) -> None:
    tok = RemiTokenizer()
    back = tok.decode(tok.encode(mel))
    assert back.notes == mel.notes
    assert back.time_signature == mel.time_signature
    assert back.key == mel.key
    bar = mel.steps_per_bar
    assert back.length == max(1, math.ceil(mel.length / bar)) * bar


def test_remi_tokens_for_a_short_melody_with_an_empty_bar() -> None:
    tok = RemiTokenizer()
    mel = Melody([Note(2, 6, 67), Note(6, 8, 69), Note(28, 30, 71)], time_signature=(6, 8), key=(9, "minor"), total_steps=36)
    names = [tok.id_to_token(i) for i in tok.encode(mel)]
    assert names == [
        "Bar", "TimeSig_6/8", "Key_Am",
        "Position_2", "Pitch_67", "Duration_4", "Position_6", "Pitch_69", "Duration_2",
        "Bar",
        "Bar", "Position_4", "Pitch_71", "Duration_2",
    ]
    assert tok.decode(tok.encode(mel)).length == 36
    empty_bars = Melody([Note(0, 4, 60)], total_steps=64)
    assert [tok.id_to_token(i) for i in tok.encode(empty_bars)].count("Bar") == 4


def test_remi_unsupported_time_signature_names_it() -> None:
    tok = RemiTokenizer(time_signatures=["4/4", "3/4"])
    with pytest.raises(DataError, match="11/16.*supported: 4/4 3/4"):
        tok.encode(Melody([Note(0, 4, 60)], time_signature=(11, 16)))
    assert tok.max_positions == 16


def test_remi_clips_long_notes_and_bins_tempo() -> None:
    tok = RemiTokenizer(max_duration=16, tempo_bins=5, use_key=False)
    mel = Melody([Note(0, 40, 60)], qpm=118.0, key=(2, "major"))
    back = tok.decode(tok.encode(mel))
    assert back.notes == [Note(0, 16, 60)]
    assert back.key is None
    assert back.qpm == min((40.0, 62.0, 98.0, 154.9, 240.0), key=lambda q: abs(math.log(q / 118)))
    assert not any(t.startswith("Key_") for t in map(tok.id_to_token, range(tok.vocab_size)))


def test_remi_helpers_and_state() -> None:
    tok = RemiTokenizer()
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    assert tok.id_to_token(tok.bar_id) == "Bar"
    for p in (0, 60, 127):
        assert tok.pitch_of(tok.note_on_id(p)) == p
    assert tok.pitch_of(tok.bar_id) is None
    assert tok.duration_of(tok.duration_id(7)) == 7 and tok.position_of(tok.position_id(5)) == 5
    assert tok.max_positions == max(n * 16 // d for n, d in DEFAULT_TIME_SIGNATURES)
    again = tokenizer_from_dict(tokenizer_to_dict(tok))
    assert isinstance(again, RemiTokenizer) and again.fingerprint() == tok.fingerprint()
    assert [again.id_to_token(i) for i in range(again.vocab_size)] == [tok.id_to_token(i) for i in range(tok.vocab_size)]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=80))
def test_remi_decode_any_ids_to_a_valid_melody(ids: list[int]) -> None:
    tok = RemiTokenizer()
    mel = tok.decode([i % tok.vocab_size for i in ids])
    mel.validate()
    assert mel.length >= (mel.notes[-1].end if mel.notes else 0)

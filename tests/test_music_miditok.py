"""MidiTok behind muse's music-tokenizer protocol, and muse's MIDI files read by MidiTok."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

miditok = pytest.importorskip("miditok")

from muse.errors import CheckpointError, ConfigError, DataError
from muse.sampling.config import GenerationConfig
from muse.sampling.sampler import generate
from muse.music.constraints import MelodyConstraint
from muse.music.melody import Melody, Note
from muse.music.midi_io import write_midi
from muse.music.miditok_adapter import MidiTokTokenizer, default_remi, load_miditok
from muse.music.tokenizer import MusicTokenizer, Transform
from muse.tokenizers.base import tokenizer_from_dict, tokenizer_to_dict

METERS = [(2, 4), (3, 4), (4, 4), (5, 4), (6, 8), (9, 8), (12, 8), (3, 8), (7, 8), (6, 4)]


@st.composite
def melodies(draw: st.DrawFn, spq: int | None = None) -> Melody:
    """Monophonic melodies on a grid in the default vocabulary's meters, durations within its 16 beats."""
    spq = spq or draw(st.sampled_from([4, 4, 2, 8]))
    ts = draw(st.sampled_from(METERS))
    longest = 16 * spq * 4 // ts[1]
    t, notes = draw(st.integers(0, 3 * spq)), []
    for _ in range(draw(st.integers(1, 14))):
        dur = draw(st.integers(1, min(longest, 6 * spq)) | st.just(longest))
        notes.append(Note(t, t + dur, draw(st.integers(0, 127))))
        t += dur + draw(st.integers(0, 9))
    key = draw(st.none() | st.tuples(st.integers(0, 11), st.sampled_from(["major", "minor"])))
    return Melody(notes, spq, qpm=draw(st.sampled_from([80.0, 120.0, 133.33])), time_signature=ts, key=key,
                  total_steps=notes[-1].end + draw(st.integers(0, 40)))


def in_bars(m: Melody, tok: MidiTokTokenizer) -> Melody:
    """What a REMI round trip gives: the length rounded up to whole bars."""
    return replace(m, total_steps=math.ceil(m.length / m.steps_per_bar) * m.steps_per_bar)


# ---------------------------------------------------------------- the protocol


def test_default_adapter_is_a_music_tokenizer_with_muse_specials() -> None:
    tok = MidiTokTokenizer()
    assert isinstance(tok, MusicTokenizer) and isinstance(tok.miditok, miditok.REMI)
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2) and tok.vocab_size == len(tok.miditok.vocab)
    assert tok.id_to_token(tok.bos_id) == "BOS_None" and tok.pitch_of(tok.miditok.vocab["Pitch_60"]) == 60
    assert tok.pitch_of(tok.bar_id) is None and tok.pitch_of(tok.miditok.vocab["Position_3"]) is None
    assert sorted(p for i in range(tok.vocab_size) if (p := tok.pitch_of(i)) is not None) == list(range(128))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(melodies())
def test_round_trip_is_exact_on_the_grid(m: Melody) -> None:
    tok = MidiTokTokenizer(default_remi(m.steps_per_quarter), steps_per_quarter=m.steps_per_quarter)
    ids, transform = tok.encode_melody(m)
    assert transform == Transform() and all(0 <= i < tok.vocab_size for i in ids)
    back = tok.decode_melody(ids, transform, like=m)
    assert back == in_bars(m, tok)
    assert tok.decode_ids(ids).time_signature == m.time_signature  # the meter rides on TimeSig tokens
    assert len(ids) <= tok.max_tokens(m.length)


def test_trailing_empty_bars_are_kept_and_ids_match_midi_tok_itself() -> None:
    tok = MidiTokTokenizer()
    m = Melody([Note(0, 4, 60), Note(4, 8, 64)], total_steps=48)  # three bars of 4/4, two of them empty
    ids, _ = tok.encode_melody(m)
    bare = tok.miditok.encode(tok.melody_score(m))[0].ids
    assert ids[:len(bare)] == bare and ids.count(tok.bar_id) == 3
    assert tok.decode_ids(ids).length == 48


def test_unrepresentable_melodies_are_data_errors() -> None:
    tok = MidiTokTokenizer()
    with pytest.raises(DataError, match="time signature 2/2"):
        tok.encode_melody(Melody([Note(0, 4, 60)], time_signature=(2, 2)))
    with pytest.raises(DataError, match="grid of 2"):
        tok.encode_melody(Melody([Note(0, 4, 60)], steps_per_quarter=2))
    narrow = MidiTokTokenizer(default_remi(pitch_range=(48, 84)))
    with pytest.raises(DataError, match="pitch 30 outside"):
        narrow.encode_melody(Melody([Note(0, 4, 30)]))
    coarse = MidiTokTokenizer(default_remi(2, time_signature_range={4: [4]}), steps_per_quarter=2)
    with pytest.raises(ConfigError, match="no multiple"):
        MidiTokTokenizer(coarse.miditok, steps_per_quarter=3)


def test_refuses_tokenizers_it_cannot_wrap() -> None:
    with pytest.raises(ConfigError, match="TSD is not supported"):
        MidiTokTokenizer(miditok.TSD())
    with pytest.raises(ConfigError, match="lacks the special token"):
        MidiTokTokenizer(default_remi(special_tokens=["PAD"]))
    with pytest.raises(ConfigError, match="not a MidiTok tokenizer"):
        MidiTokTokenizer(42)


# ---------------------------------------------------------------- state


def test_state_is_json_and_tokenizer_from_dict_restores_it(tmp_path: Path) -> None:
    tok = MidiTokTokenizer(default_remi(use_tempos=True, pitch_range=(36, 96)))
    d = json.loads(json.dumps(tokenizer_to_dict(tok)))
    assert d["kind"] == "miditok" and d["miditok"]["tokenization"] == "REMI" and "config" in d["miditok"]
    back = tokenizer_from_dict(d)
    assert isinstance(back, MidiTokTokenizer) and back.fingerprint() == tok.fingerprint()
    assert back.miditok.vocab == tok.miditok.vocab
    m = Melody([Note(0, 4, 60), Note(6, 8, 67)], qpm=100.0, total_steps=16)
    assert back.encode_melody(m) == tok.encode_melody(m)
    d["vocab"] = d["vocab"][:-1]
    with pytest.raises(CheckpointError, match="another vocabulary"):
        tokenizer_from_dict(d)


def test_built_from_a_saved_midi_tok_file(tmp_path: Path) -> None:
    remi = default_remi(use_velocities=True, num_velocities=16)
    remi.save(tmp_path / "tokenizer.json")
    for source in (tmp_path / "tokenizer.json", str(tmp_path / "tokenizer.json"), tmp_path):
        tok = MidiTokTokenizer(source)
        assert tok.miditok.vocab == remi.vocab
    assert load_miditok(remi.to_dict()).vocab == remi.vocab
    with pytest.raises(ConfigError, match="no MidiTok tokenizer file"):
        MidiTokTokenizer(tmp_path / "missing.json")


# ---------------------------------------------------------------- muse files, read by MidiTok


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(m=melodies(spq=4))
def test_muse_midi_files_tokenize_with_midi_tok_and_decode_to_the_same_notes(m: Melody, tmp_path: Path) -> None:
    path = write_midi(m, tmp_path / "m.mid")
    remi = default_remi()
    seqs = remi.encode(path)  # MidiTok reads the file itself
    ids = list(seqs[0].ids)
    notes = [n for tr in remi.decode(seqs).tracks for n in tr.notes]
    tpq = remi.time_division
    assert [(n.time * 4 // tpq, (n.time + n.duration) * 4 // tpq, n.pitch) for n in notes] == \
        [(n.start, n.end, n.pitch) for n in m.notes]
    tok = MidiTokTokenizer(remi)
    assert ids == tok.encode_melody(m)[0][:len(ids)]  # the adapter's tokens, up to its trailing empty bars


def test_a_muse_file_through_midi_tok_s_stock_remi(tmp_path: Path) -> None:
    m = Melody([Note(0, 2, 60), Note(2, 4, 62), Note(4, 8, 64), Note(10, 12, 65), Note(12, 28, 67)],
               time_signature=(3, 4), total_steps=36)
    stock = miditok.REMI()  # MidiTok's defaults: 8 positions a beat, velocity bins, piano range
    score = stock.decode(stock.encode(write_midi(m, tmp_path / "m.mid")))
    (track,) = score.tracks
    tpq = score.tpq
    assert [Note(n.time * 4 // tpq, (n.time + n.duration) * 4 // tpq, n.pitch) for n in track.notes] == m.notes
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (3, 4)


# ---------------------------------------------------------------- a muse melody model on MidiTok tokens


def tunes() -> list[Melody]:
    """Two-bar tunes: up-and-down scale figures in C major, in several rhythms and registers."""
    scale = [0, 2, 4, 5, 7, 9, 11, 12]
    out = []
    for base in (55, 60, 67):
        for rhythm in ([2] * 16, [4] * 8, [2, 2, 4] * 5 + [2]):
            t, notes = 0, []
            for k, d in enumerate(rhythm):
                if t + d > 32:
                    break
                notes.append(Note(t, t + d, base + scale[k % len(scale)]))
                t += d
            out.append(Melody(notes, total_steps=32))
    return out


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    from muse.models.registry import build_model

    tok = MidiTokTokenizer()
    docs = [[tok.bos_id, *tok.encode_melody(m)[0], tok.eos_id] for m in tunes()]
    width = max(map(len, docs))
    batch = torch.full((len(docs), width), tok.pad_id, dtype=torch.long)
    for i, d in enumerate(docs):
        batch[i, :len(d)] = torch.tensor(d)
    inp, tgt = batch[:, :-1], batch[:, 1:].clone()
    tgt[tgt == tok.pad_id] = -100
    model = build_model("transformer", {"vocab_size": tok.vocab_size, "block_size": 256, "n_layer": 1, "n_head": 2,
                                        "n_embd": 32})
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    model.train()
    for _ in range(40):
        logits, _ = model(inp)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return model, tok, losses


def test_a_transformer_trains_on_midi_tok_tokens_and_generates_a_constrained_melody(trained) -> None:
    model, tok, losses = trained
    assert losses[-1] < 0.6 * losses[0]
    c_major = {p for p in range(48, 85) if p % 12 in (0, 2, 4, 5, 7, 9, 11)}
    total, bar = 32, 16
    rule = MelodyConstraint(tok, c_major, total, bar)
    rule.check(tok)
    gen = GenerationConfig(max_new_tokens=tok.max_tokens(total), eos_id=tok.eos_id, seed=0, num_return_sequences=3)
    seqs = generate(model, [tok.bos_id], gen, [rule])
    assert len(seqs) == 3
    for seq in seqs:
        assert seq.count(tok.bar_id) <= 2 and tok.eos_id not in seq
        mel = tok.decode_melody(seq, Transform(), like=Melody([], total_steps=total)).slice(0, total)
        mel.validate()
        assert mel.notes and set(mel.pitches) <= c_major and mel.length == total


def test_the_midi_tok_model_continues_a_primer_through_compose(trained, tmp_path: Path) -> None:
    from muse.music.compose import MelodyRequest, compose
    from muse.recipes.hub import LoadedModel

    model, tok, _ = trained
    lm = LoadedModel(model, tokenizer_from_dict(tokenizer_to_dict(tok)), "melody", GenerationConfig(temperature=0.9))
    primer = Melody([Note(0, 4, 60), Note(4, 8, 62), Note(8, 12, 64)], total_steps=16)
    for source in (primer, write_midi(primer, tmp_path / "p.mid"), primer.to_pretty_midi()):
        (mel,) = compose(lm, MelodyRequest(bars=2, primer=source), GenerationConfig(seed=0))  # 1 primer bar + 2
        assert mel.notes[:3] == primer.notes and all(n.start >= 16 for n in mel.notes[3:])
        assert mel.length == 48

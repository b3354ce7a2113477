"""Chord symbols, Nottingham's chords, and lead sheets (melody over chords, chords for a melody)."""
from __future__ import annotations

import pytest

import muse
import muse.training
from muse.errors import ConfigError, DataError
from muse.music.chords import (CHORD_PART_NAME, Chord, ChordSpan, abc_chord_symbols, chord_part, chord_spans,
                               chord_tone_share, nottingham_chords, parse_chord, parse_progression,
                               progression_text, symbols_to_spans, with_chord_part)
from muse.music.melody import Note
from muse.music.score import Part, Score


@pytest.mark.parametrize("symbol,name,pcs", [
    ("C", "C", (0, 4, 7)), ("Am", "Am", (9, 0, 4)), ("G7", "G7", (7, 11, 2, 5)), ("Bbmaj7", "Bbmaj7", (10, 2, 5, 9)),
    ("F#dim", "F#dim", (6, 9, 0)), ("D/F#", "D", (2, 6, 9)), ("Eb", "Eb", (3, 7, 10)), ("Bm7b5", "Bm7b5", (11, 2, 5, 9)),
    ("C9", "C7", (0, 4, 7, 10)), ("Caug", "Caug", (0, 4, 8)),
])
def test_parse_chord_reduces_to_a_template(symbol, name, pcs):
    c = parse_chord(symbol)
    assert c.name == name and c.pitch_classes == pcs
    assert parse_chord(c.name) == c  # the name reads back as the same chord


def test_parse_chord_errors_name_the_symbol():
    with pytest.raises(ConfigError, match="'Hx9'"):
        parse_chord("Hx9")
    with pytest.raises(ConfigError, match="N.C."):
        parse_chord("N.C.")


def test_voicing_is_root_position_in_the_chord_register():
    for root in range(12):
        for q in ("maj", "min", "7", "dim"):
            v = Chord(root, q).voicing()
            assert 48 <= v[0] <= 59 and v[0] % 12 == root and v == sorted(v)
            assert {p % 12 for p in v} == set(Chord(root, q).pitch_classes)


def test_progression_bars_beats_and_text_round_trip():
    spans = parse_progression("C:2 G:2 | Am | F G7", steps_per_bar=16, steps_per_beat=4)
    assert [(s.start, s.end, s.chord.name) for s in spans] == [
        (0, 8, "C"), (8, 16, "G"), (16, 32, "Am"), (32, 48, "F"), (48, 64, "G7")]
    text = progression_text(spans, 16, 4)
    assert text == "C:2 G:2 | Am | F | G7"
    assert parse_progression(text, steps_per_bar=16, steps_per_beat=4) == spans
    waltz = parse_progression("G D7", steps_per_bar=12, steps_per_beat=4)
    assert [s.end for s in waltz] == [12, 24]
    with pytest.raises(ConfigError, match="bar line"):
        parse_progression("C:3 | G", steps_per_bar=16, steps_per_beat=4)
    with pytest.raises(ConfigError, match="positive"):
        parse_progression("C:x", steps_per_bar=16, steps_per_beat=4)
    with pytest.raises(ConfigError, match="no chord"):
        parse_progression("  ", steps_per_bar=16, steps_per_beat=4)


def test_chord_part_reads_back_as_its_spans():
    spans = parse_progression("C Am:2 Dm7:2 G7 Bdim:1 E:3", steps_per_bar=16, steps_per_beat=4)
    part = chord_part(spans)
    assert part.name == CHORD_PART_NAME
    assert chord_spans(part, spans[-1].end) == spans


def test_chord_tone_share_counts_sounding_notes_at_the_beats():
    spans = [ChordSpan(0, 16, Chord(0, "maj"))]
    notes = [Note(0, 4, 72), Note(4, 8, 74), Note(8, 16, 62)]  # C on beat 1, D held over beat 3
    assert chord_tone_share(notes, spans, [0, 8]) == (1, 2)
    assert chord_tone_share(notes, spans, [4]) == (0, 1)
    assert chord_tone_share(notes, spans, [20]) == (0, 0)  # no chord there


ABC = """X:1
T:Test
M:4/4
L:1/4
K:G
D|"G"G2 B2|"D7"A2 "Em"G2|"Cd"c4|"D/f+"A4|"(A7)"A4|
"""


def test_abc_chord_symbols_time_base_and_jukedeck_spellings():
    rows = abc_chord_symbols(ABC)
    # the pick-up D (one beat) is padded to a whole bar: bar 1 starts at quarter 4
    assert [(q, root) for q, root, _ in rows] == [(4.0, 7), (8.0, 2), (10.0, 4), (12.0, 0), (16.0, 2)]
    assert rows[3][2] == [0, 3, 6]       # "Cd" is C diminished, not C "d"
    assert rows[4][2] == [2, 6, 9]       # "D/f+" is D over F#, not augmented


def test_abc_chords_align_with_parsed_notes(tmp_path):
    path = tmp_path / "t.abc"
    path.write_text(ABC)
    score = muse.read_score(path)
    spans = symbols_to_spans([(q, Chord(r, "maj")) for q, r, _ in abc_chord_symbols(ABC)], 4, score.length)
    first = min(n.start for p in score.parts for n in p.notes)
    assert first == 12 and spans[0].start == 16  # pick-up on beat 4 of the padded bar, G on bar 2's downbeat


def test_nottingham_scores_carry_their_chords():
    table = nottingham_chords()
    assert len(table) > 1000
    n = hits = total = 0
    for pid, score in muse.iter_corpus_scores("nottingham", limit=40, progress=False):
        if pid not in table:
            continue
        n += 1
        assert [p.name for p in score.parts] == [CHORD_PART_NAME, "Melody"]
        spans = chord_spans(score.parts[0], score.length)
        assert spans
        h, t = chord_tone_share(score.parts[1].notes, spans, range(0, score.length, score.steps_per_bar))
        hits, total = hits + h, total + t
    assert n >= 30
    assert hits / total > 0.8  # aligned: downbeat melody notes are mostly chord tones (all tunes: 0.91)


def test_with_chord_part_leaves_chordless_scores_alone():
    s = Score([Part([Note(0, 4, 60)], name="x")])
    assert with_chord_part(s, None) is s and with_chord_part(s, []) is s


# ---------------------------------------------------------------- lead sheets, with a tiny model

@pytest.fixture(scope="module")
def leadsheet_model(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSE_CACHE", str(tmp_path_factory.mktemp("ls-cache")))
    run = tmp_path_factory.mktemp("ls-run")
    muse.training.train("score", corpus="nottingham", model="transformer", out=run, steps=8, batch_size=4, lr=1e-2,
                        eval_every=8, eval_batches=1, warmup_steps=0, progress=False, tensorboard=False,
                        device="cpu", overrides=["model.n_layer=1", "model.n_head=2", "model.n_embd=32",
                                                 "data.block_size=128", "data.workers=1", "data.limit=60"])
    yield run / "model"
    mp.undo()


def test_melody_over_chords_keeps_the_chords_and_writes_one_melody(leadsheet_model, tmp_path):
    from muse.music.leadsheet import melody_over_chords, save_lead_sheets

    sheets = melody_over_chords(leadsheet_model, "G D7 Em C", num=2, key="G")
    for s in sheets:
        assert [p.name for p in s.parts] == [CHORD_PART_NAME, "Melody"]
        assert chord_spans(s.parts[0], 64) == parse_progression("G D7 Em C", steps_per_bar=16, steps_per_beat=4)
        mel = sorted(s.parts[1].notes)
        assert all(a.end <= b.start for a, b in zip(mel, mel[1:]))  # monophonic
        assert all(n.end <= 64 for n in mel) and s.key == (7, "major")
    files = save_lead_sheets(sheets, tmp_path, wav=False)
    import pretty_midi
    from music21 import converter, harmony

    pm = pretty_midi.PrettyMIDI(str(files[0]["mid"]))
    assert [i.name for i in pm.instruments][:1] == [CHORD_PART_NAME] and len(pm.instruments[0].notes) == 13
    xml = converter.parse(str(files[0]["musicxml"]))
    assert [c.figure for c in xml.recurse().getElementsByClass(harmony.ChordSymbol)] == ["G", "D7", "Em", "C"]
    assert len(xml.parts) == 1  # a lead sheet: the melody staff with symbols above


def test_melody_over_chords_bars_repeat_or_cut_the_progression(leadsheet_model):
    from muse.music.leadsheet import melody_over_chords

    (s,) = melody_over_chords(leadsheet_model, "C F", bars=5)
    assert [x.chord.name for x in chord_spans(s.parts[0], 80)] == ["C", "F", "C", "F", "C"]
    (s,) = melody_over_chords(leadsheet_model, "C:2 F:2 G", bars=1, time_signature="3/4")
    assert [(x.start, x.end) for x in chord_spans(s.parts[0], 12)] == [(0, 8), (8, 12)]


def test_suggest_chords_keeps_the_melody(leadsheet_model):
    from muse.music.leadsheet import suggest_chords

    tune = muse.Melody([Note(0, 8, 67), Note(8, 16, 71), Note(16, 24, 74), Note(24, 32, 72), Note(32, 64, 67)],
                       key=(7, "major"))
    for per_bar in (1, 2):
        spans, sheet = suggest_chords(leadsheet_model, tune, per_bar=per_bar)
        assert list(sheet.parts[1].notes) == tune.notes
        assert spans[0].start == 0 and spans[-1].end == 64
        assert all(a.end == b.start and a.chord != b.chord for a, b in zip(spans, spans[1:]))  # contiguous, merged
        assert all((s.end - s.start) % (16 // per_bar) == 0 for s in spans)  # bars (or half bars)
        assert chord_spans(sheet.parts[0], 64) == spans
    # one candidate: it is chosen for every bar, in the melody's key
    spans, _ = suggest_chords(leadsheet_model, tune, candidates=["D7"])
    assert [(s.start, s.end, s.chord.name) for s in spans] == [(0, 64, "D7")]


def test_suggest_chords_finds_the_chord_a_trained_model_prefers(leadsheet_model):
    """Scoring is exact: with two candidates, the one whose sequence the model scores higher wins."""
    from muse.music.leadsheet import _sequence_logprob, suggest_chords

    tune = muse.Melody([Note(0, 16, 72)], key=(0, "major"))
    spans, sheet = suggest_chords(leadsheet_model, tune, candidates=["C", "F#"])
    lm = muse.load_model(leadsheet_model)
    tok = lm.tokenizer
    seqs = []
    for name in ("C", "F#"):
        s = Score([chord_part([ChordSpan(0, 16, parse_chord(name))]), Part([Note(0, 16, 72)], name="Melody")],
                  4, 120.0, (4, 4), (0, "major"), 16)
        seqs.append([tok.bos_id, *tok.encode_score(s)])
    lp = _sequence_logprob(lm, seqs, 1)
    assert spans[0].chord.name == ("C" if lp[0] >= lp[1] else "F#")


def test_lead_sheet_errors(leadsheet_model, tmp_path):
    from muse.music.leadsheet import lead_sheet_model, suggest_chords

    with pytest.raises(DataError, match="no notes"):
        suggest_chords(leadsheet_model, muse.Melody([]))
    with pytest.raises(ConfigError, match="per_bar"):
        suggest_chords(leadsheet_model, muse.Melody([Note(0, 4, 60)]), per_bar=3)
    with pytest.raises(ConfigError, match="no chord part"):
        lead_sheet_model("chorale-transformer")


def test_cli_melody_chords_and_chords_verb(leadsheet_model, tmp_path, capsys):
    from muse.cli import main

    assert main(["melody", "--chords", "C G Am F", "--bars", "4", "--model", str(leadsheet_model),
                 "--out", str(tmp_path / "a"), "--no-wav", "--no-png", "--seed", "3"]) == 0
    mid = tmp_path / "a" / "leadsheet_001.mid"
    assert mid.exists() and (tmp_path / "a" / "leadsheet_001.musicxml").exists()
    assert main(["chords", str(mid), "--model", str(leadsheet_model), "--per-bar", "2", "--out", str(tmp_path / "b"),
                 "--no-wav", "--no-png"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "|" in out[-2] or out[-2].strip()  # the progression line
    parse_progression(out[-2], steps_per_bar=16, steps_per_beat=4)  # it reads back as a progression
    assert main(["melody", "--chords", "C Q", "--model", str(leadsheet_model), "--out", str(tmp_path / "c")]) == 2
    assert "'Q'" in capsys.readouterr().err

"""Score generation: the plan constraint (kept notes, free cells), compose / harmonize / infill, the verbs.

The constraint is checked on its own with a random walk (every allowed id equally
likely: the worst "model"), then through tiny score models trained on Bach
chorales and on a folder of multi-track MIDI.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

import muse
import muse.training
from muse.cli import main as muse_main
from muse.errors import ConfigError, DataError
from muse.music.melody import Melody, Note
from muse.music.score import Part, Score
from muse.music.score_compose import SATB_RANGES, ScoreRequest, compose_scores, harmonize, infill
from muse.music.score_constraints import ScorePlan, ScorePlanConstraint
from muse.music.score_tokens import ScoreTokenizer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _line(rng: random.Random, lo: int, hi: int, steps: int) -> list[Note]:
    notes, t = [], 0
    while t < steps:
        d = rng.choice([2, 4, 4, 8])
        notes.append(Note(t, min(t + d, steps), rng.randint(lo, hi)))
        t += d
    return notes


def _walk(tok: ScoreTokenizer, c: ScorePlanConstraint, prompt: list[int], rng: random.Random) -> list[int]:
    seq = list(prompt)
    for _ in range(c.max_tokens() + 1):
        ids = torch.nonzero(c.allowed(seq)).flatten().tolist()
        assert ids, [tok.id_to_token(i) for i in seq[-8:]]
        t = rng.choice(ids)
        if t == tok.eos_id:
            return seq
        seq.append(t)
    raise AssertionError("no end within the constraint's own token budget")


@pytest.mark.parametrize("seed, rules", [(0, False), (1, False), (2, False), (3, True), (4, True)])
def test_a_random_walk_under_the_plan_keeps_every_fixed_note_and_writes_only_free_cells(seed, rules):
    tok = ScoreTokenizer(max_tracks=4)
    rng = random.Random(seed)
    for _ in range(40):
        bars, spb = rng.randint(1, 4), 16
        parts = [_line(rng, 60, 80, bars * spb), _line(rng, 50, 70, bars * spb), _line(rng, 40, 60, bars * spb)]
        free = {(j, b) for j in range(3) for b in range(bars) if rng.random() < 0.4}
        mono = [rng.random() < 0.5 for _ in range(3)]
        plan = ScorePlan.build(parts, bars, spb, free, [(45, 85)] * 3, mono, tok.max_duration, rules=rules)
        template = Score([Part([]), Part([], program=33), Part([])], key=(0, "major"))
        prompt = [tok.bos_id, *tok.header_tokens(template)]
        c = ScorePlanConstraint(tok, plan, len(prompt))
        got = tok.decode_score(_walk(tok, c, prompt, rng)[1:])
        for j in range(3):
            kept = [(n.start, n.end, n.pitch) for n in sorted(parts[j]) if (j, n.start // spb) not in free]
            out = sorted(got.parts[j].notes)
            assert [(n.start, n.end, n.pitch) for n in out if (j, n.start // spb) not in free] == kept
            kept_notes = [k for k in parts[j] if (j, k.start // spb) not in free]
            for n in out:
                if (j, n.start // spb) in free:
                    assert 45 <= n.pitch <= 85 and n.end <= bars * spb
                    # never over a kept note of the same pitch (MIDI could not tell the two apart)
                    assert not any(k.pitch == n.pitch and n.start < k.end and k.start < n.end for k in kept_notes)
            if mono[j]:  # one onset per position, none under a kept note
                starts = [n.start for n in out]
                assert len(starts) == len(set(starts))
                for n in out:
                    if (j, n.start // spb) in free:
                        assert not any(k.start < n.start < k.end for k in parts[j] if (j, k.start // spb) not in free)


def test_the_plan_refuses_a_model_that_does_not_interleave_parts():
    from muse.errors import ConstraintError

    tok = ScoreTokenizer(order="mmm")
    with pytest.raises(ConstraintError, match="data.order=remi"):
        ScorePlanConstraint(tok, ScorePlan(1, 1, 16), 3)


# ---------------------------------------------------------------- tiny models

TINY = ["model.n_layer=1", "model.n_head=2", "model.n_embd=32", "data.block_size=96", "data.workers=1"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSE_CACHE", str(tmp_path_factory.mktemp("score-cache")))
    yield
    mp.undo()


def _band_folder(root: Path) -> Path:
    """Twelve 4-bar pieces: piano chords, a bass line, drums."""
    from muse.music.score_io import write_score_midi

    rng = random.Random(1)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(12):
        chords = [Note(b * 16, b * 16 + 16, p + rng.choice([0, 5, 7])) for b in range(4) for p in (60, 64, 67)]
        bass = [Note(t, t + 4, rng.choice([36, 38, 41, 43])) for t in range(0, 64, 4)]
        drums = [Note(t, t + 1, 36 if t % 8 == 0 else 42) for t in range(0, 64, 2)]
        s = Score([Part(sorted(chords), program=0, name="Piano"), Part(bass, program=33, name="Bass"),
                   Part(drums, is_drum=True, name="Drums")], qpm=100.0, key=(0, "major"))
        write_score_midi(s, root / f"song{i:02d}.mid")
    return root


@pytest.fixture(scope="module")
def chorale_model(cache, tmp_path_factory):
    run = tmp_path_factory.mktemp("chorale-run")
    muse.training.train("score", corpus="bach", model="transformer", out=run, steps=6, batch_size=4, lr=1e-2,
                        eval_every=6, eval_batches=1, warmup_steps=0, progress=False, tensorboard=False,
                        device="cpu", overrides=[*TINY, "data.limit=30"])
    return run / "model"


@pytest.fixture(scope="module")
def band_model(cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("band")
    run = root / "run"
    muse.training.train("score", data=str(_band_folder(root / "songs")), model="transformer", out=run, steps=6,
                        batch_size=4, lr=1e-2, eval_every=6, eval_batches=1, warmup_steps=0, progress=False,
                        tensorboard=False, device="cpu", overrides=[*TINY, "data.valid_frac=0.2"])
    return run / "model"


TUNE = Melody([Note(0, 4, 72), Note(4, 8, 74), Note(8, 16, 76), Note(16, 20, 74), Note(20, 24, 72),
               Note(24, 32, 71), Note(32, 48, 72)], key=(0, "major"), qpm=90.0)


def test_harmonize_keeps_the_melody_as_the_soprano_and_voices_in_range(chorale_model):
    out = harmonize(chorale_model, TUNE, num=2, generation=muse.GenerationConfig(seed=0))
    assert len(out) == 2
    for s in out:
        assert [p.name for p in s.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
        assert s.parts[0].notes == TUNE.notes
        assert s.key == (0, "major") and s.qpm == 90.0
        for (lo, hi), part in zip(SATB_RANGES[1:], s.parts[1:]):
            assert all(lo <= n.pitch <= hi and n.end <= 48 for n in part.notes)
            starts = [n.start for n in part.notes]
            assert len(starts) == len(set(starts))  # one voice, one note at a time


def test_harmonize_in_another_key_moves_back_to_it(chorale_model):
    tune = TUNE.transpose(5)  # F major
    (s,) = harmonize(chorale_model, tune, generation=muse.GenerationConfig(seed=1))
    assert s.parts[0].notes == tune.notes and s.key == (5, "major")


def test_infill_keeps_every_note_outside_the_chosen_bars_and_parts(chorale_model):
    (piece,) = compose_scores(chorale_model, ScoreRequest(bars=4, key="G"), muse.GenerationConfig(seed=2))
    assert len(piece.parts) == 4 and piece.length == 64 and piece.key == (7, "major")
    new = infill(chorale_model, piece, (2, 3), parts=[1, 3], num=2, generation=muse.GenerationConfig(seed=3))
    for s in new:
        for j, (a, b) in enumerate(zip(piece.parts, s.parts)):
            keep = lambda n, j=j: not (j in (1, 3) and 16 <= n.start < 48)  # noqa: E731
            assert [n for n in a.notes if keep(n)] == [n for n in b.notes if keep(n)], j


def test_compose_continues_a_primer_note_for_note(chorale_model):
    (piece,) = compose_scores(chorale_model, ScoreRequest(bars=2), muse.GenerationConfig(seed=4))
    (more,) = compose_scores(chorale_model, ScoreRequest(bars=2, primer=piece), muse.GenerationConfig(seed=5))
    assert more.length == 64
    for a, b in zip(piece.parts, more.parts):
        assert [n for n in b.notes if n.start < 32] == a.notes


def test_a_model_trained_on_a_midi_folder_composes_the_asked_tracks(band_model, tmp_path):
    import pretty_midi

    req = ScoreRequest(bars=2, parts=["piano", "bass", "drums"])
    (s,) = compose_scores(band_model, req, muse.GenerationConfig(seed=0))
    assert [(p.program, p.is_drum) for p in s.parts] == [(0, False), (33, False), (0, True)]
    assert s.length == 32
    code = muse_main(["compose", "--model", str(band_model), "--bars", "2", "--tracks", "piano,bass,drums",
                      "--out", str(tmp_path), "--no-wav", "--no-png", "--seed", "1"])
    assert code == 0
    import mido

    mid = mido.MidiFile(str(tmp_path / "score_001.mid"))
    names = [next((m.name for m in t if m.type == "track_name"), "") for t in mid.tracks]
    assert {"Piano", "Bass", "Drums"} <= set(names)  # one track per part, empty parts too
    drums = [i for i in pretty_midi.PrettyMIDI(str(tmp_path / "score_001.mid")).instruments if i.is_drum]
    assert all(i.is_drum for i in drums) and sum(len(i.notes) for i in drums) == len(
        compose_scores(band_model, req, muse.GenerationConfig(seed=1))[0].parts[2].notes)


def test_the_score_verbs_write_files_music21_reads(chorale_model, tmp_path, capsys):
    from music21 import converter

    assert muse_main(["chorale", "--model", str(chorale_model), "--bars", "2", "--out", str(tmp_path),
                      "--no-wav", "--no-png"]) == 0
    assert len(converter.parse(str(tmp_path / "chorale_001.musicxml")).parts) == 4
    assert muse_main(["harmonize", "--model", str(chorale_model), "--primer-notes", "C5:1 D5:1 E5:2",
                      "--out", str(tmp_path), "--no-wav", "--no-png"]) == 0
    sc = converter.parse(str(tmp_path / "harmony_001.musicxml"))
    assert len(sc.parts) == 4
    assert [p.nameWithOctave for p in sc.parts[0].flatten().notes] == ["C5", "D5", "E5"]
    assert muse_main(["infill", str(tmp_path / "chorale_001.mid"), "--model", str(chorale_model), "--bars", "2",
                      "--tracks", "2", "--out", str(tmp_path), "--no-wav", "--no-png"]) == 0
    assert (tmp_path / "infill_001.mid").is_file()


@pytest.mark.parametrize("argv, message", [
    (["infill", "{piece}", "--bars", "7-9"], "bars 7-9 are not inside the score's 1-2"),
    (["infill", "{piece}", "--bars", "1", "--tracks", "9"], "part 9 does not exist"),
    (["harmonize"], "give a melody file or --primer-notes"),
    (["compose", "--tracks", "kazoo,piano"], "unknown part 'kazoo'"),
])
def test_bad_score_requests_are_one_line_errors(chorale_model, tmp_path, capsys, argv, message):
    piece = tmp_path / "p.mid"
    from muse.music.score_io import write_score_midi

    write_score_midi(Score([Part([Note(0, 32, 60)], name="Soprano")]), piece)
    code = muse_main([a.replace("{piece}", str(piece)) for a in argv] + ["--model", str(chorale_model),
                                                                         "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_melody_model_is_not_a_score_model(tmp_path):
    with pytest.raises(ConfigError, match="scores need a score model"):
        compose_scores("melody-transformer")


def test_harmonizing_nothing_is_an_error(chorale_model):
    with pytest.raises(DataError, match="no notes"):
        harmonize(chorale_model, Melody([]))


def test_a_folder_with_bad_files_trains_on_the_rest_and_names_them(tmp_path):
    from muse.music.score_recipe import RECIPE

    folder = _band_folder(tmp_path / "songs")
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (folder / "empty.mid").write_bytes(b"")
    items, report = RECIPE.load_items({"corpus": str(folder), "workers": 1})
    assert len(items) == 12 and all(len(s.parts) == 3 for _, s in items)
    assert {Path(w).name for w, _ in report.skipped} == {"broken.mid", "empty.mid"}


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory):
    """Real multi-track music from music21's corpus as MIDI files of 8 bars: Joplin's Maple Leaf Rag
    (piano, two staves, 2/4) and a Haydn string quartet movement (four parts, 3/4)."""
    from music21 import corpus

    from muse.music.score_io import read_score, write_score_midi
    from muse.music.score_recipe import cut_bars

    root = tmp_path_factory.mktemp("real")
    for name in ("joplin/maple_leaf_rag.mxl", "haydn/opus74no1/movement3.mxl"):
        score = read_score(corpus.getWork(name))
        for i, seg in enumerate(cut_bars(score, 8)):
            write_score_midi(seg, root / f"{Path(name).parts[0]}_{i:02d}.mid")
    return root


def test_train_compose_and_infill_on_a_folder_of_real_piano_and_quartet_midi(cache, real_folder, tmp_path):
    from muse.music.score_io import read_score

    run = tmp_path / "run"
    code = muse_main(["train", "score", "--data", str(real_folder), "--steps", "6", "--batch-size", "4",
                      "--out", str(run), "--no-progress", *TINY, "data.valid_frac=0.2", "train.eval_every=6",
                      "train.eval_batches=1"])
    assert code == 0 and (run / "model" / "score_parts.json").is_file()
    quartet = sorted(real_folder.glob("haydn_*.mid"))[1]
    out = tmp_path / "out"
    assert muse_main(["compose", "--model", str(run / "model"), "--primer", str(quartet), "--primer-bars", "2",
                      "--bars", "2", "--out", str(out), "--no-wav", "--no-png", "--no-xml"]) == 0
    primer, got = read_score(quartet), read_score(out / "score_001.mid")
    assert len(got.parts) == 4 and got.time_signature == (3, 4) and got.length == 4 * 12
    for a, b in zip(primer.parts, got.parts):
        assert [(n.start, n.pitch) for n in a.notes if n.start < 24] == [(n.start, n.pitch) for n in b.notes
                                                                         if n.start < 24]
    rag = sorted(real_folder.glob("joplin_*.mid"))[2]
    assert muse_main(["infill", str(rag), "--model", str(run / "model"), "--bars", "3-4", "--tracks", "2",
                      "--out", str(out), "--no-wav", "--no-png", "--no-xml"]) == 0
    before, after = read_score(rag), read_score(out / "infill_001.mid")
    assert before.parts[0].notes == after.parts[0].notes  # the right hand is kept
    keep = lambda n: not 16 <= n.start < 32  # noqa: E731 - bars 3-4 of 2/4 at 8 steps a bar
    assert [n for n in before.parts[1].notes if keep(n)] == [n for n in after.parts[1].notes if keep(n)]


def test_the_four_part_rules_hold_in_what_a_barely_trained_model_writes(chorale_model):
    """No parallel fifths or octaves, no hidden ones between soprano and bass, no crossing, chords on beats:
    hard rules of the decoding, so they hold even for a 6-step model (and not without them)."""
    from muse.music.voice_leading import aggregate_stats, voice_leading_stats

    def pooled(rules: bool) -> dict:
        out = harmonize(chorale_model, TUNE, num=6, rules=rules, generation=muse.GenerationConfig(seed=7))
        out += compose_scores(chorale_model, ScoreRequest(bars=4, rules=rules), muse.GenerationConfig(seed=8), num=6)
        return aggregate_stats([voice_leading_stats(s) for s in out if all(p.notes for p in s.parts)])["pooled"]

    ruled, free = pooled(True), pooled(False)
    assert ruled["parallel_fifths_per_100"] == ruled["parallel_octaves_per_100"] == 0
    assert ruled["hidden_perfect_per_100"] == 0 and ruled["crossing_share"] <= 0.01
    assert ruled["chord_tone_share"] >= 0.95 > free["chord_tone_share"]
    assert free["parallel_fifths_per_100"] + free["parallel_octaves_per_100"] + free["crossing_share"] > 0

"""End to end: train tiny melody models, write melodies with `muse melody`, evaluate them, build corpora.

One module-scoped token cache and two tiny runs (LSTM, transformer) on the first
40 pieces of the Essen collection are shared by every test here.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from muse.cli import main as muse_main
from muse.music.melody import Melody

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

D_MINOR = {2, 4, 5, 7, 9, 10, 0}
FIXTURES = Path(__file__).parent / "fixtures" / "music"
TINY = {
    "lstm": ["model.n_layer=1", "model.n_embd=32", "model.n_hidden=64"],
    "transformer": ["model.n_layer=1", "model.n_head=2", "model.n_embd=32"],
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private token cache; one torch thread (tiny models run faster without thread hand-offs)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSE_CACHE", str(tmp_path_factory.mktemp("muse-cache")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(scope="module")
def runs(cache, tmp_path_factory):
    """{model: run dir} of two tiny melody models trained for 24 steps."""
    import muse.training

    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, model_kw in TINY.items():
        muse.training.train(
            "melody", corpus="essen", model=name, out=root / name, steps=24, batch_size=8, lr=1e-2, eval_batches=2,
            warmup_steps=3, eval_every=12, log_every=3, progress=False, tensorboard=False, device="cpu",
            overrides=["data.limit=40", "data.block_size=64", "data.workers=1", *model_kw])
        out[name] = root / name
    return out


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = muse_main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_back(path: Path) -> Melody:
    from muse.music.midi_io import read_melodies

    mels = read_melodies(path, min_pitches=1)
    assert len(mels) == 1
    return mels[0]


def multitrack_midi(path: Path, *, drums: bool = True, bass: bool = True, melody: bool = True) -> Path:
    """Two bars at 120 qpm: drum kit, bass line and a melody track, as a band's MIDI file has."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    q = 0.5  # seconds per quarter note
    if drums:
        kit = pretty_midi.Instrument(0, is_drum=True, name="Drums")
        for i in range(16):
            kit.notes.append(pretty_midi.Note(90, 42, i * q / 2, i * q / 2 + 0.1))
            if i % 4 == 0:
                kit.notes.append(pretty_midi.Note(100, 36 if i % 8 == 0 else 38, i * q / 2, i * q / 2 + 0.1))
        pm.instruments.append(kit)
    if bass:
        line = pretty_midi.Instrument(33, name="Bass")
        for i, p in enumerate([36, 43, 41, 43, 36, 43, 41, 36]):
            line.notes.append(pretty_midi.Note(90, p, i * q, (i + 1) * q))
        pm.instruments.append(line)
    if melody:
        lead = pretty_midi.Instrument(73, name="Melody")
        t = 0.0
        for p, d in [(72, 1), (74, 0.5), (76, 0.5), (77, 1), (79, 1), (81, 0.5), (79, 0.5), (77, 1), (76, 1),
                     (74, 1)]:
            lead.notes.append(pretty_midi.Note(100, p, t * q, (t + d) * q))
            t += d
        pm.instruments.append(lead)
    pm.write(str(path))
    return path


# ---------------------------------------------------------------- training


@pytest.mark.parametrize("name", list(TINY))
def test_training_exports_a_model_and_the_loss_falls(runs, name):
    run = runs[name]
    assert (run / "model" / "model.safetensors").is_file()
    recipe = json.loads((run / "model" / "recipe.json").read_text())
    tok = json.loads((run / "model" / "tokenizer.json").read_text())
    assert recipe["kind"] == "melody" and tok["kind"] == "melody-events"
    rows = [r for r in csv.DictReader(open(run / "metrics.csv")) if r["split"] == "train"]
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) >= 4
    assert np.mean(losses[-2:]) < 0.7 * np.mean(losses[:2])


# ---------------------------------------------------------------- muse melody


def test_melody_in_d_minor_writes_files_other_libraries_open(runs, tmp_path, capsys):
    import music21
    import pretty_midi
    import soundfile

    out = tmp_path / "out"
    code, stdout, err = cli(capsys, "melody", "--model", runs["transformer"] / "model", "--key", "D", "--scale",
                            "minor", "--bars", 4, "--num", 3, "--out", out, "--seed", 3, "--synth", "builtin")
    assert code == 0, err
    mids = sorted(out.glob("*.mid"))
    assert len(mids) == 3 and len(sorted(out.glob("*.wav"))) == 3 and len(sorted(out.glob("*.png"))) == 3
    for mid in mids:
        pm = pretty_midi.PrettyMIDI(str(mid))
        pitches = [n.pitch for inst in pm.instruments for n in inst.notes]
        assert pitches and {p % 12 for p in pitches} <= D_MINOR
        score = music21.converter.parse(str(mid))
        onsets = [n.pitch.midi for n in score.flatten().notes if n.tie is None or n.tie.type == "start"]
        assert onsets == pitches
        assert read_back(mid).length <= 4 * 16
        audio, rate = soundfile.read(str(mid.with_suffix(".wav")))
        assert rate > 0 and len(audio) > rate and float(np.abs(audio).max()) > 1e-3
        assert mid.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_melody_respects_low_high_and_time_signature(runs, tmp_path, capsys):
    import mido

    out = tmp_path / "out"
    code, _, err = cli(capsys, "melody", "--model", runs["lstm"] / "model", "--low", 62, "--high", 69, "--bars", 3,
                       "--num", 2, "--time-signature", "3/4", "--temperature", 3, "--out", out, "--no-wav", "--no-png", "--seed", 1)
    assert code == 0, err
    mids = sorted(out.glob("*.mid"))
    assert len(mids) == 2
    for mid in mids:
        mel = read_back(mid)
        assert mel.notes and all(62 <= p <= 69 for p in mel.pitches)
        assert mel.time_signature == (3, 4) and mel.length <= 3 * 12
        sigs = [m for t in mido.MidiFile(str(mid)).tracks for m in t if m.type == "time_signature"]
        assert [(m.numerator, m.denominator) for m in sigs] == [(3, 4)]


def test_start_with_note_writes_no_pickup(runs, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = cli(capsys, "melody", "--model", runs["lstm"] / "model", "--start-with-note", "--bars", 2,
                       "--num", 4, "--temperature", 2, "--out", out, "--no-wav", "--no-png", "--seed", 5)
    assert code == 0, err
    firsts = [read_back(mid).notes[0].start for mid in sorted(out.glob("*.mid"))]
    assert firsts == [0, 0, 0, 0]


def test_primer_from_a_multitrack_midi_is_continued_after_its_end(runs, tmp_path, capsys):
    primer_file = multitrack_midi(tmp_path / "band.mid")
    primer = read_back(primer_file)
    assert primer.pitches[:3] == [72, 74, 76] and primer.length == 32
    out = tmp_path / "out"
    code, _, err = cli(capsys, "melody", "--model", runs["transformer"] / "model", "--primer", primer_file,
                       "--bars", 4, "--num", 2, "--out", out, "--no-wav", "--no-png", "--seed", 5, "--temperature", 3)
    assert code == 0, err
    for mid in sorted(out.glob("*.mid")):
        mel = read_back(mid)
        head = [n for n in mel.notes if n.start < primer.length]
        assert [(n.start, n.pitch) for n in head] == [(n.start, n.pitch) for n in primer.notes]
        assert [n.end for n in head[:-1]] == [n.end for n in primer.notes[:-1]]
        assert head[-1].end >= primer.notes[-1].end
        assert any(n.start >= primer.length for n in mel.notes)
        assert mel.length == (2 + 4) * 16  # the 2-bar primer, then 4 new bars


def test_bars_count_the_new_bars_after_a_primer_longer_than_them(runs, tmp_path, capsys):
    primer_file = multitrack_midi(tmp_path / "band.mid")
    out = tmp_path / "out"
    code, _, err = cli(capsys, "melody", "--model", runs["lstm"] / "model", "--primer", primer_file, "--bars", 1,
                       "--out", out, "--no-wav", "--no-png")
    assert code == 0, err
    assert read_back(out / "melody_001.mid").length == (2 + 1) * 16


@pytest.mark.parametrize("args, named", [
    (["--key", "H", "--scale", "minor"], "'H'"),
    (["--key", "D", "--scale", "klingon"], "'klingon'"),
    (["--time-signature", "5/7"], "5/7"),
    (["--time-signature", "three"], "three"),
])
def test_bad_key_scale_or_meter_exits_2_naming_it(runs, tmp_path, capsys, args, named):
    code, _, err = cli(capsys, "melody", "--model", runs["lstm"] / "model", *args, "--out", tmp_path / "out",
                       "--no-wav", "--no-png")
    assert code == 2 and named in err and err.startswith("muse: error:")
    assert not (tmp_path / "out").exists()


def test_a_poem_model_is_refused_by_melody_and_eval(cache, tmp_path, capsys):
    from muse.models.registry import build_model
    from muse.recipes.hub import save_pretrained
    from muse.tokenizers.char import CharTokenizer

    tok = CharTokenizer(list("abcdefgh "))
    model = build_model("rnn", {"vocab_size": tok.vocab_size, "n_layer": 1, "n_embd": 8, "n_hidden": 8})
    poem = save_pretrained(tmp_path / "poem-model", model, tok, "poem")
    for argv in (["melody", "--model", poem, "--out", tmp_path / "out"],
                 ["eval", "melody", "--model", poem, "--out", tmp_path / "ev"]):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and str(poem) in err and "'poem' model, not a 'melody' model" in err


@pytest.mark.parametrize("kind, reason", [("corrupt", "not a readable MIDI file"), ("empty", "empty file"),
                                          ("drums", "drum-only")])
def test_unusable_primer_file_is_named(runs, tmp_path, capsys, kind, reason):
    bad = tmp_path / f"{kind}.mid"
    if kind == "corrupt":
        bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
    elif kind == "empty":
        bad.write_bytes(b"")
    else:
        multitrack_midi(bad, bass=False, melody=False)
    code, _, err = cli(capsys, "melody", "--model", runs["lstm"] / "model", "--primer", bad, "--out",
                       tmp_path / "out", "--no-wav", "--no-png")
    assert code == 2 and str(bad) in err and reason in err


# ---------------------------------------------------------------- muse corpora


def test_corpora_list_names_the_builtin_corpora(capsys):
    code, out, _ = cli(capsys, "corpora", "list")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
    for name in ("essen", "oneills", "ryans", "bach"):
        assert rows[name][1] == "melody" and "music21" in rows[name]
    for name, kind, licence in [("tang", "poem", "MIT"), ("english-poetry", "poem", "public-domain"),
                                ("shakespeare", "text", "public-domain"), ("nottingham", "melody", "GPL-3.0-only")]:
        assert rows[name][1] == kind and licence in rows[name]
    code, out, _ = cli(capsys, "corpora", "show", "nottingham")
    assert code == 0 and "GPL" in out and "1,034" in out


def test_corpora_build_a_folder_then_reuse_the_cache(cache, tmp_path, capsys):
    folder = tmp_path / "tunes"
    folder.mkdir()
    shutil.copy(FIXTURES / "two_tunes.abc", folder)
    for i in range(3):
        multitrack_midi(folder / f"band{i}.mid", drums=i != 1)
    argv = ["corpora", "build", folder, "min_bars=1", "min_pitches=2"]
    code, first, err = cli(capsys, *argv)
    assert code == 0, err
    assert "melody-events tokenizer" in first
    manifests = list(Path(os.environ["MUSE_CACHE"]).glob("corpora/melody-*tunes-*/manifest.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["items"] == 5 and sum(s["docs"] for s in manifest["splits"].values()) == 5
    before = (manifests[0].stat().st_mtime_ns, manifests[0].read_text())
    code, second, _ = cli(capsys, *argv)
    assert code == 0 and second.split(" in ")[0] == first.split(" in ")[0]
    assert (manifests[0].stat().st_mtime_ns, manifests[0].read_text()) == before
    code, third, _ = cli(capsys, "corpora", "build", "--from", folder, "min_bars=1", "min_pitches=2")
    assert code == 0 and third.split(" in ")[0] == first.split(" in ")[0]  # the same cache, by --from


def test_a_folder_where_no_melody_passes_names_the_filters(cache, tmp_path, capsys):
    folder = tmp_path / "short"
    folder.mkdir()
    multitrack_midi(folder / "band.mid")
    (folder / "broken.mid").write_bytes(b"MThd garbage")
    code, _, err = cli(capsys, "corpora", "build", "--from", folder, "min_bars=200")
    assert code == 2
    assert "broken.mid" in err  # the skip report
    assert "no training document: 0 item(s) read, 1 file(s) skipped; a melody needs at least 200 bars" in err
    code, _, err = cli(capsys, "corpora", "build")
    assert code == 2 and "give a corpus name or --from DIR" in err


# ---------------------------------------------------------------- muse eval


def test_eval_melody_writes_table_plot_and_json(runs, tmp_path, capsys):
    out = tmp_path / "eval"
    code, stdout, err = cli(capsys, "eval", "melody", "--model", runs["lstm"] / "model", "--num", 4, "--bars", 4,
                            "--ngram", "--out", out)
    assert code == 0, err
    result = json.loads((out / "eval.json").read_text())
    assert result["corpus"] == "essen" and result["split"] == "test" and result["docs"] >= 1
    uniform = math.log2(result["vocab_size"])
    for name in ("model", "ngram"):
        lik = result["likelihood"][name]
        assert 0 < lik["bits_per_event"] < uniform
        assert lik["bits_per_note"] == pytest.approx(lik["total_bits"] / result["notes"])
        assert lik["total_bits"] == pytest.approx(lik["bits_per_event"] * result["events"])
        names = [row["name"] for row in result["metrics"][name]]
        assert "pitch_class_entropy" in names and "groove_consistency" in names
    assert (out / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / "metrics.md").read_text()
    assert "| scale_consistency" in table and "bits/event" in table
    assert "| pitch_range" in stdout


def test_sequence_nll_scores_each_token_once(runs):
    from muse.music.evaluate import _windows, load_heldout, sequence_nll, training_data_settings
    from muse.recipes.hub import load_model

    lm = load_model(runs["lstm"] / "model")
    held = load_heldout(training_data_settings(lm), lm.tokenizer)
    docs = held.docs("test")
    nats, count = sequence_nll(lm.model, docs, batch_tokens=300)
    assert count == sum(len(d) - 1 for d in docs)
    direct = 0.0
    with torch.no_grad():
        for d in docs:
            x = torch.as_tensor(d, dtype=torch.long)[None]
            logits, _ = lm.model(x[:, :-1])
            direct += float(torch.nn.functional.cross_entropy(logits[0], x[0, 1:], reduction="sum"))
    assert nats == pytest.approx(direct, rel=1e-5)

    doc = np.arange(150)
    seen = []
    for inp, tgt in _windows(doc, 64):
        assert len(inp) <= 64 and np.array_equal(inp[1:], doc[inp[0] + 1 : inp[0] + len(inp)])
        kept = np.nonzero(tgt != -100)[0]
        assert kept.size and (inp[0] == 0 or kept[0] >= 32)
        seen += list(tgt[kept])
    assert seen == list(range(1, 150))


# ---------------------------------------------------------------- reading MIDI


def test_fast_and_fallback_midi_readers_agree(tmp_path):
    pytest.importorskip("symusic")
    import mido

    from muse.music import midi_io
    from muse.music.melody import Note

    band = multitrack_midi(tmp_path / "band.mid")
    song = midi_io.write_midi(Melody([Note(0, 6, 62), Note(6, 8, 65), Note(12, 20, 69)], qpm=96.0,
                                     time_signature=(3, 4), key=(2, "minor"), total_steps=48), tmp_path / "song.mid")
    for path in (band, song):
        data = path.read_bytes()
        fast, fast_res = midi_io._symusic_piece(data)
        slow, slow_res = midi_io._pretty_midi_piece(data)
        assert fast_res == slow_res
        assert (fast.qpm, fast.time_signature, fast.key) == (slow.qpm, slow.time_signature, slow.key)
        assert [(t.name, t.is_drum, t.program, sorted(t.notes)) for t in fast.tracks] == \
               [(t.name, t.is_drum, t.program, sorted(t.notes)) for t in slow.tracks]
        assert midi_io.midi_end_tick(data) == max(sum(m.time for m in tr) for tr in mido.MidiFile(str(path)).tracks)
    mel = read_back(song)
    assert (mel.length, mel.key, mel.time_signature, mel.qpm) == (48, (2, "minor"), (3, 4), 96.0)


def test_a_melody_with_no_key_asked_still_carries_its_own_key_signature(tmp_path):
    import pretty_midi

    from muse.music.compose import generate_melodies
    from muse.music.metrics import estimate_key
    from muse.music.midi_io import write_midi

    mels = generate_melodies("melody-transformer", bars=4, num=3, seed=1)
    for i, mel in enumerate(mels):
        assert mel.key == estimate_key(mel)
        pm = pretty_midi.PrettyMIDI(str(write_midi(mel, tmp_path / f"m{i}.mid")))
        assert len(pm.key_signature_changes) == 1 and len(pm.time_signature_changes) == 1


@pytest.mark.parametrize("meter, strong", [("4/4", (0, 8)), ("3/4", (0,)), ("6/8", (0,))])
def test_melodies_end_on_the_tonic_on_a_strong_beat_held_to_the_end(meter, strong):
    from muse.music.compose import generate_melodies

    mels = generate_melodies("melody-transformer", bars=4, num=6, key="D", scale="dorian", time_signature=meter,
                             seed=4)
    for mel in mels:
        last, bar = mel.notes[-1], mel.steps_per_bar
        assert last.pitch % 12 == 2 and last.end == mel.length == 4 * bar
        assert last.start >= 3 * bar and (last.start - 3 * bar) in strong


def test_without_a_key_the_cadence_takes_the_tonic_the_melody_suggests_and_can_be_turned_off():
    from muse.music.compose import generate_melodies
    from muse.music.metrics import estimate_key

    ended = generate_melodies("melody-transformer", bars=8, num=8, seed=7)
    head_keys = [estimate_key(m.slice(0, 7 * m.steps_per_bar)) for m in ended]
    assert all(m.notes[-1].pitch % 12 == k[0] for m, k in zip(ended, head_keys))
    free = generate_melodies("melody-transformer", bars=8, num=8, seed=7, cadence=False)
    assert any(m.notes[-1].pitch % 12 != estimate_key(m.slice(0, 7 * m.steps_per_bar))[0]
               or m.notes[-1].start % m.steps_per_bar not in (0, 8) for m in free)

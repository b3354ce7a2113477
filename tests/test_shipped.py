"""The models that ship inside the package load and work right after install."""
import json

import pytest
import torch

import muse
from muse.recipes.hub import SHIPPED_DIR, shipped_models

EXPECTED = {"melody-lstm": "melody", "melody-transformer": "melody", "poem-tang": "poem", "poem-english": "poem",
            "vae-2bar": "vae", "gan-digits": "gan", "chorale-transformer": "score",
            "leadsheet-transformer": "score", "vae-16bar": "vae"}
LIMIT_MB = {"vae": 20}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_model_has_card_config_and_fits_the_size_limit(name):
    d = SHIPPED_DIR / name
    assert name in shipped_models(), f"{name} is not shipped"
    cfg = json.loads((d / "config.json").read_text())
    recipe = json.loads((d / "recipe.json").read_text())
    assert recipe["kind"] == EXPECTED[name] and cfg["format"] == muse.MODEL_DIR_FORMAT
    assert (d / "generation_config.json").is_file() and (d / "model.safetensors").is_file()
    assert (d / "tokenizer.json").is_file() == (EXPECTED[name] != "gan")
    card = (d / "README.md").read_text()
    assert "corpus" in card and "steps" in card
    size_mb = sum(f.stat().st_size for f in d.iterdir()) / 1e6
    assert size_mb <= LIMIT_MB.get(recipe["kind"], 10)
    lm = muse.load_model(name)
    assert lm.kind == EXPECTED[name]
    assert lm.generation_config == muse.GenerationConfig.from_pretrained(d)


def test_the_shipped_chorale_model_harmonizes_a_tune_under_the_four_part_rules(tmp_path):
    from music21 import converter

    from muse.music.score_compose import harmonize, save_scores
    from muse.music.voice_leading import voice_leading_stats

    tune = muse.Melody([muse.Note(t, t + 4, p) for t, p in zip(range(0, 64, 4), [67, 67, 69, 71, 72, 71, 69, 67,
                                                                                 69, 71, 72, 74, 72, 71, 69, 67])],
                       key=(7, "major"))
    (s,) = harmonize("chorale-transformer", tune, generation=muse.GenerationConfig(seed=0))
    assert s.parts[0].notes == tune.notes and all(p.notes for p in s.parts)
    st = voice_leading_stats(s)
    assert st["parallel_fifths_per_100"] == 0 and st["parallel_octaves_per_100"] == 0 and st["crossing_share"] == 0
    files = save_scores([s], tmp_path, wav=False, png=False)[0]
    assert len(converter.parse(str(files["musicxml"])).parts) == 4


def test_default_melody_model_obeys_key_and_length():
    mels = muse.generate_melodies(bars=4, num=2, key="Eb", scale="major", seed=0)
    allowed = {(3 + i) % 12 for i in (0, 2, 4, 5, 7, 9, 11)}
    for m in mels:
        assert m.notes and all(n.pitch % 12 in allowed for n in m.notes)
        assert m.length == 4 * 16


@pytest.mark.parametrize("name", ["melody-transformer", "melody-lstm"])
def test_shipped_melody_models_write_the_asked_key_and_meter_in_midi_and_musicxml(name, tmp_path):
    """`muse melody --time-signature 6/8 --key D --scale dorian`: the files say 6/8 and D (minor signature:
    MIDI and MusicXML keys have no modes), read back by pretty_midi and music21; the card quotes the
    held-out numbers."""
    import pretty_midi
    from music21 import converter, key, meter

    card = (SHIPPED_DIR / name / "README.md").read_text()
    assert "data.control=meter,mode" in card and "bits/event" in card and "OA" in card
    mels = muse.generate_melodies(name, bars=4, num=2, key="D", scale="dorian", time_signature="6/8", seed=0)
    for i, mel in enumerate(mels):
        assert (mel.time_signature, mel.key, mel.notes[-1].pitch % 12) == ((6, 8), (2, "minor"), 2)
        pm = pretty_midi.PrettyMIDI(str(muse.write_midi(mel, tmp_path / f"m{i}.mid")))
        assert [k.key_number for k in pm.key_signature_changes] == [12 + 2]
        assert [(t.numerator, t.denominator) for t in pm.time_signature_changes] == [(6, 8)]
        score = converter.parse(str(muse.write_score(muse.Score.from_melody(mel), tmp_path / f"m{i}.musicxml")))
        (k, *_) = score.recurse().getElementsByClass(key.KeySignature)
        assert (k.tonic.pitchClass, k.mode) == (2, "minor")
        assert {t.ratioString for t in score.recurse().getElementsByClass(meter.TimeSignature)} == {"6/8"}


def test_start_with_note_forbids_a_pickup_and_the_default_allows_one():
    """Most Essen tunes open with a pick-up (a rest-padded first bar); the model learns it."""
    from muse.recipes.hub import load_model

    lm = load_model("melody-transformer")
    free = muse.generate_melodies(lm, bars=2, num=40, seed=1)
    forced = muse.generate_melodies(lm, bars=2, num=40, seed=1, start_with_note=True)
    assert all(m.notes[0].start == 0 for m in forced)
    pickups = sum(m.notes[0].start > 0 for m in free)
    assert 0 < pickups < 40


def test_default_poem_models_write_forms():
    from muse.poetry.english import check_english_form
    from muse.poetry.forms import check_chinese_form

    poem = muse.write_poems(request=muse.PoemRequest(form="qijue", rhyme=True), seed=0)[0]
    assert check_chinese_form(poem, "qijue", rhyme=True) == []
    verse = muse.write_poems(request=muse.PoemRequest(lines=4), seed=0)[0]
    assert check_english_form(verse, lines=4) == []


def test_shipped_vae_and_gan_sample():
    from muse.music.latent_space import load_vae, sample_melodies

    vae = load_vae("vae-2bar")
    mels = sample_melodies(vae, 3, seed=0)
    assert len(mels) == 3 and all(m.length == 32 for m in mels)
    assert vae.attributes is not None and "note_density" in vae.attributes.names()
    gan = muse.load_model("gan-digits").model
    x = gan.sample(8, generator=torch.Generator().manual_seed(0))
    assert x.shape == (8, 1, 32, 32) and x.min() >= -1 and x.max() <= 1 and x.std() > 0.1


def test_demo_writes_melody_poems_and_images(tmp_path):
    from muse.cli import main

    assert main(["demo", "--out", str(tmp_path)]) == 0
    for name in ("melody_001.mid", "melody_001.wav", "melody_001.png", "poems.txt", "gan_digits.png",
                 "stylized_chelsea.png"):
        assert (tmp_path / name).stat().st_size > 100, name
    text = (tmp_path / "poems.txt").read_text(encoding="utf-8")
    assert "[qijue]" in text and "[english]" in text


def test_demo_without_the_image_extra_skips_only_the_style_transfer(tmp_path, monkeypatch, capsys):
    import sys

    from muse.cli import main

    monkeypatch.setitem(sys.modules, "skimage.data", None)  # as on a default install
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "gan_digits.png").is_file() and not (tmp_path / "stylized_chelsea.png").exists()
    assert "skipped style transfer: the skimage corpus needs skimage" in capsys.readouterr().out


def test_english_rhymes_come_from_the_corpus_vocabulary():
    import re

    from muse.poetry.english import check_english_form

    words = set(json.loads((SHIPPED_DIR / "poem-english" / "words.json").read_text()))
    assert {"love", "thee", "king"} <= words
    poem = muse.write_poems("poem-english", muse.PoemRequest(lines=4, rhyme_scheme="AABB"), seed=1)[0]
    assert check_english_form(poem, lines=4, rhyme_scheme="AABB") == []
    for line in poem.split("\n"):
        assert re.findall(r"[A-Za-z']+", line)[-1].lower().strip("'") in words


def _copy_with_generation(tmp_path, name, **settings):
    import shutil

    d = shutil.copytree(SHIPPED_DIR / name, tmp_path / name)
    (d / "generation_config.json").write_text(json.dumps(settings))
    return d


def test_generation_defaults_come_from_the_model_directory(tmp_path, monkeypatch):
    """generate_melodies and write_poems read generation_config.json; arguments override it."""
    import muse.music.compose as compose
    import muse.poetry.compose as poems

    seen = []
    for module in (compose, poems):
        real = module.generate
        monkeypatch.setattr(module, "generate", lambda m, p, cfg, *a, real=real, **k: seen.append(cfg) or real(m, p, cfg, *a, **k))
    mel = _copy_with_generation(tmp_path, "melody-transformer", temperature=0.42, top_k=7)
    muse.generate_melodies(mel, bars=2, seed=0)
    assert (seen[-1].temperature, seen[-1].top_k) == (0.42, 7)
    muse.generate_melodies(mel, bars=2, seed=0, temperature=0.9)
    assert (seen[-1].temperature, seen[-1].top_k) == (0.9, 7)
    tang = _copy_with_generation(tmp_path, "poem-tang", temperature=0.33, top_p=0.5, max_new_tokens=60)
    muse.write_poems(tang, muse.PoemRequest(form="wujue"), seed=0)
    assert (seen[-1].temperature, seen[-1].top_p, seen[-1].max_new_tokens) == (0.33, 0.5, 60)


@pytest.mark.parametrize("name, most_bits", [("poem-tang", 7.0), ("poem-english", 2.6)])
def test_shipped_poem_models_still_know_their_corpus(name, most_bits):
    """A change of weight layout that still loads (rope's channel order, a renamed parameter) must not
    pass silently: the shipped model scores real poems of its corpus near its card's held-out figure
    (poem-tang: 6.2 bits/token here; its rope pairs in the old order: 8.8)."""
    import math

    from muse.poetry.corpora import iter_corpus_poems, poem_to_text
    from muse.recipes.hub import load_model

    lm = load_model(name, device="cpu")
    data = lm.meta.get("data") or {}
    corpus = "tang" if name == "poem-tang" else "english-poetry"
    poems, _ = iter_corpus_poems(corpus)
    texts = [poem_to_text(p, with_title=data.get("with_title", False), with_author=data.get("with_author", False),
                          control=data.get("control", "none")) for p in poems[:40]]
    tok, model = lm.tokenizer, lm.model.eval()
    nats, count = 0.0, 0
    with torch.no_grad():
        for t in texts:
            ids = [tok.bos_id, *tok.encode(t), tok.eos_id][: model.config.block_size + 1]
            logits, _ = model(torch.tensor([ids[:-1]]))
            nats += float(torch.nn.functional.cross_entropy(logits[0], torch.tensor(ids[1:]), reduction="sum"))
            count += len(ids) - 1
    bits = nats / count / math.log(2)
    assert bits < most_bits, f"{name}: {bits:.2f} bits/token on its own corpus (at most {most_bits} expected)"


def test_shipped_leadsheet_model_writes_melodies_over_chords_and_chords_for_melodies():
    from muse.music.chords import chord_spans, chord_tone_share, parse_progression
    from muse.music.leadsheet import melody_notes

    sheets = muse.melody_over_chords("leadsheet-transformer", "C G Am F", bars=4, num=4,
                                     generation=muse.GenerationConfig(seed=0))
    asked = parse_progression("C G Am F", steps_per_bar=16, steps_per_beat=4)
    hits = total = 0
    for s in sheets:
        assert chord_spans(s.parts[0], 64) == asked
        h, t = chord_tone_share(melody_notes(s), asked, [0, 8, 16, 24, 32, 40, 48, 56])
        hits, total = hits + h, total + t
    assert total >= 16 and hits / total >= 0.6  # 100 melodies: 0.84 (bench/leadsheet.py)
    # chords for a plain C major tune: C under the C-E-G bar, G7 under the G-B-D-F bar
    tune = muse.Melody([muse.Note(0, 4, 72), muse.Note(4, 8, 76), muse.Note(8, 16, 79),
                        muse.Note(16, 20, 79), muse.Note(20, 24, 77), muse.Note(24, 28, 74), muse.Note(28, 32, 71),
                        muse.Note(32, 48, 72)], key=(0, "major"))
    spans, _ = muse.suggest_chords("leadsheet-transformer", tune)
    assert [s.chord.root for s in spans][:1] == [0] and spans[-1].chord.root == 0
    assert any(s.chord.root == 7 and s.start == 16 for s in spans)

"""Control prefixes (``data.control``): melody models told the meter, corpus, mode and tonic.

Tokenizers write the prefix right after BOS and skip it when decoding and in their
structure methods; a tiny model trained with ``data.control=meter,mode`` on waltzes
and jigs gets the requested 6/8 in its prompt; models trained without generate as before.
"""
from __future__ import annotations

import csv
import json
import random
from dataclasses import replace

import pytest
import torch

from muse.errors import ConfigError, DataError
from muse.music.events import MelodyEventTokenizer
from muse.music.melody import Melody, Note
from muse.music.remi import RemiTokenizer
from muse.music.tokenizer import (ControlPrefixRule, analysis_key, melody_mode, mode_signature, parse_controls,
                                  scale_mode)

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:.*small held-out split")]

TOKENIZERS = {
    "events": lambda **kw: MelodyEventTokenizer(48, 83, **kw),
    "remi": lambda **kw: RemiTokenizer(**kw),
}
ALL = dict(controls="meter,corpus,mode,key", corpora=("essen", "jigs"))


def tune(meter: tuple[int, int], seed: int, bars: int = 8, key: tuple[int, str] = (2, "minor")) -> Melody:
    """A random stepwise tune of ``bars`` bars in ``meter`` (notes of 1-3 eighths), in D dorian."""
    rng = random.Random(seed)
    spb = meter[0] * 16 // meter[1]
    scale = [62, 64, 65, 67, 69, 71, 72, 74]
    notes, t, k = [], 0, rng.randrange(len(scale))
    while t < bars * spb:
        d = min(2 * rng.choice((1, 1, 2, 3)), bars * spb - t)
        k = max(0, min(len(scale) - 1, k + rng.choice((-2, -1, 1, 2))))
        notes.append(Note(t, t + d, scale[k]))
        t += d
    return Melody(notes, 4, 120.0, meter, key, total_steps=bars * spb)


# ---------------------------------------------------------------- tokenizers


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_a_control_prefix_round_trips_and_is_skipped_by_decoding(kind):
    tok = TOKENIZERS[kind](**ALL)
    plain = TOKENIZERS[kind]()
    mel = tune((6, 8), seed=1)
    prefix = tok.control_tokens(meter=(6, 8), key=9, mode="dorian", corpus="jigs")
    assert [tok.id_to_token(i) for i in prefix] == ["TimeSig_6/8", "Corpus_jigs", "Mode_dorian", "Tonic_A"]
    assert [tok.token_to_id(tok.id_to_token(i)) for i in prefix] == prefix
    body, transform = tok.encode_melody(mel)
    assert (body, transform) == plain.encode_melody(mel)  # the body is what a plain tokenizer writes
    seq = [tok.bos_id, *prefix, *body, tok.eos_id]
    assert tok.controls_of_ids(seq) == {"meter": (6, 8), "corpus": "jigs", "mode": "dorian", "key": 9}
    assert list(tok.strip_controls(seq[1:])) == body + [tok.eos_id]
    back = tok.decode_melody(seq, transform)
    assert back.notes == mel.notes and back.time_signature == (6, 8)
    assert tok.meter_of_ids(seq) == (6, 8)
    # parts left out or not trained with are skipped
    assert [tok.id_to_token(i) for i in tok.control_tokens(meter="3/4", mode="minor")] == ["TimeSig_3/4", "Mode_minor"]
    only_mode = TOKENIZERS[kind](controls="mode")
    assert [only_mode.id_to_token(i) for i in only_mode.control_tokens((6, 8), 9, "major", "essen")] == ["Mode_major"]
    assert plain.control_tokens((6, 8), 9, "major", "essen") == []


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_unknown_control_values_are_named(kind):
    tok = TOKENIZERS[kind](**ALL)
    with pytest.raises(DataError, match="no corpus control 'bach'.*known: essen, jigs"):
        tok.control_tokens(corpus="bach")
    with pytest.raises(DataError, match="no mode control 'locrian'"):
        tok.control_tokens(mode="locrian")


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_controls_are_saved_and_old_tokenizer_dicts_load_unchanged(kind):
    cls = type(TOKENIZERS[kind]())
    tok = TOKENIZERS[kind](**ALL)
    again = cls.from_dict(tok.to_dict())
    assert (again.vocab_size, again.controls, again.corpora) == (tok.vocab_size, tok.controls, tok.corpora)
    assert [again.id_to_token(i) for i in range(again.vocab_size)] == [tok.id_to_token(i) for i in range(tok.vocab_size)]
    plain = TOKENIZERS[kind]()
    old = plain.to_dict()
    assert "controls" not in old and "corpora" not in old  # a tokenizer.json written before controls existed
    loaded = cls.from_dict(old)
    assert loaded.vocab_size == plain.vocab_size and loaded.controls == ()
    assert tok.vocab_size > plain.vocab_size
    assert [tok.id_to_token(i) for i in range(plain.vocab_size)] == [plain.id_to_token(i) for i in range(plain.vocab_size)]


def test_events_structure_methods_count_steps_after_the_prefix():
    tok = MelodyEventTokenizer(48, 83, controls="meter,mode")
    plain = MelodyEventTokenizer(48, 83)
    prefix = tok.control_tokens(meter=(3, 4), mode="major")
    allowed = torch.ones(tok.vocab_size, dtype=torch.bool)
    rest = [tok.hold_id] * 5
    assert tok.opening_rest(prefix + rest) == plain.opening_rest(rest) == 5
    body = [tok.note_on_id(60)] + [tok.hold_id] * 11
    assert tok.closing_mask(prefix + body, 12, 12, allowed) is not None  # 12 steps after the prefix: only EOS
    assert tok.closing_mask(prefix + body[:-1], 12, 12, allowed) is None
    # the decoding rule: controls only before the body, each part once, in order
    rule = ControlPrefixRule(tok)
    modes = [tok.token_to_id(f"Mode_{m}") for m in ("major", "minor", "dorian")]
    after_meter = rule.allowed([tok.bos_id, prefix[0]])
    assert after_meter[modes].all() and not after_meter[tok.token_to_id("TimeSig_6/8")]
    after_all = rule.allowed([tok.bos_id, *prefix])
    assert not after_all[modes].any() and after_all[tok.note_on_id(60)] and after_all[tok.hold_id]
    mask = rule.allowed([tok.bos_id, *prefix, *body[:3]])
    assert not mask[prefix].any() and mask[tok.note_on_id(60)] and mask[tok.hold_id]
    assert ControlPrefixRule(plain).allowed([plain.bos_id]) is None


def test_remi_keeps_its_bar_header_meter_allowed_in_the_body():
    tok = RemiTokenizer(controls="meter,mode,key")
    rule = ControlPrefixRule(tok)
    prefix = tok.control_tokens(meter=(6, 8), key=2, mode="dorian")
    mask = rule.allowed([tok.bos_id, *prefix, tok.bar_id])
    assert mask[tok.time_signature_id((6, 8))] and not mask[prefix[1:]].any()


def test_parse_controls_modes_and_scales():
    assert parse_controls("mode, meter") == ("meter", "mode")
    assert parse_controls("") == parse_controls("none") == parse_controls(None) == ()
    with pytest.raises(ConfigError, match="data.control: unknown part 'tempo'"):
        parse_controls("meter,tempo")
    dorian = tune((3, 4), seed=2)  # D dorian: B natural, no B flat
    assert melody_mode(dorian, (2, "minor")) == "dorian"
    aeolian = replace(dorian, notes=[replace(n, pitch=70 if n.pitch == 71 else n.pitch) for n in dorian.notes])
    assert melody_mode(aeolian, (2, "minor")) == "minor"
    assert melody_mode(Melody([Note(0, 4, 67), Note(4, 8, 65), Note(8, 12, 71)]), (7, "major")) == "mixolydian"
    assert (scale_mode("dorian"), scale_mode("blues"), scale_mode("pentatonic"), scale_mode("chromatic")) == \
        ("dorian", "minor", "major", None)
    assert mode_signature(2, "dorian") == mode_signature(9, "minor") == (0, "major")
    assert mode_signature(7, "mixolydian") == (0, "major") and mode_signature(4, "major") == (4, "major")


def test_the_mode_is_reckoned_from_the_notes_within_the_notated_signature():
    # E minor notated with a G major signature (as Essen's ABC files write keys): the notes say E minor
    e_minor = Melody([Note(4 * i, 4 * i + 4, p) for i, p in enumerate([64, 66, 67, 71, 67, 66, 64, 59, 64])],
                     key=(7, "major"))
    assert analysis_key(e_minor) == (4, "minor") and melody_mode(e_minor, (4, "minor")) == "minor"
    # a key outside the notated signature's scale is not taken over it
    assert analysis_key(replace(e_minor, key=(1, "major"))) == (1, "major")
    assert analysis_key(replace(e_minor, key=None)) == (4, "minor")


def test_requests_become_control_prefixes_in_model_space():
    from muse.music.compose import MelodyRequest, _control_prefix, _model_key, _target_key

    tok = MelodyEventTokenizer(48, 83, controls="meter,mode,key")

    def prefix(req, primer=None):  # noqa: ANN001, ANN202
        key, scale = _target_key(req, primer)
        transform = tok.encode_melody(primer)[1] if primer else tok.transform_for(_model_key(tok, key, scale))
        return [tok.id_to_token(i) for i in _control_prefix(tok, req, (6, 8), key, scale, primer, transform)]

    # D dorian is moved as its signature (C major) is: the model hears dorian on D, as in training
    assert prefix(MelodyRequest(key="D", scale="dorian")) == ["TimeSig_6/8", "Mode_dorian", "Tonic_D"]
    assert prefix(MelodyRequest(key="E", scale="minor")) == ["TimeSig_6/8", "Mode_minor", "Tonic_A"]
    assert prefix(MelodyRequest(key="Bb")) == ["TimeSig_6/8", "Mode_major", "Tonic_C"]
    assert prefix(MelodyRequest()) == ["TimeSig_6/8"]  # no key asked: the model says its mode itself
    primer = tune((6, 8), seed=3, bars=2)  # D dorian notes, keyed D minor
    home = analysis_key(primer)
    told = prefix(MelodyRequest(), primer)
    assert told[:2] == ["TimeSig_6/8", f"Mode_{melody_mode(primer, home)}"]
    plain = MelodyEventTokenizer(48, 83)
    assert _model_key(plain, (2, "minor"), "dorian") == (2, "minor")  # models without controls: as before


# ---------------------------------------------------------------- the recipe


def test_the_cache_key_changes_with_data_control_only_when_set():
    from muse.music.melody_recipe import RECIPE, MelodyData

    plain = RECIPE.tokenizer_options(MelodyData())
    assert "control" not in plain  # stores built before data.control existed keep their cache key
    with_meter = RECIPE.tokenizer_options(MelodyData(control="mode,meter"))
    assert with_meter == {**plain, "control": "meter,mode"}
    assert RECIPE.tokenizer_options(MelodyData(control="meter,mode")) == with_meter
    assert RECIPE.tokenizer_options(MelodyData(control="meter,mode,corpus")) != with_meter


def test_miditok_and_bad_parts_are_refused_in_one_line():
    from muse.music.melody_recipe import MelodyData

    with pytest.raises(ConfigError, match="control tokens need data.tokenizer=events or remi"):
        MelodyData(control="meter", tokenizer="miditok").validate()
    with pytest.raises(ConfigError, match="unknown part 'style'"):
        MelodyData(control="style").validate()


@pytest.fixture(scope="module")
def tunes(tmp_path_factory):
    """A folder of 10 waltzes (3/4) and 10 jigs (6/8), each 8 bars, written with muse.write_midi."""
    import muse

    root = tmp_path_factory.mktemp("tunes")
    for i in range(10):
        muse.write_midi(tune((3, 4), seed=i), root / "waltzes" / f"w{i}.mid")
        muse.write_midi(tune((6, 8), seed=100 + i), root / "jigs" / f"j{i}.mid")
    return root


def test_training_documents_start_with_each_tunes_controls(tunes):
    from muse.music.melody_recipe import RECIPE

    data = RECIPE.data_config({"corpus": str(tunes), "control": "meter,corpus,mode", "workers": 1})
    items, _ = RECIPE.load_items(data)
    tok = RECIPE.make_tokenizer(items, data)
    assert sorted(tok.corpora) == ["jigs", "waltzes"]
    docs = list(RECIPE.encode_docs(items, tok, data))
    assert len(docs) == len(items) == 20
    for (piece_id, mel), (_, doc) in zip(items, docs):
        c = tok.controls_of_ids(doc)
        assert c["meter"] == mel.time_signature == ((6, 8) if piece_id.startswith("jigs") else (3, 4))
        assert c["corpus"] == piece_id.split("/")[0] and c["mode"] in ("dorian", "minor", "major", "mixolydian")
        body, _ = tok.encode_melody(mel)
        assert doc == [tok.bos_id, *tok.control_tokens(mel.time_signature, None, c["mode"], c["corpus"]), *body,
                       tok.eos_id]


def _train_tiny(tunes, tmp_path_factory, name: str, steps: int, controls: list[str]):  # noqa: ANN001, ANN202
    """Train a tiny transformer on the waltzes and jigs on one thread; yields (run dir, result)."""
    import muse.training

    mp = pytest.MonkeyPatch()
    mp.setenv("MUSE_CACHE", str(tmp_path_factory.mktemp("cache")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs") / name
    result = muse.training.train(
        "melody", corpus=str(tunes), model="transformer", out=out, steps=steps, batch_size=8, lr=1e-2,
        eval_batches=1, warmup_steps=max(1, steps // 10), eval_every=steps // 2, log_every=max(1, steps // 6),
        progress=False, tensorboard=False, device="cpu",
        overrides=[*controls, "data.block_size=64", "data.workers=1", "data.valid_frac=0.25", "data.test_frac=0",
                   "model.n_layer=1", "model.n_head=2", "model.n_embd=32"])
    yield out, result
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(scope="module")
def controlled(tunes, tmp_path_factory):
    """A tiny transformer trained 30 steps with data.control=meter,mode on the waltzes and jigs."""
    yield from _train_tiny(tunes, tmp_path_factory, "ctl", 30, ["data.control=meter,mode"])


def _capture_prompts(monkeypatch):
    import muse.music.compose as compose_mod

    seen = []
    real = compose_mod.generate

    def spy(model, prompt, gen, rules, **kw):  # noqa: ANN001
        seen.append((list(prompt), gen, list(rules)))
        out = real(model, prompt, gen, rules, **kw)
        seen[-1] += (out,)
        return out

    monkeypatch.setattr(compose_mod, "generate", spy)
    return seen


def test_a_model_trained_with_controls_is_told_the_asked_meter(controlled, monkeypatch):
    from muse.music.compose import MelodyRequest, compose
    from muse.recipes.hub import load_model

    out, _ = controlled
    lm = load_model(out, expect_kind="melody")
    tok = lm.tokenizer
    assert tok.controls == ("meter", "mode")
    seen = _capture_prompts(monkeypatch)
    mels = compose(lm, MelodyRequest(bars=4, time_signature="6/8", key="D", scale="dorian"),
                   lm.generation_config.updated(seed=0), num=2)
    (prompt, gen, rules, seqs), = seen
    assert [tok.id_to_token(i) for i in prompt] == ["BOS", "TimeSig_6/8", "Mode_dorian"]
    assert any(isinstance(r, ControlPrefixRule) for r in rules)
    for seq, mel in zip(seqs, mels):
        decoded = tok.decode_ids(seq)
        assert decoded.time_signature == (6, 8)  # the tokens themselves say 6/8
        assert tok.strip_controls(seq[1:]) == seq[3:]  # no control token in the body
        assert mel.time_signature == (6, 8) and mel.total_steps == 4 * 12 and mel.num_bars == 4
        assert {n.pitch % 12 for n in mel.notes} <= {2, 4, 5, 7, 9, 11, 0}
    seen.clear()
    compose(lm, MelodyRequest(bars=2, time_signature="3/4"), lm.generation_config.updated(seed=0))
    assert [tok.id_to_token(i) for i in seen[0][0]] == ["BOS", "TimeSig_3/4"]  # no mode asked: the model picks


def test_the_controlled_run_learns_and_saves_its_controls(controlled):
    out, _ = controlled
    saved = json.loads((out / "model" / "tokenizer.json").read_text())
    assert saved["kind"] == "melody-events" and saved["controls"] == ["meter", "mode"]
    losses = [float(r["loss"]) for r in csv.DictReader(open(out / "metrics.csv")) if r["split"] == "train"]
    assert len(losses) >= 4 and sum(losses[-2:]) < 0.7 * sum(losses[:2])


def test_a_primer_follows_the_control_prefix(controlled, monkeypatch):
    from muse.music.compose import MelodyRequest, compose
    from muse.recipes.hub import load_model

    lm = load_model(controlled[0], expect_kind="melody")
    tok = lm.tokenizer
    primer = tune((3, 4), seed=7, bars=2, key=(7, "major"))
    mode = melody_mode(primer, analysis_key(primer))  # as a training melody is told
    seen = _capture_prompts(monkeypatch)
    (mel,) = compose(lm, MelodyRequest(bars=2, primer=primer), lm.generation_config.updated(seed=1))
    prompt = seen[0][0]
    ids, _ = tok.encode_melody(primer)
    assert tok.controls_of_ids(prompt) == {"meter": (3, 4), "mode": mode}
    assert prompt == [tok.bos_id, *tok.control_tokens((3, 4), None, mode), *ids]
    kept = [(n.start, n.pitch) for n in mel.notes[: len(primer.notes)]]
    assert kept == [(n.start, n.pitch) for n in primer.notes] and mel.num_bars == 4  # (a held last note may go on)


def test_a_corpus_style_the_model_does_not_know_is_named(controlled):
    from muse.music.compose import MelodyRequest, compose
    from muse.recipes.hub import load_model

    lm = load_model(controlled[0], expect_kind="melody")
    with pytest.raises(ConfigError, match="corpus 'essen' is not a style of this model"):
        compose(lm, MelodyRequest(bars=2, corpus="essen"))


def _dorian_twice(lm, monkeypatch):  # noqa: ANN001, ANN202
    """Two 2-bar 6/8 D dorian melodies, made twice with seed 5 (asserted equal); the prompts seen."""
    from muse.music.compose import MelodyRequest, compose

    seen = _capture_prompts(monkeypatch)
    req = MelodyRequest(bars=2, time_signature="6/8", key="D", scale="dorian")
    first = compose(lm, req, lm.generation_config.updated(seed=5), num=2)
    again = compose(lm, req, lm.generation_config.updated(seed=5), num=2)
    assert [m.notes for m in first] == [m.notes for m in again]
    return first, seen


@pytest.fixture(scope="module")
def plain(tunes, tmp_path_factory):
    """The same tiny transformer trained without data.control (as models were before controls existed)."""
    for out, _ in _train_tiny(tunes, tmp_path_factory, "plain", 4, []):
        yield out


def test_a_model_trained_without_controls_prompts_and_generates_as_before(plain, monkeypatch):
    """A model directory without control settings: prompt [BOS], no extra rule or budget, same seed -> same tunes."""
    from muse.recipes.hub import load_model

    lm = load_model(plain, expect_kind="melody")
    tok = lm.tokenizer
    assert tok.controls == () and "controls" not in tok.to_dict()
    first, seen = _dorian_twice(lm, monkeypatch)
    prompt, gen, rules, _ = seen[0]
    assert prompt == [tok.bos_id]
    assert len(rules) == 1 and gen.max_new_tokens == tok.max_tokens(2 * 12)


@pytest.mark.parametrize("name", ["melody-lstm", "melody-transformer"])
def test_shipped_models_are_told_the_asked_meter_and_mode(name, monkeypatch):
    """The shipped melody models were trained with data.control=meter,mode: a 6/8 D dorian request
    prompts [BOS, TimeSig_6/8, Mode_dorian], the control rule keeps the prefix out of the body, and the
    melodies are 6/8 bars of D dorian ending on D; the same seed gives the same tunes."""
    from muse.music.compose import MelodyRequest, compose
    from muse.recipes.hub import load_model, shipped_models

    if name not in shipped_models():
        pytest.skip(f"{name} is not installed")
    lm = load_model(name, expect_kind="melody")
    tok = lm.tokenizer
    assert tok.controls == ("meter", "mode") and tok.to_dict()["controls"] == ["meter", "mode"]
    first, seen = _dorian_twice(lm, monkeypatch)
    prompt, gen, rules, seqs = seen[0]
    assert [tok.id_to_token(i) for i in prompt] == ["BOS", "TimeSig_6/8", "Mode_dorian"]
    assert tok.controls_of_ids(prompt) == {"meter": (6, 8), "mode": "dorian"}
    assert len(rules) == 2 and isinstance(rules[1], ControlPrefixRule)
    assert gen.max_new_tokens == tok.max_tokens(2 * 12) + len(tok.controls)
    for seq, mel in zip(seqs, first):
        assert seq[: len(prompt)] == prompt and tok.strip_controls(seq[1:]) == seq[len(prompt):]
        assert tok.decode_ids(seq).time_signature == (6, 8)
        assert mel.time_signature == (6, 8) and mel.key == (2, "minor") and mel.length == 2 * 12
        assert {n.pitch % 12 for n in mel.notes} <= {2, 4, 5, 7, 9, 11, 0} and mel.notes[-1].pitch % 12 == 2
    seen.clear()
    compose(lm, MelodyRequest(bars=2), lm.generation_config.updated(seed=0))
    assert [tok.id_to_token(i) for i in seen[0][0]] == ["BOS", "TimeSig_4/4"]  # no key asked: the model picks the mode

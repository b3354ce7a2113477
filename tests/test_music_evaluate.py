"""`muse eval melody` on the token level: held-out nats are the training loss, and the
Kneser-Ney baseline decodes with the one sampler under the neural models' MelodyConstraint."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from muse.core.module import StepContext
from muse.sampling.config import GenerationConfig
from muse.sampling.sampler import generate
from muse.models.lm import lm_loss
from muse.models.ngram import KneserNeyDecoder, KneserNeyLM
from muse.models.registry import build_model
from muse.music.constraints import MelodyConstraint
from muse.music.evaluate import _windows, ngram_melodies, sequence_nll
from muse.music.events import MelodyEventTokenizer
from muse.music.midi_io import melody_from_pitches

V = 13
TOK = MelodyEventTokenizer()
BAR = 16  # 4/4 on a 16th grid


def tiny(name: str):
    torch.manual_seed(0)
    if name == "transformer":
        return build_model("transformer", dict(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    return build_model("rnn", dict(vocab_size=V, cell="lstm", n_embd=16, n_hidden=16))


def random_docs(n: int, low: int, high: int, seed: int = 1) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, V, size=int(rng.integers(low, high))).tolist() for _ in range(n)]


# ------------------------------------------------------------------ held-out likelihood


@pytest.mark.parametrize("name", ["transformer", "rnn"])
def test_heldout_nats_are_lm_loss_of_the_same_batch(name):
    model = tiny(name).eval()
    docs = torch.tensor(random_docs(6, 8, 9))  # one batch of equal rows, each inside the context
    nats, count = sequence_nll(model, docs.tolist())
    with torch.no_grad():
        logits, _ = model(docs[:, :-1])
        out = lm_loss(logits, docs[:, 1:])
        trained = model.loss({"input": docs[:, :-1], "target": docs[:, 1:]}, StepContext(training=False))
    assert count == int(out["ntokens"]) == docs.numel() - len(docs)
    assert nats == float(out["loss"]) * int(out["ntokens"])
    assert nats == float(trained["loss"]) * int(trained["ntokens"])


@pytest.mark.parametrize("name", ["transformer", "rnn"])
@pytest.mark.parametrize("batch_tokens", [1, 64, 16384])
def test_heldout_nats_sum_lm_loss_over_windows_scoring_each_token_once(name, batch_tokens):
    model = tiny(name).eval()
    docs = random_docs(12, 2, 30)  # longer than the transformer's 8-token context: read in windows
    nats, count = sequence_nll(model, docs, batch_tokens=batch_tokens)
    assert count == sum(len(d) - 1 for d in docs)
    total = 0.0
    with torch.no_grad():
        for d in docs:
            for x, y in _windows(np.asarray(d), model.max_context):
                out = lm_loss(model(torch.as_tensor(x)[None])[0], torch.as_tensor(y)[None])
                total += float(out["loss"]) * int(out["ntokens"])
    assert nats == pytest.approx(total, rel=1e-6)
    assert model.training is False


# ------------------------------------------------------------------ the n-gram baseline


def fitted_ngram(order: int = 3) -> KneserNeyLM:
    tunes = [[60, 62, 64, 65, 67, 65, 64, 62], [67, 65, 64, 62, 60, None, 60, 64], [64, 64, 65, 67, 67, 65, 64, 62]]
    docs = []
    for pitches in tunes:
        for shift in (0, 2, 5):
            mel = melody_from_pitches([None if p is None else p + shift for p in pitches])
            docs.append([TOK.bos_id, *TOK.encode(mel), TOK.eos_id])
    return KneserNeyLM(order, 0.75).fit(docs, TOK.vocab_size)


def test_ngram_sampling_through_generate_obeys_the_melody_constraint():
    kn = fitted_ngram()
    pitches = {60, 62, 64, 67, 69}  # C major pentatonic only
    rule = MelodyConstraint(TOK, pitches, 2 * BAR, BAR)
    config = GenerationConfig(max_new_tokens=TOK.max_tokens(2 * BAR), eos_id=TOK.eos_id, seed=3,
                              num_return_sequences=6)
    seqs = generate(KneserNeyDecoder(kn), [TOK.bos_id], config, [rule])
    assert seqs == generate(KneserNeyDecoder(kn), [TOK.bos_id], config, [rule])  # seeded
    for seq in seqs:
        for i in range(1, len(seq)):
            assert bool(rule.allowed(seq[:i])[seq[i]]), (i, seq)
        assert bool(rule.allowed(seq)[TOK.eos_id])  # it stopped where the melody must end
        mel = TOK.decode_melody(seq)
        assert mel.notes and {n.pitch for n in mel.notes} <= pitches
        assert mel.notes[-1].end <= 2 * BAR


def test_ngram_melodies_are_whole_seeded_and_decoded_like_the_models():
    kn = fitted_ngram()
    mels = ngram_melodies(kn, TOK, num=5, bars=2, seed=0, qpm=90.0, time_signature=(3, 4))
    assert len(mels) == 5
    for m in mels:
        assert m.notes and m.total_steps == 2 * 12 and m.length == 24
        assert (m.qpm, m.time_signature) == (90.0, (3, 4))
    again = ngram_melodies(kn, TOK, num=5, bars=2, seed=0, qpm=90.0, time_signature=(3, 4))
    assert [m.notes for m in again] == [m.notes for m in mels]


def test_greedy_ngram_decoding_under_the_constraint_takes_the_allowed_argmax():
    kn = fitted_ngram()
    rule = MelodyConstraint(TOK, None, 2 * BAR, BAR)
    config = GenerationConfig(max_new_tokens=TOK.max_tokens(2 * BAR), eos_id=TOK.eos_id, do_sample=False)
    (seq,) = generate(KneserNeyDecoder(kn), [TOK.bos_id], config, [rule])
    for i in range(1, len(seq) + 1):
        p = kn.distribution(seq[:i]) * rule.allowed(seq[:i]).numpy()
        assert (seq[i] if i < len(seq) else TOK.eos_id) == int(np.argmax(p))

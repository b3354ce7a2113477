import math

import numpy as np
import pytest
import torch

from muse.errors import CheckpointError, ConfigError, DataError
from muse.sampling.config import GenerationConfig
from muse.sampling.sampler import generate
from muse.models.ngram import KneserNeyDecoder, KneserNeyLM

BOS, EOS = 0, 1


def pattern_corpus(n_seqs: int, rng: np.random.Generator, vocab: int = 12) -> list[list[int]]:
    """Each sequence repeats a fixed 4-token motif from a random phase."""
    motif = [2, 5, 3, 7]
    seqs = []
    for _ in range(n_seqs):
        phase = int(rng.integers(4))
        length = int(rng.integers(8, 20))
        seqs.append([BOS] + [motif[(phase + i) % 4] for i in range(length)] + [EOS])
    return seqs


def random_corpus(n_seqs: int, vocab: int, rng: np.random.Generator) -> list[list[int]]:
    return [[BOS] + rng.integers(2, vocab, size=int(rng.integers(3, 15))).tolist() + [EOS] for _ in range(n_seqs)]


def test_bigram_matches_hand_computed_probabilities():
    # One document 0 1 1 2, V=3, D=0.5. Bigrams: (0,1) (1,1) (1,2).
    # Unigram continuation counts: a(1)=|{0,1}|=2, a(2)=|{1}|=1 -> total 3, 2 types.
    # P1 = max(a-.5,0)/3 + (.5*2/3)/3 -> P1(0)=1/9, P1(1)=11/18, P1(2)=5/18.
    lm = KneserNeyLM(order=2, discount=0.5).fit([[0, 1, 1, 2]], vocab_size=3)
    p = lambda ctx, w: math.exp(lm.logprob(ctx, w))  # noqa: E731
    assert p([], 0) == pytest.approx(1 / 9)
    assert p([], 1) == pytest.approx(11 / 18)
    assert p([], 2) == pytest.approx(5 / 18)
    # Context 1: followers 1 and 2 once each -> gamma = .5*2/2.
    assert p([0, 1], 2) == pytest.approx(0.25 + 0.5 * 5 / 18)
    assert p([0, 1], 1) == pytest.approx(0.25 + 0.5 * 11 / 18)
    assert p([0, 1], 0) == pytest.approx(0.5 / 9)
    # Context 0 (BOS): one follower, gamma = .5; unseen context 2 backs off to P1.
    assert p([0], 1) == pytest.approx(0.5 + 0.5 * 11 / 18)
    assert p([0, 1, 2], 1) == pytest.approx(11 / 18)
    ev = lm.evaluate([[0, 1, 1, 2]])
    expected = -np.mean(np.log([29 / 36, 20 / 36, 14 / 36]))
    assert ev["ntokens"] == 3
    assert ev["nats"] == pytest.approx(expected)
    assert ev["bits"] == pytest.approx(expected / math.log(2))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("modified", [False, True])
def test_distribution_sums_to_one_for_seen_and_unseen_contexts(order, modified):
    rng = np.random.default_rng(order)
    vocab = 20
    lm = KneserNeyLM(order=order, modified=modified).fit(random_corpus(60, vocab, rng), vocab)
    contexts = [[], [BOS], [BOS, 4], [BOS, 4, 9, 11, 3], [19, 19, 19], [1, 1, 1, 1, 1]]
    for ctx in contexts:
        dist = lm.distribution(ctx)
        assert dist.shape == (vocab,)
        assert np.all(dist > 0)
        assert dist.sum() == pytest.approx(1.0, abs=1e-12)
        total = sum(math.exp(lm.logprob(ctx, w)) for w in range(vocab))
        assert total == pytest.approx(1.0, abs=1e-12)


def test_pattern_model_beats_unigram_on_held_out_pattern():
    rng = np.random.default_rng(0)
    train, test = pattern_corpus(200, rng), pattern_corpus(50, rng)
    four = KneserNeyLM(order=4).fit(train, 12).evaluate(test)
    uni = KneserNeyLM(order=1).fit(train, 12).evaluate(test)
    assert four["ntokens"] == uni["ntokens"] == sum(len(s) - 1 for s in test)
    # Unigram over 5 roughly equiprobable tokens costs ~2.3 bits; the pattern is nearly free
    # once the phase is known (only the first token and EOS position are uncertain).
    assert uni["bits"] > 2.0
    assert four["bits"] < 0.5 * uni["bits"]


def test_order_one_is_a_smoothed_unigram():
    rng = np.random.default_rng(1)
    vocab, D = 10, 0.75
    seqs = random_corpus(40, vocab, rng)
    lm = KneserNeyLM(order=1, discount=D).fit(seqs, vocab)
    predicted = [t for s in seqs for t in s[1:]]
    counts = np.bincount(predicted, minlength=vocab)
    n, types = counts.sum(), np.count_nonzero(counts)
    for w in range(vocab):
        expected = max(counts[w] - D, 0) / n + D * types / n / vocab
        for ctx in ([], [BOS], [BOS, 5, 6]):
            assert math.exp(lm.logprob(ctx, w)) == pytest.approx(expected)


def test_modified_discounts_are_estimated_or_fall_back():
    rng = np.random.default_rng(2)
    lm = KneserNeyLM(order=3, modified=True).fit(random_corpus(200, 40, rng), 40)
    estimated = 0
    for o in lm._orders:
        d = o.discounts
        if np.array_equal(d, [0, 0.75, 0.75, 0.75]):
            continue
        estimated += 1
        assert 0 < d[1] <= 1 and 0 < d[2] <= 2 and 0 < d[3] <= 3
        assert d[1] < d[2] < d[3]
    assert estimated >= 1
    # 40 unigrams with large continuation counts: too sparse to estimate, fixed discount used.
    np.testing.assert_array_equal(lm._orders[0].discounts, [0, 0.75, 0.75, 0.75])


def test_sample_follows_pattern_stops_and_is_reproducible():
    rng = np.random.default_rng(3)
    lm = KneserNeyLM(order=4).fit(pattern_corpus(300, rng), 12)
    a = lm.sample([BOS, 2, 5, 3], 40, rng=7, stop=EOS)
    assert a == lm.sample([BOS, 2, 5, 3], 40, rng=np.random.default_rng(7), stop=EOS)
    body = [t for t in a if t != EOS]
    motif = [7, 2, 5, 3]
    matches = sum(t == motif[i % 4] for i, t in enumerate(body))
    assert matches >= 0.9 * len(body)
    assert EOS not in a[:-1]
    assert len(lm.sample([BOS], 5, rng=0)) == 5


@pytest.mark.parametrize("order", [1, 2, 4])
def test_decoder_logits_are_the_distribution_and_keep_the_decoding_contract(order):
    rng = np.random.default_rng(5)
    lm = KneserNeyLM(order=order).fit(random_corpus(80, 12, rng), 12)
    model = KneserNeyDecoder(lm)
    assert model.max_context is None and not list(model.parameters()) and model.config.vocab_size == 12
    x = torch.tensor(rng.integers(0, 12, size=(3, 9)))
    full, _ = model(x)
    assert full.shape == (3, 9, 12) and full.dtype == torch.float32
    for r in range(3):
        for t in range(9):
            np.testing.assert_allclose(full[r, t].exp().numpy(), lm.distribution(x[r, : t + 1].tolist()), rtol=1e-5)
    logits, state = model(x[:, :4])  # incremental decoding with the state equals a full recompute
    pieces = [logits]
    for t in range(4, 9):
        logits, state = model(x[:, t : t + 1], state)
        pieces.append(logits)
    assert torch.equal(torch.cat(pieces, 1), full)
    idx = torch.tensor([2, 0, 2])
    _, state = model(x[:, :5])
    got, _ = model(x[idx, 5:6], model.reorder_state(state, idx))
    assert torch.equal(got[:, -1], model(x[idx, :6])[0][:, -1])
    with pytest.raises(DataError, match="token id 12 is outside the vocabulary of size 12"):
        model(torch.tensor([[0, 12]]))


def test_greedy_generate_takes_the_argmax_of_the_distribution():
    rng = np.random.default_rng(6)
    lm = KneserNeyLM(order=3).fit(random_corpus(40, 10, rng) + pattern_corpus(40, rng, 10), 10)
    for prompt in ([BOS], [BOS, 2, 5]):
        (seq,) = generate(KneserNeyDecoder(lm), prompt, GenerationConfig(max_new_tokens=15, do_sample=False))
        assert len(seq) == len(prompt) + 15
        for i in range(len(prompt), len(seq)):
            assert seq[i] == int(np.argmax(lm.distribution(seq[:i])))


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    seqs = random_corpus(50, 15, rng)
    lm = KneserNeyLM(order=3, discount=0.6, modified=True).fit(seqs, 15)
    path = lm.save(tmp_path / "kn.npz")
    back = KneserNeyLM.load(path)
    assert (back.order, back.discount, back.modified, back.vocab_size) == (3, 0.6, True, 15)
    for ctx in ([BOS], [BOS, 3, 4], [7, 7]):
        np.testing.assert_array_equal(back.distribution(ctx), lm.distribution(ctx))
    assert back.evaluate(seqs) == lm.evaluate(seqs)


def test_bad_input_errors(tmp_path):
    with pytest.raises(ConfigError, match="order"):
        KneserNeyLM(order=0)
    with pytest.raises(ConfigError, match="not fitted"):
        KneserNeyLM().logprob([BOS], 2)
    with pytest.raises(DataError, match="token id 9 is outside the vocabulary of size 5"):
        KneserNeyLM(order=2).fit([[0, 1, 9]], vocab_size=5)
    with pytest.raises(DataError, match="no tokens"):
        KneserNeyLM(order=2).fit([[0], []], vocab_size=5)
    with pytest.raises(ConfigError, match="int64"):
        KneserNeyLM(order=5).fit([[0, 1]], vocab_size=100_000)
    lm = KneserNeyLM(order=2).fit([[0, 1, 2]], vocab_size=3)
    with pytest.raises(DataError, match="outside the vocabulary"):
        lm.logprob([0], 3)
    missing = tmp_path / "none.npz"
    with pytest.raises(CheckpointError, match="none.npz: n-gram model file not found"):
        KneserNeyLM.load(missing)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="bad.npz: unreadable n-gram model"):
        KneserNeyLM.load(bad)

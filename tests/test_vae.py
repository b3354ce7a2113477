"""MelodyVAE (flat and hierarchical) and latent-space operations."""
from __future__ import annotations

import json
import math

import pytest
import torch

from muse.core.module import StepContext
from muse.errors import ConfigError, DataError
from muse.models.latent import AttributeVectors, apply_attribute, attribute_vector, slerp
from muse.models.registry import build_model
from muse.models.vae import MelodyVAE, kl_beta, teacher_forcing_prob

VOCAB, T, BARS = 12, 16, 2


def tiny(**kw) -> MelodyVAE:
    cfg = dict(
        vocab_size=VOCAB, seq_len=T, n_bars=BARS, embed_dim=16, enc_hidden=64, dec_hidden=64, dec_layers=1,
        z_dim=16, conductor_hidden=32, conductor_layers=1, max_beta=0.05, beta_rate=0.0, sampling_schedule="none",
    )
    cfg.update(kw)
    return build_model("vae", cfg)  # type: ignore[return-value]


def patterns(n: int = 8, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, VOCAB, (n, T), generator=g)


def train(model: MelodyVAE, data: torch.Tensor, steps: int = 150) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(steps):
        out = model.loss({"input": data}, StepContext(step=step))
        opt.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(out["loss"].item())
    return losses


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, especially on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=[False, True], ids=["flat", "hierarchical"])
def trained(request):
    torch.manual_seed(0)
    model = tiny(hierarchical=request.param)
    data = patterns()
    losses = train(model, data)
    return model, data, losses


# ---------------------------------------------------------------- model
@pytest.mark.parametrize("hierarchical", [False, True])
def test_shapes(hierarchical):
    torch.manual_seed(0)
    m = tiny(hierarchical=hierarchical)
    ids = patterns(3)
    mu, sigma = m.encode(ids)
    assert mu.shape == sigma.shape == (3, 16) and (sigma > 0).all()
    out = m.loss({"input": ids}, StepContext(step=3))
    assert out["loss"].dim() == 0 and out["loss"].requires_grad
    assert {"recon_nats", "kl", "beta", "acc", "elbo", "ntokens"} <= set(out)
    assert int(out["ntokens"]) == 3 * T
    assert m.decode(mu, greedy=True).shape == (3, T)
    assert m.sample(4).shape == (4, T)
    assert m.reconstruct(ids).shape == (3, T)


def test_conductor_emits_one_embedding_per_bar():
    m = tiny(hierarchical=True, n_bars=4, conductor_hidden=24)
    emb = m.conduct(torch.randn(5, 16))
    assert emb.shape == (5, 4, 24)
    assert not torch.allclose(emb[:, 0], emb[:, 1])  # bars get different embeddings
    with pytest.raises(ConfigError, match="hierarchical"):
        tiny().conduct(torch.randn(1, 16))


def test_training_reduces_loss_and_reconstructs(trained):
    model, data, losses = trained
    assert losses[-1] < 0.5 * losses[0]
    assert model.reconstruction_accuracy(data, "teacher") > 0.9
    assert model.reconstruction_accuracy(data, "greedy") > 0.8
    g = torch.Generator().manual_seed(0)
    assert 0.0 <= model.reconstruction_accuracy(data, "sample", generator=g) <= 1.0


def test_eval_loss_reports_max_beta_and_raw_kl(trained):
    model, data, _ = trained
    model.eval()
    out = model.loss({"input": data}, StepContext(step=0, training=False))
    model.train()
    assert out["beta"].item() == pytest.approx(model.config.max_beta)
    assert out["kl"].item() > 0
    assert out["elbo"].item() == pytest.approx(out["recon_nats"].item() * T + out["kl"].item(), rel=1e-5)


def test_interpolate_endpoints_are_reconstructions(trained):
    model, data, _ = trained
    a, b = data[0], data[1]
    path = model.interpolate(a, b, 5)
    assert path.shape == (5, T)
    assert torch.equal(path[0], model.reconstruct(a[None])[0])
    assert torch.equal(path[-1], model.reconstruct(b[None])[0])
    assert (path[0] == a).float().mean() > 0.8 and (path[-1] == b).float().mean() > 0.8


def test_decode_reproducible_with_seeded_generator():
    torch.manual_seed(0)
    m = tiny(dropout=0.3)  # decode must switch dropout off
    z = torch.randn(4, 16)
    one = m.decode(z, temperature=1.5, generator=torch.Generator().manual_seed(7))
    two = m.decode(z, temperature=1.5, generator=torch.Generator().manual_seed(7))
    other = m.decode(z, temperature=1.5, generator=torch.Generator().manual_seed(8))
    assert torch.equal(one, two) and not torch.equal(one, other)
    assert m.training  # training flag restored
    s1 = m.sample(3, generator=torch.Generator().manual_seed(3))
    s2 = m.sample(3, generator=torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2)


def test_decode_never_emits_special_ids():
    torch.manual_seed(0)
    m = tiny()
    out = m.sample(64, temperature=5.0, generator=torch.Generator().manual_seed(0))
    assert out.min() >= 3


def test_free_bits_zeroes_kl_term_and_its_gradient():
    torch.manual_seed(0)
    a = tiny(free_bits=1e6, max_beta=0.5)
    b = tiny(free_bits=1e6, max_beta=0.0)
    b.load_state_dict(a.state_dict())
    ids = patterns(4)
    outs = []
    for m in (a, b):
        torch.manual_seed(123)
        out = m.loss({"input": ids}, StepContext(step=10))
        out["loss"].backward()
        outs.append(out)
    assert outs[0]["beta"].item() == 0.5 and outs[0]["kl"].item() > 0
    assert outs[0]["loss"].item() == outs[1]["loss"].item() == pytest.approx(outs[0]["recon_nats"].item())
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa.grad, pb.grad)
    # below the KL the penalty is active: loss = recon + beta * KL / T
    c = tiny(free_bits=0.0, max_beta=0.5)
    c.load_state_dict(a.state_dict())
    torch.manual_seed(123)
    out = c.loss({"input": ids}, StepContext(step=10))
    expect = out["recon_nats"].item() + 0.5 * out["kl"].item() / T
    assert out["loss"].item() == pytest.approx(expect, rel=1e-5)
    assert out["loss"].item() > outs[0]["loss"].item()


def test_beta_schedule_matches_formula():
    m = tiny(max_beta=0.3, beta_rate=0.99)
    ids = patterns(2)
    for step in (0, 1, 10, 500):
        expect = (1 - 0.99**step) * 0.3
        assert m.beta(step) == pytest.approx(expect)
        assert kl_beta(step, 0.3, 0.99) == pytest.approx(expect)
        assert m.loss({"input": ids}, StepContext(step=step))["beta"].item() == pytest.approx(expect)
    assert m.beta(0) == 0.0 and m.beta(100_000) == pytest.approx(0.3)


def test_inverse_sigmoid_teacher_probability():
    k = 50.0
    probs = [teacher_forcing_prob(s, "inverse_sigmoid", k) for s in range(0, 2000, 50)]
    for s, p in zip(range(0, 2000, 50), probs):
        assert p == pytest.approx(k / (k + math.exp(s / k)))
    assert all(x > y for x, y in zip(probs, probs[1:]))
    assert teacher_forcing_prob(int(k * math.log(k)), "inverse_sigmoid", k) == pytest.approx(0.5, abs=0.01)
    assert teacher_forcing_prob(10**9, "inverse_sigmoid", k) == 0.0
    assert teacher_forcing_prob(10**9, "none", k) == 1.0


@pytest.mark.parametrize("hierarchical", [False, True])
def test_scheduled_sampling_feeds_ground_truth_with_scheduled_probability(monkeypatch, hierarchical):
    torch.manual_seed(0)
    m = tiny(sampling_schedule="inverse_sigmoid", sampling_rate=10.0, hierarchical=hierarchical)
    step = 30  # p = 10 / (10 + e^3) ~ 0.33
    p = m.teacher_prob(step)
    seen = {}
    real = m._free_run

    def spy(z, **kw):
        seen["mask"] = kw["teacher_mask"]
        return real(z, **kw)

    monkeypatch.setattr(m, "_free_run", spy)
    ids = torch.randint(3, VOCAB, (256, T))
    out = m.loss({"input": ids}, StepContext(step=step))
    assert out["teacher_prob"].item() == pytest.approx(p)
    assert seen["mask"].float().mean().item() == pytest.approx(p, abs=0.03)
    out["loss"].backward()
    seen.clear()
    m.loss({"input": ids}, StepContext(step=step, training=False))
    assert not seen  # evaluation is always teacher-forced


def test_bad_inputs_raise_muse_errors():
    m = tiny()
    with pytest.raises(DataError, match="seq_len"):
        m.loss({"input": torch.full((2, T - 1), 3)}, StepContext())
    with pytest.raises(DataError, match="out of range"):
        m.encode(torch.full((2, T), VOCAB))
    with pytest.raises(DataError, match="no 'input'"):
        m.loss({"ids": torch.full((2, T), 3)}, StepContext())
    with pytest.raises(ConfigError, match="whole number of bars"):
        tiny(hierarchical=True, n_bars=3)
    with pytest.raises(ConfigError, match="sampling_schedule"):
        tiny(sampling_schedule="linear")
    with pytest.raises(ConfigError, match="unknown key"):
        build_model("vae", {"zdim": 3})


# ---------------------------------------------------------------- latent
def test_slerp_endpoints_and_norms():
    torch.manual_seed(0)
    z0, z1 = torch.randn(3, 32), torch.randn(3, 32)
    assert torch.equal(slerp(z0, z1, 0.0), z0) and torch.equal(slerp(z0, z1, 1.0), z1)
    e0, e1 = torch.eye(2)
    assert torch.allclose(slerp(e0, e1, 0.5), torch.tensor([1.0, 1.0]) / math.sqrt(2))
    ts = torch.linspace(0, 1, 9)
    u0, u1 = 3 * z0[0] / z0[0].norm(), 3 * z1[0] / z1[0].norm()
    path = slerp(u0, u1, ts)
    assert path.shape == (9, 32)
    assert torch.allclose(path.norm(dim=-1), torch.full((9,), 3.0), atol=1e-4)  # equal norms stay on the sphere
    mid = slerp(z0, z1, 0.5)  # near-orthogonal random codes: norm between the endpoints'
    lo = torch.minimum(z0.norm(dim=-1), z1.norm(dim=-1))
    hi = torch.maximum(z0.norm(dim=-1), z1.norm(dim=-1))
    assert ((mid.norm(dim=-1) >= lo * 0.999) & (mid.norm(dim=-1) <= hi * 1.001)).all()
    # parallel vectors fall back to lerp
    assert torch.allclose(slerp(z0[0], 2 * z0[0], 0.5), 1.5 * z0[0])
    assert torch.isfinite(slerp(z0[0], 2 * z0[0], ts)).all()


def test_attribute_vector_points_along_correlated_dim():
    g = torch.Generator().manual_seed(0)
    zs = torch.randn(400, 8, generator=g)
    values = 2.0 * zs[:, 0] + 0.3 * torch.randn(400, generator=g)
    vec = attribute_vector(zs, values)
    assert vec.shape == (8,)
    assert vec[0] > 2.0  # top minus bottom quartile of a unit Gaussian: ~2.5
    assert torch.nn.functional.cosine_similarity(vec, torch.eye(8)[0], dim=0) > 0.95
    moved = apply_attribute(zs[:2], vec, torch.tensor([1.0, -1.0]))
    assert torch.allclose(moved, zs[:2] + torch.stack([vec, -vec]))
    with pytest.raises(DataError, match="at least 2"):
        attribute_vector(zs[:1], values[:1])
    with pytest.raises(DataError, match=r"\[N, D\]"):
        attribute_vector(zs, values[:10])


def test_attribute_vectors_json_round_trip(tmp_path):
    av = AttributeVectors()
    av.fit("density", torch.randn(40, 4), torch.randn(40))
    av["range"] = torch.tensor([0.5, -1.0, 0.0, 2.0])
    back = AttributeVectors.from_dict(json.loads(json.dumps(av.to_dict())))
    assert back.names() == ["density", "range"]
    assert all(torch.equal(av[n], back[n]) for n in av)
    z = torch.zeros(4)
    assert torch.equal(back.apply(z, "range", 2.0), torch.tensor([1.0, -2.0, 0.0, 4.0]))
    path = tmp_path / "attrs.json"
    av.save(path)
    assert torch.equal(AttributeVectors.load(path)["density"], av["density"])
    with pytest.raises(DataError, match="dims"):
        av["bad"] = torch.zeros(3)
    with pytest.raises(DataError, match="unknown attribute"):
        av["missing"]
    path.write_text('{"x": [1, "a"]}')
    with pytest.raises(DataError, match=f"{path}.*not a list of finite numbers"):
        AttributeVectors.load(path)

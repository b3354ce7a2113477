import numpy as np
import pytest
import torch

from muse.data.batches import DocumentBatches, TensorBatches, WindowBatches
from muse.data.store import build_store, cached_store, open_store, split_of
from muse.errors import DataError


def docs(n=40):
    return [(split_of(f"doc{i}", 0.2, 0.1), [1] + [3 + (i + j) % 50 for j in range(5 + i % 7)] + [2]) for i in range(n)]


def test_store_round_trip_and_dtype(tmp_path):
    d = docs()
    build_store(tmp_path / "s", d, vocab_size=70000, key={"a": 1})
    st = open_store(tmp_path / "s")
    assert st["train"].tokens.dtype == np.uint32
    got = [list(st[s].doc(i)) for s in ("train", "valid", "test") for i in range(len(st[s]))]
    want = [ids for s in ("train", "valid", "test") for sp, ids in d if sp == s]
    assert got == want
    build_store(tmp_path / "u", d, vocab_size=100, key={"a": 1})
    assert open_store(tmp_path / "u")["train"].tokens.dtype == np.uint16


def test_split_is_deterministic_and_proportional():
    splits = [split_of(f"piece-{i}", 0.1, 0.1) for i in range(5000)]
    assert splits == [split_of(f"piece-{i}", 0.1, 0.1) for i in range(5000)]
    assert 0.08 < splits.count("valid") / 5000 < 0.12 and 0.08 < splits.count("test") / 5000 < 0.12


def test_cache_reused_until_key_changes(tmp_path):
    calls = []

    def produce():
        calls.append(1)
        return docs(), 60, {"tokenizer": {"kind": "x"}}

    _, m, built = cached_store(tmp_path / "c", {"src": "a"}, produce)
    assert built and m["tokenizer"] == {"kind": "x"}
    _, _, built = cached_store(tmp_path / "c", {"src": "a"}, produce)
    assert not built and len(calls) == 1
    _, _, built = cached_store(tmp_path / "c", {"src": "b"}, produce)
    assert built and len(calls) == 2


def test_empty_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="empty"):
        cached_store(tmp_path / "e", {}, lambda: ([], 10, {}))


def test_window_batches_deterministic_and_rank_sharded(tmp_path):
    build_store(tmp_path / "s", docs(200), vocab_size=60, key={})
    st = open_store(tmp_path / "s")["train"]
    full = WindowBatches(st, 8, 6, seed=3)
    a, b = full.batch(7), full.batch(7)
    assert torch.equal(a["input"], b["input"]) and torch.equal(a["input"][:, 1:], a["target"][:, :-1])
    r0 = WindowBatches(st, 8, 6, seed=3, rank=0, world=2).batch(7)
    r1 = WindowBatches(st, 8, 6, seed=3, rank=1, world=2).batch(7)
    assert torch.equal(torch.cat([r0["input"], r1["input"]]), a["input"])
    with pytest.raises(DataError, match="divisible"):
        WindowBatches(st, 8, 5, rank=0, world=2)


def test_document_batches_cover_epoch_and_pad(tmp_path):
    build_store(tmp_path / "s", docs(200), vocab_size=60, key={})
    st = open_store(tmp_path / "s")["train"]
    db = DocumentBatches(st, 4, seed=1)
    seen = []
    for i in range(db.steps_per_epoch):
        b = db.batch(i)
        for row_in, row_t in zip(b["input"], b["target"]):
            n = int((row_t != -100).sum())
            seen.append(tuple(row_in[: n + 1].tolist()[:1] + row_t[:n].tolist()))
    expected = {tuple(st.doc(i).tolist()) for i in range(len(st))}
    assert len(set(seen)) == len(seen) == db.steps_per_epoch * 4 and set(seen) <= expected
    b = db.batch(0)
    lens = (b["target"] != -100).sum(1)
    assert (lens.max() - lens.min()) <= 6  # bucketed: similar lengths in a batch


def test_tensor_batches_epoch_permutation():
    x = torch.arange(20).float()[:, None]
    tb = TensorBatches({"image": x}, 5, seed=0)
    got = torch.cat([tb.batch(i)["image"] for i in range(4)]).flatten().sort().values
    assert torch.equal(got, x.flatten())


def test_window_batches_can_start_windows_at_document_starts(tmp_path):
    build_store(tmp_path / "s", docs(200), vocab_size=60, key={})
    st = open_store(tmp_path / "s")["train"]
    doc_starts = {int(o) for o in st.offsets[:-1]}
    plain = WindowBatches(st, 8, 64, seed=3)
    assert torch.equal(plain.batch(2)["input"], WindowBatches(st, 8, 64, seed=3, doc_start_frac=0.0).batch(2)["input"])
    aligned = WindowBatches(st, 8, 64, seed=3, doc_start_frac=1.0).batch(2)["input"]
    assert (aligned[:, 0] == 1).all()  # every window opens with a document's BOS
    half = torch.cat([WindowBatches(st, 8, 64, seed=3, doc_start_frac=0.5).batch(i)["input"] for i in range(8)])
    assert 0.35 < (half[:, 0] == 1).float().mean() < 0.7
    assert len(doc_starts) == len(st)
    with pytest.raises(DataError, match="doc_start_frac"):
        WindowBatches(st, 8, 64, doc_start_frac=1.5)

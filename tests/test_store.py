import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from muse.data.batches import DocumentBatches, TensorBatches, WindowBatches
from muse.data.report import MuseWarning
from muse.data.store import (DamagedStore, build_store, cached_store, open_store, read_manifest, remove_stale_builds,
                             split_of, verify_store)
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


# ---------------------------------------------------------------- a store that cannot be silently broken

REPO = Path(__file__).resolve().parents[1]


def counted_produce(calls, n=40):
    def produce():
        calls.append(1)
        return docs(n), 60, {"tokenizer": {"kind": "x"}}
    return produce


def all_docs(stores):
    return [stores[s].doc(i).tolist() for s in ("train", "valid", "test") for i in range(len(stores[s]))]


def test_manifest_records_size_and_checksum_of_every_data_file(tmp_path):
    import hashlib

    build_store(tmp_path / "s", docs(), vocab_size=60, key={})
    m = read_manifest(tmp_path / "s")
    names = {f"{s}{e}" for s in ("train", "valid", "test") for e in (".bin", ".idx.npy")}
    assert set(m["files"]) == names
    for name, rec in m["files"].items():
        data = (tmp_path / "s" / name).read_bytes()
        assert rec["bytes"] == len(data) and rec[m["checksum"]] == hashlib.new(m["checksum"], data).hexdigest()


@pytest.mark.parametrize("damage", ["truncate", "missing_index", "flipped_byte", "garbled_manifest"])
def test_a_damaged_store_is_named_then_rebuilt_with_a_warning(tmp_path, damage):
    calls = []
    d = tmp_path / "c"
    good, _, _ = cached_store(d, {"src": "a"}, counted_produce(calls))
    want = all_docs(good)
    del good
    if damage == "truncate":
        p = d / "train.bin"
        p.write_bytes(p.read_bytes()[:-7])
    elif damage == "missing_index":
        (d / "valid.idx.npy").unlink()
    elif damage == "flipped_byte":  # same size: only the checksum sees it
        p = d / "train.bin"
        b = bytearray(p.read_bytes())
        b[5] ^= 0xFF
        p.write_bytes(bytes(b))
    else:
        (d / "manifest.json").write_text('{"format": 2, "dty', encoding="utf-8")
    with pytest.raises(DamagedStore) as err:
        open_store(d)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{d}: damaged token store") and "muse corpora build" in msg
    with pytest.warns(MuseWarning, match="damaged token store .*rebuilding it from the sources"):
        stores, _, built = cached_store(d, {"src": "a"}, counted_produce(calls))
    assert built and len(calls) == 2 and all_docs(stores) == want
    verify_store(d, checksums=True)  # whole again


def test_sizes_are_always_checked_checksums_when_small_or_asked(tmp_path, monkeypatch):
    from muse.data import store

    build_store(tmp_path / "s", docs(), vocab_size=60, key={})
    p = tmp_path / "s" / "train.bin"
    b = bytearray(p.read_bytes())
    b[0] ^= 0x01
    p.write_bytes(bytes(b))
    monkeypatch.setattr(store, "VERIFY_BYTES", 10)  # a "large" store: sizes only, unless asked
    verify_store(tmp_path / "s")
    with pytest.raises(DamagedStore, match="train.bin does not match its sha1 checksum"):
        open_store(tmp_path / "s", verify=True)
    p.write_bytes(bytes(b[:-2]))
    with pytest.raises(DamagedStore, match="train.bin has .* bytes, the manifest says"):
        open_store(tmp_path / "s", verify=False)


def test_damaged_store_whose_sources_are_gone_is_one_line_naming_the_cache(tmp_path):
    d = tmp_path / "c"
    cached_store(d, {"src": "a"}, counted_produce([]))
    (d / "train.bin").unlink()

    def sources_gone():
        raise DataError("no such corpus", tmp_path / "gone")

    with pytest.warns(MuseWarning), pytest.raises(DataError) as err:
        cached_store(d, {"src": "a"}, sources_gone)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(d)) and "`muse corpora build`" in msg and "no such corpus" in msg


def test_errors_of_the_producer_pass_through_unchanged(tmp_path):
    def unreadable():
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "corpus.txt"))

    with pytest.raises(FileNotFoundError):
        cached_store(tmp_path / "c", {}, unreadable)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".c.")]  # its temporary folder is gone


def test_an_unwritable_cache_is_one_line_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError) as err:
        cached_store(blocker / "corpora" / "s", {}, counted_produce([]), hint="set MUSE_CACHE to a writable folder")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(blocker / "corpora") + ": cannot write the token cache: ")
    assert msg.endswith("(set MUSE_CACHE to a writable folder)")


CONCURRENT = """
import hashlib, sys
from muse.data.store import cached_store
root, rounds, me = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def produce():
    return [("train" if i % 5 else "valid", [1] + [3 + (i * j) % 50 for j in range(30)] + [2]) for i in range(300)], 60, {}
for r in range(rounds):
    stores, m, built = cached_store(f"{root}/s{r}", {"round": r}, produce)
    digest = hashlib.sha1(stores["train"].tokens.tobytes() + stores["valid"].tokens.tobytes()).hexdigest()
    print(r, int(built), digest, flush=True)
"""


def test_two_processes_building_the_same_stores_at_once_never_fail(tmp_path):
    rounds = 150
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(tmp_path), str(rounds), who], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in "ab"]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    rows = [[line.split() for line in out.splitlines()] for out, _ in outs]
    assert [len(r) for r in rows] == [rounds, rounds]
    for a, b in zip(*rows):
        assert a[0] == b[0] and a[2] == b[2]  # both read the same whole store
        assert int(a[1]) + int(b[1]) == 1  # built once; the other process used the winner's store
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert leftovers == []


def test_stale_temporary_folders_of_dead_builds_are_removed(tmp_path):
    build_store(tmp_path / "s", docs(), vocab_size=60, key={})
    (tmp_path / ".s.dead1234").mkdir()  # what a killed build leaves
    (tmp_path / ".s.dead1234" / "train.bin").write_bytes(b"x" * 100)
    (tmp_path / "other").mkdir()
    (tmp_path / "other.lock").touch()
    (tmp_path / ".other.dead99").mkdir()  # another store's, whose lock nobody holds
    build_store(tmp_path / "s", docs(), vocab_size=60, key={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "other.lock", "s", "s.lock"]
    assert remove_stale_builds(tmp_path) == []


PARENT_WITH_WORKERS = """
import os, signal, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from muse.data.workers import children_die_with_parent
with children_die_with_parent():
    ex = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
    futures = [ex.submit(time.sleep, 600) for _ in range(2)]
    time.sleep(0.5)
    print(" ".join(str(p) for p in ex._processes), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_gone(pids, seconds=30.0) -> list[int]:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_forked_workers_die_when_their_parent_is_killed(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    out = tmp_path / "pids"
    with open(out, "w") as f:  # a file, not a pipe: surviving workers would hold a pipe open
        proc = subprocess.run([sys.executable, "-c", PARENT_WITH_WORKERS], env=env, stdout=f,
                              stderr=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    workers = [int(p) for p in out.read_text().split()]
    assert len(workers) == 2
    try:
        assert _wait_gone(workers) == []
    finally:
        _kill(workers)


def _kill(pids) -> None:
    """Stop what a failed test left running (processes this test started)."""
    for p in pids:
        if _alive(p):
            os.kill(p, signal.SIGKILL)


def _children(pid: int) -> set[int]:
    try:
        import psutil

        return {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except ImportError:
        pass
    out: set[int] = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[1]) == pid:
                out.add(int(d.name))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_kill_9_of_a_corpus_build_leaves_no_workers_and_the_next_build_cleans_up(tmp_path):
    import time

    tune = (REPO / "tests" / "fixtures" / "music" / "two_tunes.abc").read_text(encoding="utf-8")
    corpus = tmp_path / "tunes"
    corpus.mkdir()
    for i in range(300):  # long enough to be killed while parsing
        (corpus / f"t{i:03d}.abc").write_text(tune.replace("Scale up", f"Scale {i}"), encoding="utf-8")
    cache = tmp_path / "cache"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "MUSE_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "muse", "corpora", "build", "--from", str(corpus), "workers=2", "min_bars=1",
           "min_pitches=1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: set[int] = set()
    deadline = time.monotonic() + 300
    while len(seen) < 2 and proc.poll() is None and time.monotonic() < deadline:
        seen |= _children(proc.pid)
        time.sleep(0.05)
    assert len(seen) >= 2, f"the build never started its workers (exit {proc.poll()})"
    temps = [p for p in (cache / "corpora").iterdir() if p.name.startswith(".")]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    try:
        assert temps, "the build was killed before it began writing"
        assert _wait_gone(seen) == []
    finally:
        _kill(seen)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "train" in done.stdout
    left = sorted(p.name for p in (cache / "corpora").iterdir() if p.name.startswith("."))
    assert left == []

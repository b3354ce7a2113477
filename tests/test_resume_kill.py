"""Exact resume after a real SIGKILL, and DDP over 2 gloo processes."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from muse.core.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "tests.helpers.train_tiny", *map(str, args)],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=240, **kw)


def test_kill9_then_resume_gives_identical_weights(tmp_path):
    r = run(tmp_path / "full", 40)
    assert r.returncode == 0, r.stderr
    p = subprocess.Popen([sys.executable, "-m", "tests.helpers.train_tiny", str(tmp_path / "killed"), "40",
                          "--hang-after", "25"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    deadline = time.time() + 120
    while "HANGING" not in line and time.time() < deadline:
        line = p.stdout.readline()
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL
    ck = tmp_path / "killed" / "checkpoints" / "last.pt"
    assert load_checkpoint(ck)["step"] == 20
    r = run(tmp_path / "killed", 40, "--resume")
    assert r.returncode == 0, r.stderr
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(ck)["model"]
    assert load_checkpoint(ck)["step"] == 40
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = list(csv.DictReader(open(tmp_path / "killed" / "metrics.csv")))
    steps = [int(r["step"]) for r in rows if r["split"] == "train"]
    assert steps == list(range(1, 41))  # log rows after the checkpoint were rolled back, none duplicated


def test_ddp_two_gloo_processes_match_one_process(tmp_path):
    r = run(tmp_path / "one", 12, "--dropout", "0")
    assert r.returncode == 0, r.stderr
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
           "-m", "tests.helpers.train_tiny", str(tmp_path / "two"), "12", "--dropout", "0"]
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]

    def losses(d):
        rows = csv.DictReader(open(d / "metrics.csv"))
        return [(r["split"], float(r["loss"])) for r in rows]

    l1, l2 = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(l1) == len(l2) > 10
    for (s1, a), (s2, b) in zip(l1, l2):
        assert s1 == s2 and abs(a - b) < 1e-4 * max(1, abs(a)), (a, b)
    a = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")["model"]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


def test_ctrl_c_saves_last_checkpoint_and_exits_cleanly(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "tests.helpers.train_tiny", str(tmp_path / "run"), "400", "--slow"],
                         cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    while line and not line.startswith("STEP 12"):
        line = p.stdout.readline()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "interrupt received" in out + err
    step = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"]
    assert 12 <= step < 400
    r = run(tmp_path / "run", 400, "--resume")
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 400


def test_ctrl_c_of_muse_train_saves_and_exits_130(tmp_path):
    """An interrupted `muse train` is saved and resumable, but it did not finish: `train && next` must stop."""
    import time

    fixture = ROOT / "tests" / "fixtures" / "poetry" / "tang_sample.jsonl"
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "muse", "train", "poem", "--data", str(fixture), "--steps", "100000", "--batch-size", "4", "--out",
           str(run_dir), "--no-progress", "model.n_layer=1", "model.n_embd=16", "model.n_head=2",
           "data.block_size=32", "train.eval_every=5", "train.eval_batches=1", f"data.cache_dir={tmp_path / 'c'}"]
    p = subprocess.Popen(cmd, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run_dir / "checkpoints" / "last.pt").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "--resume" in err and "(interrupted)" in out
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] >= 5

"""Every script in examples/ runs unchanged and writes what it says."""
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WRITES = {
    "theme_and_variations.py": ["suite.mid", "suite.wav", "suite.png"],
    "vae_variations.py": ["variations.mid", "variations.png"],
    "images.py": ["digits.png", "styled.png"],
    "poems.py": [],
    "composer.py": ["theme.mid", "theme.musicxml", "continued.mid", "variations.mid", "poem.txt"],
}
SLOW = {"train_your_own.py"}


def test_every_example_is_run_by_this_suite():
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(WRITES) | SLOW


def _run(name: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          timeout=900, cwd=out.parent, env={"OMP_NUM_THREADS": "1", **__import__("os").environ})


@pytest.mark.parametrize("name", sorted(WRITES))
def test_example_runs_and_writes_its_files(name, tmp_path):
    if not (EXAMPLES / name).exists():
        pytest.skip(f"{name} not written yet")
    out = tmp_path / "out"
    res = _run(name, out, str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    for f in WRITES[name]:
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f


@pytest.mark.slow
def test_train_your_own_example(tmp_path):
    res = _run("train_your_own.py", tmp_path / "out")  # no argument: 400 Essen tunes, in the working folder
    assert res.returncode == 0, res.stderr[-2000:]
    assert list((tmp_path / "out" / "example-melody").glob("*.mid"))

"""Nonsense values are one-line errors, and every success writes exactly the file it names."""
import os
import stat

import pytest

from muse.cli import main


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("muse: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("argv, says", [
    (["train", "poem", "--steps", "-5"], "steps must be >= 1"),
    (["train", "poem", "--steps", "0"], "steps must be >= 1"),
    (["train", "poem", "--epochs", "0"], "epochs must be > 0"),
    (["train", "poem", "--lr", "-1"], "lr must be > 0"),
    (["train", "poem", "data.valid_frac=-0.5"], "data.valid_frac must be in [0, 1)"),
    (["gan", "sample", "--num", "-4"], "--num must be >= 1"),
    (["melody", "--qpm", "-50", "--no-wav", "--no-png"], "qpm must be > 0"),
])
def test_nonsense_values_are_one_line_errors(argv, says, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert says in _one_line_error(capsys)


def test_gan_sample_refuses_a_name_that_is_not_png(tmp_path, capsys):
    assert main(["gan", "sample", "--num", "4", "--out", str(tmp_path / "g.xyz")]) == 2
    assert "name it with .png" in _one_line_error(capsys) and not (tmp_path / "g.xyz").exists()


def test_vae_encode_writes_exactly_the_named_file(tmp_path, capsys):
    from pathlib import Path

    tune = Path(__file__).parent / "fixtures" / "music" / "two_tunes.abc"
    assert main(["vae", "encode", str(tune), "-o", str(tmp_path / "codes")]) == 0
    assert (tmp_path / "codes").is_file() and not (tmp_path / "codes.npy").exists()


def test_checkpoints_are_ordinary_readable_files(tmp_path):
    import torch

    from muse.core.checkpoint import atomic_torch_save

    p = atomic_torch_save({"x": torch.zeros(1)}, tmp_path / "c.pt")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask

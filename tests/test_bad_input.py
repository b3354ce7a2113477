"""Nonsense values are one-line errors, and every success writes exactly the file it names.

The matrix drives every verb with every class of bad input (a nonsense number, a device
this machine lacks, an output whose folder is a file or cannot be made, a folder where a
file is wanted and the reverse, a read-only folder, a full disk) and asserts exit status
2, one ``muse: error:`` line naming the path or option, no traceback, and no file left.
"""
import errno
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from muse.cli import main

ROOT = Path(__file__).resolve().parents[1]
TUNES = ROOT / "tests" / "fixtures" / "music" / "two_tunes.abc"
VERSE = ROOT / "tests" / "fixtures" / "poetry" / "tang_sample.jsonl"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("muse: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _the_error(err: str) -> str:
    """The one ``muse: error:`` line of a verb's stderr (warnings and progress bars may come before it)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("muse: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    return errors[0]


@pytest.mark.parametrize("argv, says", [
    (["train", "poem", "--steps", "-5"], "steps must be >= 1"),
    (["train", "poem", "--steps", "0"], "steps must be >= 1"),
    (["train", "poem", "--epochs", "0"], "epochs must be > 0"),
    (["train", "poem", "--lr", "-1"], "lr must be > 0"),
    (["train", "poem", "data.valid_frac=-0.5"], "data.valid_frac must be in [0, 1)"),
    (["train", "poem", "--corpus", "tang", "model.n_layer=abc"], "model.n_layer must be int, got 'abc'"),
    (["train", "poem", "--corpus", "tang", "data.block_size=0"], "data.block_size must be >= 1, got 0"),
    (["gan", "sample", "--num", "-4"], "argument --num: must be >= 1, got -4"),
    (["melody", "--qpm", "-50", "--no-wav", "--no-png"], "argument --qpm: must be > 0, got -50"),
    (["melody", "--qpm", "fast"], "argument --qpm: must be a number, got 'fast'"),
    (["melody", "--style", "jigs", "--no-wav", "--no-png"], "corpus 'jigs' is not a style of this model"),
    (["poem", "--num", "0"], "argument --num: must be >= 1, got 0"),
    (["train", "style", "--steps", "1"], "say which style to learn: data.style=IMAGE"),
    (["melody", "--bogus"], "unrecognized arguments: --bogus (see muse melody --help)"),
    (["vae", "sample", "--steps", "3"], "unrecognized arguments: --steps 3 (see muse vae sample --help)"),
])
def test_nonsense_values_are_one_line_errors(argv, says, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert says in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_gan_sample_refuses_a_name_that_is_not_png(tmp_path, capsys):
    assert main(["gan", "sample", "--num", "4", "--out", str(tmp_path / "g.xyz")]) == 2
    assert "name it with .png" in _one_line_error(capsys) and not (tmp_path / "g.xyz").exists()


def test_vae_encode_writes_exactly_the_named_file(tmp_path, capsys):
    assert main(["vae", "encode", str(TUNES), "-o", str(tmp_path / "codes")]) == 0
    assert (tmp_path / "codes").is_file() and not (tmp_path / "codes.npy").exists()


def test_checkpoints_are_ordinary_readable_files(tmp_path):
    import torch

    from muse.core.checkpoint import atomic_torch_save

    p = atomic_torch_save({"x": torch.zeros(1)}, tmp_path / "c.pt")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


# ---------------------------------------------------------------- the matrix

def _tiny_midi(path: Path) -> Path:
    import muse

    return muse.write_midi(muse.parse_primer("C4 E4 G4 C5:2"), path)


def _tiny_png(path: Path, seed: int) -> Path:
    import numpy as np
    from PIL import Image

    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(path)
    return path


TRAIN_TINY = ["--steps", "1", "--batch-size", "2", "--no-progress", "model.n_layer=1", "model.n_embd=16",
              "model.n_head=2", "data.block_size=16", "data.valid_frac=0.3", "train.tensorboard=false"]


def _verbs(inputs: Path) -> dict:
    """verb -> (argv given OUT, what OUT is: "file"/"dir", suffix, bad-number args, the option they name,
    offers --device). Every command is quick when it works, so the full-disk case reaches its first write."""
    mid, content, style = inputs / "a.mid", inputs / "c.png", inputs / "s.png"
    return {
        "melody": (lambda o: ["melody", "--bars", "1", "--no-wav", "--no-png", "--out", o], "dir", "",
                   ["--qpm", "-50"], "--qpm", True),
        "poem": (lambda o: ["poem", "--max-tokens", "6", "--out", o], "file", ".txt", ["--lines", "0"], "--lines",
                 True),
        "chorale": (lambda o: ["chorale", "--bars", "1", "--no-wav", "--no-png", "--out", o], "dir", "",
                    ["--bars", "0"], "--bars", True),
        "melody chords": (lambda o: ["melody", "--chords", "C G", "--no-wav", "--no-png", "--out", o], "dir", "",
                          ["--bars", "0"], "--bars", True),
        "chords": (lambda o: ["chords", "--primer-notes", "C5 D5", "--no-wav", "--no-png", "--out", o], "dir", "",
                   ["--per-bar", "3"], "--per-bar", True),
        "harmonize": (lambda o: ["harmonize", "--primer-notes", "C5 D5", "--no-wav", "--no-png", "--out", o], "dir",
                      "", ["--num", "0"], "--num", True),
        "infill": (lambda o: ["infill", str(mid), "--bars", "1", "--no-wav", "--no-png", "--out", o], "dir", "",
                   ["--num", "-1"], "--num", True),
        "compose": (lambda o: ["compose", "--bars", "1", "--tracks", "piano,bass", "--no-wav", "--no-png", "--out",
                               o], "dir", "", ["--bars", "0"], "--bars", True),
        "train": (lambda o: ["train", "poem", "--data", str(VERSE), *TRAIN_TINY,
                             f"data.cache_dir={inputs / 'cache'}", "--out", o], "dir", "",
                  ["--lr", "-1"], "lr", True),
        "vae sample": (lambda o: ["vae", "sample", "--num", "1", "--no-wav", "--no-png", "--out", o], "dir", "",
                       ["--num", "0"], "--num", True),
        "vae encode": (lambda o: ["vae", "encode", str(TUNES), "-o", o], "file", ".npy", ["--seed", "x"], "--seed",
                       True),
        "gan": (lambda o: ["gan", "sample", "--num", "1", "--out", o], "file", ".png", ["--num", "-4"], "--num", True),
        "stylize": (lambda o: ["stylize", str(content), str(style), "-o", o, "--size", "16", "--steps", "1",
                               "--levels", "1"], "file", ".png", ["--steps", "0"], "--steps", True),
        "render": (lambda o: ["render", str(mid), "-o", o, "--synth", "builtin"], "file", ".wav",
                   ["--sample-rate", "100"], "--sample-rate", False),
        "eval": (lambda o: ["eval", "melody", "--num", "1", "--bars", "1", "--out", o], "dir", "",
                 ["--num", "0"], "--num", True),
        "models": (lambda o: ["models", "export", "melody-lstm", o], "dir", "", ["--format", "zip"], "--format",
                   False),
        "demo": (lambda o: ["demo", "--out", o], "dir", "", ["--seed", "x"], "--seed", False),
    }


SLOW_FULL_DISK = {"eval", "demo"}
"""Verbs whose work before the first write takes longer than this file's budget (eval tokenizes a corpus,
demo runs every model): their full-disk case is marked slow."""
CLASSES = ("bad_number", "bad_device", "parent_is_file", "parent_cannot_be_made", "wrong_kind", "read_only",
           "disk_full")


def _matrix():
    verbs = _verbs(Path("."))
    for verb, (_, _, _, _, _, device) in verbs.items():
        for klass in CLASSES:
            if klass == "bad_device" and not device:
                continue
            marks = [pytest.mark.slow] if klass == "disk_full" and verb in SLOW_FULL_DISK else []
            yield pytest.param(verb, klass, id=f"{verb.replace(' ', '-')}-{klass}", marks=marks)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    _tiny_midi(d / "a.mid")
    _tiny_png(d / "c.png", 0)
    _tiny_png(d / "s.png", 1)
    return d


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if not p.is_dir()}


def _under(fd: int, root: Path) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith(str(root))
    except OSError:
        return False


def _simulate_read_only(monkeypatch, folder: Path) -> None:
    """Make ``folder`` refuse new entries: chmod for ordinary users; root ignores permission bits, so for root
    the calls that create files and folders there fail with EACCES, as the kernel would for anyone else."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    real = {name: getattr(tempfile, name) for name in ("mkstemp", "mkdtemp")}
    real_mkdir = os.mkdir

    def refuse(where) -> None:  # noqa: ANN001
        if where is not None and Path(os.path.abspath(where)).is_relative_to(folder):
            raise PermissionError(errno.EACCES, "Permission denied", str(where))

    def fake(name):  # noqa: ANN001, ANN202
        def call(*a, dir=None, **kw):  # noqa: ANN002, ANN003, ANN202, A002
            refuse(dir)
            return real[name](*a, dir=dir, **kw)
        return call

    def mkdir(path, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        refuse(os.path.dirname(os.path.abspath(path)))
        return real_mkdir(path, *a, **kw)

    for name in real:
        monkeypatch.setattr(tempfile, name, fake(name))
    monkeypatch.setattr(os, "mkdir", mkdir)


def _simulate_full_disk(monkeypatch, folder: Path) -> None:
    """The disk under ``folder`` is full: every temporary file the checked writer makes there is /dev/full
    (a symlink to it), so the kernel refuses the bytes of every writer, C libraries included, with ENOSPC;
    flushing any file there fails the same way. A file written past the checked writer would still appear
    (and the test would see it left behind)."""
    real_mkstemp, real_fsync = tempfile.mkstemp, os.fsync

    def mkstemp(*a, dir=None, **kw):  # noqa: ANN002, ANN003, ANN202, A002
        fd, name = real_mkstemp(*a, dir=dir, **kw)
        if dir is not None and Path(os.path.abspath(dir)).is_relative_to(folder):
            os.close(fd)
            os.unlink(name)
            os.symlink("/dev/full", name)
            fd = os.open(name, os.O_WRONLY)
        return fd, name

    def fsync(fd: int) -> None:
        if _under(fd, folder):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("verb, klass", list(_matrix()))
def test_bad_input_matrix(verb, klass, inputs, tmp_path, monkeypatch, capsys):
    make_argv, kind, suffix, bad, option, _ = _verbs(inputs)[verb]
    root = tmp_path / "work"
    root.mkdir()
    out = root / "out" / (f"x{suffix}" if kind == "file" else "d")
    extra: list[str] = []
    names = str(out)
    if klass == "bad_number":
        extra, names = bad, option
    elif klass == "bad_device":
        extra, names = ["--device", "tpu"], "--device tpu"
    elif klass == "parent_is_file":
        (root / "afile").write_text("x")
        out = root / "afile" / out.name
        names = str(out)
    elif klass == "parent_cannot_be_made":
        if not Path("/proc/self").is_dir():
            pytest.skip("needs /proc, where no folder can be made")
        out = Path("/proc/muse-no-such-dir") / out.name
        names = str(out)
    elif klass == "wrong_kind":  # a folder where a file is wanted, a file where a folder is wanted
        out = root / ("a-folder" if kind == "file" else "a-file")
        out.mkdir() if kind == "file" else out.write_text("x")
        names = str(out)
    elif klass == "read_only":
        _simulate_read_only(monkeypatch, root / "ro")
        out = root / "ro" / out.name
        names = str(out)
    elif klass == "disk_full":
        if not Path("/dev/full").exists():
            pytest.skip("needs /dev/full")
        _simulate_full_disk(monkeypatch, root / "out")
        names = str(root / "out")
    before = _files(root)
    code = main([*make_argv(str(out)), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    line = _the_error(err)
    assert names in line, line
    if klass == "disk_full":
        assert "disk full" in line, line
    if klass == "read_only":
        assert "permission denied" in line or "read-only" in line, line
    assert _files(root) == before, sorted(map(str, _files(root) - before))  # nothing half-written, no temp files


@pytest.mark.parametrize("argv, says", [
    (["corpora", "build", "--from", "{tmp}/missing"], "{tmp}/missing: no such file or folder"),
    (["corpora", "build", "essen", "no_such_key=1"], "unknown data option 'no_such_key'"),
    (["corpora", "show", "nope"], "no shipped corpus 'nope'"),
    (["corpora", "build", "--kind", "tune", "essen"], "argument --kind: invalid choice: 'tune'"),
])
def test_corpora_bad_input(argv, says, tmp_path, capsys):
    """corpora writes only the token cache (whose folder errors are the data layer's): its inputs are checked."""
    before = _files(tmp_path)
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert says.format(tmp=tmp_path) in _one_line_error(capsys)
    assert _files(tmp_path) == before


# ---------------------------------------------------------------- the checked writer itself

def test_atomic_file_leaves_the_old_file_when_a_write_fails(tmp_path):
    from muse.core.files import atomic_file, write_text
    from muse.errors import OutputError

    target = write_text(tmp_path / "notes.txt", "old\n")
    with pytest.raises(OutputError, match="notes.txt: disk full"):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old\n" and _files(tmp_path) == {target}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_torch_write_failure_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """A disk filling during training: torch's zip writer reports it as a RuntimeError, not an OSError."""
    import torch

    from muse.core.checkpoint import atomic_torch_save
    from muse.errors import OutputError

    ck = atomic_torch_save({"format": 0, "step": 1}, tmp_path / "last.pt")
    real_save = torch.save

    def failing_save(obj, f, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        Path(f).write_bytes(b"PK\x03\x04 partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OutputError, match=r"last\.pt: cannot write \(.*file write failed"):
        atomic_torch_save({"format": 0, "step": 2}, ck)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(ck, weights_only=True)["step"] == 1 and _files(tmp_path) == {ck}


def test_an_existing_folder_of_other_files_is_never_replaced_by_an_export(tmp_path, capsys):
    keep = tmp_path / "mine" / "thesis.tex"
    keep.parent.mkdir()
    keep.write_text("years of work")
    assert main(["models", "export", "melody-lstm", str(keep.parent)]) == 2
    assert "holds other files" in _one_line_error(capsys) and keep.read_text() == "years of work"
    assert main(["models", "export", "melody-lstm", str(tmp_path / "m")]) == 0
    assert main(["models", "export", "melody-lstm", str(tmp_path / "m")]) == 0  # a model directory is replaced
    umask = os.umask(0)
    os.umask(umask)
    modes = {stat.S_IMODE(f.stat().st_mode) for f in (tmp_path / "m").iterdir()}
    assert modes == {0o666 & ~umask} and stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o777 & ~umask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_a_device_node_is_not_an_output(capsys):
    if not Path("/dev/null").exists():
        pytest.skip("no /dev/null")
    assert main(["poem", "--out", "/dev/null"]) == 2
    assert "/dev/null: exists and is not a regular file" in _one_line_error(capsys)


def test_render_says_which_audio_formats_soundfile_writes(tmp_path, inputs, capsys):
    import soundfile as sf

    assert main(["render", str(inputs / "a.mid"), "-o", str(tmp_path / "a.xyz")]) == 2
    err = _one_line_error(capsys)
    assert "cannot write audio as '.xyz'" in err and ".wav" in err and ".flac" in err
    assert not list(tmp_path.iterdir())
    assert main(["render", str(inputs / "a.mid"), "-o", str(tmp_path / "a.flac"), "--synth", "builtin"]) == 0
    audio, rate = sf.read(str(tmp_path / "a.flac"))
    assert rate == 44100 and audio.size > 0 and sf.info(str(tmp_path / "a.flac")).format == "FLAC"


def test_a_config_file_of_random_bytes_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_bytes(bytes(range(256)) * 8)
    assert main(["train", "poem", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert f"{cfg}: config file is not UTF-8 text" in _one_line_error(capsys)


def test_resume_from_an_empty_config_json_is_one_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("")
    assert main(["train", "poem", "--out", str(tmp_path / "run"), "--resume"]) == 2
    assert "config.json: cannot resume: config.json is empty or corrupt" in _one_line_error(capsys)


def test_a_corrupt_weights_file_is_called_corrupt(tmp_path, capsys):
    import shutil

    from muse.recipes.hub import shipped_models

    d = tmp_path / "m"
    shutil.copytree(shipped_models()["melody-lstm"], d)
    (d / "model.safetensors").write_bytes(os.urandom(3000))
    for model in (d, d / "model.safetensors"):
        assert main(["melody", "--model", str(model), "--no-wav", "--no-png", "--out", str(tmp_path / "o")]) == 2
        assert f"{d / 'model.safetensors'}: corrupt weights" in _one_line_error(capsys)


def test_error_advice_names_only_options_that_exist():
    """Every ``--flag`` written in muse's source is a flag of some verb."""
    import argparse
    import re

    from muse.cli import build_parser

    flags: set[str] = set()

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            flags.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for sp in action.choices.values():
                    walk(sp)

    walk(build_parser())
    unknown = {}
    for f in (ROOT / "muse").rglob("*.py"):
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]  # comments may name other programs' flags
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", code):
                if flag not in flags and "scripts/" not in line:
                    unknown[flag] = f"{f.relative_to(ROOT)}:{i}"
    assert not unknown, unknown


def test_sentencepiece_advice_names_the_data_key():
    pytest.importorskip("sentencepiece")
    from muse.errors import DataError
    from muse.tokenizers.spm import SentencePieceTokenizer

    texts = ["".join(chr(0x4E00 + (i * 7 + j) % 900) for j in range(40)) for i in range(60)]
    with pytest.raises(DataError) as e:
        SentencePieceTokenizer.train(texts, vocab_size=300)
    msg = str(e.value)
    assert "data.vocab_size" in msg and "--character_coverage" not in msg
    need = int(msg.split("at least ")[1].split()[0])
    assert SentencePieceTokenizer.train(texts, vocab_size=need).vocab_size <= need


# ---------------------------------------------------------------- a real terminal

def _muse(*argv: str, cwd: Path, fsize: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))

    return subprocess.run([sys.executable, "-m", "muse", *argv], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit if fsize else None)


@pytest.mark.parametrize("argv, says", [
    (["melody", "--qpm", "-50"], "argument --qpm: must be > 0, got -50"),
    (["gan", "sample", "--device", "tpu"], "--device tpu: not a device muse can use; available here: auto, cpu"),
    (["render", "nothing.mid"], "nothing.mid: MIDI file not found"),
])
def test_no_traceback_reaches_a_terminal(argv, says, tmp_path):
    r = _muse(*argv, cwd=tmp_path)
    assert r.returncode == 2 and _the_error(r.stderr).startswith(f"muse: error: {says}"), r.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a file-size limit (RLIMIT_FSIZE)")
def test_a_file_the_disk_refuses_is_one_line_and_leaves_nothing(tmp_path):
    """The kernel refuses bytes past RLIMIT_FSIZE (EFBIG) in every writer, C libraries included (PIL here)."""
    r = _muse("gan", "sample", "--num", "64", "--out", "g.png", cwd=tmp_path, fsize=2000)
    assert r.returncode == 2, r.stderr
    assert _the_error(r.stderr) == "muse: error: g.png: file too large (the disk or the file-size limit is full)"
    assert not list(tmp_path.iterdir())

"""Every real MIDI file of a folder as a primer with the default flags: `muse melody --primer FILE`.

    python bench/real_primers.py [--midi /work/bench_midi] [--pop909 5]

The folder is the one `bench/tokenize_vs_miditok.py` uses (MidiTok's test MIDIs, multi-track pop
songs and Maestro piano performances, plus POP909; see bench/README.md for where they come from).
Each file runs through the CLI in-process (`muse.cli.main`), writing MIDI only; a file passes when
the command exits 0 and writes one melody, or (an empty or corrupt file) exits 2 with one
`muse: error:` line. Results: bench/results/real_primers.json.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--midi", default="/work/bench_midi")
    ap.add_argument("--pop909", type=int, default=5, help="how many POP909 songs to add")
    args = ap.parse_args()
    root = Path(args.midi)
    if not root.is_dir():
        print(f"skip: {root} is absent (see bench/README.md, 'Tokenization vs MidiTok')")
        return 0
    files = sorted(p for p in root.glob("miditok-*/*") if p.suffix.lower() in (".mid", ".midi"))
    files += sorted(root.glob("pop909/**/*.mid"))[: args.pop909]
    import torch

    torch.set_num_threads(1)
    from muse.cli import main as muse_main

    rows = []
    for f in files:
        with tempfile.TemporaryDirectory() as out:
            err = io.StringIO()
            t0 = time.perf_counter()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = muse_main(["melody", "--primer", str(f), "--num", "1", "--seed", "0", "--out", out,
                                  "--no-wav", "--no-png"])
            wrote = len(list(Path(out).glob("*.mid")))
        lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("muse: error:")]
        ok = (code == 0 and wrote == 1) or (code == 2 and len(errors) == 1 and len(lines) == len(errors))
        rows.append(dict(file=str(f.relative_to(root)), exit=code, wrote=wrote, ok=ok, seconds=round(time.perf_counter() - t0, 2),
                         stderr=lines[:3]))
        print(f"{'ok ' if ok else 'BAD'} {code} {f.relative_to(root)}: {lines[-1] if lines else ''}"[:200])
    passed = sum(r["ok"] for r in rows)
    generated = sum(r["exit"] == 0 for r in rows)
    print(f"{passed}/{len(rows)} as expected; {generated} generated a continuation")
    out = Path(__file__).parent / "results" / "real_primers.json"
    out.write_text(json.dumps(dict(files=len(rows), passed=passed, generated=generated, rows=rows), indent=1))
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())

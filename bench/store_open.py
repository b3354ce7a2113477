"""What checking a token store costs when it is opened: sizes only against sizes + checksums.

Builds the stores of the shipped ``shakespeare`` and ``tang`` poem corpora in a
temporary cache (char tokenizer), then opens each many times, alternating
``verify=False`` (sizes: one ``stat`` per file, always done) and ``verify=True``
(every file hashed), and reports the median of each, their ratio and the hash
throughput. ``verify=None`` (the default) hashes stores up to
``muse.data.store.VERIFY_BYTES``.

    python bench/store_open.py --threads 1 [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from common import report
from muse.data.report import MuseWarning
from muse.data.store import VERIFY_BYTES, open_store, read_manifest
from muse.recipes import get_recipe


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5 opens per side instead of 30")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args()


def timed_open(directory: Path, verify: bool) -> float:
    t = time.perf_counter()
    stores = open_store(directory, verify=verify)
    _ = [s.n_tokens for s in stores.values()]
    return time.perf_counter() - t


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    reps = 5 if args.quick else 30
    recipe = get_recipe("poem")
    rows, results = [], {"stores": {}, "verify_bytes": VERIFY_BYTES, "reps": reps}
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in ("shakespeare", "tang"):
            data = {**recipe.data_defaults(), "corpus": corpus, "cache_dir": tmp}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MuseWarning)
                t = time.perf_counter()
                recipe.load_data(data, progress=False)
                build_s = time.perf_counter() - t
            directory = next(p for p in Path(tmp).iterdir() if p.is_dir() and corpus in p.name)
            size = sum(f["bytes"] for f in read_manifest(directory)["files"].values())
            sizes, sums = [], []
            for _ in range(reps):  # interleaved: sizes, checksums, sizes, ...
                sizes.append(timed_open(directory, False))
                sums.append(timed_open(directory, True))
            a, b = statistics.median(sizes), statistics.median(sums)
            results["stores"][corpus] = {"bytes": size, "build_s": build_s, "open_sizes_s": a, "open_checksums_s": b,
                                         "ratio": b / a, "hash_mb_per_s": size / 1e6 / max(b - a, 1e-9)}
            rows.append([corpus, f"{size / 1e6:.1f}", f"{a * 1e3:.2f}", f"{b * 1e3:.2f}", f"{b / a:.1f}x",
                         f"{size / 1e6 / max(b - a, 1e-9):.0f}", "yes" if size <= VERIFY_BYTES else "no"])
    report("store_open", args, ["store", "MB", "open, sizes (ms)", "open, + checksums (ms)", "ratio", "hash MB/s",
                                "hashed by default"], rows, results)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()

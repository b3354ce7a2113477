"""Do melodies end on a cadence? Generated 8-bar melodies with and without `cadence` against held-out tunes.

    python bench/cadence.py [--model melody-transformer] [--num 150] [--seed 100]

A melody *ends on a cadence* when its last note is the tonic of the key muse estimates for
it (`muse.music.compose.estimate_key`, the same for every side), starts on a strong beat of
its bar (the downbeat, or the middle of a 4/4 bar) and lasts at least a beat. Held-out tunes:
the test split of the corpus the model was trained on, whole (their real endings), as the
model's tokens give them back: melody-event tokens carry no meter, so every tune is read on a
4/4 grid, which understates the "strong beat" share of tunes in 3/4 or 6/8. Each figure is
also split into its three parts. Results: bench/results/cadence.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, environment, markdown_table  # noqa: E402

import torch  # noqa: E402

from muse.music.compose import generate_melodies  # noqa: E402
from muse.music.evaluate import load_heldout, training_data_settings  # noqa: E402
from muse.music.metrics import beat_steps, estimate_key, strong_steps  # noqa: E402
from muse.recipes.hub import load_model  # noqa: E402


def ending(mel) -> dict[str, bool]:  # noqa: ANN001
    last = mel.notes[-1]
    bar = mel.steps_per_bar
    tonic = estimate_key(mel)[0]
    parts = {"tonic": last.pitch % 12 == tonic, "strong beat": last.start % bar in strong_steps(mel),
             "held a beat": last.duration >= beat_steps(mel)}
    parts["cadence"] = all(parts.values())
    return parts


def rates(mels) -> dict[str, float]:  # noqa: ANN001
    rows = [ending(m) for m in mels if m.notes]
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]} | {"melodies": len(rows)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="melody-transformer")
    ap.add_argument("--num", type=int, default=150)
    ap.add_argument("--seed", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    lm = load_model(args.model)
    held = load_heldout(training_data_settings(lm), lm.tokenizer)
    real = [m for m in (held.tokenizer.decode([int(i) for i in d]) for d in held.docs("test")) if m.notes]
    out = {"real tunes (test split, on a 4/4 grid)": rates(real)}
    for cadence in (False, True):
        mels = generate_melodies(lm, bars=8, num=args.num, seed=args.seed, cadence=cadence)
        out[f"{args.model}, cadence={cadence}"] = rates(mels)
    keys = ["cadence", "tonic", "strong beat", "held a beat"]
    print(markdown_table(["melodies", "n", *keys],
                         [[k, v["melodies"], *(f"{v[c]:.1%}" for c in keys)] for k, v in out.items()]))
    (RESULTS / "cadence.json").write_text(json.dumps({"environment": environment(), "results": out}, indent=1))


if __name__ == "__main__":
    main()

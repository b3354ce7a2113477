"""Choose a melody model's sampling temperature on the valid split (never the test split).

For each temperature, ``--num`` 8-bar melodies are generated and their
MusPy-named metrics compared with the valid split's melodies (cut to 8 bars,
as in ``melody_quality.py``). The temperature whose largest |relative
difference| over the metrics is smallest wins; ``scripts/ship_model.py
--temperature`` then records it as the model's default.

usage: python bench/melody_temperature.py MODEL [MODEL ...] [--temperatures 0.9 0.95 1.0] [--num 300]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common import markdown_table, report


def main() -> None:
    from muse.music.compose import generate_melodies
    from muse.music.evaluate import MELODY_METRICS, heldout_melodies, load_heldout, training_data_settings
    from muse.music.metrics import compare_metrics
    from muse.recipes.hub import load_model

    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("models", nargs="+", help="model dirs, run dirs or shipped names")
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.9, 0.95, 1.0])
    p.add_argument("--num", type=int, default=300)
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="30 melodies per temperature")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    num = 30 if args.quick else args.num

    rows, results = [], {}
    for name in args.models:
        lm = load_model(name, expect_kind="melody")
        held = load_heldout(training_data_settings(lm), lm.tokenizer)
        reference = heldout_melodies(held.tokenizer, held.docs("valid"), args.bars)
        per_t = {}
        for t in args.temperatures:
            mels = generate_melodies(lm, bars=args.bars, num=num, seed=args.seed, temperature=t)
            diffs = {r.name: r.rel_diff for r in compare_metrics(mels, reference, MELODY_METRICS)}
            per_t[t] = diffs
        best = min(per_t, key=lambda t: max(abs(v) for v in per_t[t].values()))
        for t, diffs in per_t.items():
            worst = max(diffs, key=lambda k: abs(diffs[k]))
            rows.append([Path(name).name if Path(name).name != "model" else Path(name).parent.name, t,
                         sum(abs(v) <= 0.15 for v in diffs.values()), f"{worst} {diffs[worst]:+.1%}",
                         "chosen" if t == best else ""])
        results[str(name)] = {"reference_melodies": len(reference), "rel_diff": {str(t): d for t, d in per_t.items()},
                              "chosen": best}
    header = ["model", "temperature", f"metrics within 15% (of {len(MELODY_METRICS)})", "largest difference", ""]
    print(markdown_table(header, rows))
    report("melody_temperature", args, header, rows, {"num": num, "split": "valid", "models": results})


if __name__ == "__main__":
    main()

"""Does a melody model trained with ``data.control`` listen to its controls? (issue #13)

For a model whose tokenizer has a control prefix, every held-out document
(``--split``, default valid) is scored twice: its melody tokens (everything after
the prefix, EOS included) given its own prefix, and given the prefix with one part
swapped (:data:`SWAPS`): the meter 6/8 <-> 3/4 (one bar length, the pair the
shipped models confuse) and 2/4 <-> 4/4, or the mode major <-> minor. A model that uses the control scores the true prefix better:
the report gives the mean melody NLL (nats/token) under both and the share of
documents where the true prefix wins. Documents are cut to the model's context
(``max_context``, the transformer's block size; RNNs read them whole).

``--onsets N``: N melodies of 8 bars asked in 6/8 and N in 3/4 (seed 0, no key), and
the share of their onsets on each of the bar's 12 sixteenth steps: 6/8 tunes put
theirs on steps 0, 6 and the eighths around them (2, 4, 8, 10), 3/4 tunes on the
quarters 0, 4, 8 (bench/README.md, melody_oa: Essen 6/8 tunes hold 0.08 of their
onsets on step 8 and 0.19 / 0.23 on steps 6 / 10; 3/4 tunes 0.26 on step 8).

usage: OMP_NUM_THREADS=1 python bench/melody_control.py MODEL [--split valid] [--limit N] [--onsets N] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

SWAPS = {"meter": {(6, 8): (3, 4), (3, 4): (6, 8), (2, 4): (4, 4), (4, 4): (2, 4)},
         "mode": {"major": "minor", "minor": "major"}}


@torch.inference_mode()
def body_nll(model, doc: list[int], prefix_len: int) -> tuple[float, int]:  # noqa: ANN001
    """Summed NLL (nats) of ``doc``'s tokens after BOS and its ``prefix_len`` control tokens, and their count."""
    from muse.core.module import StepContext
    from muse.models.lm import IGNORE_INDEX

    x = torch.tensor([doc[:-1]])
    y = torch.tensor([doc[1:]])
    y[0, :prefix_len] = IGNORE_INDEX
    out = model.loss({"input": x, "target": y}, StepContext(training=False))
    n = int(out["ntokens"])
    return float(out["loss"]) * n, n


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a model directory (or run) trained with data.control")
    p.add_argument("--split", default="valid")
    p.add_argument("--limit", type=int, default=None, help="at most this many documents")
    p.add_argument("--onsets", type=int, default=0, help="melodies per meter for the onset profiles (0: none)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    from muse.music.evaluate import load_heldout, training_data_settings
    from muse.recipes.hub import load_model

    lm = load_model(args.model, expect_kind="melody")
    tok = lm.tokenizer
    if not tok.controls:
        raise SystemExit(f"{args.model}: trained without data.control (no control prefix to test)")
    model = lm.model.eval()
    context = getattr(model, "max_context", None)
    docs = load_heldout(training_data_settings(lm), tok).docs(args.split)[: args.limit]
    result: dict = {"model": str(args.model), "split": args.split, "controls": list(tok.controls), "parts": {}}
    for part, swap in SWAPS.items():
        if part not in tok.controls:
            continue
        true_nll = wrong_nll = tokens = wins = n_docs = 0
        for d in docs:
            d = [int(i) for i in d][: (context + 1) if context else None]
            c = tok.controls_of_ids(d)
            if c.get(part) not in swap:
                continue
            plen = len(d) - 1 - len(tok.strip_controls(d[1:]))
            other = dict(c, **{part: swap[c[part]]})
            wrong = tok.control_tokens(other.get("meter"), other.get("key"), other.get("mode"), other.get("corpus"))
            assert len(wrong) == plen
            a, n = body_nll(model, d, plen)
            b, _ = body_nll(model, [d[0], *wrong, *d[1 + plen:]], plen)
            true_nll, wrong_nll, tokens = true_nll + a, wrong_nll + b, tokens + n
            wins += a < b
            n_docs += 1
        if n_docs:
            result["parts"][part] = {"docs": n_docs, "tokens": tokens, "nll_true": round(true_nll / tokens, 4),
                                     "nll_swapped": round(wrong_nll / tokens, 4),
                                     "true_wins": round(wins / n_docs, 3)}
    if args.onsets:
        from muse.music.compose import MelodyRequest, compose

        result["onsets"] = {}
        for meter in ("6/8", "3/4"):
            mels = compose(lm, MelodyRequest(bars=8, time_signature=meter), lm.generation_config.updated(seed=0),
                           num=args.onsets)
            counts = np.zeros(12)
            for m in mels:
                for n in m.notes:
                    counts[n.start % 12] += 1
            result["onsets"][meter] = [round(float(c), 3) for c in counts / counts.sum()]
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    np.seterr(all="ignore")
    main(sys.argv[1:])

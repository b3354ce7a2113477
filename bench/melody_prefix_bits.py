"""Held-out bits per event of melody models trained with ``data.control``, with and without their control prefix.

``muse eval melody`` (:func:`muse.evaluate_melody_model`) scores every token after
BOS, the control prefix (``TimeSig_4/4 Mode_minor``) included, which a model
trained without controls never has to predict. To compare the two kinds on the
same events, each test document of the model's own corpus and split is scored
three ways with :func:`common.document_bits` (whole documents, sliding windows
past the context): all tokens after BOS (what ``muse eval`` reports), the melody
events and EOS given the prefix (the events a plain model is scored on), and the
prefix tokens alone. Default models: the shipped ``melody-transformer`` and
``melody-lstm``.

usage: OMP_NUM_THREADS=1 python bench/melody_prefix_bits.py [--models NAME ...] [--split test] [--out PATH]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common import document_bits, report


def main() -> None:
    from muse.music.evaluate import load_heldout, training_data_settings
    from muse.recipes.hub import load_model

    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--models", nargs="*", default=["melody-transformer", "melody-lstm"])
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    args.quick = False
    header = ["model", "split", "docs", "bits/event, all after BOS", "events", "bits/event, melody given prefix",
              "events", "prefix bits per document"]
    rows, results = [], {}
    for name in args.models:
        lm = load_model(name, expect_kind="melody")
        tok = lm.tokenizer
        docs = [[int(i) for i in d] for d in load_heldout(training_data_settings(lm), tok).docs(args.split)]
        starts = [1 + (len(d) - 1 - len(tok.strip_controls(d[1:]))) for d in docs]  # first melody token
        every = document_bits(lm.model, [(d, 1) for d in docs], tok.pad_id)
        body = document_bits(lm.model, list(zip(docs, starts)), tok.pad_id)
        n_all = sum(len(d) - 1 for d in docs)
        n_body = sum(len(d) - s for d, s in zip(docs, starts))
        results[name] = {"docs": len(docs), "controls": list(tok.controls), "events_all": n_all,
                         "bits_per_event_all": every / n_all, "events_melody": n_body,
                         "bits_per_event_melody": body / n_body, "prefix_bits_per_doc": (every - body) / len(docs)}
        r = results[name]
        rows.append([name, args.split, len(docs), f"{r['bits_per_event_all']:.4f}", n_all,
                     f"{r['bits_per_event_melody']:.4f}", n_body, f"{r['prefix_bits_per_doc']:.2f}"])
    report("melody_prefix_bits", args, header, rows, {"split": args.split, "models": results})


if __name__ == "__main__":
    main()

"""English poem models: held-out bits per character against a Kneser-Ney 5-gram, and what the poems look like.

For each model directory (default: the shipped ``poem-english``; or ``--models DIR ...``):

* **held-out bits per character** on the test split of the ``english-poetry`` corpus as
  ``muse train poem`` holds it out (split by each poem's stable id: a function of its
  content), scored as ``<bos> text <eos>`` with the model's own character tokenizer
  (sliding windows past the context); beside it an interpolated Kneser-Ney character
  5-gram fitted on the train split (discount chosen on the valid split);
* **speaker tags**: the share of ``--poems`` free poems (8 lines) with a line such as
  ``ARIEL:`` or ``First Citizen:`` (play dialogue, what a model trained on plays writes);
* **rhyme-scheme requests**: the share of AABB / ABAB 8-line requests that succeed.

Writes ``bench/results/poetry_english.json``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, environment, markdown_table  # noqa: E402
from poetry_tang import heldout_bits  # noqa: E402

from muse.data.store import split_of  # noqa: E402
from muse.errors import MuseError  # noqa: E402
from muse.models.ngram import KneserNeyLM  # noqa: E402
from muse.poetry.compose import PoemRequest, write_poems  # noqa: E402
from muse.poetry.poem_recipe import RECIPE  # noqa: E402
from muse.recipes.hub import load_model  # noqa: E402

SPEAKER = re.compile(r"^\s*[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*:\s*$")


def split_texts(corpus: str) -> dict[str, list[str]]:
    data = RECIPE.data_config({"corpus": corpus})
    items, _ = RECIPE.load_items(data)
    out: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for item_id, text in items:
        out[split_of(item_id, data.valid_frac, data.test_frac)].append(text)
    return out


def ngram_bits(tok, splits: dict[str, list[str]], order: int = 5) -> dict[str, float]:  # noqa: ANN001
    enc = {s: [[tok.bos_id, *tok.encode(t), tok.eos_id] for t in texts] for s, texts in splits.items()}
    best = None
    for d in (0.6, 0.75, 0.9):
        kn = KneserNeyLM(order, d).fit(enc["train"], tok.vocab_size)
        bits = kn.evaluate(enc["valid"])["bits"]
        if best is None or bits < best[0]:
            best = (bits, d, kn)
    test = best[2].evaluate(enc["test"])
    chars = sum(len(t) + 1 for t in splits["test"])
    return {"bits_per_char": test["bits"] * test["ntokens"] / chars, "discount": best[1], "order": order}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--models", nargs="+", default=["poem-english"])
    p.add_argument("--corpus", default="english-poetry")
    p.add_argument("--poems", type=int, default=60)
    p.add_argument("--max-test", type=int, default=None, help="score at most this many held-out poems")
    p.add_argument("--out", type=Path, default=RESULTS / "poetry_english.json")
    a = p.parse_args()
    torch.set_num_threads(1)
    splits = split_texts(a.corpus)
    test = splits["test"][: a.max_test] if a.max_test else splits["test"]
    results, rows = [], []
    kn = None
    for name in a.models:
        try:
            lm = load_model(name, expect_kind="poem")
        except MuseError as e:
            print(f"poetry_english: skipped {name}: {e}")
            continue
        t0 = time.perf_counter()
        held = heldout_bits(lm, test)
        if kn is None:
            kn = ngram_bits(lm.tokenizer, {**splits, "test": test})
        free = write_poems(lm, PoemRequest(lines=8), num=a.poems, seed=1)
        tagged = sum(any(SPEAKER.match(line) for line in poem.split("\n")) for poem in free)
        ok = {}
        for scheme in ("AABB", "ABAB"):
            done = 0
            for i in range(10):
                try:
                    write_poems(lm, PoemRequest(lines=8, rhyme_scheme=scheme), seed=100 + i)
                    done += 1
                except MuseError:
                    pass
            ok[scheme] = done / 10
        r = {"model": str(name), "heldout": held, "speaker_tag_share": tagged / len(free), "scheme_success": ok,
             "seconds": time.perf_counter() - t0, "sample": free[:3]}
        results.append(r)
        rows.append([str(name), f"{held['bits_per_char']:.3f}", f"{kn['bits_per_char']:.3f}",
                     f"{100 * r['speaker_tag_share']:.0f}%", f"{100 * ok['AABB']:.0f}%", f"{100 * ok['ABAB']:.0f}%"])
    env = environment()
    print(f"poetry_english: {len(test)} held-out poems ({sum(len(t) + 1 for t in test):,} chars), torch "
          f"{env['torch']}, 1 thread")
    print(markdown_table(["model", "held-out bits/char", "KN 5-gram", "poems with speaker tags", "AABB ok",
                          "ABAB ok"], rows))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"benchmark": "poetry_english", "environment": env, "ngram": kn,
                                 "test_poems": len(test), "models": results}, indent=1) + "\n", encoding="utf-8")
    print(f"results: {a.out}")


if __name__ == "__main__":
    main()

"""English poem models: held-out bits per character against a Kneser-Ney 5-gram, and what the poems look like.

For each model directory (default: the shipped ``poem-english``; or ``--models DIR ...``):

* **held-out bits per character** on the test split of the ``english-poetry`` corpus as
  ``muse train poem`` holds it out (split by each poem's stable id: a function of its
  content), scored as ``<bos> text <eos>`` with the model's own character tokenizer
  (sliding windows past the context); beside it an interpolated Kneser-Ney character
  5-gram fitted on the train split (discount chosen on the valid split);
* **speaker tags**: the share of ``--poems`` free poems (8 lines) with a line such as
  ``ARIEL:`` or ``First Citizen:`` (play dialogue, what a model trained on plays writes);
* **rhyme-scheme requests**: the share of AABB / ABAB / acrostic 8-line requests that succeed.

And what the verse is like, for the model under several requests and for the real held-out
poems (test split) under the same checkers:

* **rhymed lines**: share of lines whose final word rhymes (:func:`muse.poetry.rhyme.words_rhyme`,
  CMU) with the final word of a line at most two lines away (a couplet, an alternate rhyme);
* **broken endings**: share of lines one of whose last two words is not a word
  (:func:`muse.poetry.english.broken_ending`: not in CMU, a stray letter, no vowel);
* **iambic**: share of lines that scan as iambic pentameter, and as iambic of 2-7 feet
  (:func:`muse.poetry.meter.scans_iambic`);
* **speaker tags**, as above; seconds per poem.

Requests: free 8 lines; AABB and ABAB (written line by line, rhyme words chosen in context);
ABAB under the *previous* decoder (one pass, the rhyme word forced character by character by
:class:`muse.poetry.english.EnglishFormConstraint`), for the before/after fragment rate; free and
ABAB under ``meter="iambic"``. ``--show N`` prints N poems.

Writes ``bench/results/poetry_english.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, document_bits, environment, markdown_table  # noqa: E402

from muse.data.store import split_of  # noqa: E402
from muse.errors import MuseError  # noqa: E402
from muse.models.ngram import KneserNeyLM  # noqa: E402
from muse.poetry.compose import PoemRequest, _decode, _prompt_ids, words_of, write_poems  # noqa: E402
from muse.poetry.english import EnglishFormConstraint, broken_ending  # noqa: E402
from muse.poetry.meter import scans_iambic  # noqa: E402
from muse.poetry.rhyme import final_word, words_rhyme  # noqa: E402
from muse.sampling.sampler import generate  # noqa: E402
from muse.poetry.poem_recipe import RECIPE  # noqa: E402
from muse.recipes.hub import load_model  # noqa: E402

SPEAKER = re.compile(r"^\s*[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*:\s*$")


@torch.inference_mode()
def heldout_bits(lm,  # noqa: ANN001
                  texts: list[str], batch: int = 16) -> dict[str, float]:
    """Bits per character and per token of ``<bos> text <eos>`` for every text."""
    tok, model = lm.tokenizer, lm.model.eval()
    docs = [[tok.bos_id, *tok.encode(t), tok.eos_id] for t in texts]
    chars = sum(len(t) + 1 for t in texts)
    unk = getattr(tok, "unk_id", None)
    bits = document_bits(model, [(d, 1) for d in docs], tok.pad_id, batch)
    n_tok = n_unk = 0
    for d in docs:
        n_tok += len(d) - 1
        n_unk += sum(1 for t in d[1:] if t == unk) if unk is not None else 0
    return {"bits_per_char": bits / chars, "bits_per_token": bits / n_tok, "tokens": n_tok, "chars": chars,
            "unk_share": n_unk / n_tok}


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


def verse_stats(poems: list[str]) -> dict[str, float]:
    """Shares of lines that rhyme nearby, end brokenly, scan iambic; share of poems with a speaker tag."""
    n = rhymed = broken = penta = iamb = 0
    tagged = 0
    for poem in poems:
        lines = [ln for ln in poem.split("\n") if ln.strip()]
        tagged += any(SPEAKER.match(ln) for ln in lines)
        finals = [final_word(ln) for ln in lines]
        for i, ln in enumerate(lines):
            n += 1
            near = [finals[j] for j in range(max(0, i - 2), min(len(lines), i + 3)) if j != i]
            rhymed += bool(finals[i]) and any(f and words_rhyme(finals[i], f) for f in near)
            broken += broken_ending(ln)
            penta += scans_iambic(ln, 5)
            iamb += scans_iambic(ln, None)
    return {"lines": n, "rhymed_lines": rhymed / max(n, 1), "broken_endings": broken / max(n, 1),
            "iambic_pentameter": penta / max(n, 1), "iambic_any": iamb / max(n, 1),
            "speaker_tags": tagged / max(len(poems), 1)}


def legacy_poems(lm, req: PoemRequest, num: int, seed: int) -> list[str]:  # noqa: ANN001
    """The previous decoder: one sampling pass, the rhyme word forced by the character-level constraint."""
    tok = lm.tokenizer
    c = EnglishFormConstraint(tok, lines=req.lines, rhyme_scheme=req.rhyme_scheme, words=words_of(lm))
    cfg = lm.generation_config.updated(max_new_tokens=c.max_tokens())
    out = []
    for k in range(num):
        run = cfg.updated(seed=seed + k, eos_id=tok.eos_id)
        out += [_decode(tok, s) for s in generate(lm.model, _prompt_ids(tok, req), run, [c])]
    return out


REQUESTS = {
    "free": PoemRequest(lines=8),
    "AABB": PoemRequest(lines=8, rhyme_scheme="AABB"),
    "ABAB": PoemRequest(lines=8, rhyme_scheme="ABAB"),
    "ABAB (previous decoder)": PoemRequest(lines=8, rhyme_scheme="ABAB"),
    "free, iambic": PoemRequest(lines=8, meter="iambic"),
    "ABAB, iambic": PoemRequest(lines=8, rhyme_scheme="ABAB", meter="iambic"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--models", nargs="+", default=["poem-english"])
    p.add_argument("--corpus", default="english-poetry")
    p.add_argument("--poems", type=int, default=60)
    p.add_argument("--max-test", type=int, default=None, help="score at most this many held-out poems")
    p.add_argument("--out", type=Path, default=RESULTS / "poetry_english.json")
    p.add_argument("--verse-poems", type=int, default=20, help="poems per request for the verse measures")
    p.add_argument("--show", type=int, default=0, help="print this many poems of each request")
    p.add_argument("--no-bits", action="store_true", help="skip held-out bits/char (the slow part)")
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
        held = kn_held = None
        if not a.no_bits:
            held = heldout_bits(lm, test)
            if kn is None:
                kn = ngram_bits(lm.tokenizer, {**splits, "test": test})
        free = write_poems(lm, PoemRequest(lines=8), num=a.poems, seed=1)
        tagged = sum(any(SPEAKER.match(line) for line in poem.split("\n")) for poem in free)
        ok = {}
        for label, req in (("AABB", PoemRequest(lines=8, rhyme_scheme="AABB")),
                           ("ABAB", PoemRequest(lines=8, rhyme_scheme="ABAB")),
                           ("acrostic", PoemRequest(acrostic="NIGHTFALL"))):
            done = 0
            for i in range(10):
                try:
                    write_poems(lm, req, seed=100 + i)
                    done += 1
                except MuseError as e:
                    print(f"poetry_english: {label} seed {100 + i} failed: {e}")
            ok[label] = done / 10
        verse = {}
        for label, req in REQUESTS.items():
            t1 = time.perf_counter()
            if label.endswith("(previous decoder)"):
                poems = legacy_poems(lm, req, a.verse_poems, 7)
            else:
                poems = write_poems(lm, req, num=a.verse_poems, seed=7)
            verse[label] = {**verse_stats(poems), "seconds_per_poem": (time.perf_counter() - t1) / len(poems),
                            "poems": poems[: max(a.show, 3)]}
            print(f"poetry_english: {name} {label}: {json.dumps({k: v for k, v in verse[label].items() if k != 'poems'})}")
            for poem in poems[: a.show]:
                print(f"--- {label}\n{poem}")
        r = {"model": str(name), "heldout": held, "speaker_tag_share": tagged / len(free), "scheme_success": ok,
             "verse": verse, "seconds": time.perf_counter() - t0, "sample": free[:3]}
        results.append(r)
        rows.append([str(name), f"{held['bits_per_char']:.3f}" if held else "-",
                     f"{kn['bits_per_char']:.3f}" if kn else "-",
                     f"{100 * r['speaker_tag_share']:.0f}%", f"{100 * ok['AABB']:.0f}%", f"{100 * ok['ABAB']:.0f}%",
                     f"{100 * ok['acrostic']:.0f}%"])
    real = verse_stats(test)
    print(f"poetry_english: held-out poems: {json.dumps(real)}")
    verse_rows = [["held-out poems (test split)", *_verse_cells(real), "-"]]
    for r in results:
        verse_rows += [[f"{r['model']}: {label}", *_verse_cells(v), f"{v['seconds_per_poem']:.1f}"]
                       for label, v in r["verse"].items()]
    env = environment()
    print(f"poetry_english: {len(test)} held-out poems ({sum(len(t) + 1 for t in test):,} chars), torch "
          f"{env['torch']}, 1 thread")
    print(markdown_table(["model", "held-out bits/char", "KN 5-gram", "poems with speaker tags", "AABB ok",
                          "ABAB ok", "acrostic ok"], rows))
    print(markdown_table(["poems", "rhymed lines", "broken endings", "iambic pentameter", "iambic 2-7 feet",
                          "speaker tags", "s / poem"], verse_rows))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"benchmark": "poetry_english", "environment": env, "ngram": kn,
                                 "test_poems": len(test), "heldout_verse": real, "models": results}, indent=1) + "\n",
                     encoding="utf-8")
    print(f"results: {a.out}")


def _verse_cells(v: dict) -> list[str]:
    return [f"{100 * v[k]:.1f}%" for k in ("rhymed_lines", "broken_endings", "iambic_pentameter", "iambic_any",
                                           "speaker_tags")]


if __name__ == "__main__":
    main()

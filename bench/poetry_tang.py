"""Tang poetry models judged as poets judge them, beside real held-out Tang poems.

For each model directory (default: the shipped ``poem-tang``; or ``--models DIR ...``,
model or run dirs):

* **held-out bits per character** of the poem body (its characters and EOS),
  given the document's prefix (title, form tag) when the model was trained with
  one, on three sets: the Tang **test** split (``split_of(stable id)``, the split
  ``muse train poem`` holds out), the **clean** test poems (no half-line shared
  with any training-split poem), and **Song** poems (out of domain: a JSONL of
  chinese-poetry Song 诗 converted to simplified, ``--song``, default
  /work/song_poems.jsonl; skipped when absent; never trained on). Beside each, an
  interpolated **Kneser-Ney 5-gram** (:mod:`muse.models.ngram`, discount tuned on
  the valid split) fitted on the same training documents with the same tokenizer,
  scored on the same tokens. Body bits = bits of the whole ``<bos> doc <eos>``
  minus the bits of its ``<bos> prefix`` (the same predictions), so both models
  see the prefix;
* **poems as poets judge them**, ``--poems`` per form (五绝 七绝 五律 七律), written
  by :func:`muse.poetry.compose.write_poems` (model defaults) with no option,
  with ``--rhyme`` and with ``--tonal``, and the same number of **real** poems of
  each form from the test split: rhyme (the even lines end in one 平水韵 level-tone
  group), a repeated rhyme character, the first line rhyming too (七言), 平仄
  (every line fits a regulated pattern by classical tones, 一三五不论, no 孤平 /
  三平尾), a character twice in one line (not a 叠字 pair), and copied lines (a
  generated half-line that is a half-line of a training poem).

``--quick``: 300 held-out poems, 20 poems per form. Writes ``bench/results/poetry_tang.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py; it also puts the repo on sys.path

from common import RESULTS, document_bits, environment, markdown_table  # noqa: E402
from muse.data.store import split_of  # noqa: E402
from muse.errors import MuseError  # noqa: E402
from muse.models.ngram import KneserNeyLM  # noqa: E402
from muse.poetry import pingshui  # noqa: E402
from muse.poetry.compose import CHINESE_FORMS, PoemRequest, write_poems  # noqa: E402
from muse.poetry.corpora import (FORM_TAGS, chinese_lines, form_tag, iter_corpus_poems, poem_to_text,  # noqa: E402
                                 read_poems, split_prefix)
from muse.poetry.forms import get_form  # noqa: E402
from muse.poetry.poem_recipe import RECIPE  # noqa: E402
from muse.recipes.hub import SHIPPED_DIR, LoadedModel, load_model  # noqa: E402

PUNCT = "，。？！；：、」』”’》）"
SONG = Path("/work/song_poems.jsonl")
CONDITIONS = {"muse": {}, "muse --rhyme": {"rhyme": True}, "muse --tonal": {"tonal": True}}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("--models", nargs="+", type=Path, default=None, help="model or run directories to compare")
    p.add_argument("--quick", action="store_true", help="300 held-out poems, 20 poems per form")
    p.add_argument("--poems", type=int, default=None, help="poems per form and condition (default 200)")
    p.add_argument("--max-test", type=int, default=None, help="score at most this many held-out poems per set")
    p.add_argument("--song", type=Path, default=SONG, help="Song poems (JSONL, simplified) for out-of-domain bits")
    p.add_argument("--no-bits", action="store_true", help="skip bits/char (and the n-gram)")
    p.add_argument("--no-poems", action="store_true", help="skip writing and judging poems")
    p.add_argument("--kn-cache", type=Path, default=Path.home() / ".cache" / "muse" / "bench",
                   help="folder for the fitted 5-grams (one per tokenizer and data options)")
    p.add_argument("--constrained-poems", type=int, default=None,
                   help="poems per form with --rhyme / --tonal (default: --poems)")
    p.add_argument("--gen-batch", type=int, default=20, help="poems written per generate call")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=RESULTS / "poetry_tang.json")
    a = p.parse_args()
    a.poems = a.poems or (20 if a.quick else 200)
    a.max_test = a.max_test or (300 if a.quick else None)
    return a


# ---------------------------------------------------------------- data


def data_options(lm: LoadedModel) -> dict[str, Any]:
    """The model's own ``data`` options (prefix, split fractions), corpus ``tang``."""
    data = RECIPE.data_defaults()
    data.update({k: v for k, v in (lm.meta.get("data") or {}).items() if k in data})
    data["corpus"] = "tang"
    return data


def load_split(data: dict[str, Any]) -> dict[str, list[tuple[Any, str]]]:
    """split -> [(poem, document text)] exactly as ``muse train poem`` splits and writes them."""
    poems, _ = iter_corpus_poems("tang")
    out: dict[str, list[tuple[Any, str]]] = {"train": [], "valid": [], "test": []}
    for p in poems:
        text = poem_to_text(p, with_title=data["with_title"], with_author=data["with_author"],
                            control=data.get("control", "none"))
        out[split_of(p.stable_id(), data["valid_frac"], data["test_frac"])].append((p, text))
    return out


def half_lines(text: str) -> list[str]:
    body = split_prefix(text)[2]
    return [h.rstrip(PUNCT) for ln in body.split("\n") for h in chinese_lines(ln)]


def body_lines(text: str) -> list[str]:
    """The lines of a poem body without punctuation."""
    return [h for h in half_lines(text) if h]


# ---------------------------------------------------------------- bits per character


def _encode(tok, text: str) -> tuple[list[int], int]:  # noqa: ANN001
    """``<bos> doc <eos>`` and the index of the first body token (after the prefix's sep)."""
    ids = [tok.bos_id, *tok.encode(text), tok.eos_id]
    sep = getattr(tok, "sep_id", None)
    start = ids.index(sep) + 1 if sep is not None and sep in ids else 1
    return ids, start


def neural_body_bits(lm: LoadedModel, texts: list[str], batch: int = 32) -> float:
    """Total bits of the body tokens (and EOS) of every text, given its prefix."""
    return document_bits(lm.model, [_encode(lm.tokenizer, t) for t in texts], lm.tokenizer.pad_id, batch)


def ngram_body_bits(kn: KneserNeyLM, tok, texts: list[str]) -> float:  # noqa: ANN001
    """Total bits of the body tokens (and EOS): whole documents minus their ``<bos> prefix`` part."""
    docs = [_encode(tok, t) for t in texts]
    full = kn.evaluate([d for d, _ in docs])
    total = full["bits"] * full["ntokens"]
    heads = [d[:start] for d, start in docs if start > 1]
    if heads:
        head = kn.evaluate(heads)
        total -= head["bits"] * head["ntokens"]
    return total


def body_chars(texts: list[str]) -> int:
    return sum(len(split_prefix(t)[2]) + 1 for t in texts)


def fit_ngram(tok, split: dict[str, list[tuple[Any, str]]], data: dict[str, Any], cache: Path | None,  # noqa: ANN001
              order: int = 5) -> tuple[KneserNeyLM, float]:
    """The 5-gram on the training documents, discount tuned on the valid split; cached per tokenizer and data."""
    import hashlib

    key = hashlib.sha1(json.dumps([tok.fingerprint(), data, order, len(split["train"])], sort_keys=True,
                                  default=str).encode()).hexdigest()[:16]
    path = cache / f"tang-kn{order}-{key}.npz" if cache else None
    if path is not None and path.is_file():
        kn = KneserNeyLM.load(path)
        return kn, kn.discount
    train = [_encode(tok, t)[0] for _, t in split["train"]]
    valid = [t for _, t in split["valid"]][:1000]
    best = None
    for d in (0.75, 0.9):
        kn = KneserNeyLM(order, d).fit(train, tok.vocab_size)
        bits = ngram_body_bits(kn, tok, valid)
        if best is None or bits < best[0]:
            best = (bits, d, kn)
    if path is not None:
        best[2].save(path)
    return best[2], best[1]


def log(msg: str) -> None:
    print(f"poetry_tang: {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def song_texts(path: Path, data: dict[str, Any], limit: int | None) -> list[str]:
    if not path.is_file():
        return []
    poems = read_poems(path)
    texts = [poem_to_text(p, with_title=data["with_title"], with_author=data["with_author"],
                          control=data.get("control", "none")) for p in poems]
    return texts[:limit] if limit else texts


def bits_table(lm: LoadedModel, split, data, args) -> dict[str, Any]:  # noqa: ANN001
    tok = lm.tokenizer
    train_lines = {h for _, t in split["train"] for h in half_lines(t) if h}
    test = [t for _, t in split["test"]]
    clean = [t for t in test if not any(h in train_lines for h in half_lines(t) if h)]
    sets = {"test": test, "clean": clean, "song": song_texts(args.song, data, None)}
    t0 = time.perf_counter()
    kn, discount = fit_ngram(tok, split, data, args.kn_cache)
    fit_s = time.perf_counter() - t0
    log(f"5-gram ready in {fit_s:.0f}s")
    out: dict[str, Any] = {"ngram": {"order": 5, "discount": discount, "fit_seconds": fit_s}}
    for name, texts in sets.items():
        if not texts:
            continue
        texts = texts[: args.max_test] if args.max_test else texts
        chars = body_chars(texts)
        unk = getattr(tok, "unk_id", None)
        n_unk = sum(1 for t in texts for i in tok.encode(split_prefix(t)[2]) if i == unk)
        model_bits = neural_body_bits(lm, texts) / chars
        ngram_bits = ngram_body_bits(kn, tok, texts) / chars
        log(f"bits on {name}: {model_bits:.3f} (5-gram {ngram_bits:.3f})")
        out[name] = {"poems": len(texts), "of": len(sets[name]), "chars": chars, "unk_share": n_unk / chars,
                     "model_bits_per_char": model_bits, "ngram_bits_per_char": ngram_bits,
                     "gain_vs_ngram_pct": 100 * (1 - model_bits / ngram_bits)}
    return out


# ---------------------------------------------------------------- poems as poets judge them


def judge(poems: list[str], form: str, train_lines: set[str] | None) -> dict[str, float]:
    """Per-form rates (percent of poems) of the classical criteria; see the module doc."""
    f = get_form(form)
    n = rhyme = repeat = rhyme_ok = first = tonal = inline = 0
    lines_total = copied = 0
    for text in poems:
        lines = body_lines(text)
        if len(lines) != f.lines or any(len(ln) != f.chars_per_line for ln in lines):
            continue
        n += 1
        even = [ln[-1] for ln in lines[1::2]]
        common = frozenset.intersection(*(pingshui.pingshui_groups(c) for c in even))
        rhyme += bool(common)
        first_rhymes = bool(common & pingshui.pingshui_groups(lines[0][-1]))
        first += first_rhymes
        ends = even + ([lines[0][-1]] if first_rhymes else [])
        repeated = len(set(ends)) < len(ends)
        repeat += repeated
        rhyme_ok += bool(common) and not repeated
        tonal += not pingshui.best_pattern(lines)[1]
        inline += any(pingshui.repeated_in_line(ln) for ln in lines)
        if train_lines is not None:
            lines_total += len(lines)
            copied += sum(ln in train_lines for ln in lines)
    pct = (lambda k: 100 * k / n) if n else (lambda k: float("nan"))
    out = {"poems": n, "rhyme_pct": pct(rhyme), "repeated_rhyme_char_pct": pct(repeat),
           "rhyme_no_repeat_pct": pct(rhyme_ok), "first_line_rhyme_pct": pct(first), "tonal_pct": pct(tonal),
           "inline_repeat_pct": pct(inline)}
    if train_lines is not None:
        out["copied_lines_pct"] = 100 * copied / max(1, lines_total)
    return out


def real_poems(split, n: int) -> dict[str, list[str]]:  # noqa: ANN001
    tags = {FORM_TAGS[(get_form(f).lines, get_form(f).chars_per_line)]: f for f in CHINESE_FORMS}
    out: dict[str, list[str]] = {f: [] for f in CHINESE_FORMS}
    for p, _ in split["test"]:
        form = tags.get(form_tag(p.text))
        if form and len(out[form]) < n:
            out[form].append(p.text)
    return out


def write(lm: LoadedModel, form: str, opts: dict[str, bool], n: int, gen_batch: int, seed: int) -> tuple[list[str], float]:
    poems: list[str] = []
    t0 = time.perf_counter()
    while len(poems) < n:
        k = min(gen_batch, n - len(poems))
        poems += write_poems(lm, PoemRequest(form=form, **opts), num=k, seed=seed + len(poems))
    return poems, (time.perf_counter() - t0) / n


def evaluate(model_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    lm = load_model(model_dir, expect_kind="poem")
    data = data_options(lm)
    split = load_split(data)
    notes = []
    recorded = ((lm.meta.get("corpus") or {}).get("splits") or {}).get("test", {}).get("docs")
    if recorded is not None and recorded != len(split["test"]):
        notes.append(f"held-out split has {len(split['test'])} poems but training recorded {recorded}: the model "
                     "was trained on another split (its held-out numbers may be optimistic)")
    train_lines = {h for _, t in split["train"] for h in half_lines(t) if h}
    result: dict[str, Any] = {
        "model": str(model_dir), "parameters": lm.model.num_parameters(), "model_config": dict(vars(lm.model.config)),
        "vocab_size": lm.tokenizer.vocab_size, "trained_steps": lm.meta.get("trained_steps"),
        "data": {k: data.get(k) for k in ("with_title", "control", "min_freq", "valid_frac", "test_frac")},
        "split": {k: len(v) for k, v in split.items()}, "notes": notes,
    }
    if not args.no_bits:
        result["bits"] = bits_table(lm, split, data, args)
    judged: dict[str, dict[str, Any]] = {}
    for form in CHINESE_FORMS if not args.no_poems else ():
        judged[form] = {}
        for cond, opts in CONDITIONS.items():
            n = args.poems if not opts or args.constrained_poems is None else args.constrained_poems
            poems, s_per_poem = write(lm, form, opts, n, args.gen_batch, args.seed)
            judged[form][cond] = {**judge(poems, form, train_lines), "s_per_poem": s_per_poem, "example": poems[0]}
            log(f"{form} {cond}: {len(poems)} poems, {s_per_poem:.2f} s/poem")
    result["forms"] = judged
    return result


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    try:
        iter_corpus_poems("tang")
    except MuseError as e:
        print(f"poetry_tang: skipped ({e})")
        return
    dirs = args.models or [SHIPPED_DIR / "poem-tang"]
    results = []
    for d in dirs:
        try:
            results.append(evaluate(d, args))
        except MuseError as e:
            print(f"poetry_tang: skipped {d}: {e}")
    if not results:
        return
    # real poems of each form from the (first model's) test split, judged the same way
    lm0 = load_model(dirs[0], expect_kind="poem")
    split0 = load_split(data_options(lm0))
    real = {form: judge(texts, form, None) for form, texts in real_poems(split0, args.poems).items()}
    env = environment()
    print(f"poetry_tang: torch {env['torch']}, {env['torch_threads']} threads, load {env['load_average']}")
    rows = []
    for r in results:
        for note in r["notes"]:
            print(f"note ({r['model']}): {note}")
        name = Path(r["model"]).parent.name if Path(r["model"]).name == "model" else Path(r["model"]).name
        for form in CHINESE_FORMS:
            for cond, g in r["forms"].get(form, {}).items():
                rows.append([name, form, cond, f"{g['rhyme_pct']:.1f}", f"{g['repeated_rhyme_char_pct']:.1f}",
                             f"{g['rhyme_no_repeat_pct']:.1f}", f"{g['first_line_rhyme_pct']:.1f}",
                             f"{g['tonal_pct']:.1f}", f"{g['inline_repeat_pct']:.1f}", f"{g['copied_lines_pct']:.1f}"])
    for form in CHINESE_FORMS:
        g = real[form]
        rows.append(["real Tang (test split)", form, f"{g['poems']} poems", f"{g['rhyme_pct']:.1f}",
                     f"{g['repeated_rhyme_char_pct']:.1f}", f"{g['rhyme_no_repeat_pct']:.1f}",
                     f"{g['first_line_rhyme_pct']:.1f}", f"{g['tonal_pct']:.1f}", f"{g['inline_repeat_pct']:.1f}", "-"])
    print(markdown_table(["model", "form", "written", "rhyme %", "rhyme char repeated %", "rhyme, no repeat %",
                          "line 1 rhymes %", "平仄 %", "char twice in a line %", "copied lines %"], rows))
    bit_rows = []
    for r in results:
        for name in ("test", "clean", "song"):
            b = r.get("bits", {}).get(name)
            if b:
                bit_rows.append([Path(r["model"]).name, name, f"{b['poems']}/{b['of']}", f"{b['model_bits_per_char']:.3f}",
                                 f"{b['ngram_bits_per_char']:.3f}", f"{b['gain_vs_ngram_pct']:.1f}",
                                 f"{100 * b['unk_share']:.2f}"])
    if bit_rows:
        print(markdown_table(["model", "set", "poems", "model bits/char", "KN 5-gram bits/char", "gain %", "unk %"],
                             bit_rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "poetry_tang", "quick": args.quick, "environment": env, "poems_per_form": args.poems,
               "seed": args.seed, "models": results, "real": real}
    args.out.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()

"""Tang poetry models: held-out bits per character, form compliance, speed and copying.

For each model directory (default: the shipped ``poem-tang`` and, when present,
``muse/pretrained/poem-tang-lstm``; or ``--models DIR ...``, model or run dirs):

* **held-out bits per character** on the test split of the Tang corpus, the split
  ``muse train poem`` holds out: poem *i* of source file *f* has piece id
  ``f"{f}#{i}"`` and is held out when ``split_of(id, valid_frac, test_frac) ==
  "test"`` (``PoemTask.load_items`` builds the ids; the run's own corpus name and
  fractions are used when the model records them, and the test-split size is
  checked against the one recorded at training time). Every poem is scored as
  ``<bos> text <eos>`` with the model's own tokenizer; the bits of all predicted
  tokens (EOS included) are divided by the characters (+1 per poem for EOS), so
  for a character tokenizer this equals the bits per token. Poems longer than a
  transformer's context are scored with a sliding window (stride half a context);
* **form compliance** of ``--poems`` poems of each form (五绝 七绝 五律 七律)
  written by :func:`muse.poetry.compose.write_poems` (defaults: temperature 0.8,
  top-p 0.95), judged by :func:`muse.poetry.forms.check_chinese_form`, with the
  wall time per poem (generated ``--gen-batch`` at a time, on the CPU);
* **copied half-lines**: the share of generated half-lines (punctuation removed)
  that occur verbatim as a half-line of a training-split poem.

``--quick`` scores at most 200 held-out poems and writes 10 poems per form.
Writes ``bench/results/poetry_tang.json``.
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

from common import RESULTS, environment, markdown_table  # noqa: E402
from muse.data.store import split_of  # noqa: E402
from muse.errors import MuseError  # noqa: E402
from muse.poetry.compose import CHINESE_FORMS, PoemRequest, write_poems  # noqa: E402
from muse.poetry.corpora import available_text_corpora, chinese_lines, split_prefix  # noqa: E402
from muse.poetry.forms import check_chinese_form  # noqa: E402
from muse.recipes.hub import SHIPPED_DIR, LoadedModel, load_model  # noqa: E402
from muse.poetry.poem_recipe import RECIPE  # noqa: E402

DEFAULT_MODELS = [SHIPPED_DIR / "poem-tang", SHIPPED_DIR / "poem-tang-lstm"]
OPTIONAL_DEFAULTS = {SHIPPED_DIR / "poem-tang-lstm"}
PUNCT = "，。？！；：、"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("--models", nargs="+", type=Path, default=None, help="model or run directories to compare")
    p.add_argument("--corpus", default="tang", help="Tang corpus: built-in name or JSONL path (default: tang)")
    p.add_argument("--quick", action="store_true", help="200 held-out poems, 10 poems per form")
    p.add_argument("--poems", type=int, default=None, help="poems per form (default 200; 10 with --quick)")
    p.add_argument("--max-test", type=int, default=None, help="score at most this many held-out poems")
    p.add_argument("--gen-batch", type=int, default=20, help="poems written per generate call")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=RESULTS / "poetry_tang.json")
    a = p.parse_args()
    a.poems = a.poems or (10 if a.quick else 200)
    a.max_test = a.max_test or (200 if a.quick else None)
    return a


def corpus_file(name: str) -> Path | None:
    named = {c.name: c.path for c in available_text_corpora()}
    p = Path(named.get(name, name))
    return p if p.is_file() else None


def run_config(model_dir: Path) -> dict[str, Any]:
    """The training run's config.json when ``model_dir`` is ``RUN/model`` (or a run dir), else {}."""
    for cand in (model_dir / "config.json", model_dir.parent / "config.json"):
        try:
            cfg = json.loads(cand.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if cfg.get("kind") == "poem" and isinstance(cfg.get("data"), dict):
            return cfg
    return {}


def corpus_options(lm: LoadedModel, model_dir: Path, corpus: str, path: Path) -> tuple[dict[str, Any], list[str]]:
    """``data`` options that rebuild the model's own piece ids, and notes on anything assumed."""
    notes: list[str] = []
    data = RECIPE.data_defaults()
    data.update(run_config(model_dir).get("data", {}))
    trained_on = (lm.meta.get("corpus") or {}).get("name")
    same = trained_on is not None and (corpus_file(trained_on) or Path("/nonexistent")).resolve() == path.resolve()
    if same:
        data["corpus"] = trained_on  # the exact name: piece ids contain the source path as it was given
    else:
        data["corpus"] = corpus
        notes.append(f"model records corpus {trained_on!r}, not {path}: its held-out split may differ")
    return data, notes


def load_split(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(train texts, test texts) exactly as ``muse train poem`` splits them."""
    items, _ = RECIPE.load_items(data)
    train, test = [], []
    for piece_id, text in items:
        s = split_of(piece_id, data["valid_frac"], data["test_frac"])
        (train if s == "train" else test if s == "test" else []).append(text)
    return train, test


@torch.no_grad()
def heldout_bits(lm: LoadedModel, texts: list[str], batch: int = 16) -> dict[str, float]:
    """Bits per character and per token of ``<bos> text <eos>`` for every text."""
    tok, model = lm.tokenizer, lm.model.eval()
    ctx = getattr(model, "max_context", None)
    docs = sorted(([tok.bos_id, *tok.encode(t), tok.eos_id] for t in texts), key=len)
    chars = sum(len(t) + 1 for t in texts)
    unk = getattr(tok, "unk_id", None)
    total = 0.0
    n_tok = n_unk = 0
    short = [d for d in docs if ctx is None or len(d) - 1 <= ctx]
    for i in range(0, len(short), batch):
        group = short[i : i + batch]
        width = max(map(len, group)) - 1
        inp = torch.full((len(group), width), tok.pad_id, dtype=torch.long)
        tgt = torch.full((len(group), width), -100, dtype=torch.long)
        for r, d in enumerate(group):
            inp[r, : len(d) - 1] = torch.tensor(d[:-1])
            tgt[r, : len(d) - 1] = torch.tensor(d[1:])
        logits, _ = model(inp)
        total += float(F.cross_entropy(logits.flatten(0, 1).float(), tgt.flatten(), ignore_index=-100, reduction="sum"))
    for d in docs[len(short):]:  # longer than the context: sliding windows, each target scored once
        stride = max(1, ctx // 2)
        scored = 0
        for start in range(0, len(d) - 1, stride):
            window = d[start : start + ctx + 1]
            logits, _ = model(torch.tensor([window[:-1]]))
            lp = F.log_softmax(logits[0].float(), -1)
            targets = torch.tensor(window[1:])
            first_new = scored - start
            total -= float(lp[first_new:].gather(1, targets[first_new:, None]).sum())
            scored = start + len(window) - 1
            if scored >= len(d) - 1:
                break
    for d in docs:
        n_tok += len(d) - 1
        n_unk += sum(1 for t in d[1:] if t == unk) if unk is not None else 0
    bits = total / math.log(2)
    return {"bits_per_char": bits / chars, "bits_per_token": bits / n_tok, "tokens": n_tok, "chars": chars,
            "unk_share": n_unk / n_tok}


def half_lines(text: str) -> list[str]:
    body = split_prefix(text)[2]
    return [h.rstrip(PUNCT + "」』”’》）") for ln in body.split("\n") for h in chinese_lines(ln)]


def forms(lm: LoadedModel, train_lines: set[str], n: int, gen_batch: int, seed: int) -> dict[str, dict[str, Any]]:
    out = {}
    for form in CHINESE_FORMS:
        poems: list[str] = []
        t0 = time.perf_counter()
        while len(poems) < n:
            k = min(gen_batch, n - len(poems))
            poems += write_poems(lm, PoemRequest(form=form), num=k, seed=seed + len(poems))
        seconds = time.perf_counter() - t0
        ok = sum(not check_chinese_form(p, form) for p in poems)
        lines = [h for p in poems for h in half_lines(p)]
        copied = sum(h in train_lines for h in lines)
        out[form] = {"poems": n, "compliant": ok, "compliant_pct": 100 * ok / n, "s_per_poem": seconds / n,
                     "half_lines": len(lines), "copied_half_lines_pct": 100 * copied / max(1, len(lines)),
                     "distinct_poems": len(set(poems)), "example": poems[0]}
    return out


def evaluate(model_dir: Path, args: argparse.Namespace, path: Path) -> dict[str, Any]:
    lm = load_model(model_dir, expect_kind="poem")
    data, notes = corpus_options(lm, model_dir, args.corpus, path)
    t0 = time.perf_counter()
    train, test = load_split(data)
    recorded = ((lm.meta.get("corpus") or {}).get("splits") or {}).get("test", {}).get("docs")
    if recorded is not None and recorded != len(test):
        notes.append(f"held-out split has {len(test)} poems but training recorded {recorded}")
    scored = test[: args.max_test] if args.max_test else test
    t1 = time.perf_counter()
    bits = heldout_bits(lm, scored)
    bits["seconds"] = time.perf_counter() - t1
    train_lines = {h for t in train for h in half_lines(t) if h}
    gen = forms(lm, train_lines, args.poems, args.gen_batch, args.seed)
    cfg = lm.model.config
    return {
        "model": str(model_dir), "model_name": lm.meta.get("model_name", type(lm.model).__name__),
        "architecture": getattr(cfg, "cell", None) or lm.meta.get("model_name", type(lm.model).__name__),
        "model_config": dict(vars(cfg)), "parameters": lm.model.num_parameters(),
        "tokenizer": lm.tokenizer.kind, "vocab_size": lm.tokenizer.vocab_size,
        "trained_steps": lm.meta.get("trained_steps", lm.meta.get("step")),
        "corpus": data["corpus"], "with_title": data["with_title"], "with_author": data["with_author"],
        "split": {"train": len(train), "test": len(test), "scored": len(scored),
                  "matches_training": recorded == len(test) if recorded is not None else None,
                  "read_seconds": t1 - t0},
        "heldout": bits, "forms": gen, "notes": notes,
    }


def label(model_dir: Path) -> str:
    """A short name: the directory, or RUN for RUN/model."""
    return model_dir.parent.name if model_dir.name == "model" else model_dir.name


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    path = corpus_file(args.corpus)
    if path is None:
        print(f"poetry_tang: skipped, the Tang corpus {args.corpus!r} is not on this machine "
              "(the tang corpus ships with muse: muse corpora list)")
        return
    dirs = args.models or DEFAULT_MODELS
    results, rows = [], []
    for d in dirs:
        if not d.exists():
            if args.models is not None or d not in OPTIONAL_DEFAULTS:
                print(f"poetry_tang: skipped {d} (not found)")
            continue
        try:
            r = evaluate(d, args, path)
        except MuseError as e:
            print(f"poetry_tang: skipped {d}: {e}")
            continue
        results.append(r)
        for note in r["notes"]:
            print(f"note ({d}): {note}")
        for form, g in r["forms"].items():
            rows.append([label(d), f"{r['architecture']} {r['parameters'] / 1e6:.2f}M",
                         f"{r['heldout']['bits_per_char']:.3f}", form,
                         f"{g['compliant_pct']:.1f}% ({g['compliant']}/{g['poems']})",
                         f"{g['s_per_poem']:.3f}", f"{g['copied_half_lines_pct']:.1f}%"])
    if not results:
        print("poetry_tang: no model to evaluate (train one: muse train poem --corpus tang --out runs/tang)")
        return
    env = environment()
    print(f"poetry_tang: torch {env['torch']}, {env['torch_threads']} threads, {env['cpu']}, "
          f"load {env['load_average']}; held-out poems scored: {results[0]['split']['scored']} of {results[0]['split']['test']}")
    header = ["model", "params", "held-out bits/char", "form", "compliant", "s/poem", "copied half-lines"]
    print(markdown_table(header, rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "poetry_tang", "quick": args.quick, "environment": env, "corpus": str(path),
               "poems_per_form": args.poems, "gen_batch": args.gen_batch, "seed": args.seed, "models": results}
    args.out.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()

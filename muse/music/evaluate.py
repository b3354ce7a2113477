"""Evaluate a melody language model: held-out likelihood and MusPy metrics of its melodies.

Two measurements on the corpus the model was trained on (same tokenizer, same
data settings, same cached token store):

* negative log-likelihood of the held-out split (``test`` by default), in bits per
  event (every token after a document's BOS, EOS included) and bits per note (the
  same total bits divided by the number of notes in the split). A transformer
  reads documents longer than its context in overlapping windows (stride half
  the context), each token scored once, with at least half a context before it.
* MusPy-named metrics (:mod:`muse.music.metrics`) of ``num`` generated melodies of
  ``bars`` bars next to the held-out melodies, decoded from the same tokens and
  cut to the same number of bars.

Optionally the same is done for an interpolated Kneser-Ney 4-gram fitted on the
train split of the same tokens (its discount chosen on the valid split), the
count-based baseline the neural models should beat.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from muse.core.module import StepContext
from muse.errors import CheckpointError, ConfigError, DataError
from muse.models.lm import IGNORE_INDEX, TokenLM
from muse.music.melody import Melody
from muse.music.tokenizer import MusicTokenizer
from muse.tokenizers.base import Tokenizer

MELODY_METRICS = (
    "pitch_range", "n_pitches_used", "n_pitch_classes_used", "pitch_entropy", "pitch_class_entropy",
    "scale_consistency", "empty_beat_rate", "empty_measure_rate", "groove_consistency",
)
"""Metrics reported for melodies (the polyphony ones are constant for monophonic lines)."""
NGRAM_ORDER = 4
NGRAM_DISCOUNTS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class HeldOut:
    """A corpus as a model sees it: token stores, the tokenizer and the data settings."""

    stores: dict[str, Any]
    tokenizer: Tokenizer
    data: dict[str, Any]
    manifest: dict[str, Any]

    def docs(self, split: str) -> list[np.ndarray]:
        if split not in self.stores:
            raise ConfigError(f"split must be train, valid or test, not {split!r}")
        store = self.stores[split]
        return [np.asarray(store.doc(i), dtype=np.int64) for i in range(len(store))]


# ------------------------------------------------------------------ data settings


def training_data_settings(lm: Any) -> dict[str, Any]:
    """The ``data`` settings a loaded melody model was trained with (its ``recipe.json``,
    or a checkpoint's run config), machine-specific paths dropped."""
    from muse.music.melody_recipe import RECIPE

    data = RECIPE.data_defaults()
    found = lm.meta.get("data") or (lm.meta.get("run_config") or {}).get("data")
    if not found:
        raise CheckpointError("the model does not record the data it was trained on (data settings)", lm.source)
    data.update({k: v for k, v in found.items() if k in data})
    data["cache_dir"] = None  # a path of the machine it was trained on
    data["rebuild"] = False
    return data


def load_heldout(data: dict[str, Any], tokenizer: Tokenizer | None = None) -> HeldOut:
    """Open (building it if needed) the token store of ``data``, encoded by ``tokenizer``
    (default: the tokenizer those settings make)."""
    from muse.music.melody_recipe import RECIPE

    try:
        stores, tok, manifest = RECIPE.load_data(data, resume_tok=tokenizer)
    except CheckpointError as err:
        if "tokenizer differs" not in str(err):
            raise
        raise DataError(f"the cached tokens of corpus {data['corpus']!r} were made by another tokenizer than the "
                        "model's; rebuild them with `muse corpora build NAME --rebuild` and the model's data options"
                        ) from None
    return HeldOut(stores, tok, dict(data), manifest)


# ------------------------------------------------------------------ likelihood


def _windows(doc: np.ndarray, context: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input, target) windows scoring every token after the first exactly once."""
    n = len(doc) - 1
    if n < 1:
        return []
    if context is None or n <= context:
        return [(doc[:-1], doc[1:].copy())]
    stride = max(1, context // 2)
    out, scored, end = [], 0, context
    while True:
        start = end - context
        target = doc[start + 1 : end + 1].copy()
        target[: scored - start] = IGNORE_INDEX
        out.append((doc[start:end], target))
        scored = end
        if end == n:
            return out
        end = min(end + stride, n)


@torch.inference_mode()
def sequence_nll(model: TokenLM, docs: Sequence[Sequence[int]], *, device: str | torch.device = "cpu",
                 batch_tokens: int = 16384, pad_id: int = 0) -> tuple[float, int]:
    """Total negative log-likelihood (nats) of every token after each document's first,
    and the number of tokens scored: the model's own training loss (:func:`muse.models.lm.lm_loss`,
    a mean over the scored tokens) times that count, summed over batches of windows."""
    context = getattr(model, "max_context", None)
    windows = [w for d in docs for w in _windows(np.asarray(d, dtype=np.int64), context)]
    windows.sort(key=lambda w: len(w[0]))
    was_training = model.training
    model.eval()
    total, count, i = 0.0, 0, 0
    try:
        while i < len(windows):
            j = i + 1  # windows are sorted by length: grow the batch while rows x longest fits
            while j < len(windows) and (j - i + 1) * len(windows[j][0]) <= batch_tokens:
                j += 1
            group = windows[i:j]
            width = len(group[-1][0])
            inp = np.full((len(group), width), pad_id, dtype=np.int64)
            tgt = np.full((len(group), width), IGNORE_INDEX, dtype=np.int64)
            for r, (x, y) in enumerate(group):
                inp[r, : len(x)], tgt[r, : len(y)] = x, y
            batch = {"input": torch.from_numpy(inp).to(device), "target": torch.from_numpy(tgt).to(device)}
            out = model.loss(batch, StepContext(training=False))
            n = int(out["ntokens"])
            total += float(out["loss"]) * n
            count += n
            i += len(group)
    finally:
        model.train(was_training)
    return total, count


def count_notes(tokenizer: MusicTokenizer, docs: Sequence[Sequence[int]]) -> int:
    """Notes in the documents: tokens that start a note (pitch tokens)."""
    is_pitch = np.array([tokenizer.pitch_of(i) is not None for i in range(tokenizer.vocab_size)], dtype=bool)
    return int(sum(is_pitch[np.asarray(d, dtype=np.int64)].sum() for d in docs))


def _nll_report(nats: float, tokens: int, notes: int) -> dict[str, float]:
    bits = nats / math.log(2)
    return {"bits_per_event": bits / tokens, "bits_per_note": bits / notes if notes else math.nan,
            "nats_per_event": nats / tokens, "total_bits": bits}


# ------------------------------------------------------------------ n-gram baseline


def fit_ngram(heldout: HeldOut, order: int = NGRAM_ORDER, discounts: Sequence[float] = NGRAM_DISCOUNTS):
    """Interpolated Kneser-Ney model on the train split; the discount with the lowest
    valid-split perplexity wins (the first when the valid split is empty)."""
    from muse.models.ngram import KneserNeyLM

    train, valid = heldout.docs("train"), [d for d in heldout.docs("valid") if len(d) > 1]
    if not train:
        raise DataError(f"corpus {heldout.data['corpus']!r} has no training documents for the n-gram")
    best, best_bits = None, math.inf
    for d in discounts if valid else discounts[:1]:
        kn = KneserNeyLM(order, d).fit(train, heldout.tokenizer.vocab_size)
        bits = kn.evaluate(valid)["bits"] if valid else 0.0
        if bits < best_bits:
            best, best_bits = kn, bits
    return best


def ngram_melodies(kn: Any, tokenizer: MusicTokenizer, *, num: int, bars: int, seed: int = 0,
                   time_signature: tuple[int, int] = (4, 4), qpm: float = 120.0) -> list[Melody]:
    """``num`` melodies of ``bars`` bars sampled from an n-gram model, decoded as the neural models'
    are (:func:`muse.music.compose.compose`): the one sampler, at temperature 1, under the same
    length constraint (:class:`~muse.music.constraints.MelodyConstraint`)."""
    from muse.sampling.config import GenerationConfig
    from muse.models.ngram import KneserNeyDecoder
    from muse.music.compose import MelodyRequest, compose
    from muse.recipes.hub import LoadedModel

    lm = LoadedModel(KneserNeyDecoder(kn), tokenizer, "melody")
    request = MelodyRequest(bars=bars, qpm=qpm, time_signature=time_signature)
    return compose(lm, request, GenerationConfig(seed=seed), num=num)


# ------------------------------------------------------------------ reference melodies


def heldout_melodies(tokenizer: Tokenizer, docs: Sequence[Sequence[int]], bars: int) -> list[Melody]:
    """The documents as melodies, each cut to its first ``bars`` bars (shorter ones kept whole)."""
    out = []
    for d in docs:
        try:
            mel = tokenizer.decode([int(i) for i in d])
        except DataError:
            continue
        limit = bars * mel.steps_per_bar
        if mel.length > limit:
            mel = mel.slice(0, limit)
        if mel.notes:
            out.append(mel)
    return out


# ------------------------------------------------------------------ the evaluation


def _load_lm(model: Any, device: str):
    from muse.recipes.hub import LoadedModel, load_model

    lm = model if isinstance(model, LoadedModel) else load_model(model, device=device, expect_kind="melody")
    where = lm.source or model
    if lm.kind and lm.kind != "melody":
        raise CheckpointError(f"is a {lm.kind!r} model, not a 'melody' model", where)
    if not isinstance(lm.model, TokenLM):
        raise ConfigError(f"{where}: is a {getattr(lm.model, 'model_name', type(lm.model).__name__)!r} model; "
                          "muse eval melody evaluates RNN and transformer language models")
    if not isinstance(lm.tokenizer, MusicTokenizer):
        raise CheckpointError("has no melody tokenizer; evaluate a model trained with `muse train melody`", where)
    return lm


def evaluate_melody_model(
    model: Any = "melody-transformer",
    *,
    corpus: str | None = None,
    split: str = "test",
    num: int = 100,
    bars: int = 8,
    out: str | Path | None = None,
    ngram: bool = False,
    data: dict[str, Any] | None = None,
    seed: int = 0,
    temperature: float | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Held-out bits per event/note and MusPy metrics of ``num`` generated melodies.

    ``model`` is a shipped name, model/run directory, checkpoint or loaded model
    (an RNN or transformer melody LM); ``None`` evaluates only the n-gram baseline
    on ``data`` settings (task defaults otherwise). ``corpus`` replaces the corpus
    the model was trained on. With ``out`` the table (``metrics.md``), box plots
    (``metrics.png``) and everything (``eval.json``) are written there.
    Returns a JSON-able dict (see ``eval.json``).

    Args:
        model: ``"melody-transformer"`` (default), ``"melody-lstm"``, a model or
            run directory, a checkpoint, or a loaded melody model; None: the
            n-gram baseline only (needs ``ngram=True``).
        corpus: evaluate on this corpus (``"essen"``, ``"nottingham"``, a folder...)
            instead of the one the model was trained on; None: the model's own.
        split: the held-out split to score and compare with: ``"test"``,
            ``"valid"`` or ``"train"``.
        num: melodies to generate for the metrics (>= 1).
        bars: length of each generated melody, and of the reference melodies
            they are compared with (>= 1).
        out: folder for ``metrics.md``, ``metrics.png`` and ``eval.json``; None:
            write nothing.
        ngram: also fit and evaluate an interpolated Kneser-Ney 4-gram on the
            train split of the same tokens, as a baseline.
        data: data settings over the model's (melody recipe keys such as
            ``valid_frac``, ``test_frac``, ``min_bars``, ``cache_dir``); None: the
            model's own.
        seed: random seed of the generated melodies.
        temperature: sampling temperature of the generated melodies; None: the
            model's default.
        device: where the model runs (``"cpu"``, ``"cuda"``...).

    Returns:
        dict[str, Any]: JSON-able results: ``likelihood`` (``"model"`` and/or
        ``"ngram"`` -> ``bits_per_event``, ``bits_per_note``...), ``metrics``
        (per source, one row per MusPy metric with generated and reference
        mean/std and relative difference), ``tables`` (Markdown), the corpus,
        split, tokenizer and counts, ``seconds`` and, with ``out``, ``files``.

    Example:
        >>> import muse
        >>> result = muse.evaluate_melody_model("melody-lstm", num=20, bars=4, ngram=True, out="eval/lstm")
        >>> sorted(result["likelihood"])
        ['model', 'model_vs_ngram', 'ngram']
        >>> print(result["tables"]["model"])
    """
    from muse.music.compose import generate_melodies
    from muse.music.metrics import compare_metrics, format_table

    if num < 1 or bars < 1:
        raise ConfigError("num and bars must be >= 1")
    if model is None and not ngram:
        raise ConfigError("nothing to evaluate: give a model or ask for the n-gram baseline")
    lm = None if model is None else _load_lm(model, device)
    if lm is not None:
        settings = training_data_settings(lm)
    else:
        from muse.music.melody_recipe import RECIPE

        settings = RECIPE.data_defaults()
    settings.update(data or {})
    if corpus is not None:
        settings["corpus"] = corpus
    t0 = time.perf_counter()
    held = load_heldout(settings, lm.tokenizer if lm is not None else None)
    docs = held.docs(split)
    if not docs:
        raise DataError(f"the {split} split of corpus {settings['corpus']!r} is empty; "
                        "use a larger corpus or another --split")
    tok = held.tokenizer
    n_tokens = sum(len(d) - 1 for d in docs)
    n_notes = count_notes(tok, docs)
    reference = heldout_melodies(tok, docs, bars)
    if not reference:
        raise DataError(f"no melody with notes in the {split} split of corpus {settings['corpus']!r}")
    result: dict[str, Any] = {
        "model": None if lm is None else str(lm.source or model),
        "model_name": None if lm is None else lm.model.model_name,  # type: ignore[attr-defined]
        "parameters": None if lm is None else lm.model.num_parameters(),  # type: ignore[attr-defined]
        "corpus": str(settings["corpus"]), "split": split, "tokenizer": tok.kind, "vocab_size": tok.vocab_size,
        "docs": len(docs), "events": n_tokens, "notes": n_notes, "bars": bars, "num": num, "seed": seed,
        "data": {k: v for k, v in settings.items() if k not in ("cache_dir", "rebuild", "workers")},
        "likelihood": {}, "metrics": {}, "seconds": {"data": time.perf_counter() - t0},
    }
    generated: dict[str, list[Melody]] = {}
    if lm is not None:
        t0 = time.perf_counter()
        nats, count = sequence_nll(lm.model, docs, device=device, pad_id=tok.pad_id)
        result["likelihood"]["model"] = _nll_report(nats, count, n_notes)
        t1 = time.perf_counter()
        generated["model"] = generate_melodies(lm, bars=bars, num=num, seed=seed, temperature=temperature,
                                               device=device)
        result["seconds"].update(likelihood=t1 - t0, generate=time.perf_counter() - t1)
    if ngram:
        t0 = time.perf_counter()
        kn = fit_ngram(held)
        ev = kn.evaluate(docs)
        result["likelihood"]["ngram"] = {**_nll_report(ev["nats"] * ev["ntokens"], ev["ntokens"], n_notes),
                                         "order": kn.order, "discount": kn.discount}
        t1 = time.perf_counter()
        generated["ngram"] = ngram_melodies(kn, tok, num=num, bars=bars, seed=seed)
        result["seconds"].update(ngram_fit_eval=t1 - t0, ngram_generate=time.perf_counter() - t1)
    if "model" in result["likelihood"] and "ngram" in result["likelihood"]:
        m, g = result["likelihood"]["model"]["bits_per_event"], result["likelihood"]["ngram"]["bits_per_event"]
        result["likelihood"]["model_vs_ngram"] = (m - g) / g
    tables = {}
    for name, mels in generated.items():
        rows = compare_metrics(mels, reference, MELODY_METRICS)
        result["metrics"][name] = [_row_dict(r) for r in rows]
        tables[name] = format_table(rows)
    result["tables"] = tables
    result["reference_melodies"] = len(reference)
    if out is not None:
        result["files"] = _write(Path(out), result, generated, reference)
    return result


def _row_dict(row: Any) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(row).items()}


def _write(out: Path, result: dict[str, Any], generated: dict[str, list[Melody]],
           reference: list[Melody]) -> dict[str, str]:
    from muse.core.files import atomic_file, make_dirs, write_text
    from muse.music.metrics import plot_metrics

    make_dirs(out)
    files: dict[str, str] = {}
    write_text(out / "metrics.md", format_report(result) + "\n")
    files["table"] = str(out / "metrics.md")
    for name, mels in generated.items():
        png = out / ("metrics.png" if name == "model" or len(generated) == 1 else f"metrics-{name}.png")
        with atomic_file(png) as tmp:
            plot_metrics(mels, reference, tmp, MELODY_METRICS)
        files[f"png_{name}"] = str(png)
    files["json"] = str(out / "eval.json")
    result = {**result, "files": files}
    write_text(out / "eval.json", json.dumps(result, indent=1, default=_json_default) + "\n")
    return files


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return str(v)


def format_report(result: dict[str, Any]) -> str:
    """Markdown summary: likelihood table, then one metrics table per generator."""
    lines = [f"# {result['model'] or 'n-gram baseline'} on {result['corpus']} ({result['split']} split)", "",
             f"{result['docs']} documents, {result['events']} events, {result['notes']} notes; "
             f"tokenizer {result['tokenizer']} (vocabulary {result['vocab_size']})", "",
             "| model | bits/event | bits/note |", "|---|---|---|"]
    for name, r in result["likelihood"].items():
        if isinstance(r, dict):
            lines.append(f"| {name} | {r['bits_per_event']:.4f} | {r['bits_per_note']:.4f} |")
    if "model_vs_ngram" in result["likelihood"]:
        lines += ["", f"model vs {NGRAM_ORDER}-gram: {result['likelihood']['model_vs_ngram']:+.1%} bits per event"]
    for name, table in result.get("tables", {}).items():
        lines += ["", f"## {result['num']} generated {result['bars']}-bar melodies ({name}) vs "
                      f"{result['reference_melodies']} held-out melodies", "", table]
    return "\n".join(lines)

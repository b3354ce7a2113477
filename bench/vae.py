"""Melody VAE quality on held-out Essen windows: reconstruction, flat vs hierarchical, samples, interpolation.

For each model (``--models``: model dirs, run dirs or shipped names; default the
shipped ``vae-2bar`` when it exists) the test split of the data it was trained
on (corpus, bars, pitch range and split fractions from the model's config, so
the pieces were never seen in training) is cut into windows and measured:

* per-step reconstruction accuracy from ``z = mu``: teacher-forced (argmax with
  the true previous tokens), free-running sampled at temperature 1, and
  free-running greedy (MusicVAE's Table 1 measure), plus KL and the ELBO;
* flat vs hierarchical decoders: 16-bar models appear side by side with the
  same measurements on the same windows when trained on the same data;
* ``--num`` prior samples (z ~ N(0, I), temperature 1): MusPy-named metrics
  next to the held-out windows' (``compare_metrics``);
* interpolation smoothness: ``--pairs`` pairs of held-out windows, ``--steps``
  melodies along the slerp between their codes (greedy); for each attribute the
  share of steps that move toward the end's value (or stay), averaged, next to
  the same share for the intermediate melodies in shuffled order (chance).

``--quick`` with no ``--models`` trains three tiny models (2-bar flat; 16-bar
flat and hierarchical) for a few steps on the first ``--limit`` Essen pieces to
prove the pipeline; their numbers mean nothing.

usage: python bench/vae.py [--quick] [--models DIR ...] [--num N] [--pairs N] [--windows N] [--limit N]
"""
from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import ROOT, markdown_table, report

SHIPPED = ROOT / "muse" / "pretrained" / "vae-2bar"
QUICK_MODELS = {  # name: (model, data.bars, steps, batch)
    "quick-2bar-flat": ("vae", 2, 60, 32),
    "quick-16bar-flat": ("vae", 16, 12, 8),
    "quick-16bar-hier": ("vae-hier", 16, 12, 8),
}
QUICK_OVERRIDES = ["model.embed_dim=16", "model.enc_hidden=64", "model.dec_hidden=64", "model.dec_layers=1",
                   "model.z_dim=32", "model.conductor_hidden=64", "model.sampling_schedule=none",
                   "data.valid_frac=0.1", "data.test_frac=0.2", "eval_every=1000", "tensorboard=false"]


def _label(model: str) -> str:
    p = Path(model)
    return p.parent.name if p.name == "model" else p.name


def train_quick_models(directory: Path, limit: int) -> list[str]:
    import muse

    out = []
    for name, (model, bars, steps, batch) in QUICK_MODELS.items():
        run = directory / name
        muse.train("vae", corpus="essen", model=model, out=run, steps=steps, batch_size=batch, progress=False,
                   device="cpu", overrides=[*QUICK_OVERRIDES, f"data.bars={bars}", f"data.limit={limit}"])
        out.append(str(run / "model"))
    return out


def held_out(vae, limit: int | None, split: str = "test") -> tuple[torch.Tensor, dict[str, Any]]:
    """Token windows ``[N, T]`` of the test (or valid) split of the model's own training data."""
    from muse.recipes import get_recipe

    task = get_recipe("vae")
    trained: dict[str, Any] = {}
    if vae.source is not None and (vae.source / "config.json").is_file():
        import json

        trained = json.loads((vae.source / "config.json").read_text(encoding="utf-8")).get("data") or {}
    data = {**task.data_defaults(), **{k: v for k, v in trained.items() if k in task.data_defaults()}}
    data.update(bars=vae.n_bars, min_pitch=vae.tokenizer.min_pitch, max_pitch=vae.tokenizer.max_pitch,
                cache_dir=None, rebuild=False)
    if limit is not None:
        data["limit"] = limit
    stores, _, _ = task.load_data(data, resume_tok=vae.tokenizer)
    test = stores[split]
    if len(test) == 0:
        raise SystemExit(f"{data['corpus']}: no {split} windows of {vae.n_bars} bars; use a larger --limit")
    ids = torch.tensor(np.stack([np.asarray(test.doc(i)) for i in range(len(test))]).astype(np.int64))
    return ids, {k: data[k] for k in ("corpus", "bars", "limit", "valid_frac", "test_frac", "min_pitch", "max_pitch")}


def subsample(ids: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    if len(ids) <= n:
        return ids
    pick = np.sort(np.random.default_rng(seed).permutation(len(ids))[:n])
    return ids[torch.from_numpy(pick)]


@torch.no_grad()
def reconstruction(vae, ids: torch.Tensor, seed: int, batch: int = 128) -> dict[str, float]:
    from muse.core.module import StepContext

    model = vae.model.eval()
    g = torch.Generator().manual_seed(seed)
    sums = {"teacher": 0.0, "sample_t1": 0.0, "greedy": 0.0, "kl": 0.0, "elbo": 0.0, "recon_nats": 0.0}
    for i in range(0, len(ids), batch):
        x = ids[i:i + batch]
        w = len(x)
        sums["teacher"] += w * model.reconstruction_accuracy(x, "teacher")
        sums["sample_t1"] += w * model.reconstruction_accuracy(x, "sample", generator=g)
        sums["greedy"] += w * model.reconstruction_accuracy(x, "greedy")
        out = model.loss({"input": x}, StepContext(training=False))
        for k in ("kl", "elbo", "recon_nats"):
            sums[k] += w * float(out[k])
    return {k: v / len(ids) for k, v in sums.items()}


def monotone_share(values: np.ndarray) -> float | None:
    """Share of consecutive steps moving toward the last value (ties count); None when the ends are equal."""
    direction = np.sign(values[-1] - values[0])
    if direction == 0:
        return None
    return float(np.mean(np.diff(values) * direction >= 0))


def interpolation_smoothness(vae, ids: torch.Tensor, pairs: int, steps: int, seed: int) -> dict[str, dict[str, float]]:
    from muse.models.latent import slerp
    from muse.music.latent_space import decode_latents
    from muse.music.metrics import ATTRIBUTES

    rng = np.random.default_rng(seed)
    with torch.no_grad():
        mu, _ = vae.model.eval().encode(ids.to(vae.device))
    shares: dict[str, list[float]] = {k: [] for k in ATTRIBUTES}
    chance: dict[str, list[float]] = {k: [] for k in ATTRIBUTES}
    ts = torch.linspace(0.0, 1.0, steps)
    for _ in range(pairs):
        a, b = rng.choice(len(ids), size=2, replace=False)
        path = decode_latents(vae, slerp(mu[a], mu[b], ts.to(mu.device)), temperature=0)
        order = np.concatenate([[0], 1 + rng.permutation(steps - 2), [steps - 1]])
        for name, fn in ATTRIBUTES.items():
            vals = np.array([fn(m) for m in path])
            s, c = monotone_share(vals), monotone_share(vals[order])
            if s is not None:
                shares[name].append(s)
                chance[name].append(c)  # type: ignore[arg-type]
    return {name: {"monotone": float(np.mean(shares[name])) if shares[name] else math.nan,
                   "shuffled": float(np.mean(chance[name])) if chance[name] else math.nan,
                   "pairs": len(shares[name])} for name in ATTRIBUTES}


VARY_AMOUNTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _runs(m) -> bool:  # noqa: ANN001
    """Four or more equal pitches in a row (the repeated-note runs a lost theme turns into)."""
    p = [n.pitch for n in m.notes]
    return any(p[i] == p[i + 1] == p[i + 2] == p[i + 3] for i in range(len(p) - 3))


def vary_overlap(vae, ids: torch.Tensor, themes: int, num: int, seed: int) -> dict[str, Any]:
    """``muse vae vary`` measured: for held-out windows as themes, per amount, the share of the theme's
    notes (onset, pitch) that a variation keeps (recall), the F1 of the two note sets, the onsets kept,
    and the share of variations with a run of 4+ repeated pitches (the themes' own share beside it)."""
    from muse.music.latent_space import vary_melody

    pick = subsample(ids, themes, seed)
    mels = [vae.tokenizer.decode(row.tolist()) for row in pick]
    mels = [m for m in mels if m.notes]
    out: dict[str, Any] = {"themes": len(mels), "variations_per_theme": num,
                           "theme_run_share": float(np.mean([_runs(m) for m in mels]))}
    rows = []
    for a in VARY_AMOUNTS:
        rec, f1, onsets, runs = [], [], [], []
        for i, m in enumerate(mels):
            theme = {(n.start, n.pitch) for n in m.notes}
            t_on = {n.start for n in m.notes}
            for v in vary_melody(vae, m, amount=a, num=num, seed=seed + i):
                got = {(n.start, n.pitch) for n in v.notes if n.start < m.length}
                both = len(theme & got)
                rec.append(both / len(theme))
                f1.append(2 * both / (len(theme) + len(got)) if got else 0.0)
                onsets.append(len(t_on & {n.start for n in v.notes}) / len(t_on))
                runs.append(_runs(v))
        rows.append({"amount": a, "note_recall": float(np.mean(rec)), "note_f1": float(np.mean(f1)),
                     "onset_recall": float(np.mean(onsets)), "run_share": float(np.mean(runs))})
    out["by_amount"] = rows
    f = [r["note_f1"] for r in rows]
    out["f1_falls_at_every_step"] = bool(all(b <= a + 1e-9 for a, b in zip(f, f[1:])))
    return out


def evaluate(model: str, args: argparse.Namespace, limit: int | None) -> dict[str, Any]:
    from muse.music.latent_space import load_vae, sample_melodies
    from muse.music.metrics import compare_metrics

    vae = load_vae(model)
    torch.manual_seed(args.seed)
    all_ids, data = held_out(vae, limit, args.split)
    ids = subsample(all_ids, args.windows, args.seed)
    c = vae.model.config
    rec = reconstruction(vae, ids, args.seed)
    reference = [vae.tokenizer.decode(row.tolist()) for row in ids]
    samples = sample_melodies(vae, args.num, temperature=1.0, seed=args.seed)
    rows = compare_metrics(samples, reference)
    smooth = interpolation_smoothness(vae, ids, args.pairs, args.steps, args.seed)
    vary = vary_overlap(vae, ids, args.vary_themes, 4, args.seed) if args.vary_themes else None
    return {"vary": vary,
        "model": model, "label": _label(model), "decoder": "hierarchical" if c.hierarchical else "flat",
        "bars": c.n_bars, "z_dim": c.z_dim, "parameters": sum(p.numel() for p in vae.model.parameters()),
        "data": data, "test_windows": len(all_ids), "measured_windows": len(ids), "reconstruction": rec,
        "samples": args.num, "metrics": [r.__dict__ for r in rows], "interpolation": smooth,
    }


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small counts; without --models, tiny models trained now")
    p.add_argument("--models", nargs="*", help="model dirs, run dirs or shipped names (default: vae-2bar)")
    p.add_argument("--num", type=int, help="prior samples per model (default 256, quick 16)")
    p.add_argument("--pairs", type=int, help="interpolation pairs (default 100, quick 6)")
    p.add_argument("--steps", type=int, default=9, help="melodies per interpolation, ends included")
    p.add_argument("--windows", type=int, help="held-out windows measured at most (default 2000, quick 48)")
    p.add_argument("--limit", type=int, help="read only this many corpus pieces (default: as trained; quick 600)")
    p.add_argument("--split", default="test", choices=["test", "valid"], help="held-out split measured")
    p.add_argument("--vary-themes", type=int, default=100, help="held-out themes for the vary measure (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.num = args.num or (16 if args.quick else 256)
    args.pairs = args.pairs or (6 if args.quick else 100)
    args.windows = args.windows or (48 if args.quick else 2000)
    limit = args.limit if args.limit is not None else (600 if args.quick and not args.models else None)

    with tempfile.TemporaryDirectory() as tmp:
        if args.models:
            models = args.models
        elif args.quick:
            models = train_quick_models(Path(tmp), limit or 600)
        elif (SHIPPED / "config.json").is_file():
            models = [str(SHIPPED)]
        else:
            raise SystemExit("no model to measure: train one (muse train vae ...) and pass --models RUN_DIR, "
                             "or use --quick")
        evaluations = [evaluate(m, args, limit) for m in models]

    rec_rows = []
    for ev in evaluations:
        r = ev["reconstruction"]
        rec_rows.append([ev["label"], ev["decoder"], ev["bars"], ev["z_dim"], ev["parameters"],
                         f"{ev['measured_windows']}/{ev['test_windows']}", _f(r["teacher"]), _f(r["sample_t1"]),
                         _f(r["greedy"]), _f(r["kl"], ".2f"), _f(r["elbo"], ".2f")])
    header = ["model", "decoder", "bars", "z", "params", "test windows", "acc teacher", "acc sampled T=1",
              "acc greedy", "KL nats", "ELBO nats"]
    results = {"limit": limit, "num": args.num, "pairs": args.pairs, "steps": args.steps, "windows": args.windows,
               "seed": args.seed, "evaluations": evaluations}
    report("vae", args, header, rec_rows, results)

    for ev in evaluations:
        print(f"\n{ev['label']}: {ev['samples']} prior samples (T=1) vs {ev['measured_windows']} held-out windows "
              f"of {ev['bars']} bars ({ev['data']['corpus']})")
        print(markdown_table(["metric", "samples", "held-out", "rel. diff"], [
            [m["name"], _f(m["generated_mean"]), _f(m["reference_mean"]), _f(m["rel_diff"], "+.1%")]
            for m in ev["metrics"]]))
    print(f"\ninterpolation smoothness: share of steps moving toward the end's value ({args.steps} melodies per "
          f"path, {args.pairs} pairs; shuffled = intermediate melodies in random order)")
    names = list(evaluations[0]["interpolation"]) if evaluations else []
    rows = [[ev["label"], *(f"{_f(ev['interpolation'][n]['monotone'], '.2f')} "
                            f"({_f(ev['interpolation'][n]['shuffled'], '.2f')})" for n in names)]
            for ev in evaluations]
    print(markdown_table(["model", *(f"{n} (shuffled)" for n in names)], rows))
    for ev in evaluations:
        v = ev.get("vary")
        if not v:
            continue
        print(f"\n{ev['label']}: muse vae vary, {v['themes']} held-out themes x {v['variations_per_theme']} "
              f"(themes with a 4-note repeated run: {v['theme_run_share']:.2f}); F1 falls at every step: "
              f"{v['f1_falls_at_every_step']}")
        print(markdown_table(["amount", "notes kept", "note F1", "onsets kept", "repeated-run share"], [
            [f"{r['amount']:.1f}", _f(r["note_recall"]), _f(r["note_f1"]), _f(r["onset_recall"]),
             _f(r["run_share"], ".2f")] for r in v["by_amount"]]))


if __name__ == "__main__":
    main()

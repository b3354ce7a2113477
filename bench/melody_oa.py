"""Melody feature distributions: overlapping areas of generated and held-out tunes per meter (Yang & Lerch 2020).

For each shipped melody model (``melody-transformer``, ``melody-lstm``) and each
meter of :data:`METERS`, ``--num`` melodies of ``--bars`` bars are generated with
``time_signature`` set to the meter (the API's ``MelodyRequest.time_signature``)
at the model's default temperature and top-p (``--temperature`` overrides the temperature), and each
per-melody feature of :data:`muse.music.distributions.FEATURES` is compared,
as a distribution, with the same feature over the held-out tunes of that meter:
the overlapping area (OA) of the two Gaussian KDEs, 1 for identical
distributions. The real tunes are the corpus the model was trained on (its
``recipe.json``: Essen), read with ``muse.iter_corpus`` and its filters, split
by ``muse.data.store.split_of(piece_id, valid_frac, test_frac)`` as the melody
recipe splits them (the model's own held-out split), and cut to their first
``--bars`` bars (a tune with a pick-up keeps it, as it was learned; shorter
tunes are kept whole); their pitches are the corpus's, not moved to C as the
tokenizer moves them (no feature here depends on the key).

* Generated melodies are compared with the ``test`` tunes of the meter.
* Ceiling: OA of two disjoint random halves of the held-out (test + valid) tunes
  of the meter, averaged over ``--halvings`` draws: what a sample of real tunes
  scores against another; the generated sample is larger (``--num``) than
  either half, which if anything favours it.
* Onset profiles: the share of onsets at each position of the bar, on a 48-bin
  bar-fraction grid common to all meters; the Pearson correlation of the mean
  profile of the melodies generated in one meter with the mean profile of the
  test tunes of each meter, next to that of the valid tunes of each meter with
  the test tunes of each meter (the real diagonal).
* ``--temperatures 0.8,0.9,1.0``: the choice of temperature, made on the
  ``valid`` tunes (never the test tunes): for each model and temperature, the
  mean OA over features and meters of fresh melodies (other seeds) against the
  valid tunes; the best temperature is then also evaluated on the test tunes.
  ``--top-ps 1,0.95,0.9`` sweeps the nucleus threshold too (every temperature
  with every top-p; 1 is no nucleus), and ``--choose-meter 4/4`` chooses by the
  mean OA over features in that meter only (``muse melody``'s default meter),
  the other meters still reported. ``--sweep-seeds K`` draws every setting K
  times (other seeds) and averages: one draw of 150 melodies moves a mean OA by
  about 0.03.

``--quick`` generates 20 melodies per meter and draws 3 halvings, to try the
script; its numbers are noise.

usage: python bench/melody_oa.py [--quick] [--models NAME ...] [--num N] [--bars B] [--seed S]
                                 [--temperature T] [--temperatures T1,T2,...] [--top-ps P1,P2,...]
                                 [--choose-meter M] [--sweep-seeds K] [--halvings H] [--out PATH]
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from common import markdown_table, report

METERS = ((2, 4), (3, 4), (4, 4), (6, 8))
MELODY_MODELS = ("melody-transformer", "melody-lstm")


def meter_name(ts: tuple[int, int]) -> str:
    return f"{ts[0]}/{ts[1]}"


def real_tunes(data: dict[str, Any], bars: int) -> dict[str, dict[str, list]]:
    """split -> meter -> the corpus's melodies of that split and meter, cut to ``bars`` bars."""
    import muse
    from muse.data.store import split_of

    out: dict[str, dict[str, list]] = {s: {meter_name(m): [] for m in METERS} for s in ("train", "valid", "test")}
    for piece_id, mel in muse.iter_corpus(data["corpus"], workers=1, progress=False, limit=data.get("limit"),
                                          min_bars=data["min_bars"], min_pitches=data["min_pitches"],
                                          max_steps=data["max_steps"]):
        if mel.time_signature not in METERS:
            continue
        limit = bars * mel.steps_per_bar
        if mel.length > limit:
            mel = mel.slice(0, limit)
        if mel.notes:
            out[split_of(piece_id, data["valid_frac"], data["test_frac"])][meter_name(mel.time_signature)].append(mel)
    return out


def _medians(melodies: list) -> dict[str, float]:
    from muse.music.distributions import feature_values

    return {k: float(np.nanmedian(v)) for k, v in feature_values(melodies).items()}


def oa_row(generated: list, reference: list, medians: bool = True) -> dict[str, Any]:
    """Per-feature OA, the mean, the lowest feature and (``medians``) each side's per-feature median."""
    from muse.music.distributions import compare_distributions

    per = compare_distributions(generated, reference)
    finite = {k: v for k, v in per.items() if not math.isnan(v)}
    low = min(finite, key=finite.get)
    row = {"features": per, "mean": float(np.mean(list(finite.values()))), "lowest": low, "lowest_oa": finite[low]}
    if medians:
        row["median_generated"], row["median_reference"] = _medians(generated), _medians(reference)
    return row


def ceiling(tunes: list, halvings: int, seed: int) -> dict[str, Any]:
    """OA of two disjoint random halves of ``tunes``, per feature averaged over ``halvings`` draws."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(halvings):
        order = rng.permutation(len(tunes))
        half = len(tunes) // 2
        rows.append(oa_row([tunes[i] for i in order[:half]], [tunes[i] for i in order[half:2 * half]], False))
    feats = {k: float(np.mean([r["features"][k] for r in rows])) for k in rows[0]["features"]}
    means = [r["mean"] for r in rows]
    low = min(feats, key=feats.get)
    return {"features": feats, "mean": float(np.mean(means)), "mean_min": float(min(means)),
            "mean_max": float(max(means)), "lowest": low, "lowest_oa": feats[low], "half_size": len(tunes) // 2,
            "halvings": halvings}


def correlations(profile: np.ndarray, real_profiles: dict[str, np.ndarray]) -> dict[str, float]:
    from muse.music.distributions import profile_correlation

    return {m: profile_correlation(profile, q) for m, q in real_profiles.items()}


def best_meter(corr: dict[str, float]) -> str:
    return max(corr, key=lambda m: -2.0 if math.isnan(corr[m]) else corr[m])


def generate(lm: Any, ts: tuple[int, int], num: int, bars: int, seed: int, temperature: float | None,
             top_p: float | None = None) -> list:
    from muse.music.compose import generate_melodies

    return generate_melodies(lm, bars=bars, num=num, seed=seed, temperature=temperature, top_p=top_p,
                             time_signature=meter_name(ts))


def setting_name(temperature: float, top_p: float | None) -> str:
    """``"0.9"`` (no nucleus) or ``"0.9/p0.95"``: the key of one sampling setting in the results."""
    return f"{temperature:g}" if top_p is None or top_p >= 1 else f"{temperature:g}/p{top_p:g}"


def evaluate(lm: Any, reference: dict[str, list], real_profiles: dict[str, np.ndarray], args: argparse.Namespace,
             num: int, temperature: float | None, seed: int, top_p: float | None = None) -> dict[str, Any]:
    """Per meter: OA of ``num`` generated melodies against ``reference[meter]``, and their onset correlations."""
    from muse.music.distributions import PROFILE_BINS, mean_onset_profile

    out = {}
    for i, ts in enumerate(METERS):
        mels = generate(lm, ts, num, args.bars, seed + 101 * i, temperature, top_p)
        row = oa_row(mels, reference[meter_name(ts)])
        row["onset_correlation"] = correlations(mean_onset_profile(mels, PROFILE_BINS), real_profiles)
        row["best_correlated_meter"] = best_meter(row["onset_correlation"])
        row["generated"] = len(mels)
        row["reference"] = len(reference[meter_name(ts)])
        out[meter_name(ts)] = row
    return out


def main() -> None:
    import muse
    from muse.music.distributions import FEATURES, PROFILE_BINS, mean_onset_profile
    from muse.music.evaluate import training_data_settings
    from muse.recipes.hub import load_model

    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="20 melodies per meter, 3 halvings: tries the script")
    p.add_argument("--models", nargs="*", help="melody models (default: the shipped melody-transformer, melody-lstm)")
    p.add_argument("--num", type=int, help="generated melodies per model and meter (default 150, quick 20)")
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, help="sampling temperature (default: each model's own)")
    p.add_argument("--temperatures", help="comma-separated temperatures to choose from on the valid tunes")
    p.add_argument("--top-ps", help="comma-separated top-p thresholds swept with every temperature (1: none)")
    p.add_argument("--choose-meter", help="choose the setting by the valid mean OA in this meter only (e.g. 4/4)")
    p.add_argument("--sweep-seeds", type=int, default=1, help="draws per swept setting, averaged (default 1)")
    p.add_argument("--halvings", type=int, help="random halvings of the held-out tunes for the ceiling (default 20)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    num = args.num or (20 if args.quick else 150)
    halvings = args.halvings or (3 if args.quick else 20)
    sweep = [float(t) for t in args.temperatures.split(",")] if args.temperatures else []
    top_ps = [float(q) for q in args.top_ps.split(",")] if args.top_ps else [1.0]
    if args.choose_meter is not None and args.choose_meter not in [meter_name(m) for m in METERS]:
        raise SystemExit(f"--choose-meter must be one of {', '.join(meter_name(m) for m in METERS)}")
    shipped = muse.shipped_models()
    names = args.models if args.models is not None else [n for n in MELODY_MODELS if n in shipped]
    if not names:
        raise SystemExit("no melody model: the shipped melody-transformer / melody-lstm are not installed")

    models = {n: load_model(n, expect_kind="melody") for n in names}
    settings = {n: training_data_settings(lm) for n, lm in models.items()}
    tunes_of: dict[str, dict] = {}
    for n, data in settings.items():
        key = repr(sorted((k, data[k]) for k in ("corpus", "valid_frac", "test_frac", "min_bars", "min_pitches",
                                                 "max_steps", "limit")))
        tunes_of.setdefault(key, {"data": data, "tunes": None, "models": []})["models"].append(n)
    if len(tunes_of) > 1:
        raise SystemExit("the models were trained on different corpora or splits; compare them one at a time")
    (entry,) = tunes_of.values()
    data = entry["data"]
    tunes = real_tunes(data, args.bars)
    counts = {s: {m: len(v) for m, v in by.items()} for s, by in tunes.items()}
    print(f"corpus {data['corpus']}: held-out tunes per meter (cut to {args.bars} bars): "
          f"test {counts['test']}, valid {counts['valid']}")

    test_profiles = {m: mean_onset_profile(v, PROFILE_BINS) for m, v in tunes["test"].items()}
    ceilings = {m: ceiling(tunes["test"][m] + tunes["valid"][m], halvings, args.seed + 7 * i)
                for i, m in enumerate(tunes["test"])}
    real_corr = {m: correlations(mean_onset_profile(tunes["valid"][m], PROFILE_BINS), test_profiles)
                 for m in tunes["valid"]}

    results: dict[str, Any] = {}
    sweeps: dict[str, Any] = {}
    for n, lm in models.items():
        default_t = args.temperature if args.temperature is not None else lm.generation_config.temperature
        default_p = lm.generation_config.top_p
        runs = {setting_name(default_t, default_p): evaluate(lm, tunes["test"], test_profiles, args, num, default_t,
                                                             args.seed, default_p)}
        if sweep:
            scores, settings_of = {}, {}
            grid = [(t, q) for t in sweep for q in top_ps]
            for j, (t, q) in enumerate(grid):
                draws = [evaluate(lm, tunes["valid"], test_profiles, args, num, t,
                                  args.seed + 10_000 * (j + 1) + 1_000 * k, q) for k in range(args.sweep_seeds)]
                key = setting_name(t, q)
                settings_of[key] = (t, q)
                per_meter = {m: float(np.mean([ev[m]["mean"] for ev in draws])) for m in draws[0]}
                features = {m: {f: float(np.nanmean([ev[m]["features"][f] for ev in draws]))
                                for f in draws[0][m]["features"]} for m in draws[0]}
                lowest = {m: min(fs.items(), key=lambda kv: kv[1]) for m, fs in features.items()}
                scores[key] = {"temperature": t, "top_p": None if q >= 1 else q, "draws": args.sweep_seeds,
                               "mean_oa": float(np.mean(list(per_meter.values()))), "per_meter": per_meter,
                               "per_meter_draws": {m: [ev[m]["mean"] for ev in draws] for m in per_meter},
                               "lowest": {m: [f, v] for m, (f, v) in lowest.items()}, "features": features}
            by = (lambda k: scores[k]["per_meter"][args.choose_meter]) if args.choose_meter \
                else (lambda k: scores[k]["mean_oa"])
            chosen = max(scores, key=by)
            t, q = settings_of[chosen]
            sweeps[n] = {"valid": scores, "chosen": t, "chosen_top_p": None if q >= 1 else q,
                         "chosen_setting": chosen, "chosen_by": args.choose_meter or "mean over meters",
                         "default": default_t, "default_top_p": default_p}
            if chosen not in runs:
                runs[chosen] = evaluate(lm, tunes["test"], test_profiles, args, num, t, args.seed, q)
        results[n] = {"default_temperature": default_t, "default_top_p": default_p, "runs": runs}

    header = ["model", "T", "meter", "mean OA", "ceiling", "OA / ceiling", "lowest feature (OA; ceiling)",
              "best-correlated real meter (r)"]
    rows = []
    for m in ceilings:
        c = ceilings[m]
        rows.append(["held-out halves", "-", m, f"{c['mean']:.3f}", f"{c['mean_min']:.3f}..{c['mean_max']:.3f}",
                     "-", f"{c['lowest']} ({c['lowest_oa']:.3f})",
                     f"{best_meter(real_corr[m])} ({real_corr[m][best_meter(real_corr[m])]:.3f}; valid vs test)"])
    for n, res in results.items():
        for t, run in res["runs"].items():
            for m, r in run.items():
                c = ceilings[m]
                best = r["best_correlated_meter"]
                rows.append([n, t, m, f"{r['mean']:.3f}", f"{c['mean']:.3f}", f"{r['mean'] / c['mean']:.2f}",
                             f"{r['lowest']} ({r['lowest_oa']:.3f}; {c['features'][r['lowest']]:.3f})",
                             f"{best} ({r['onset_correlation'][best]:.3f})"])

    feat_header = ["meter", "feature", "ceiling"] + [f"{n} T={t}" for n, res in results.items() for t in res["runs"]]
    feat_rows = []
    for m in ceilings:
        for f in FEATURES:
            feat_rows.append([m, f, f"{ceilings[m]['features'][f]:.3f}"]
                             + [f"{res['runs'][t][m]['features'][f]:.3f}" for res in results.values()
                                for t in res["runs"]])
    corr_header = ["generated in", "by"] + [f"r with real {m}" for m in test_profiles]
    corr_rows = [[m, "real (valid tunes)"] + [f"{real_corr[m][q]:.3f}" for q in test_profiles] for m in real_corr]
    for n, res in results.items():
        for t, run in res["runs"].items():
            corr_rows += [[m, f"{n} T={t}"] + [f"{r['onset_correlation'][q]:.3f}" for q in test_profiles]
                          for m, r in run.items()]
    low_in = args.choose_meter or "4/4"
    sweep_header = (["model", "T[/top-p]", "mean OA (valid)"] + [f"{m}" for m in test_profiles]
                    + [f"lowest feature {low_in} (OA)", "chosen"])
    sweep_rows = [[n, t, f"{s['mean_oa']:.3f}"] + [f"{s['per_meter'][m]:.3f}" for m in test_profiles]
                  + [f"{s['lowest'][low_in][0]} ({s['lowest'][low_in][1]:.3f})"]
                  + ["yes" if t == sw["chosen_setting"] else ""] for n, sw in sweeps.items()
                  for t, s in sw["valid"].items()]

    print(markdown_table(feat_header, feat_rows))
    print(markdown_table(corr_header, corr_rows))
    if sweep_rows:
        print(markdown_table(sweep_header, sweep_rows))
    payload = {"num": num, "bars": args.bars, "seed": args.seed, "halvings": halvings, "meters": list(ceilings),
               "features": list(FEATURES), "profile_bins": PROFILE_BINS, "corpus": data["corpus"],
               "heldout_tunes": {s: counts[s] for s in ("valid", "test")}, "ceiling": ceilings,
               "real_onset_correlation_valid_vs_test": real_corr, "models": results, "temperature_sweep": sweeps,
               "tables": {"summary": [header, rows], "features": [feat_header, feat_rows],
                          "onset_correlation": [corr_header, corr_rows], "sweep": [sweep_header, sweep_rows]}}
    report("melody_oa", args, header, rows, payload)


if __name__ == "__main__":
    main()

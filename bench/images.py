"""Image benchmarks: the shipped digits GAN's quality, the core against a bare DCGAN loop, style-transfer speed.

Quality is measured offline: a small CNN trained on scikit-learn's digits in a few
seconds (muse.image.metrics) stands in for Inception. Its penultimate features give a
Fréchet distance (FD, as in FID) between real and generated digits; its predictions
give class coverage (the share of samples drawn as each digit).

1. Shipped digits GAN (``--model DIR``, default muse/pretrained/gan-digits; skipped when
   absent): FD between 1,000 real digits and 1,000 samples, class coverage of the
   samples (every digit >= 5%?), a diversity ratio (mean pairwise feature distance
   of the samples over that of real digits), and as a floor the FD between two disjoint halves of the
   1,797 real digits (898 vs 899: no generator can be expected to beat it).
2. Core vs bare loop: a DCGAN trained for N steps by ``muse.training.run`` with the
   ``muse train gan`` configuration (dcgan 32 px, 1 channel, nz 64, ngf/ndf 32;
   batch 64; Adam lr 2e-4, betas (0.5, 0.999), no weight decay, constant lr, no
   clipping; groups "d" then "g" each step; the sample grid only at the end), against
   a hand-written loop: the same seed before building the model and before the first
   step, the same batches from a TensorBatches with the same seed, two torch Adam
   optimisers, a D step then a G step with the model's own d_loss / g_loss. Trials
   alternate (A B, B A, ...) after a 5-step warm-up of each; each is timed from the
   end of its first step to the end of its last (setup, the final checkpoint and the
   model export are not counted). Reported: median step time, overhead in median step
   and in whole-window wall and CPU time, the largest loss and weight differences
   between the loops, and FD + class coverage of both final generators.
3. Style transfer on the CPU: ``stylize`` (random feature network: no VGG weights
   here) of scikit-image's 'chelsea' (centre square) in the style of 'gravel', with
   L-BFGS and with Adam, one scale and a fixed number of steps (``levels=1, tol=0``; the
   default schedule against the old one is bench/stylize.py): wall time, and the style
   loss before and after. Then the
   feed-forward TransformerNet (FastStyle.render) forward pass in images/s, at the
   ``muse train style`` default size (width 16, 3 residual blocks) and the 32/5 size.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import skimage.data
import torch
from torch import nn

from common import ROOT, Clock, devices, interleave, median, parse_args, report, sync
from muse.core.callbacks import Callback
from muse.core.config import RunConfig
from muse.data.batches import TensorBatches
from muse.errors import MuseError
from muse.image.data import load_digits_images, load_image
from muse.image.metrics import DigitClassifier, class_coverage, digit_fid, mode_collapse_score, train_digit_classifier
from muse.image.stylize import stylize
from muse.models.registry import build_model
from muse.models.style_nets import FastStyle
from muse.recipes.hub import load_model
from muse.training import build_run_config, run

SEED = 1337
N_EVAL = 1000
"""Real digits and samples compared by FD and class coverage."""
MIN_SHARE = 0.05
"""A digit counts as covered when at least this share of the samples is drawn as it."""
OVERHEAD_GOAL = 0.05
SKIMAGE_DIR = Path(skimage.data.__file__).parent
CONTENT, STYLE = "chelsea", "gravel"


# ------------------------------------------------------------------ quality
@dataclass
class Judge:
    """The digit classifier and the real digits that generated ones are compared with."""

    classifier: DigitClassifier
    real: torch.Tensor
    """All 1,797 digits, shuffled once."""

    @classmethod
    def build(cls, size: int) -> "Judge":
        images, _ = load_digits_images(size)
        perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(SEED))
        return cls(train_digit_classifier(size=size, seed=0), images[perm])

    def floor(self) -> float:
        """FD between two disjoint halves of the real digits."""
        half = len(self.real) // 2
        return digit_fid(self.real[:half], self.real[half:], self.classifier)

    def score(self, samples: torch.Tensor) -> dict[str, Any]:
        real = self.real[:N_EVAL]
        cov = class_coverage(samples, self.classifier, min_frac=MIN_SHARE * 10)
        div = mode_collapse_score(samples, real, features=self.classifier.features, seed=SEED)
        return {"fd": digit_fid(real, samples, self.classifier), "per_class": cov["per_class"],
                "min_share": cov["min_share"], "all_classes_ge_5pct": cov["covered"] == 10,
                "diversity_ratio": div["ratio"]}


def judge_of(judges: dict[int, Judge], size: int) -> Judge:
    """The judge for ``size`` px digits, built on first use."""
    if size not in judges:
        judges[size] = Judge.build(size)
    return judges[size]


def samples(model: nn.Module) -> torch.Tensor:
    """``N_EVAL`` samples from fixed latents (the same for every generator), on the CPU."""
    return model.sample(N_EVAL, generator=torch.Generator().manual_seed(SEED)).cpu()


def shares(s: dict[str, Any]) -> str:
    return " ".join(f"{100 * x:.0f}" for x in s["per_class"])


def shipped_gan(path: Path, judge_for: dict[int, Judge]) -> dict[str, Any]:
    if not path.exists():
        return {"model": str(path), "skipped": "model not found"}
    try:
        loaded = load_model(path, "cpu")
    except MuseError as e:
        return {"model": str(path), "skipped": str(e)}
    model = loaded.model
    size = model.config.image_size
    judge = judge_of(judge_for, size)
    return {"model": str(path), "model_config": vars(model.config), "trained_steps": loaded.meta.get("trained_steps"),
            **judge.score(samples(model)), "fd_real_vs_real": judge.floor(),
            "classifier_heldout_accuracy": judge.classifier.heldout_accuracy}


# ------------------------------------------------------------- core vs bare
@dataclass
class Trial:
    stamps: list[Clock] = field(default_factory=list)
    """Clock at the end of every step."""
    losses: list[tuple[float, float]] = field(default_factory=list)
    """(d loss, g loss) of every step."""
    model: nn.Module | None = None

    @property
    def intervals(self) -> list[Clock]:
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]

    @property
    def per_step(self) -> Clock:
        return (self.stamps[-1] - self.stamps[0]) / (len(self.stamps) - 1)


class _Record(Callback):
    def __init__(self, device: torch.device, last: int):
        self.device, self.last, self.trial = device, last, Trial()

    def on_step_end(self, trainer, step: int, metrics: dict[str, float]) -> None:  # noqa: ANN001
        if step in (1, self.last):
            sync(self.device)
        self.trial.stamps.append(Clock.now())
        self.trial.losses.append((metrics["d_loss"], metrics["g_loss"]))

    def on_fit_end(self, trainer) -> None:  # noqa: ANN001
        self.trial.model = trainer.model


def gan_config(steps: int, device: torch.device, out: Path) -> RunConfig:
    """``muse train gan`` defaults; the sample grid is written only at the end (outside the timing)."""
    return build_run_config("gan", out=out, steps=steps, device=device.type, overrides=["data.sample_every=0"])


def muse_run(cfg: RunConfig, device: torch.device, out: Path) -> Trial:
    record = _Record(device, cfg.train.steps)
    with contextlib.redirect_stderr(io.StringIO()):  # the progress bar runs, unseen
        run(replace(cfg, out=str(out)), callbacks=[record])
    return record.trial


def bare_run(cfg: RunConfig, device: torch.device, images: torch.Tensor) -> Trial:
    t = cfg.train
    torch.manual_seed(t.seed)  # as muse.training.run does before building the model
    model = build_model("dcgan", cfg.model_config).to(device)
    data = TensorBatches({"image": images}, t.batch_size, t.seed)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=t.lr, betas=(t.beta1, t.beta2))
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=t.lr, betas=(t.beta1, t.beta2))
    torch.manual_seed(t.seed)  # as the Trainer does when fit() starts
    model.train()
    trial, losses = Trial(model=model), []
    for step in range(t.steps):
        real = data.batch(step)["image"].to(device)
        opt_d.zero_grad(set_to_none=True)
        d = model.d_loss(real)["loss"]
        d.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        g = model.g_loss(real.shape[0], device)["loss"]
        g.backward()
        opt_g.step()
        losses.append(torch.stack([d.detach(), g.detach()]))
        if step in (0, t.steps - 1):
            sync(device)
        trial.stamps.append(Clock.now())
    trial.losses = [tuple(x) for x in torch.stack(losses).tolist()]
    return trial


def max_weight_diff(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max(float((sa[k].float() - sb[k].float()).abs().max()) for k in sa if sa[k].is_floating_point())


def core_vs_bare(device: torch.device, steps: int, rounds: int, tmp: Path, judges: dict[int, Judge]) -> dict[str, Any]:
    dirs = iter(tmp / f"gan{i}" for i in range(10**6))
    cfg = gan_config(steps, device, tmp)
    size = cfg.model_config["image_size"]
    images = load_digits_images(size)[0]
    judge = judge_of(judges, size)
    warm = replace(cfg, train=replace(cfg.train, steps=5))
    muse_run(warm, device, next(dirs))
    bare_run(warm, device, images)
    t = interleave({"muse": lambda: muse_run(cfg, device, next(dirs)), "bare": lambda: bare_run(cfg, device, images)},
                   rounds, warmup=0)
    pairs = list(zip(t["muse"], t["bare"]))
    med = {k: median([x.wall for tr in v for x in tr.intervals]) for k, v in t.items()}
    m, b = t["muse"][-1], t["bare"][-1]
    assert m.model is not None and b.model is not None
    quality = {k: judge.score(samples(tr.model)) for k, tr in (("muse", m), ("bare", b))}  # type: ignore[arg-type]
    return {
        "device": str(device), "steps": steps, "rounds": rounds, "model_config": cfg.model_config,
        "train_config": {k: getattr(cfg.train, k) for k in ("batch_size", "lr", "beta1", "beta2", "weight_decay",
                                                             "schedule", "grad_clip", "seed")},
        "median_step_ms": {k: 1e3 * v for k, v in med.items()},
        "window_ms_per_step": {k: [1e3 * tr.per_step.wall for tr in v] for k, v in t.items()},
        "window_cpu_ms_per_step": {k: [1e3 * tr.per_step.cpu for tr in v] for k, v in t.items()},
        "overhead_median_step": med["muse"] / med["bare"] - 1,
        "overhead_window_wall": median([x.per_step.wall / y.per_step.wall for x, y in pairs]) - 1,
        "overhead_window_cpu": median([x.per_step.cpu / y.per_step.cpu for x, y in pairs]) - 1,
        "final_losses": {"muse": m.losses[-1], "bare": b.losses[-1]},
        "max_abs_loss_diff": max(abs(p - q) for x, y in zip(m.losses, b.losses) for p, q in zip(x, y)),
        "max_abs_weight_diff": max_weight_diff(m.model, b.model),
        "quality": quality,
    }


# ------------------------------------------------------------ style transfer
def skimage_picture(name: str) -> torch.Tensor:
    """A picture bundled with scikit-image as ``[1, 3, H, W]`` in ``[0, 1]``, centre-cropped to a square."""
    x = load_image(SKIMAGE_DIR / f"{name}.png")
    h, w = x.shape[-2:]
    s = min(h, w)
    return x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].contiguous()


def gatys(size: int, steps: int) -> list[dict[str, Any]]:
    content, style = skimage_picture(CONTENT), skimage_picture(STYLE)
    out = []
    for opt in ("lbfgs", "adam"):
        t0 = Clock.now()
        _, info = stylize(content, [style], size=size, steps=steps, levels=1, tol=0.0, optimizer=opt,
                          vgg_weights="random", seed=0, device="cpu", progress=False)
        dt = Clock.now() - t0
        start, end = info["style_loss_start"], info["style_loss_end"]
        out.append({"optimizer": opt, "size": list(info["work_size"]), "steps": steps,
                    "loss_evaluations": len(info["history"]), "wall_s": dt.wall, "cpu_s": dt.cpu,
                    "style_loss_start": start, "style_loss_end": end, "style_loss_ratio": end / start,
                    "content_loss_end": info["content_loss_end"], "network": info["network"]})
    return out


def fast_forward(size: int, reps: int) -> list[dict[str, Any]]:
    x = skimage_picture(CONTENT)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    out = []
    for width, n_res in ((16, 3), (32, 5)):
        torch.manual_seed(SEED)
        model = FastStyle(FastStyle.Config(width=width, n_res=n_res, feature_net="random"))
        model.render(x)  # warm-up
        times = []
        for _ in range(reps):
            t0 = Clock.now()
            model.render(x)
            times.append(Clock.now() - t0)
        sec = median([t.wall for t in times])
        out.append({"width": width, "n_res": n_res, "size": size, "batch": 1, "reps": reps,
                    "params": sum(p.numel() for p in model.transformer.parameters()),
                    "median_s_per_image": sec, "images_per_s": 1.0 / sec,
                    "cpu_s_per_image": median([t.cpu for t in times])})
    return out


# ---------------------------------------------------------------------- main
def parse_all() -> argparse.Namespace:
    """The shared options plus ``--model DIR`` (the digits GAN to judge; default the shipped one)."""
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--model", type=Path, default=ROOT / "muse" / "pretrained" / "gan-digits")
    known, rest = extra.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    args = parse_args(__doc__)
    args.model = known.model
    return args


def main() -> None:
    args = parse_all()
    steps, rounds = (21, 2) if args.quick else (301, 3)
    st_size, st_steps, reps = (64, 10, 3) if args.quick else (256, 100, 5)
    results: dict[str, Any] = {"load_average_start": [round(x, 2) for x in os.getloadavg()]}
    rows: list[list[Any]] = []
    judges: dict[int, Judge] = {}

    clock = Clock.now()
    gan = shipped_gan(args.model, judges)
    results["shipped_gan"] = gan
    if "skipped" in gan:
        print(f"shipped GAN: {gan['model']}: {gan['skipped']}; skipped")
        rows.append(["shipped GAN", gan["model"], "skipped", gan["skipped"]])
    else:
        rows.append(["shipped GAN", f"FD, {N_EVAL} samples vs {N_EVAL} real digits", f"{gan['fd']:.2f}",
                     f"floor (real vs real halves): {gan['fd_real_vs_real']:.2f}"])
        rows.append(["shipped GAN", "class shares % (digits 0-9)", shares(gan),
                     f"min {100 * gan['min_share']:.1f}%, all >= 5%: {gan['all_classes_ge_5pct']}, "
                     f"diversity {gan['diversity_ratio']:.2f}"])
    results["shipped_gan_s"] = (Clock.now() - clock).wall

    results["core_vs_bare"] = []
    with tempfile.TemporaryDirectory() as tmp:
        for device in devices(args.device):
            r = core_vs_bare(device, steps, rounds, Path(tmp) / device.type, judges)
            results["core_vs_bare"].append(r)
            q = r["quality"]
            ok = "yes" if r["overhead_median_step"] <= OVERHEAD_GOAL else "NO"
            rows.append([f"core vs bare ({device})", f"{steps - 1} timed steps x {rounds} trials, ms/step muse / bare",
                         f"{r['median_step_ms']['muse']:.1f} / {r['median_step_ms']['bare']:.1f}",
                         f"overhead {100 * r['overhead_median_step']:+.1f}% (<= 5%: {ok}); window wall "
                         f"{100 * r['overhead_window_wall']:+.1f}%, CPU {100 * r['overhead_window_cpu']:+.1f}%"])
            rows.append([f"core vs bare ({device})", f"after {steps} steps: FD muse / bare",
                         f"{q['muse']['fd']:.2f} / {q['bare']['fd']:.2f}",
                         f"max abs loss diff {r['max_abs_loss_diff']:.1e}, max abs weight diff "
                         f"{r['max_abs_weight_diff']:.1e}"])
            for k in ("muse", "bare"):
                rows.append([f"core vs bare ({device})", f"class shares % (digits 0-9), {k}", shares(q[k]),
                             f"min {100 * q[k]['min_share']:.1f}%, all >= 5%: {q[k]['all_classes_ge_5pct']}, "
                             f"diversity {q[k]['diversity_ratio']:.2f}"])

    results["stylize"] = gatys(st_size, st_steps)
    for s in results["stylize"]:
        rows.append(["stylize (cpu)", f"{s['optimizer']}, {s['size'][0]} px, {s['steps']} steps",
                     f"{s['wall_s']:.1f} s", f"style loss {s['style_loss_start']:.3f} -> {s['style_loss_end']:.3f} "
                     f"(x{s['style_loss_ratio']:.3f})"])
    results["fast_style"] = fast_forward(st_size, reps)
    for f in results["fast_style"]:
        rows.append(["TransformerNet forward (cpu)", f"width {f['width']}, {f['n_res']} res blocks, {f['size']} px",
                     f"{f['images_per_s']:.2f} images/s", f"{f['params'] / 1e3:.0f}k params"])
    header = ["part", "measurement", "result", "notes"]
    report("images", args, header, rows, results)


if __name__ == "__main__":
    main()

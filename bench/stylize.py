"""`muse stylize`: today's default schedule against the single-scale one it replaced, side by side.

Both sides are what the command line runs without options (the argument defaults of
``muse stylize``: size 256, L-BFGS, style weight 10, the feature network it finds), the
old side with ``--levels 1 --steps 300 --tol 0`` (one scale, 300 loss evaluations, no
early stop: the default before coarse to fine). Pairs of scikit-image pictures (content
centre-cropped to a square), so nothing is downloaded; with no VGG19 weights on the
machine both sides use the seeded random feature network. Runs alternate (old new, new
old, ...) on one process; each reports wall and CPU seconds, loss evaluations, and the
final style, content and total loss, measured by ``stylize`` itself at the working size
with the same loss function and feature network for both sides. The output pictures are
written (``--images DIR``) to be looked at.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import Clock, interleave, median, parse_args, report
from images import skimage_picture

from muse.cli.stylize import add_parser
from muse.image.data import save_image
from muse.image.stylize import stylize

PAIRS = (("chelsea", "gravel"), ("astronaut", "ihc"))
"""(content, style) pictures bundled with scikit-image."""
OLD_FLAGS = ["--levels", "1", "--steps", "300", "--tol", "0"]


def cli_settings(extra: list[str]) -> dict[str, Any]:
    """The keyword arguments ``muse stylize C S -o OUT [extra]`` passes to :func:`stylize`."""
    sub = argparse.ArgumentParser().add_subparsers()
    a = add_parser(sub).parse_args(["content.png", "style.png", "-o", "out.png", *extra])
    return {"size": a.size, "steps": a.steps, "levels": a.levels, "tol": a.tol, "optimizer": a.optimizer,
            "style_weight": a.style_weight, "content_weight": a.content_weight, "tv_weight": a.tv_weight,
            "style_loss": a.style_loss, "vgg_weights": a.vgg_weights, "seed": a.seed}


def one_run(content_name: str, style_name: str, settings: dict[str, Any], image: Path | None) -> dict[str, Any]:
    content, style = skimage_picture(content_name), skimage_picture(style_name)
    t0 = Clock.now()
    img, info = stylize(content, [style], device="cpu", progress=False, **settings)
    dt = Clock.now() - t0
    if image is not None:
        save_image(img, image)
    sw, cw = settings["style_weight"], settings["content_weight"]
    return {"wall_s": dt.wall, "cpu_s": dt.cpu, "evaluations": len(info["history"]),
            "levels": info["levels"], "style_loss_start": info["style_loss_start"],
            "style_loss_end": info["style_loss_end"], "content_loss_end": info["content_loss_end"],
            "weighted_style_plus_content": sw * info["style_loss_end"] + cw * info["content_loss_end"],
            "network": info["network"].split(";")[0]}


def main() -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--images", type=Path, default=None, help="where to write the output pictures")
    extra.add_argument("--rounds", type=int, default=None, help="timed runs of each side per picture pair")
    known, rest = extra.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    args = parse_args(__doc__)
    images = known.images or Path(tempfile.mkdtemp(prefix="muse-stylize-bench-"))
    images.mkdir(parents=True, exist_ok=True)
    rounds = known.rounds or (1 if args.quick else 2)
    size_flags = ["--size", "96"] if args.quick else []
    sides = {"old": cli_settings(OLD_FLAGS + size_flags), "new": cli_settings(size_flags)}
    pairs = PAIRS[:1] if args.quick else PAIRS
    results: dict[str, Any] = {"settings": sides, "pairs": []}
    rows: list[list[Any]] = []
    for content_name, style_name in pairs:
        runs = {k: (lambda k=k, c=content_name, s=style_name: one_run(c, s, sides[k], images / f"{c}_{s}_{k}.png"))
                for k in sides}
        got = interleave(runs, rounds, warmup=0)
        summary: dict[str, Any] = {"content": content_name, "style": style_name, "runs": got}
        for k, rs in got.items():
            last = rs[-1]
            summary[k] = {"median_wall_s": median([r["wall_s"] for r in rs]),
                          "median_cpu_s": median([r["cpu_s"] for r in rs]),
                          **{n: last[n] for n in ("evaluations", "style_loss_start", "style_loss_end",
                                                  "content_loss_end", "weighted_style_plus_content", "network")}}
        old, new = summary["old"], summary["new"]
        summary["speedup_wall"] = old["median_wall_s"] / new["median_wall_s"]
        summary["speedup_cpu"] = old["median_cpu_s"] / new["median_cpu_s"]
        summary["style_loss_new_over_old"] = new["style_loss_end"] / old["style_loss_end"]
        summary["content_loss_new_over_old"] = new["content_loss_end"] / old["content_loss_end"]
        results["pairs"].append(summary)
        for k in ("old", "new"):
            s = summary[k]
            rows.append([f"{content_name} / {style_name}", k, s["evaluations"], f"{s['median_wall_s']:.1f}",
                         f"{s['median_cpu_s']:.1f}", f"{s['style_loss_start']:.3f} -> {s['style_loss_end']:.5f}",
                         f"{s['content_loss_end']:.4f}"])
        rows.append([f"{content_name} / {style_name}", "new / old", "", f"x{1 / summary['speedup_wall']:.2f}",
                     f"x{1 / summary['speedup_cpu']:.2f}", f"x{summary['style_loss_new_over_old']:.3f}",
                     f"x{summary['content_loss_new_over_old']:.3f}"])
    results["images"] = str(images)
    header = ["pictures", "schedule", "loss evaluations", "wall s", "CPU s", "style loss start -> end", "content loss"]
    report("stylize", args, header, rows, results)
    print(f"pictures: {images}")


if __name__ == "__main__":
    main()

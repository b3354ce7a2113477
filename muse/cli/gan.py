"""muse gan sample — sample grids and latent walks from a trained DCGAN."""
from __future__ import annotations

import argparse

from muse.cli.options import add_device_flag, at_least, resolve_device, subparser


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "gan", help="sample images from a GAN",
                  examples=["muse gan sample --num 64 --out grid.png", "muse gan sample --interpolate --out walk.png"])
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = subparser(s, "sample", help="a grid of samples (or a latent walk with --interpolate)",
                  examples=["muse gan sample --model runs/gan --num 16 --seed 3 --out g.png"])
    a.add_argument("--model", default="gan-digits", help="shipped name, model dir, run dir or checkpoint")
    a.add_argument("--num", type=at_least(1), default=64)
    a.add_argument("--out", default="gan_samples.png")
    a.add_argument("--interpolate", action="store_true", help="a strip walking between two random latents (slerp)")
    a.add_argument("--seed", type=int, default=0)
    add_device_flag(a)
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from muse.errors import ConfigError
    from muse.image.grid import check_png_path, save_grid, save_strip
    from muse.recipes.hub import load_model

    if args.num < 1:
        raise ConfigError(f"--num must be >= 1, got {args.num}")
    check_png_path(args.out)
    lm = load_model(args.model, device=resolve_device(args.device), expect_kind="gan")
    g = torch.Generator().manual_seed(args.seed)  # latents are drawn on the CPU, then moved
    if args.interpolate:
        z0, z1 = (torch.randn(lm.model.config.nz, generator=g) for _ in range(2))
        path = save_strip(lm.model.interpolate(z0, z1, max(2, min(args.num, 16))), args.out)
    else:
        path = save_grid(lm.model.sample(args.num, generator=g), args.out)
    print(path)
    return 0

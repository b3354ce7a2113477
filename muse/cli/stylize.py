"""muse stylize — restyle a picture after one or more paintings (optimisation) or with a trained fast network."""
from __future__ import annotations

import argparse

from muse.cli.options import add_device_flag, at_least, resolve_device, subparser


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "stylize", help="style transfer: CONTENT STYLE... -o OUT, or CONTENT --model DIR -o OUT",
                  examples=["muse stylize photo.jpg painting.jpg -o styled.png --size 256 --preserve-colors",
                            "muse stylize photo.jpg --model runs/style -o out.png"])
    p.add_argument("content")
    p.add_argument("styles", nargs="*", help="style image(s); blend several with --weights")
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--model", help="a network trained with `muse train style` (one forward pass)")
    p.add_argument("--weights", type=float, nargs="+", help="blend weights of the style images")
    p.add_argument("--size", type=int, default=256, help="longer side the optimisation works at")
    p.add_argument("--steps", type=at_least(1), default=100, help="most loss evaluations per level (default 100)")
    p.add_argument("--levels", type=int, default=2,
                   help="coarse-to-fine levels, each half the size of the next (default 2; 1: one scale)")
    p.add_argument("--tol", type=float, default=5e-3,
                   help="a level stops when its loss falls by less than this fraction over 20 evaluations "
                        "(default 5e-3; 0: run every step). The old default: --levels 1 --steps 300 --tol 0")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--tv-weight", type=float, default=1.0)
    p.add_argument("--style-loss", choices=["gram", "meanstd"], default="gram")
    p.add_argument("--preserve-colors", action="store_true", help="transfer luminance only, keep the content's colours")
    p.add_argument("--vgg-weights", help="local VGG19 weights (.pth); never downloaded. Default: hub cache, "
                                         "else a seeded random multi-scale network")
    p.add_argument("--tile", type=int, help="refine large images at full resolution in tiles of this many pixels")
    p.add_argument("--seed", type=int, default=0)
    add_device_flag(p)
    return p


def run(args: argparse.Namespace) -> int:
    from muse.core.files import atomic_file, check_output_file
    from muse.errors import ConfigError
    from muse.image.data import load_image, to_pil

    _check_image_path(check_output_file(args.out))
    device = resolve_device(args.device)

    def save(img):  # noqa: ANN001, ANN202 - atomically, through the one checked writer
        with atomic_file(args.out) as tmp:
            to_pil(img).save(tmp)  # the format follows the suffix, checked above
        return args.out

    if args.model:
        from muse.recipes.hub import load_model

        lm = load_model(args.model, device=device, expect_kind="style")
        content = load_image(args.content, size=args.size if args.size else None)
        print(save(lm.model.render(content)))
        return 0
    if not args.styles:
        raise ConfigError("give at least one style image, or --model DIR for a trained fast network")
    from muse.image.stylize import stylize

    img, info = stylize(args.content, args.styles, args.weights, size=args.size, steps=args.steps,
                        levels=args.levels, tol=args.tol,
                        optimizer=args.optimizer, style_weight=args.style_weight, content_weight=args.content_weight,
                        tv_weight=args.tv_weight, style_loss=args.style_loss, preserve_colors=args.preserve_colors,
                        vgg_weights=args.vgg_weights, seed=args.seed, tile=args.tile, device=device)
    print(f"{save(img)}  (features: {info['network']}; style loss "
          f"{info['style_loss_start']:.4g} -> {info['style_loss_end']:.4g})")
    return 0


def _check_image_path(path) -> None:  # noqa: ANN001
    """An output suffix PIL writes (.png, .jpg, ...), checked before minutes of optimisation."""
    from PIL import Image

    from muse.errors import ConfigError

    Image.init()
    writable = sorted(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE)
    if path.suffix.lower() not in writable:
        raise ConfigError(f"cannot write an image as {path.suffix or 'a file without a suffix'!r}; "
                          f"use .png or .jpg (PIL writes: {', '.join(writable)})", path)

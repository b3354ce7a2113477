"""muse demo — melodies, a chorale, poems and images from the shipped models, in a minute or two on a CPU."""
from __future__ import annotations

import argparse
import time

from muse.cli.options import subparser

EXAMPLES = (
    "muse demo",
    "muse demo --out /tmp/muse-demo --seed 3",
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "demo", help="write melodies, a chorale, poems and images from the shipped models",
                  examples=EXAMPLES,
                  description="Write two melodies, a four-part chorale, a harmonization of the first melody, a "
                              "lead sheet over G Em C D7, "
                              "three poems, a grid of GAN digits and a stylized photo with the shipped models, on "
                              "the CPU, in a minute or two.")
    p.add_argument("--out", default="demo-out", help="output folder (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of every part (default: %(default)s)")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.core.files import atomic_file, make_dirs, write_text

    out = make_dirs(args.out)  # before anything is imported or generated
    import torch

    import muse
    from muse.errors import MissingExtra
    from muse.image.data import load_skimage_image, to_pil
    from muse.image.grid import save_grid
    from muse.image.stylize import stylize

    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:5.1f}s] {msg}", flush=True)

    mels = muse.generate_melodies("melody-transformer", bars=8, num=2, key="D", scale="major", seed=args.seed)
    for files in muse.save_melodies(mels, out, prefix="melody"):
        say("melody  " + "  ".join(str(p) for p in files.values()))

    from muse.music.score_compose import ScoreRequest, compose_scores, harmonize, save_scores

    chorale = compose_scores("chorale-transformer", ScoreRequest(bars=8, key="G"), muse.GenerationConfig(seed=args.seed))
    harmony = harmonize("chorale-transformer", mels[0], generation=muse.GenerationConfig(seed=args.seed))
    for prefix, scores in (("chorale", chorale), ("harmonized", harmony)):
        for files in save_scores(scores, out, prefix=prefix):
            say(f"{prefix:<10} " + "  ".join(str(p) for p in files.values()))
    sheets = muse.melody_over_chords("leadsheet-transformer", "G Em C D7", bars=8,
                                     generation=muse.GenerationConfig(seed=args.seed))
    for files in muse.save_lead_sheets(sheets, out):
        say("leadsheet  " + "  ".join(str(p) for p in files.values()))

    poems = [("qijue", muse.write_poems("poem-tang", muse.PoemRequest(form="qijue", rhyme=True), seed=args.seed)[0]),
             ("wujue acrostic", muse.write_poems("poem-tang", muse.PoemRequest(form="wujue", acrostic="春夏秋冬"),
                                                 seed=args.seed)[0]),
             ("english", muse.write_poems("poem-english", muse.PoemRequest(lines=4, rhyme_scheme="AABB"),
                                          seed=args.seed)[0])]
    text = "\n\n".join(f"[{name}]\n{poem}" for name, poem in poems) + "\n"
    write_text(out / "poems.txt", text)
    print(text)
    say(f"poems   {out / 'poems.txt'}")

    gan = muse.load_model("gan-digits")
    torch.manual_seed(args.seed)
    with torch.no_grad():
        grid = gan.model.sample(64, generator=torch.Generator().manual_seed(args.seed))
    say(f"image   {save_grid(grid, out / 'gan_digits.png', nrow=8)}")

    try:
        content, style = load_skimage_image("chelsea", 160), load_skimage_image("gravel", 160)
    except MissingExtra as e:  # the default install has no scikit-image: the rest of the demo stands
        say(f"skipped style transfer: {e}")
        return 0
    img, info = stylize(content, [style], size=160, steps=40, style_weight=2.0, preserve_colors=True, progress=False)
    with atomic_file(out / "stylized_chelsea.png") as tmp:
        to_pil(img).save(tmp)
    say(f"image   {out / 'stylized_chelsea.png'} (features: {info['network'].split(';')[0]})")
    return 0

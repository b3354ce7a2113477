"""Images: a grid of digits from the shipped GAN, and a quick style transfer between two of them.

    python examples/images.py out/images        (needs: pip install 'muse[image]')
"""
import sys
from pathlib import Path

import muse
from muse.image.data import save_image
from muse.image.grid import save_grid
from muse.image.stylize import stylize

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/images")
out.mkdir(parents=True, exist_ok=True)
gan = muse.load("gan-digits")
images = gan.generate(num_return_sequences=16, seed=0)  # [16, 1, 32, 32] in [-1, 1]
print("wrote", save_grid(images, out / "digits.png", nrow=4))

# Restyle one sample after another (as RGB in [0, 1]); a few optimisation steps are enough to see it.
rgb = ((images[:2] + 1) / 2).repeat(1, 3, 1, 1)
styled, info = stylize(rgb[0], [rgb[1]], size=64, steps=20, seed=0)
print("wrote", save_image(styled, out / "styled.png"), f"(style loss {info['style_loss_start']:.3g} -> "
      f"{info['style_loss_end']:.3g})")

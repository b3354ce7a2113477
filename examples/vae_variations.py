"""A theme and variations from the melody VAE: sample, vary further and further, interpolate, write it all.

    python examples/vae_variations.py out/vae
"""
import sys
from pathlib import Path

import muse

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/vae")
vae = muse.load("vae-2bar")

# 1. A 2-bar theme from the prior, then variations that move further from it as `amount` grows.
theme = vae.generate(num_return_sequences=1, seed=4)[0]
variations = [vae.vary(theme, amount=a, num=1, seed=10)[0] for a in (0.2, 0.4, 0.6)]

# 2. A path from the theme to a second tune, and the theme made denser with an attribute vector.
other = vae.generate(num_return_sequences=1, seed=9)[0]
path = vae.interpolate(theme, other, steps=4)
denser = muse.apply_attribute(vae.vae, theme, "density", amount=1.5)

piece = [theme, *variations, *path, denser]
out.mkdir(parents=True, exist_ok=True)
midi = muse.write_midi(piece, out / "variations.mid", gap_bars=1)
muse.plot_pianoroll(piece, out / "variations.png",
                    titles=["theme", "amount 0.2", "0.4", "0.6", "path 1", "2", "3", "4", "denser"])
print("wrote", midi, out / "variations.png")

"""Compose a small suite: a theme, variations in other keys and modes, one MIDI file.

    python examples/theme_and_variations.py out/suite
"""
import sys
from pathlib import Path

import muse

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/suite")

# 1. A 4-bar theme in D major from the shipped transformer.
theme = muse.generate_melodies(bars=4, key="D", scale="major", temperature=0.9, start_with_note=True, seed=7)[0]

# 2. Variations: keep the theme's first bar as a primer, continue for 3 new bars in other keys/modes.
variations = []
for i, (key, scale) in enumerate([("D", "minor"), ("A", "mixolydian"), ("G", "pentatonic")]):
    head = theme.slice(0, theme.steps_per_bar).transpose(0)
    var = muse.generate_melodies(primer=head, bars=3, key=key, scale=scale, temperature=1.0, seed=100 + i)[0]
    variations.append(var)

# 3. Back to the theme, then assemble everything into one MIDI (a bar of rest between parts).
suite = [theme, *variations, theme]
out.mkdir(parents=True, exist_ok=True)
midi = muse.write_midi(suite, out / "suite.mid", gap_bars=1)
muse.render_wav(midi, out / "suite.wav")
muse.plot_pianoroll(suite, out / "suite.png", titles=["theme", "D minor", "A mixolydian", "G pentatonic", "theme"])
print("wrote", midi, out / "suite.wav", out / "suite.png")

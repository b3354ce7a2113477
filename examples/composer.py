"""A composer's script: a D-dorian theme, round trips through music21 and pretty_midi, a continuation
primed with the PrettyMIDI object, VAE variations of the theme, and a poem for a title; all in one folder.

    python examples/composer.py out/composer
"""
import sys
from pathlib import Path

import muse

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/composer")
out.mkdir(parents=True, exist_ok=True)

# 1. A 4-bar theme centred on D dorian, from the shipped melody transformer.
melodist = muse.load("melody-transformer")
theme = melodist.generate(bars=4, key="D", scale="dorian", start_with_note=True, seed=11)[0]

# 2. Into music21 and pretty_midi and back: exact on the grid.
score = theme.to_music21()          # a music21 Stream: engrave it, analyse it, write MusicXML
pm = theme.to_pretty_midi()         # a pretty_midi.PrettyMIDI
assert muse.Melody.from_music21(score).notes == theme.notes
assert muse.Melody.from_pretty_midi(pm).notes == theme.notes
score.write("musicxml", fp=str(out / "theme.musicxml"))
muse.write_midi(theme, out / "theme.mid")

# 3. Continue the theme for 4 new bars (8 in all), primed with the PrettyMIDI object itself.
continued = melodist.generate(primer=pm, bars=4, key="D", scale="dorian", seed=12)[0]
assert continued.notes[: len(theme.notes)] == theme.notes
muse.write_midi(continued, out / "continued.mid")

# 4. Variations of the theme's first two bars with the melody VAE, further from it each time.
vae = muse.load("vae-2bar")
head = theme.slice(0, 2 * theme.steps_per_bar)
variations = [vae.vary(head, amount=a, num=1, seed=3)[0] for a in (0.2, 0.5, 0.8)]
muse.write_midi([head, *variations], out / "variations.mid", gap_bars=1)

# 5. A poem to go with it.
poem = muse.load("poem-english").generate(lines=4, rhyme_scheme="AABB", seed=5)[0]
(out / "poem.txt").write_text(poem + "\n", encoding="utf-8")
print("wrote", *sorted(p.name for p in out.iterdir()))

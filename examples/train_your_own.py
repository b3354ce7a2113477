"""Train a small melody model on a folder of MIDI/MusicXML/ABC files and write melodies with it.

    python examples/train_your_own.py ~/my_midi_folder
(without an argument it uses 400 tunes of the Essen collection bundled with music21)
"""
import sys

import muse

corpus = sys.argv[1] if len(sys.argv) > 1 else "essen"
overrides = [] if len(sys.argv) > 1 else ["data.limit=400"]
result = muse.train("melody", corpus=corpus, model="lstm", steps=300, batch_size=16, out="runs/example-melody",
                    overrides=overrides)
print(f"trained {result.step} steps, best validation loss {result.best_val:.3f} nats")
mels = muse.generate_melodies("runs/example-melody", bars=8, num=2, key="E", scale="minor", seed=0)
print(muse.save_melodies(mels, "out/example-melody"))

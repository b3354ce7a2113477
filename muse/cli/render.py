"""muse render — any MIDI file to .wav (FluidSynth + GM soundfont, or the built-in synth) and a piano roll."""
from __future__ import annotations

import argparse
from pathlib import Path

from muse.cli.options import at_least, subparser

EXAMPLES = (
    "muse render out/melody_001.mid --png",
    "muse render song.mid -o song.wav --synth builtin --sample-rate 22050",
    "muse render song.mid --soundfont ~/sf2/FluidR3_GM.sf2",
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "render", help="render a MIDI file to .wav (and a piano-roll .png)", examples=EXAMPLES,
                  description="Render any MIDI file to a 16-bit .wav with FluidSynth and a General MIDI "
                              "soundfont, or with the built-in synth when FluidSynth is missing.")
    p.add_argument("midi")
    p.add_argument("-o", "--out", help="output .wav (default: next to the MIDI file); .flac, .ogg, .mp3 ... "
                                       "where the installed soundfile writes them")
    p.add_argument("--synth", choices=["auto", "fluidsynth", "builtin"], default="auto")
    p.add_argument("--soundfont", help="a .sf2 General MIDI soundfont")
    p.add_argument("--sample-rate", type=at_least(8000), default=44100, help="samples per second (>= 8000)")
    p.add_argument("--png", action="store_true", help="also draw the melody's piano roll")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.core.files import check_output_file
    from muse.music.render import check_audio_path, render_wav

    midi = Path(args.midi)
    out = check_audio_path(Path(args.out) if args.out else midi.with_suffix(".wav"))
    if args.png:
        check_output_file(out.with_suffix(".png"))
    wav = render_wav(midi, out, sample_rate=args.sample_rate, soundfont=args.soundfont, synth=args.synth)
    print(f"{wav} ({wav.synth})")
    if args.png:
        from muse.music.midi_io import read_melodies
        from muse.music.pianoroll import plot_pianoroll

        mels = read_melodies(midi)
        if mels:
            print(plot_pianoroll(mels, out.with_suffix(".png")))
    return 0

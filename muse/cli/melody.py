"""muse melody — write melodies as .mid, .wav and piano-roll .png."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from muse.cli.options import (add_device_flag, add_generation_flags, at_least, generation_overrides, resolve_device,
                              subparser)

DEFAULT_LEADSHEET_MODEL = "leadsheet-transformer"

EXAMPLES = (
    "muse melody --bars 8 --num 2 --key D --scale minor --out out/",
    "muse melody --primer song.mid --primer-bars 2 --primer-from end --bars 8 --out out/",
    "muse melody --model melody-lstm --num-beams 4 --branch-factor 2 --qpm 100 --out out/beams",
    'muse melody --chords "C G Am F" --bars 4 --num 3 --out out/leadsheets',
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "melody", help="generate melodies (.mid, .wav, .png)", examples=EXAMPLES,
                  description="Generate melodies with a trained or shipped model.")
    p.add_argument("--model", default=None, help="shipped model name, model dir, run dir or checkpoint "
                                                "(default: melody-transformer)")
    p.add_argument("--bars", type=at_least(1), default=None,
                   help="bars to generate (default 8); with a primer, new bars after it "
                        "(the primer, rounded up to whole bars, comes first); with --chords, the progression "
                        "repeats or is cut to fill them (default: its own length)")
    p.add_argument("--chords", metavar="PROGRESSION",
                   help='write a melody over these chords: "C G Am F" (a bar each) or "C:2 G:2" (beats); any '
                        "chord symbol music21 reads. Writes the melody and a chord track (MIDI) and a lead sheet "
                        f"with chord symbols (MusicXML); model default: {DEFAULT_LEADSHEET_MODEL}")
    p.add_argument("--num", type=at_least(1), default=1)
    p.add_argument("--out", default="out", help="output folder")
    p.add_argument("--key", help="tonic, e.g. D, F#, Bb (hard constraint with --scale)")
    p.add_argument("--scale", help="major, minor, dorian, pentatonic, blues, ... (hard constraint)")
    p.add_argument("--low", type=int, default=0, help="lowest MIDI pitch allowed")
    p.add_argument("--high", type=int, default=127, help="highest MIDI pitch allowed")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--primer", help="MIDI/MusicXML/ABC file whose melody is continued")
    src.add_argument("--primer-notes", help='notes to continue: "60 62 64", "C4 D4:0.5 r E4" or "[60,-2,-1,62]"')
    p.add_argument("--primer-bars", type=int, metavar="K",
                   help="use K bars of the primer (default: all of it up to 4 bars, else its first 4 bars with notes)")
    p.add_argument("--primer-from", choices=["start", "end"], default="start",
                   help="take --primer-bars from the primer's first bar with a note (start, default) "
                        "or from its last bars (end)")
    p.add_argument("--qpm", type=at_least(0, float, above=True), help="tempo in quarter notes per minute (default: primer's or 120)")
    p.add_argument("--time-signature", help="meter, e.g. 3/4 or 6/8 (default: the primer's, else 4/4)")
    p.add_argument("--style", metavar="CORPUS",
                   help="write like this training corpus (models trained with data.control holding corpus; "
                        "default: the corpus most of its tunes came from)")
    p.add_argument("--start-with-note", action="store_true",
                   help="begin on a note (default: the model may open with a pick-up, i.e. rests then a lead-in note)")
    p.add_argument("--no-cadence", action="store_true",
                   help="stop at the last bar wherever the model is (default: end on the tonic, on a strong beat, "
                        "held)")
    p.add_argument("--no-wav", action="store_true")
    p.add_argument("--no-png", action="store_true")
    p.add_argument("--synth", choices=["auto", "fluidsynth", "builtin"], default="auto")
    add_device_flag(p)
    add_generation_flags(p)
    return p


BATCH = 8
"""Melodies generated at a time by ``muse melody``: each batch is written, path by path, before the next
is generated. Batch ``k`` (from 0) is seeded ``seed + k * BATCH``, as :func:`~muse.music.compose.compose`
seeds its own later batches, so ``--num`` up to ``BATCH`` gives exactly what one
``generate_melodies(num=..., seed=...)`` call gives."""


def write_melodies(batches: Iterable[Sequence[Any]], total: int, out: Path, *, prefix: str, wav: bool, png: bool,
                   synth: str) -> int:
    """Write melodies batch by batch as ``<prefix>_001``, ``<prefix>_002``, ... and print each one's files
    (one stdout line) as soon as they are written. With ``total`` > 1, a ``prefix`` bar runs on stderr
    when it is a terminal. Returns how many were written."""
    from tqdm import tqdm

    from muse.music.compose import save_melodies

    written = 0
    with tqdm(total=total, desc=prefix, unit="melody", leave=False, file=sys.stderr,
              disable=None if total > 1 else True) as bar:
        for batch in batches:
            for mel in batch:
                (files,) = save_melodies([mel], out, prefix=prefix, wav=wav, png=png, synth=synth, start=written + 1)
                written += 1
                tqdm.write("  ".join(str(f) for f in files.values()), file=sys.stdout)
                sys.stdout.flush()
                bar.update(1)
    return written


def run(args: argparse.Namespace) -> int:
    from muse.music.compose import DEFAULT_MELODY_MODEL, generate_melodies
    from muse.music.midi_io import parse_primer, read_melodies
    from muse.core.files import check_output_dir
    from muse.errors import DataError
    from muse.recipes.hub import load_model

    check_output_dir(args.out)
    device = resolve_device(args.device)
    if args.chords:
        return run_chords(args, device)
    primer = None
    if args.primer:
        mels = read_melodies(args.primer, min_pitches=1)
        if not mels:
            raise DataError("no melody found to use as a primer", args.primer)
        primer = mels[0]
    elif args.primer_notes:
        primer = parse_primer(args.primer_notes)
    lm = load_model(args.model or DEFAULT_MELODY_MODEL, device=device, expect_kind="melody")
    generation = generation_overrides(args, rename={"num_beams": "beam_size"})
    seed = generation.pop("seed", None)
    if seed is None:
        seed = lm.generation_config.seed
    request = dict(
        bars=args.bars or 8, key=args.key, scale=args.scale, low=args.low, high=args.high,
        primer=args.primer if args.primer else primer, primer_bars=args.primer_bars, primer_from=args.primer_from,
        qpm=args.qpm,
        time_signature=args.time_signature,  # None: the primer's meter, else 4/4
        start_with_note=args.start_with_note, cadence=not args.no_cadence, corpus=args.style, device=device,
        **generation)
    sizes = [min(BATCH, args.num - done) for done in range(0, args.num, BATCH)] or [args.num]  # [num < 1]: its error

    def batches():  # noqa: ANN202
        import warnings

        from muse.data.report import MuseWarning

        done = 0
        for n in sizes:
            with warnings.catch_warnings():
                if done:  # the primer's excerpt was announced with the first batch
                    warnings.filterwarnings("ignore", message=r"primer .* bars long", category=MuseWarning)
                batch = generate_melodies(lm, num=n, seed=None if seed is None else seed + done, **request)
            yield batch
            done += n

    write_melodies(batches(), max(args.num, 0), Path(args.out), prefix="melody", wav=not args.no_wav,
                   png=not args.no_png, synth=args.synth)
    return 0


def run_chords(args: argparse.Namespace, device: str) -> int:
    """``muse melody --chords``: lead sheets from a lead-sheet model."""
    from muse.errors import ConfigError
    from muse.music.leadsheet import melody_over_chords, save_lead_sheets
    from muse.recipes.hub import load_model

    clash = [flag for flag, on in (("--primer", args.primer), ("--primer-notes", args.primer_notes),
                                   ("--scale", args.scale), ("--style", args.style),
                                   ("--low", args.low != 0), ("--high", args.high != 127),
                                   ("--start-with-note", args.start_with_note),
                                   ("--num-beams", getattr(args, "num_beams", None))) if on]
    if clash:
        raise ConfigError(f"--chords cannot be combined with {clash[0]}: that option is for melody models, not lead sheets")
    lm = load_model(args.model or DEFAULT_LEADSHEET_MODEL, device=device, expect_kind="score")
    overrides = generation_overrides(args, rename={"num_beams": "beam_size"})
    scores = melody_over_chords(lm, args.chords, bars=args.bars, time_signature=args.time_signature, key=args.key,
                                qpm=args.qpm or 120.0, num=args.num,
                                generation=lm.generation_config.updated(**overrides), device=device)
    for files in save_lead_sheets(scores, args.out, prefix="leadsheet", wav=not args.no_wav, png=not args.no_png,
                                  synth=args.synth):
        print("  ".join(str(f) for f in files.values()))
    sys.stdout.flush()
    return 0

"""muse vae — sample, encode, decode, interpolate, reconstruct and steer melodies with a melody VAE."""
from __future__ import annotations

import argparse
from pathlib import Path

from muse.cli.options import add_device_flag, add_generation_flags, at_least, field_docs, resolve_device, subparser

EXAMPLES = {
    "sample": ("muse vae sample --num 8 --temperature 0.8 --seed 1 --out out/vae",),
    "encode": ("muse vae encode tune.mid -o codes.npy",),
    "decode": ("muse vae decode codes.npy --temperature 0.3 --out out/decoded --no-wav",),
    "interpolate": ("muse vae interpolate a.mid b.mid --steps 7 --out out/walk",),
    "reconstruct": ("muse vae reconstruct tune.mid --out out/rec",),
    "vary": ("muse vae vary tune.mid --amount 0.4 --num 4 --seed 1 --out out/vary",),
    "attribute": ("muse vae attribute tune.mid --attribute density --amount 1.5 --out out/denser",
                  "muse vae attribute tune.mid --attribute mean_interval --amount -1 --model runs/vae/model"),
}


def _common(p: argparse.ArgumentParser, out: bool = True, temperature: float = 0.5) -> None:
    p.add_argument("--model", default=None, help="shipped model name, model dir, run dir or checkpoint "
                                                "(default: vae-2bar)")
    add_device_flag(p)
    if out:
        p.add_argument("--out", default="out", help="output folder")
        p.add_argument("--no-wav", action="store_true")
        p.add_argument("--no-png", action="store_true")
        p.add_argument("--synth", choices=["auto", "fluidsynth", "builtin"], default="auto")
    default = f"{temperature:g}" + (" (greedy)" if temperature == 0 else "")
    add_generation_flags(p, ("temperature", "seed"), title="decoding", description=None, help={
        "temperature": f"{field_docs()['temperature']} 0 decodes greedily (argmax at every step). Default: {default}"})


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "vae", help="melody VAE: sample, interpolate, reconstruct, change attributes",
                  examples=(EXAMPLES["sample"][0], EXAMPLES["interpolate"][0], EXAMPLES["attribute"][0]),
                  description="Work in a melody VAE's latent space. Inputs longer than the model's "
                              "length are read as consecutive windows.")
    s = p.add_subparsers(dest="action", metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        return subparser(s, name, help=help, description=help[0].upper() + help[1:] + ".",
                         examples=EXAMPLES[name])

    a = action("sample", "new melodies from random codes")
    a.add_argument("--num", type=at_least(1), default=4)
    _common(a)
    a = action("encode", "codes of a melody file -> .npy ([windows, z_dim])")
    a.add_argument("file")
    a.add_argument("-o", "--output", required=True, help="output .npy file")
    _common(a, out=False)
    a = action("decode", "melodies from codes in a .npy file")
    a.add_argument("codes")
    _common(a)
    a = action("interpolate", "melodies along the path between two melodies")
    a.add_argument("file_a")
    a.add_argument("file_b")
    a.add_argument("--steps", type=at_least(2), default=5)
    _common(a, temperature=0.0)
    a = action("reconstruct", "encode and decode a melody")
    a.add_argument("file")
    _common(a, temperature=0.0)
    a = action("vary", "variations of a melody, further from it as --amount grows from 0 to 1")
    a.add_argument("file")
    a.add_argument("--amount", type=float, default=0.5, help="0: the theme (its reconstruction) .. 1: unrelated")
    a.add_argument("--num", type=at_least(1), default=4)
    _common(a, temperature=0.0)
    a = action("attribute", "move a melody along an attribute vector (e.g. note density)")
    a.add_argument("file")
    a.add_argument("--attribute", required=True, help="note_density (or density), mean_interval, syncopation, "
                                                     "pitch_span, or another the model carries")
    a.add_argument("--amount", type=float, default=1.0, help="multiple of the vector to add (negative: less)")
    _common(a, temperature=0.0)
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from muse.cli.melody import write_melodies
    from muse.core.files import atomic_file, check_output_dir, check_output_file
    from muse.errors import ConfigError
    from muse.music import latent_space as ls

    if not args.action:
        raise ConfigError("say what to do: muse vae {sample,encode,decode,interpolate,reconstruct,vary,attribute} ...")
    if args.action == "encode":
        check_output_file(args.output)
    else:
        check_output_dir(args.out)
    vae = ls.load_vae(args.model or ls.DEFAULT_VAE_MODEL, device=resolve_device(args.device))
    # a temperature left out is the API's default: 0.5 for sample/decode, 0 (greedy) for the others
    opts = {k: v for k, v in dict(temperature=args.temperature, seed=args.seed).items() if v is not None}

    def save(mels, prefix):
        # one file at a time: each path is printed as soon as it is written (a bar on a terminal when several)
        write_melodies([mels], len(mels), Path(args.out), prefix=prefix, wav=not args.no_wav, png=not args.no_png,
                       synth=args.synth)

    if args.action == "sample":
        save(ls.sample_melodies(vae, args.num, **opts), "sample")
    elif args.action == "encode":
        z = ls.encode_melodies(vae, ls.read_input_melody(args.file), label=args.file).cpu().numpy()
        out = Path(args.output)
        with atomic_file(out) as tmp, open(tmp, "wb") as f:  # exactly the file named (np.save would append .npy)
            np.save(f, z)
        print(f"{out}: {z.shape[0]} code(s) of {z.shape[1]} dims")
    elif args.action == "decode":
        save(ls.decode_latents(vae, _load_codes(args.codes), **opts), "decoded")
    elif args.action == "interpolate":
        a, b = ls.read_input_melody(args.file_a), ls.read_input_melody(args.file_b)
        mels = ls.interpolate_melodies(vae, a, b, args.steps, labels=(args.file_a, args.file_b), **opts)
        _save_interpolation(mels, Path(args.out))
        save(mels, "step")
    elif args.action == "reconstruct":
        mel = ls.read_input_melody(args.file)
        rec = ls.reconstruct(vae, mel, label=args.file, **opts)
        n = min(mel.length, rec.length)
        same = _step_agreement(mel, rec, n)
        save([rec], "reconstruction")
        print(f"reconstruction matches the input at {same:.0%} of {n} steps")
    elif args.action == "vary":
        mel = ls.read_input_melody(args.file)
        variations = ls.vary_melody(vae, mel, args.amount, args.num, label=args.file, **opts)
        save(variations, "variation")
        rec = ls.reconstruct(vae, mel, label=args.file, temperature=opts.get("temperature", 0.0))
        n = rec.length
        shared = sum(_step_agreement(rec, v, n) for v in variations) / len(variations)
        print(f"variations match the theme's reconstruction at {shared:.0%} of {n} steps on average")
    else:
        from muse.music.metrics import ATTRIBUTES

        mel = ls.read_input_melody(args.file)
        name = ls.resolve_attribute(vae.attributes, args.attribute) if len(vae.attributes) else args.attribute
        new = ls.apply_attribute(vae, mel, name, args.amount, label=args.file, **opts)
        save([new], "attribute")
        if name in ATTRIBUTES:
            fn = ATTRIBUTES[name]
            print(f"{name}: input {fn(mel):.3f}, with {args.amount:+g} x vector {fn(new):.3f}")
    return 0


def _load_codes(path: str):
    import numpy as np

    from muse.errors import DataError

    p = Path(path)
    if not p.is_file():
        raise DataError("file not found", p)
    try:
        z = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"not a .npy array of codes ({str(e).splitlines()[0]})", p) from None
    if not np.issubdtype(z.dtype, np.number):
        raise DataError(f"codes must be numbers, not {z.dtype}", p)
    return z


def _save_interpolation(mels, out: Path) -> None:
    from muse.music.midi_io import write_midi
    from muse.music.pianoroll import plot_pianoroll

    mid = write_midi(mels, out / "interpolation.mid")
    png = plot_pianoroll(mels, out / "interpolation.png", titles=[f"step {i + 1}" for i in range(len(mels))])
    print(f"{mid}  {png}")


def _step_agreement(a, b, n: int) -> float:
    """Share of the first ``n`` grid steps where two melodies have the same event (onset of a pitch, hold, off)."""
    from muse.music.events import MelodyEventTokenizer

    events = MelodyEventTokenizer(0, 127, squash=False, transpose_to_key=False)
    ta, tb = events.encode(a.slice(0, n)), events.encode(b.slice(0, n))
    return sum(x == y for x, y in zip(ta, tb)) / max(1, n)

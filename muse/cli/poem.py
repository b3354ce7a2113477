"""muse poem — write poems (Chinese regulated forms, English forms, free verse)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from muse.cli.options import (add_device_flag, add_generation_flags, at_least, generation_overrides, resolve_device,
                              subparser)

SAMPLING = ("temperature", "top_k", "top_p", "repetition_penalty", "num_beams", "max_new_tokens", "seed")
"""The settings :func:`muse.poetry.compose.write_poems` takes."""
API_NAMES = {"num_beams": "beam_size", "max_new_tokens": "max_tokens"}
"""GenerationConfig field -> write_poems parameter."""
EXAMPLES = (
    "muse poem --form qijue --rhyme --tonal --num 3",
    "muse poem --form wujue --acrostic 春夏秋冬 --seed 7 --out poems.txt",
    "muse poem --lines 4 --rhyme-scheme AABB --temperature 0.7 --top-p 0.9 --stream",
    "muse poem --rhyme-scheme sonnet --meter iambic --seed 3",
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "poem", help="write poems", examples=EXAMPLES,
                  description="Write poems with a trained or shipped model. "
                              "Form options are hard constraints: every poem obeys them.")
    p.add_argument("--model", help="shipped model name, model dir, run dir or checkpoint "
                                   "(default: poem-tang for Chinese requests, else poem-english)")
    p.add_argument("--prompt", default="", help="text the poem starts with")
    p.add_argument("--prompt-file", help="read the prompt from a UTF-8 file")
    p.add_argument("--title", help="title to condition on (models trained with data.with_title=true)")
    p.add_argument("--num", type=at_least(1), default=1)
    p.add_argument("--form", choices=["wujue", "qijue", "wulv", "qilv"], help="Chinese form: 5/7 chars x 4/8 lines")
    p.add_argument("--acrostic", help="head characters/letters of the lines, e.g. 春夏秋冬 or LOVE")
    p.add_argument("--rhyme", action="store_true", help="Chinese forms: even lines (and line 1 of 七言) end in one "
                                                       "平水韵 level-tone group, no rhyme character twice")
    p.add_argument("--tonal", action="store_true", help="Chinese forms: regulated 平仄 patterns by classical tones")
    p.add_argument("--rhyme-system", choices=["pingshui", "modern"], default="pingshui",
                   help="Chinese forms: classical 平水韵 (default) or modern 中华新韵 rhymes and Mandarin tones")
    p.add_argument("--no-first-line-rhyme", dest="first_line_rhyme", action="store_const", const=False,
                   default=None, help="Chinese forms with --rhyme: line 1 of 七言 need not rhyme")
    p.add_argument("--lines", type=at_least(1), help="English: number of lines")
    p.add_argument("--stanza", type=at_least(1), help="English: blank line every N lines")
    p.add_argument("--rhyme-scheme", help="English end rhymes, e.g. AABB, ABAB, 'ABAB CDCD EFEF GG' or a name: "
                                          "sonnet, petrarchan, limerick, couplets (gives --lines when left out)")
    p.add_argument("--meter", choices=["iambic"], help="English: every line iambic (CMU stresses)")
    p.add_argument("--feet", type=int, help="English, with --meter: feet per line (default 5, pentameter)")
    p.add_argument("--stream", action="store_true", help="print the poem as it is written (sampling only, "
                                                         "no beam search)")
    p.add_argument("--out", help="also write the poems to this UTF-8 text file")
    add_device_flag(p)
    add_generation_flags(p, SAMPLING, aliases={"max_new_tokens": ["--max-tokens"]},
                         help={"seed": "seed of a private random generator: same seed, model and request, same poems "
                                       "(--stream: poem i uses seed + i)"})
    return p


def run(args: argparse.Namespace) -> int:
    from muse.core.files import check_output_file, write_text
    from muse.errors import ConfigError, DataError
    from muse.poetry.compose import PoemRequest, stream_poem, write_poems

    if args.num < 1:
        raise ConfigError(f"--num must be at least 1, got {args.num}")
    if args.out:
        check_output_file(args.out)
    device = resolve_device(args.device)
    prompt = args.prompt
    if args.prompt_file:
        try:
            prompt = Path(args.prompt_file).read_text(encoding="utf-8").rstrip("\n")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read prompt ({getattr(e, 'strerror', None) or e})", args.prompt_file) from None
        if not prompt.strip():
            raise DataError("prompt file is empty", args.prompt_file)
    req = PoemRequest(prompt=prompt, title=args.title, form=args.form, acrostic=args.acrostic, rhyme=args.rhyme,
                      tonal=args.tonal, rhyme_system=args.rhyme_system, first_line_rhyme=args.first_line_rhyme,
                      lines=args.lines, stanza=args.stanza, rhyme_scheme=args.rhyme_scheme,
                      meter=args.meter, feet=args.feet)
    kw = generation_overrides(args, rename=API_NAMES)
    kw.pop("seed", None)
    kw["device"] = device
    poems = []
    if args.stream:
        if kw.pop("beam_size", 1) > 1:
            raise ConfigError("--stream writes one sampled poem at a time; it cannot use beam search (--num-beams)")
        for i in range(args.num):
            parts = []
            for piece in stream_poem(args.model, req, seed=None if args.seed is None else args.seed + i, **kw):
                parts.append(piece)
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n\n")
            poems.append("".join(parts))
    else:
        poems = write_poems(args.model, req, num=args.num, seed=args.seed, **kw)
        print("\n\n".join(poems))
    if args.out:
        write_text(args.out, "\n\n".join(poems) + "\n")
    return 0

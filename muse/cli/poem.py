"""muse poem — write poems (Chinese regulated forms, English forms, free verse)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("poem", help="write poems", description="Write poems with a trained or shipped model. "
                       "Form options are hard constraints: every poem obeys them.")
    p.add_argument("--model", help="shipped model name, model dir, run dir or checkpoint "
                                   "(default: poem-tang for Chinese requests, else poem-english)")
    p.add_argument("--prompt", default="", help="text the poem starts with")
    p.add_argument("--prompt-file", help="read the prompt from a UTF-8 file")
    p.add_argument("--title", help="title to condition on (models trained with data.with_title=true)")
    p.add_argument("--num", type=int, default=1)
    p.add_argument("--form", choices=["wujue", "qijue", "wulv", "qilv"], help="Chinese form: 5/7 chars x 4/8 lines")
    p.add_argument("--acrostic", help="head characters/letters of the lines, e.g. 春夏秋冬 or LOVE")
    p.add_argument("--rhyme", action="store_true", help="Chinese forms: even lines share one rhyme group")
    p.add_argument("--tonal", action="store_true", help="Chinese forms: simple 平仄 pattern")
    p.add_argument("--lines", type=int, help="English: number of lines")
    p.add_argument("--stanza", type=int, help="English: blank line every N lines")
    p.add_argument("--rhyme-scheme", help="English end rhymes, e.g. AABB or ABAB")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--beam-size", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=400)
    p.add_argument("--seed", type=int)
    p.add_argument("--stream", action="store_true", help="print the poem as it is written")
    p.add_argument("--out", help="also write the poems to this UTF-8 text file")
    p.add_argument("--device", default="cpu")
    return p


def run(args: argparse.Namespace) -> int:
    from muse.errors import ConfigError, DataError
    from muse.poetry.compose import PoemRequest, stream_poem, write_poems

    if args.num < 1:
        raise ConfigError(f"--num must be at least 1, got {args.num}")
    prompt = args.prompt
    if args.prompt_file:
        try:
            prompt = Path(args.prompt_file).read_text(encoding="utf-8").rstrip("\n")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read prompt ({getattr(e, 'strerror', None) or e})", args.prompt_file) from None
        if not prompt.strip():
            raise DataError("prompt file is empty", args.prompt_file)
    req = PoemRequest(prompt=prompt, title=args.title, form=args.form, acrostic=args.acrostic, rhyme=args.rhyme,
                      tonal=args.tonal, lines=args.lines, stanza=args.stanza, rhyme_scheme=args.rhyme_scheme)
    kw = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
              repetition_penalty=args.repetition_penalty, max_tokens=args.max_tokens, device=args.device)
    poems = []
    if args.stream:
        for i in range(args.num):
            parts = []
            for piece in stream_poem(args.model, req, seed=None if args.seed is None else args.seed + i, **kw):
                parts.append(piece)
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n\n")
            poems.append("".join(parts))
    else:
        poems = write_poems(args.model, req, num=args.num, beam_size=args.beam_size, seed=args.seed, **kw)
        print("\n\n".join(poems))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n\n".join(poems) + "\n", encoding="utf-8")
    return 0

"""Generation speed with and without the KV cache: tokens per second at context 256.

The small transformer (4 layers, 4 heads, 128 wide, block_size 256, random weights)
generates greedily with muse's sampler, once reusing its KV cache and once
recomputing the whole (cropped) context for every token as nanoGPT's ``generate``
does (``GenerationConfig(use_cache=False)``). Times include reading the prompt.

Cases: a 1-token prompt filled up to 256 tokens; a 128-token prompt filled up to
256; a full 256-token prompt continued for 256 more (the window slides: relative
positions slide the cache, learned positions must recompute the window).

    python bench/kv_cache.py [--quick] [--threads N]
"""
from __future__ import annotations

import time

import torch

from common import SEED, devices, interleave, median, parse_args, report, small_lm
from muse.sampling.config import GenerationConfig
from muse.sampling.sampler import generate

VOCAB = 65
BLOCK = 256
CASES = [(1, 255, "1 -> 256"), (128, 128, "128 -> 256"), (256, 256, "256 + 256 (sliding)")]


def timed(model: torch.nn.Module, prompt: list[int], new: int, use_cache: bool) -> tuple[float, list[int]]:
    cfg = GenerationConfig(max_new_tokens=new, do_sample=False, use_cache=use_cache)
    t0 = time.perf_counter()
    (seq,) = generate(model, prompt, cfg)
    return time.perf_counter() - t0, seq


def main() -> None:
    args = parse_args(__doc__)
    rounds = 1 if args.quick else 3
    cases = [(p, n // 4 if args.quick else n, name) for p, n, name in CASES]
    prompt_ids = torch.randint(0, VOCAB, (BLOCK,), generator=torch.Generator().manual_seed(SEED)).tolist()
    rows, results = [], []
    for dev, pos in [(d, p) for d in devices(args.device) for p in ("relative", "learned")]:
        model = small_lm(VOCAB, block_size=BLOCK, pos=pos).to(dev).eval()
        for plen, new, name in cases:
            prompt = prompt_ids[:plen]
            runs = interleave({c: lambda c=c: timed(model, prompt, new, c) for c in (True, False)}, rounds)
            secs = {c: median([t for t, _ in runs[c]]) for c in runs}
            same = runs[True][0][1] == runs[False][0][1]
            r = {"device": dev.type, "pos": pos, "case": name, "prompt": plen, "new_tokens": new, "cached_s": secs[True],
                 "recompute_s": secs[False], "cached_tok_s": new / secs[True], "recompute_tok_s": new / secs[False],
                 "speedup": secs[False] / secs[True], "same_ids": same}
            results.append(r)
            rows.append([dev.type, pos, name, new, f"{r['cached_tok_s']:.0f}", f"{r['recompute_tok_s']:.0f}",
                         f"{r['speedup']:.1f}x", "yes" if same else "no"])
            print(r, flush=True)
    header = ["device", "pos", "prompt -> context", "new tokens", "KV cache tok/s", "recompute tok/s", "speedup", "same ids"]
    report("kv_cache", args, header, rows, {"block_size": BLOCK, "rounds": rounds, "results": results})


if __name__ == "__main__":
    main()

"""Generation speed with and without the KV cache: tokens per second at context 256.

The small transformer (4 layers, 4 heads, 128 wide, block_size 256, random weights)
generates greedily with muse's sampler, once reusing its KV cache and once
recomputing the whole (cropped) context for every token as nanoGPT's ``generate``
does (``GenerationConfig(use_cache=False)``). Times are process CPU seconds (on
one thread, what an idle machine would take in wall time) and include reading
the prompt.

Cases: a 1-token prompt filled up to 256 tokens; a 128-token prompt filled up to
256; a full 256-token prompt continued for 256 more (the window slides: rope,
alibi and relative positions slide the cache, learned positions must recompute
the window). Every position scheme is measured.

Against nanoGPT, at nanoGPT's GPU Shakespeare size (6 layers, 6 heads, 384
wide, context 256, 10.7 M parameters, random weights): muse's cached decoding
with each position scheme against nanoGPT's ``generate`` loop, which re-runs the
whole cropped context for every new token without a cache; that loop is muse's
learned-position model with ``use_cache=False`` (the same computation as
nanoGPT's model: GPT-2 blocks, learned positions, fused causal attention).

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
SCHEMES = ("rope", "alibi", "relative", "learned")
MEDIUM = dict(n_layer=6, n_head=6, n_embd=384, block_size=BLOCK)
MEDIUM_CASES = [(1, 255, "1 -> 256"), (256, 128, "256 + 128 (sliding)")]


def against_nanogpt(dev: torch.device, prompt_ids: list[int], quick: bool) -> tuple[list[dict], list[list[str]]]:
    """Cached decoding of the 6 x 384 model per scheme against the no-cache, recompute-everything loop."""
    rounds = 1 if quick else 2  # the same cases with --quick (fewer tokens would time mostly the prefill)
    models = {pos: small_lm(VOCAB, **MEDIUM, pos=pos).to(dev).eval() for pos in SCHEMES}
    results, rows = [], []
    for plen, new, name in MEDIUM_CASES:
        prompt = prompt_ids[:plen]
        runs = {"nanoGPT loop": lambda: timed(models["learned"], prompt, new, False)}
        runs.update({pos: (lambda pos=pos: timed(models[pos], prompt, new, True)) for pos in SCHEMES})
        got = interleave(runs, rounds, warmup=0 if quick else 1)
        base = median([t for t, _ in got["nanoGPT loop"]])
        for who, timings in got.items():
            secs = median([t for t, _ in timings])
            r = {"device": dev.type, "model": "6 x 384", "case": name, "prompt": plen, "new_tokens": new,
                 "decoder": who, "cache": who != "nanoGPT loop", "s": secs, "tok_s": new / secs,
                 "vs_nanogpt": base / secs, "all_s": [t for t, _ in timings]}
            results.append(r)
            rows.append([dev.type, "6 x 384", who, name, new, f"{new / secs:.1f}", f"{base / secs:.1f}x"])
            print(r, flush=True)
    return results, rows


def timed(model: torch.nn.Module, prompt: list[int], new: int, use_cache: bool) -> tuple[float, list[int]]:
    """Seconds of process CPU time (steadier than wall time on a shared machine; one thread) and the ids."""
    cfg = GenerationConfig(max_new_tokens=new, do_sample=False, use_cache=use_cache)
    t0 = time.process_time()
    (seq,) = generate(model, prompt, cfg)
    return time.process_time() - t0, seq


def main() -> None:
    args = parse_args(__doc__)
    rounds = 1 if args.quick else 3
    cases = [(p, n // 4 if args.quick else n, name) for p, n, name in CASES]
    prompt_ids = torch.randint(0, VOCAB, (BLOCK,), generator=torch.Generator().manual_seed(SEED)).tolist()
    rows, results = [], []
    for dev, pos in [(d, p) for d in devices(args.device) for p in SCHEMES]:
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
    nano, nano_rows = [], []
    for dev in devices(args.device):
        r, rw = against_nanogpt(dev, prompt_ids, args.quick)
        nano, nano_rows = nano + r, nano_rows + rw
    from common import markdown_table

    print(markdown_table(["device", "model", "decoder", "prompt -> context", "new tokens", "tok/s", "vs nanoGPT loop"],
                         nano_rows))
    report("kv_cache", args, header, rows, {"block_size": BLOCK, "rounds": rounds, "results": results,
                                            "medium": MEDIUM, "against_nanogpt": nano})


if __name__ == "__main__":
    main()

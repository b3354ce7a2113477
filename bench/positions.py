"""Position schemes of the transformer: training step time and attention memory against context length.

1. *Training step*: the small transformer (4 layers, 4 heads, 128 wide, no
   dropout) with each position scheme (learned, rope, alibi, relative) at
   contexts 64, 128, 256 and 512, the bare step of bench/common.py (forward,
   backward, clipping, AdamW) on random tokens. The batch holds 3,072 tokens at
   every context (48 x 64 ... 6 x 512), so the share of attention grows with the
   context. Schemes alternate within each round; the ratio is ms/step over
   learned positions' ms/step at the same context.
2. *Attention alone*: one ``CausalSelfAttention`` layer (4 heads x 32, batch 8)
   forward + backward at contexts 64 .. 1024: process CPU time, and the peak
   memory it adds, measured in a fresh subprocess per (scheme, context): the
   peak resident set size is reset (``/proc/self/clear_refs``, Linux) just before
   the step, and the added memory is ``VmHWM`` after it minus ``VmRSS`` before.
   Linear memory shows as about 2x per doubling of the context, quadratic as
   about 4x.

    python bench/positions.py [--quick] [--threads 1]
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import torch

from common import (SEED, SMALL, bare_optimizer, bare_step, interleave, median, parse_args, report, small_lm,
                    time_steps)

SCHEMES = ("learned", "rope", "alibi", "relative")
CONTEXTS = (64, 128, 256, 512)
TOKENS_PER_STEP = 3072
VOCAB = 65
ATTN = dict(batch=8, n_head=4, n_embd=128)
ATTN_CONTEXTS = (64, 128, 256, 512, 1024)


def step_times(quick: bool) -> tuple[list[dict], list[list[str]]]:
    steps, rounds = (1, 1) if quick else (2, 2)
    results, rows = [], []
    cpu = torch.device("cpu")
    for block in CONTEXTS:
        batch = TOKENS_PER_STEP // block
        gen = torch.Generator().manual_seed(SEED)
        ids = torch.randint(0, VOCAB, (steps, batch, block + 1), generator=gen)
        batches = [{"input": x[:, :-1], "target": x[:, 1:]} for x in ids]
        runs = {}
        for pos in SCHEMES:
            model = small_lm(VOCAB, **{**SMALL, "block_size": block, "pos": pos}).train()
            opt = bare_optimizer(model, 1e-3, 0.1, (0.9, 0.99), cpu)
            runs[pos] = (lambda m=model, o=opt: time_steps(lambda b: bare_step(m, o, b), batches.__getitem__,
                                                           steps, cpu))
        got = interleave(runs, rounds)
        base = median([c.wall for c in got["learned"]])
        base_cpu = median([c.cpu for c in got["learned"]])
        for pos in SCHEMES:
            wall, cpu_s = median([c.wall for c in got[pos]]), median([c.cpu for c in got[pos]])
            results.append({"context": block, "batch": batch, "pos": pos, "steps": steps, "rounds": rounds,
                            "ms_per_step": 1e3 * wall, "cpu_ms_per_step": 1e3 * cpu_s, "vs_learned": wall / base,
                            "cpu_vs_learned": cpu_s / base_cpu, "all_ms": [1e3 * c.wall for c in got[pos]]})
            rows.append(["training step", block, f"{batch} x {block}", pos, f"{1e3 * wall:.1f}",
                         f"{wall / base:.2f}x", f"{cpu_s / base_cpu:.2f}x", ""])
            print(results[-1], flush=True)
    return results, rows


def attention_child(spec: str) -> None:
    """``--child JSON``: one attention layer, forward + backward; print seconds and added peak memory (MiB)."""
    from muse.models.transformer import TransformerLM

    job = json.loads(spec)
    pos, block, reps = job["pos"], job["context"], job["reps"]
    torch.manual_seed(SEED)
    cfg = TransformerLM.Config(vocab_size=VOCAB, block_size=block, n_layer=1, n_head=ATTN["n_head"],
                               n_embd=ATTN["n_embd"], pos=pos)
    model = TransformerLM(cfg).train()
    attn = model.blocks[0].attn
    x = torch.randn(ATTN["batch"], block, ATTN["n_embd"], requires_grad=True)

    def once() -> None:
        positions = model._positions(0, block, block, x.dtype, x.device)
        y, _ = attn(x, None, positions)
        y.sum().backward()

    def status(key: str) -> int:  # kB
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith(key + ":"))

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident size (VmHWM) to the current one
    rss_before = status("VmRSS")
    once()  # the first step: its peak is what this scheme needs at this context
    peak = status("VmHWM")
    t0 = time.process_time()
    for _ in range(reps):
        once()
    dt = (time.process_time() - t0) / reps
    print(json.dumps({"s": dt, "peak_mib": max(0, peak - rss_before) / 1024}))


def attention_runs(quick: bool) -> tuple[list[dict], list[list[str]]]:
    reps, rounds = (1, 1) if quick else (2, 1)
    contexts = ATTN_CONTEXTS[:3] if quick else ATTN_CONTEXTS
    results, rows = [], []
    for block in contexts:
        def run(pos: str, block: int = block) -> dict:
            job = json.dumps({"pos": pos, "context": block, "reps": reps})
            out = subprocess.run([sys.executable, __file__, "--child", job], capture_output=True, text=True,
                                 check=True, env={"OMP_NUM_THREADS": str(torch.get_num_threads()),
                                                  "PATH": "/usr/bin:/bin"})
            return json.loads(out.stdout.strip().splitlines()[-1])

        got = interleave({p: (lambda p=p: run(p)) for p in SCHEMES}, rounds, warmup=0)
        base = median([r["s"] for r in got["learned"]])
        for pos in SCHEMES:
            s, mib = median([r["s"] for r in got[pos]]), median([r["peak_mib"] for r in got[pos]])
            results.append({"context": block, "pos": pos, **ATTN, "reps": reps, "rounds": rounds,
                            "ms_fwd_bwd": 1e3 * s, "vs_learned": s / base, "peak_mib": mib,
                            "all_peak_mib": [r["peak_mib"] for r in got[pos]]})
            rows.append(["attention fwd+bwd", block, f"{ATTN['batch']} x {block}", pos, f"{1e3 * s:.1f}",
                         f"{s / base:.2f}x", "", f"{mib:.1f}"])
            print(results[-1], flush=True)
    for pos in SCHEMES:  # memory growth per doubling of the context
        mem = {r["context"]: r["peak_mib"] for r in results if r["pos"] == pos}
        ks = sorted(mem)
        growth = [mem[b] / mem[a] for a, b in zip(ks, ks[1:]) if mem[a] > 0]
        results.append({"pos": pos, "memory_growth_per_doubling": growth})
    return results, rows


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        return attention_child(sys.argv[2])
    args = parse_args(__doc__)
    steps, rows = step_times(args.quick)
    attention, attn_rows = attention_runs(args.quick)
    header = ["what", "context", "batch x context", "positions", "ms (median)", "time vs learned",
              "CPU time vs learned", "peak MiB added"]
    report("positions", args, header, rows + attn_rows,
           {"tokens_per_step": TOKENS_PER_STEP, "model": SMALL, "steps": steps, "attention": attention})


if __name__ == "__main__":
    main()

"""Shared pieces of the training-core benchmarks: data, model, a bare training step, timing, output.

The small model is nanoGPT's CPU Shakespeare-char configuration (4 layers, 4 heads,
128 wide, context 64, batch 12) built through the muse model registry; the data is
Tiny Shakespeare as characters in a muse token store, or random tokens when the
text is not on disk.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` from a source checkout
    sys.path.insert(0, str(ROOT))

from muse.core.module import StepContext  # noqa: E402
from muse.data.store import TokenStore, build_store, open_store  # noqa: E402
from muse.models.registry import build_model  # noqa: E402

SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
RESULTS = ROOT / "bench" / "results"
SMALL = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, bias=True, pos="learned")
"""nanoGPT's CPU Shakespeare-char model (learned absolute positions, no dropout)."""
BATCH = 12
SEED = 1337
T = TypeVar("T")


@dataclass
class Corpus:
    train: TokenStore
    valid: TokenStore
    vocab_size: int
    source: str


def char_corpus(directory: Path, synthetic_tokens: int = 1_000_000) -> Corpus:
    """Tiny Shakespeare as characters (first 90% train, last 10% valid); random tokens if absent."""
    if SHAKESPEARE.is_file():
        text = SHAKESPEARE.read_text(encoding="utf-8")
        chars = sorted(set(text))
        index = {c: i for i, c in enumerate(chars)}
        ids = np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
        vocab, source = len(chars), f"tinyshakespeare, {len(text)} chars, vocab {len(chars)}"
    else:
        vocab = 65
        ids = np.random.default_rng(SEED).integers(0, vocab, synthetic_tokens)
        source = f"synthetic: {synthetic_tokens} uniform random tokens, vocab {vocab}"
    cut = int(0.9 * len(ids))
    build_store(directory, [("train", ids[:cut]), ("valid", ids[cut:])], vocab, key={"bench": source})
    stores = open_store(directory)
    return Corpus(stores["train"], stores["valid"], vocab, source)


def small_lm(vocab_size: int, seed: int = SEED, **overrides: Any) -> torch.nn.Module:
    """The small transformer, initialised from ``seed`` (same seed, same weights)."""
    torch.manual_seed(seed)
    return build_model("transformer", {**SMALL, "vocab_size": vocab_size, **overrides})


def bare_optimizer(model: torch.nn.Module, lr: float, weight_decay: float, betas: tuple[float, float],
                   device: torch.device) -> torch.optim.AdamW:
    """Plain AdamW; matrices decay, vectors do not (as nanoGPT and muse do)."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device.type == "cuda")


_CTX = StepContext()


def bare_step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch: dict[str, torch.Tensor],
              precision: str = "fp32", clip: float = 1.0) -> torch.Tensor:
    """One hand-written training step: forward, backward, clip, AdamW. Returns the detached loss."""
    device_type = batch["input"].device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
        loss = model.loss(batch, _CTX)["loss"]
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.detach()


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type != "cuda":
        return batch
    return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}


# ------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class Clock:
    """Wall-clock seconds and CPU seconds of this process (all its threads).

    On a CPU shared with other work, CPU time counts only the time this process
    ran, so it is usually steadier than wall time; on CUDA it mostly counts waiting.
    """

    wall: float
    cpu: float

    @classmethod
    def now(cls) -> "Clock":
        return cls(time.perf_counter(), time.process_time())

    def __sub__(self, other: "Clock") -> "Clock":
        return Clock(self.wall - other.wall, self.cpu - other.cpu)

    def __truediv__(self, n: float) -> "Clock":
        return Clock(self.wall / n, self.cpu / n)


def time_steps(train: Callable[[dict[str, torch.Tensor]], Any], get: Callable[[int], dict[str, torch.Tensor]],
               steps: int, device: torch.device) -> Clock:
    """Time per step of ``train(get(i))`` over ``steps`` steps, the device synchronised at both ends."""
    sync(device)
    t0 = Clock.now()
    for i in range(steps):
        train(get(i))
    sync(device)
    return (Clock.now() - t0) / steps


def interleave(runs: dict[str, Callable[[], T]], rounds: int, warmup: int = 1) -> dict[str, list[T]]:
    """Run every callable once per round, order alternating (A B, B A, ...); warm-up rounds are dropped."""
    names = list(runs)
    out: dict[str, list[T]] = {k: [] for k in names}
    for r in range(warmup + rounds):
        for k in names if r % 2 == 0 else names[::-1]:
            result = runs[k]()
            if r >= warmup:
                out[k].append(result)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# ------------------------------------------------------------ command line
def parse_args(doc: str | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a fast smoke run (few steps, few trials)")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="torch CPU threads (default: the cores this process may use)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: cpu, and cuda when available")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default: bench/results/NAME.json)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    return args


def devices(choice: str) -> list[torch.device]:
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    cpu = [torch.device("cpu")] if choice in ("auto", "cpu") else []
    cuda = [torch.device("cuda")] if choice in ("auto", "cuda") and torch.cuda.is_available() else []
    return cpu + cuda


def environment() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report(name: str, args: argparse.Namespace, header: list[str], rows: list[list[Any]],
           results: dict[str, Any]) -> Path:
    """Print the environment and a markdown table; write everything as JSON."""
    env = environment()
    print(f"{name}: torch {env['torch']}, {env['torch_threads']} threads, {env['cpu_cores']} cores ({env['cpu']}), "
          f"load {env['load_average']}, cuda: {env['cuda']}")
    print(markdown_table(header, rows))
    out = args.out or RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "quick": args.quick, "environment": env, **results}
    out.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"results: {out}")
    return out


@torch.inference_mode()
def document_bits(model, docs: list[tuple[list[int], int]], pad_id: int, batch: int = 32) -> float:  # noqa: ANN001
    """Total bits of the tokens ``ids[start:]`` of every ``(ids, start)`` given the tokens before them
    (``start=1``: all after BOS). Documents longer than the model's context are scored in sliding
    windows (stride half the context), each target once."""
    import math

    import torch.nn.functional as F

    model.eval()
    ctx = getattr(model, "max_context", None) or 10**9
    docs = sorted(docs, key=lambda d: len(d[0]))
    total = 0.0
    short = [d for d in docs if len(d[0]) - 1 <= ctx]
    for i in range(0, len(short), batch):
        group = short[i : i + batch]
        width = max(len(d) for d, _ in group) - 1
        inp = torch.full((len(group), width), pad_id, dtype=torch.long)
        tgt = torch.full((len(group), width), -100, dtype=torch.long)
        for r, (d, start) in enumerate(group):
            inp[r, : len(d) - 1] = torch.tensor(d[:-1])
            tgt[r, start - 1 : len(d) - 1] = torch.tensor(d[start:])
        logits, _ = model(inp)
        total += float(F.cross_entropy(logits.flatten(0, 1).float(), tgt.flatten(), ignore_index=-100,
                                       reduction="sum"))
    for d, start in docs[len(short):]:
        stride = max(1, ctx // 2)
        scored = 0
        for begin in range(0, len(d) - 1, stride):
            window = d[begin : begin + ctx + 1]
            logits, _ = model(torch.tensor([window[:-1]]))
            lp = F.log_softmax(logits[0].float(), -1)
            first = max(scored, start - 1) - begin
            if first < len(window) - 1:
                total -= float(lp[first:].gather(1, torch.tensor(window[1 + first:])[:, None]).sum())
            scored = begin + len(window) - 1
            if scored >= len(d) - 1:
                break
    return total / math.log(2)

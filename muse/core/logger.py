"""Run logs: a CSV always, TensorBoard when installed, and a loss-curve PNG."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

FIXED = ["step", "epoch", "time", "split"]


class MetricsLog:
    """Wide CSV (one row per log event); new metric names extend the header."""

    def __init__(self, run_dir: Path, tensorboard: bool = True, resume_step: int | None = None):
        self.path = run_dir / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        if resume_step is not None and self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as f:
                self.rows = [r for r in csv.DictReader(f) if int(float(r["step"])) <= resume_step]
        self.columns = list(FIXED)
        for r in self.rows:
            self._extend(r)
        self._rewrite()
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except Exception:  # noqa: BLE001 - TensorBoard is optional
                self.tb = None

    def _extend(self, row: dict[str, Any]) -> bool:
        new = [k for k in row if k not in self.columns]
        self.columns += new
        return bool(new)

    def _rewrite(self) -> None:
        with open(self.path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            w.writeheader()
            w.writerows(self.rows)

    def log(self, split: str, step: int, epoch: float, time: float, metrics: dict[str, float]) -> None:
        row = {"step": step, "epoch": round(epoch, 4), "time": round(time, 2), "split": split}
        row.update({k: _fmt(v) for k, v in metrics.items()})
        self.rows.append(row)
        if self._extend(row):
            self._rewrite()
        else:
            with open(self.path, "a", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, fieldnames=self.columns).writerow(row)
        if self.tb is not None:
            for k, v in metrics.items():
                self.tb.add_scalar(f"{split}/{k}", v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _fmt(v: float) -> float:
    return v if not isinstance(v, float) or math.isnan(v) or math.isinf(v) else float(f"{v:.6g}")


def plot_loss_curves(csv_path: Path, png_path: Path, metric: str | None = None) -> Path | None:
    """Train and validation losses against step, from a metrics CSV.

    By default the ``loss`` column, or every ``*_loss`` column (e.g. a GAN's
    ``d_loss`` and ``g_loss``) when there is no plain ``loss``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, tuple[list[float], list[float]]] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cols = rows[0].keys() if rows else []
    metrics = [metric] if metric else (["loss"] if "loss" in cols else [c for c in cols if c.endswith("_loss")])
    for r in rows:
        for m in metrics:
            v = r.get(m)
            if v in (None, ""):
                continue
            name = r["split"] if len(metrics) == 1 else f"{r['split']} {m}"
            xs, ys = series.setdefault(name, ([], []))
            xs.append(float(r["step"]))
            ys.append(float(v))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for split, (xs, ys) in sorted(series.items()):
        ax.plot(xs, ys, label=split, marker="o" if split != "train" else None, ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)" if metrics == ["loss"] else "loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path

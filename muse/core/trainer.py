"""The one training loop. It knows nothing about music, text or images.

A model computes its loss (see :mod:`muse.core.module`); the trainer owns the
device, precision, optimisers (one AdamW per parameter group, with any per-group
settings the model gives through ``configure_optimizers``), schedules, gradient
accumulation and clipping, evaluation, checkpoints, logging, early stopping,
interruption and resumption, and distributed data parallel.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from muse._version import CHECKPOINT_FORMAT, __version__
from muse.core import distributed as D
from muse.core.callbacks import Callback
from muse.core.checkpoint import atomic_torch_save, load_checkpoint, load_model_state, rng_state, set_rng_state
from muse.core.config import TrainConfig
from muse.core.device import autocast, grad_scaler, resolve_device
from muse.core.files import atomic_file, write_problem
from muse.core.logger import MetricsLog, plot_loss_curves
from muse.core.module import StepContext, optimizer_settings, param_groups
from muse.core.optim import adamw, lr_lambda
from muse.core.threads import set_threads
from muse.data.batches import BatchSource, DevicePrefetcher
from muse.errors import CheckpointError, MuseError, OutputError, TrainingDiverged

LN2 = math.log(2.0)


@dataclass
class FitResult:
    step: int
    best_val: float | None
    stopped: str
    """Why training ended: steps | epochs | max_time | early_stopping | interrupted."""
    run_dir: Path
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    train_seconds: float


class _LossForward(nn.Module):
    """Routes ``forward`` to ``model.loss`` so DDP and torch.compile see the loss computation."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor], ctx: StepContext) -> dict[str, torch.Tensor]:
        return self.model.loss(batch, ctx)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


class Trainer:
    """Train ``model`` on ``train_data``; see :class:`TrainConfig` for every knob.

    ``extra_state`` (run config, tokenizer, anything JSON-like) is stored in every
    checkpoint so a checkpoint alone can rebuild the model and its vocabulary.

    :func:`muse.train` builds one for a recipe; build it yourself to train any
    model that computes its loss (``model.loss(batch, ctx)`` returning a dict
    with ``"loss"``, see :mod:`muse.core.module`). The constructor validates
    ``cfg``, picks the device, moves the model there and builds one AdamW
    optimiser and learning-rate schedule per parameter group; :meth:`fit` runs
    the loop and writes the run directory (``checkpoints/last.pt`` and
    ``best.pt``, ``metrics.csv``, ``loss.png``, TensorBoard logs).

    Args:
        model: the ``torch.nn.Module`` to train, with a ``loss(batch, ctx)``
            method (e.g. from :func:`muse.build_model`); several parameter groups
            (a GAN's ``"d"`` and ``"g"``) get one optimiser each.
            :class:`~muse.errors.MuseError` when it has no trainable parameters.
        cfg: how to train (:class:`muse.TrainConfig`: steps, batch size, learning
            rate, precision, device, evaluation and checkpoint intervals...);
            validated here.
        train_data: training batches: any object with ``batch(index) -> dict of
            tensors`` and ``steps_per_epoch`` (an int, or None for an endless
            stream), such as :class:`muse.data.batches.WindowBatches` or
            :class:`~muse.data.batches.TensorBatches`.
        val_data: validation batches of the same kind; None (default): no
            evaluation, no ``best`` checkpoint and no early stopping.
        run_dir: the run directory that receives checkpoints and logs (default
            ``"runs/run"``; created on :meth:`fit`).
        extra_state: extra JSON-like entries stored at the top level of every
            checkpoint (run config, tokenizer...); None: none.
        callbacks: :class:`muse.Callback` objects called after each step, each
            evaluation and at the end (on the main process only, in order).
        dist: the distributed setting (rank, world size, local rank); None (the
            default) reads torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, a
            single process when they are absent.

    Example:
        >>> import muse, torch
        >>> from muse.data.batches import TensorBatches
        >>> gan = muse.build_model("dcgan", {"image_size": 16, "nz": 8, "ngf": 8, "ndf": 8})
        >>> images = torch.rand(64, 1, 16, 16) * 2 - 1
        >>> cfg = muse.TrainConfig(steps=20, batch_size=16, eval_every=10, device="cpu", progress=False)
        >>> trainer = muse.Trainer(gan, cfg, TensorBatches({"image": images}, 16, seed=0),
        ...                        val_data=TensorBatches({"image": images}, 16, seed=1), run_dir="runs/tiny-gan")
        >>> result = trainer.fit()
        >>> result.step, result.stopped
        (20, 'steps')
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        train_data: BatchSource,
        val_data: BatchSource | None = None,
        run_dir: str | Path = "runs/run",
        extra_state: dict[str, Any] | None = None,
        callbacks: Sequence[Callback] = (),
        dist: D.DistEnv | None = None,
    ):
        cfg.validate()
        self.cfg = cfg
        self.dist = dist or D.from_env()
        self.device = resolve_device(cfg.device, self.dist.local_rank)
        D.init(self.dist, self.device)
        self.model = model.to(self.device)
        self.train_data, self.val_data = train_data, val_data
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.extra_state = dict(extra_state or {})
        self.callbacks = list(callbacks)
        self.groups = param_groups(self.model)
        if not self.groups or not any(self.groups.values()):
            raise MuseError("model has no trainable parameters")
        self.optimizer_settings = optimizer_settings(self.model, cfg, self.groups)
        self.optimizers = {g: adamw(ps, cfg, self.device, self.optimizer_settings[g]) for g, ps in self.groups.items()}
        self.total_steps = self._planned_steps()
        self.schedulers = {
            g: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda(cfg, self.total_steps)) for g, o in self.optimizers.items()
        }
        self.scaler = grad_scaler(self.device, cfg.precision)
        self.step = 0
        self.best_val: float | None = None
        self.evals_without_improvement = 0
        self.elapsed = 0.0
        self._stop_requested = False
        self._last_saved_step: int | None = None
        self._forward = self._wrap_model()

    # ------------------------------------------------------------------ setup
    def _planned_steps(self) -> int | None:
        cands = []
        if self.cfg.steps is not None:
            cands.append(self.cfg.steps)
        spe = getattr(self.train_data, "steps_per_epoch", None)
        if self.cfg.epochs is not None and spe:
            cands.append(math.ceil(self.cfg.epochs * spe / self.cfg.grad_accum))
        return min(cands) if cands else None

    def _wrap_model(self) -> nn.Module:
        fwd: nn.Module = _LossForward(self.model)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            fwd = DDP(fwd, device_ids=ids, find_unused_parameters=len(self.groups) > 1)
        if self.cfg.compile:
            fwd = torch.compile(fwd)  # type: ignore[assignment]
        return fwd

    def _prepare_run_dir(self, resume: bool) -> None:
        if not self.dist.is_main:
            return
        try:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            probe = self.run_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise MuseError(f"output directory is not writable ({e.strerror})", self.run_dir) from None
        if not resume and (self.ckpt_dir / "last.pt").exists():
            raise MuseError(
                "already holds a run (checkpoints/last.pt); pass --resume to continue it or choose another --out",
                self.run_dir,
            )

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint holds, for exact continuation and for rebuilding the model.

        Returns:
            dict[str, Any]: ``format`` and ``muse_version``; ``model_name`` and
            ``model_config`` (to rebuild the model); ``model`` (weights, on the
            CPU); ``optimizers``, ``schedulers`` (by parameter group) and
            ``scaler``; ``step``, ``best_val``, ``evals_without_improvement`` and
            ``elapsed`` (training seconds so far); ``train_config`` (the
            :class:`muse.TrainConfig` as a dict); ``rng`` (every random generator's
            state); then the ``extra_state`` entries.

        Example:
            >>> import muse, torch
            >>> from muse.data.batches import TensorBatches
            >>> gan = muse.build_model("dcgan", {"image_size": 16, "nz": 8, "ngf": 8, "ndf": 8})
            >>> data = TensorBatches({"image": torch.rand(32, 1, 16, 16) * 2 - 1}, 16)
            >>> trainer = muse.Trainer(gan, muse.TrainConfig(steps=10, device="cpu"), data, extra_state={"note": "x"})
            >>> state = trainer.state_dict()
            >>> state["step"], state["note"], state["model_name"]
            (0, 'x', 'dcgan')
        """
        return {
            "format": CHECKPOINT_FORMAT,
            "muse_version": __version__,
            "model_name": getattr(self.model, "model_name", type(self.model).__name__),
            "model_config": asdict(self.model.config) if hasattr(self.model, "config") else {},
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizers": {g: o.state_dict() for g, o in self.optimizers.items()},
            "schedulers": {g: s.state_dict() for g, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "best_val": self.best_val,
            "evals_without_improvement": self.evals_without_improvement,
            "elapsed": self.elapsed,
            "train_config": asdict(self.cfg),
            "rng": rng_state(),
            **self.extra_state,
        }

    def save(self, name: str = "last") -> Path | None:
        """Write ``checkpoints/<name>.pt`` atomically (main process only).

        The file holds :meth:`state_dict`; it is written to a temporary file and
        renamed into place, so a crash never leaves half a checkpoint. :meth:`fit`
        saves ``last`` every ``save_every`` steps and at the end, ``best`` when
        the validation loss improves.

        Args:
            name: the checkpoint's file name without ``.pt`` (default ``"last"``,
                the one ``fit(resume=True)`` continues from; ``"best"`` is the
                other one the loop writes).

        Returns:
            Path | None: the checkpoint written, under ``<run_dir>/checkpoints/``;
            None on the other processes of a distributed run.

        Example:
            >>> import muse, torch
            >>> from muse.data.batches import TensorBatches
            >>> gan = muse.build_model("dcgan", {"image_size": 16, "nz": 8, "ngf": 8, "ndf": 8})
            >>> data = TensorBatches({"image": torch.rand(32, 1, 16, 16) * 2 - 1}, 16)
            >>> trainer = muse.Trainer(gan, muse.TrainConfig(steps=10, device="cpu"), data, run_dir="runs/gan")
            >>> result = trainer.fit()
            >>> trainer.save("after-fit").name
            'after-fit.pt'
        """
        if name == "last":
            self._last_saved_step = self.step
        if not self.dist.is_main:
            return None
        return atomic_torch_save(self.state_dict(), self.ckpt_dir / f"{name}.pt")

    def load(self, path: str | Path) -> None:
        """Restore everything from a checkpoint for exact continuation.

        Restores the weights, every optimiser, schedule and gradient scaler, the
        step, best validation loss, early-stopping count, training seconds and the
        random generators, so training continues as if it had not stopped.
        ``fit(resume=...)`` calls it; call it yourself to inspect a run.

        Args:
            path: a checkpoint written by :meth:`save` (``.../checkpoints/last.pt``
                or ``best.pt``) of the same model and parameter groups;
                :class:`~muse.errors.CheckpointError` for a missing, unreadable or
                mismatched one.

        Example:
            >>> import muse, torch
            >>> from muse.data.batches import TensorBatches
            >>> gan = muse.build_model("dcgan", {"image_size": 16, "nz": 8, "ngf": 8, "ndf": 8})
            >>> data = TensorBatches({"image": torch.rand(32, 1, 16, 16) * 2 - 1}, 16)
            >>> trainer = muse.Trainer(gan, muse.TrainConfig(steps=10, device="cpu"), data, run_dir="runs/other")
            >>> trainer.load("runs/gan/checkpoints/last.pt")
            >>> trainer.step
            10
        """
        ckpt = load_checkpoint(path, map_location="cpu")
        load_model_state(self.model, ckpt["model"], path)
        if set(ckpt["optimizers"]) != set(self.optimizers):
            raise CheckpointError(f"optimiser groups {sorted(ckpt['optimizers'])} do not match the model's", path)
        for g, o in self.optimizers.items():
            o.load_state_dict(ckpt["optimizers"][g])
        for g, s in self.schedulers.items():
            s.load_state_dict(ckpt["schedulers"][g])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        self.best_val = ckpt["best_val"]
        self.evals_without_improvement = int(ckpt.get("evals_without_improvement", 0))
        self.elapsed = float(ckpt.get("elapsed", 0.0))
        set_rng_state(ckpt["rng"])

    # ------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean metrics over ``eval_batches`` fixed validation batches, token-weighted when known.

        Every evaluation, the one after the last step included, reads at most
        ``eval_batches`` batches (fewer when the split has fewer), never the whole
        split. With ``progress`` the main process shows a transient ``valid`` bar.
        The model runs in eval mode without gradients and is put back in training
        mode; the random state is restored, so evaluating does not change training.
        In a distributed run the metrics are averaged over all processes.

        Returns:
            dict[str, float]: every scalar the model's loss returns (``loss`` and
            e.g. ``d_loss``, ``acc``), averaged; for language models (which report
            ``ntokens``) weighted by tokens and with ``bits_per_token`` and
            ``perplexity`` added. Empty when there is no ``val_data``.

        Example:
            >>> import muse, torch
            >>> from muse.data.batches import TensorBatches
            >>> gan = muse.build_model("dcgan", {"image_size": 16, "nz": 8, "ngf": 8, "ndf": 8})
            >>> data = TensorBatches({"image": torch.rand(32, 1, 16, 16) * 2 - 1}, 16)
            >>> cfg = muse.TrainConfig(steps=10, eval_batches=2, device="cpu")
            >>> trainer = muse.Trainer(gan, cfg, data, val_data=data)
            >>> sorted(trainer.evaluate())[:3]
            ['d_fake', 'd_loss', 'd_real']
        """
        if self.val_data is None:
            return {}
        saved_rng = torch.get_rng_state()
        self.model.eval()
        sums: dict[str, float] = {}
        weight_total = 0.0
        n = self.cfg.eval_batches
        spe = getattr(self.val_data, "steps_per_epoch", None)
        if spe:
            n = min(n, spe)
        ctx = StepContext(step=self.step, training=False, max_steps=self.total_steps)
        bar = None
        if self.dist.is_main and self.cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="valid", unit="batch", leave=False, dynamic_ncols=True)
        try:
            for i in range(n):
                batch = {k: v.to(self.device) for k, v in self.val_data.batch(i).items()}
                with autocast(self.device, self.cfg.precision):
                    out = self.model.loss(batch, ctx)
                w = float(out["ntokens"]) if "ntokens" in out else 1.0
                weight_total += w
                for k, v in out.items():
                    if k != "ntokens" and torch.is_tensor(v) and v.numel() == 1:
                        sums[k] = sums.get(k, 0.0) + float(v) * w
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        keys = sorted(sums)
        vec = torch.tensor([sums[k] for k in keys] + [weight_total], dtype=torch.float64, device=self.device)
        D.all_reduce_sum(vec)
        metrics = {k: float(vec[i] / vec[-1]) for i, k in enumerate(keys)}
        if "loss" in metrics and "ntokens" in out:
            metrics["bits_per_token"] = metrics["loss"] / LN2
            metrics["perplexity"] = math.exp(min(metrics["loss"], 50.0))
        self.model.train()
        torch.set_rng_state(saved_rng)
        return metrics

    # -------------------------------------------------------------- the loop
    def _train_step(self, prefetch: DevicePrefetcher) -> dict[str, float]:
        cfg, accum = self.cfg, self.cfg.grad_accum
        batches = [prefetch.get(self.step * accum + m) for m in range(accum)]
        logged: dict[str, Any] = {}
        ntokens: Any = 0.0
        for group, opt in self.optimizers.items():
            ctx = StepContext(step=self.step, group=group, training=True, max_steps=self.total_steps)
            opt.zero_grad(set_to_none=True)
            totals: dict[str, torch.Tensor] = {}
            for m, batch in enumerate(batches):
                sync = m == accum - 1 or not self.dist.enabled
                cm = self._forward.no_sync() if not sync and hasattr(self._forward, "no_sync") else _null()
                with cm:
                    with autocast(self.device, cfg.precision):
                        out = self._forward(batch, ctx)
                    self.scaler.scale(out["loss"] / accum).backward()
                for k, v in out.items():
                    if torch.is_tensor(v) and v.numel() == 1:
                        totals[k] = totals.get(k, 0) + v.detach().float() / (1 if k == "ntokens" else accum)
            self.scaler.unscale_(opt)
            params = self.groups[group]
            clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            gnorm = torch.nn.utils.clip_grad_norm_(params, clip)
            self.scaler.step(opt)
            self.scaler.update()
            self.schedulers[group].step()
            prefix = "" if len(self.optimizers) == 1 else f"{group}_"
            for k, v in totals.items():
                if k == "ntokens":
                    ntokens = ntokens + v
                else:
                    logged[prefix + k] = v
            logged[prefix + "grad_norm"] = gnorm.detach()
            logged[prefix + "lr"] = self.schedulers[group].get_last_lr()[0]
        if torch.is_tensor(ntokens):
            logged["ntokens"] = ntokens * self.dist.world
        return logged

    def _materialize(self, pending: list[tuple[int, dict]]) -> list[tuple[int, dict[str, float]]]:
        """Metrics of the pending steps as floats (one device sync for all of them); raises on NaN/inf."""
        out = []
        for step, raw in pending:
            m = {k: float(v) for k, v in raw.items()}
            if not self._finite(m):
                raise TrainingDiverged(
                    f"loss or gradient became NaN/inf at step {step}; the last good checkpoint is kept in {self.ckpt_dir}"
                )
            out.append((step, m))
        pending.clear()
        return out

    def _finite(self, metrics: dict[str, float]) -> bool:
        ok = all(math.isfinite(v) for k, v in metrics.items() if k.endswith("loss"))
        if self.cfg.precision != "fp16-mixed":  # fp16 overflow is handled by the scaler
            ok = ok and all(math.isfinite(v) for k, v in metrics.items() if k.endswith("grad_norm"))
        return not D.broadcast_flag(not ok, self.device)

    def fit(self, resume: bool | str | Path = False) -> FitResult:
        """Train until steps / epochs / max_time / early stopping / Ctrl-C.

        ``resume=True`` continues from ``<run_dir>/checkpoints/last.pt``; a path
        continues from that checkpoint.

        Every ``log_every`` steps a row of training metrics goes to
        ``metrics.csv`` (and TensorBoard); every ``eval_every`` steps, and after
        the last, the model is evaluated (:meth:`evaluate`), ``best.pt`` saved when
        the validation loss improves by more than ``min_delta``, and ``last.pt``
        every ``save_every`` steps and at the end. The first Ctrl-C finishes the
        step, saves ``last`` and returns; a second aborts. A NaN/inf loss or
        gradient norm raises :class:`~muse.errors.TrainingDiverged` (the last good
        checkpoint is kept); a run directory already holding ``last.pt`` without
        ``resume`` raises :class:`~muse.errors.MuseError`.

        Args:
            resume: False (default): a fresh run. True: continue from
                ``<run_dir>/checkpoints/last.pt``. A path (str or Path): continue
                from that checkpoint. Step counts, ``max_time`` and the schedule
                carry on from where it stopped.

        Returns:
            FitResult: ``step`` (optimiser steps done in all), ``best_val`` (best
            validation loss, or None), ``stopped`` (``"steps"``, ``"epochs"``,
            ``"max_time"``, ``"early_stopping"`` or ``"interrupted"``),
            ``run_dir``, ``last_checkpoint`` and ``best_checkpoint`` (paths, or
            None) and ``train_seconds``.

        Example:
            >>> import muse, torch
            >>> from muse.data.batches import TensorBatches
            >>> gan = muse.build_model("dcgan", {"image_size": 16, "nz": 8, "ngf": 8, "ndf": 8})
            >>> data = TensorBatches({"image": torch.rand(32, 1, 16, 16) * 2 - 1}, 16)
            >>> result = muse.Trainer(gan, muse.TrainConfig(steps=10, device="cpu"), data, run_dir="runs/g").fit()
            >>> more = muse.Trainer(gan, muse.TrainConfig(steps=20, device="cpu"), data,
            ...                     run_dir="runs/g").fit(resume=True)
            >>> result.stopped, more.step
            ('steps', 20)
        """
        self._prepare_run_dir(bool(resume))
        with self._run_lock():
            return self._fit(resume)

    @contextlib.contextmanager
    def _run_lock(self):  # noqa: ANN202
        """Hold ``run_dir/.lock`` (fcntl) while training: a second trainer on the same run dir stops with
        an error instead of overwriting this one's checkpoints."""
        if not self.dist.is_main:
            yield
            return
        import fcntl

        fd = os.open(self.run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                other = os.read(fd, 32).decode("ascii", "replace").strip()
                raise MuseError("another muse process is training in this run directory"
                                + (f" (pid {other})" if other else "") + "; wait for it or choose another --out",
                                self.run_dir) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    def _fit(self, resume: bool | str | Path) -> FitResult:
        cfg = self.cfg
        D.barrier()
        seed_everything(cfg.seed, cfg.deterministic)
        if resume:
            path = self.ckpt_dir / "last.pt" if resume is True else Path(resume)
            self.load(path)
        log = MetricsLog(self.run_dir, cfg.tensorboard, resume_step=self.step) if self.dist.is_main else None
        prefetch = DevicePrefetcher(self.train_data, self.device)
        spe = getattr(self.train_data, "steps_per_epoch", None)
        save_every = cfg.save_every or cfg.eval_every
        bar = None
        if self.dist.is_main and cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True)
        old_handler = self._install_sigint()
        restore_threads = set_threads(self.model, self.device)  # small models: 1 CPU thread (muse.core.threads)
        stopped = "steps"
        last_ckpt = best_ckpt = None
        t_start = time.perf_counter() - self.elapsed
        window_t, window_tok, window_n = time.perf_counter(), 0.0, 0
        acc: dict[str, float] = {}
        pending: list[tuple[int, dict]] = []
        lazy = self.device.type == "cuda"
        self.model.train()
        try:
            while True:
                if self.total_steps is not None and self.step >= self.total_steps:
                    stopped = "epochs" if self.cfg.steps is None or self.total_steps < self.cfg.steps else "steps"
                    break
                if cfg.max_time is not None and time.perf_counter() - t_start >= cfg.max_time:
                    stopped = "max_time"
                    break
                if D.broadcast_flag(self._stop_requested, self.device) if self.dist.enabled else self._stop_requested:
                    stopped = "interrupted"
                    break
                pending.append((self.step + 1, self._train_step(prefetch)))
                self.step += 1
                self.elapsed = time.perf_counter() - t_start
                at_end = self.total_steps is not None and self.step >= self.total_steps
                log_now = self.step % cfg.log_every == 0 or at_end
                eval_now = self.val_data is not None and (self.step % cfg.eval_every == 0 or at_end)
                # On CUDA, metrics stay on the device until they are needed: no sync every step.
                if (not lazy or log_now or eval_now or self.callbacks or self.step % save_every == 0
                        or cfg.max_time is not None):
                    for _, metrics in self._materialize(pending):
                        window_tok += metrics.pop("ntokens", 0.0)
                        window_n += 1
                        for k, v in metrics.items():
                            acc[k] = acc.get(k, 0.0) + v
                epoch = self.step * cfg.grad_accum / spe if spe else 0.0
                if log_now:
                    dt = max(time.perf_counter() - window_t, 1e-9)
                    mean = self._mean_over_ranks({k: v / window_n for k, v in acc.items()})
                    if window_tok:
                        mean["tokens_per_s"] = window_tok / dt
                    mean["samples_per_s"] = window_n * cfg.batch_size * cfg.grad_accum / dt
                    if log:
                        log.log("train", self.step, epoch, self.elapsed, mean)
                    if bar:
                        bar.set_postfix(_postfix(mean), refresh=False)
                    acc, window_tok, window_n, window_t = {}, 0.0, 0, time.perf_counter()
                if bar:
                    bar.update(1)
                for cb in self.callbacks if self.dist.is_main else ():
                    cb.on_step_end(self, self.step, metrics)
                if eval_now:
                    val = self.evaluate()
                    improved = self._track_best(val)
                    if log:
                        log.log("valid", self.step, epoch, self.elapsed, val)
                        self._plot_loss(log)
                    if improved:
                        best_ckpt = self.save("best") or best_ckpt
                    for cb in self.callbacks if self.dist.is_main else ():
                        cb.on_eval_end(self, self.step, val)
                    if cfg.patience is not None and self.evals_without_improvement >= cfg.patience:
                        last_ckpt = self.save("last") or last_ckpt
                        stopped = "early_stopping"
                        break
                if self.step % save_every == 0 or at_end:
                    last_ckpt = self.save("last") or last_ckpt
        except OSError as e:  # metrics.csv on a disk that filled up: one line; the last checkpoint stays whole
            raise OutputError(write_problem(e, self.run_dir) or f"cannot write ({e.strerror})", self.run_dir) from None
        finally:
            restore_threads()
            signal.signal(signal.SIGINT, old_handler) if old_handler is not None else None
            if bar:
                bar.close()
        self._materialize(pending)  # never save weights after an unchecked step
        if self._last_saved_step != self.step:
            last_ckpt = self.save("last") or last_ckpt
        if log:
            log.close()
            self._plot_loss(log)
        for cb in self.callbacks if self.dist.is_main else ():
            cb.on_fit_end(self)
        D.barrier()
        return FitResult(self.step, self.best_val, stopped, self.run_dir, last_ckpt, best_ckpt, self.elapsed)

    def _plot_loss(self, log: MetricsLog) -> None:
        """``loss.png`` from ``metrics.csv``, written atomically (untouched when there is nothing to plot)."""
        with atomic_file(self.run_dir / "loss.png") as tmp:
            if plot_loss_curves(log.path, tmp) is None:
                tmp.unlink()

    def _mean_over_ranks(self, m: dict[str, float]) -> dict[str, float]:
        """Average logged training metrics over distributed ranks (each saw its own shard)."""
        if not self.dist.enabled:
            return m
        keys = sorted(m)
        vec = torch.tensor([m[k] for k in keys], dtype=torch.float64, device=self.device)
        D.all_reduce_sum(vec)
        return {k: float(vec[i]) / self.dist.world for i, k in enumerate(keys)}

    def _track_best(self, val: dict[str, float]) -> bool:
        score = val.get("loss")
        if score is None:
            return False
        if self.best_val is None or score < self.best_val - self.cfg.min_delta:
            self.best_val = score
            self.evals_without_improvement = 0
            return True
        self.evals_without_improvement += 1
        return False

    def _install_sigint(self):  # noqa: ANN202
        """First Ctrl-C: finish the current step, save `last`, exit cleanly. Second: abort."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):  # noqa: ANN001
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
            if self.dist.is_main:
                print("\nmuse: interrupt received, saving checkpoint after this step (Ctrl-C again to abort)", flush=True)

        return signal.signal(signal.SIGINT, handler)


class _null:
    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *a):  # noqa: ANN002, ANN204
        return False


def _postfix(m: dict[str, float]) -> dict[str, str]:
    out = {}
    for k in ("loss", "d_loss", "g_loss"):
        if k in m:
            out[k] = f"{m[k]:.4f}"
    lr = m.get("lr", m.get("g_lr"))
    if lr is not None:
        out["lr"] = f"{lr:.2e}"
    if "tokens_per_s" in m:
        out["tok/s"] = f"{m['tokens_per_s']:.0f}"
    else:
        out["samples/s"] = f"{m['samples_per_s']:.0f}"
    return out

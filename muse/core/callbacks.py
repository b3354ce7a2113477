"""Hooks into the training loop (sampling during training, custom logging...)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from muse.core.trainer import Trainer


class Callback:
    """Base class of training hooks: override any of its methods (the others do nothing).

    Pass instances to :func:`muse.train` (``callbacks=[...]``) or
    :class:`muse.Trainer`. They run on the main process only, in the order given.

    Example:
        >>> import muse
        >>> class PrintLoss(muse.Callback):
        ...     def on_eval_end(self, trainer, step, metrics):
        ...         print(step, metrics["loss"])
        >>> result = muse.train("melody", corpus="nottingham", out="runs/cb", steps=100,
        ...                     eval_every=50, callbacks=[PrintLoss()])
    """

    def on_step_end(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None:
        """Called after every optimiser step.

        Args:
            trainer: the running :class:`muse.Trainer` (``trainer.model``,
                ``trainer.run_dir``, ``trainer.cfg``...).
            step: optimiser steps done so far (1 after the first step).
            metrics: this step's training metrics as floats (``loss``, ``grad_norm``,
                ``lr`` and any the model adds; names get a ``<group>_`` prefix when
                the model has several optimisers, as a GAN does).

        Example:
            >>> import muse
            >>> class PrintStep(muse.Callback):
            ...     def on_step_end(self, trainer, step, metrics):
            ...         print(step, metrics.get("loss"))
        """
        ...

    def on_eval_end(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None:
        """Called after every validation evaluation (every ``eval_every`` steps and at the end).

        Args:
            trainer: the running :class:`muse.Trainer`.
            step: optimiser steps done so far.
            metrics: mean validation metrics (``loss`` and any the model adds).

        Example:
            >>> import muse
            >>> class PrintLoss(muse.Callback):
            ...     def on_eval_end(self, trainer, step, metrics):
            ...         print(step, metrics["loss"])
        """
        ...

    def on_fit_end(self, trainer: "Trainer") -> None:
        """Called once when training ends, after the last checkpoint is written.

        Args:
            trainer: the :class:`muse.Trainer` that has finished (``trainer.step``,
                ``trainer.best_val``...).

        Example:
            >>> import muse
            >>> class Done(muse.Callback):
            ...     def on_fit_end(self, trainer):
            ...         print("finished at step", trainer.step)
        """
        ...


class Every(Callback):
    """Call ``fn(trainer, step)`` every ``k`` optimiser steps (e.g. write a sample).

    Args:
        k: the period in optimiser steps; ``fn`` runs at steps k, 2k, 3k...
            (``k <= 0`` never calls it).
        fn: ``fn(trainer, step)``, given the running :class:`muse.Trainer` and the
            step number; its return value is ignored.

    Example:
        >>> import muse
        >>> def report(trainer, step):
        ...     print(step, trainer.run_dir)
        >>> result = muse.train("melody", corpus="nottingham", out="runs/every", steps=100,
        ...                     callbacks=[muse.Every(25, report)])
    """

    def __init__(self, k: int, fn: Callable[["Trainer", int], None]):
        self.k, self.fn = k, fn

    def on_step_end(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None:
        """Call ``fn(trainer, step)`` when ``step`` is a multiple of ``k``.

        Args:
            trainer: the running :class:`muse.Trainer`.
            step: optimiser steps done so far.
            metrics: this step's training metrics (not passed on to ``fn``).

        Example:
            >>> import muse
            >>> every = muse.Every(2, lambda trainer, step: print("step", step))
            >>> every.on_step_end(None, 4, {})
            step 4
        """
        if self.k > 0 and step % self.k == 0:
            self.fn(trainer, step)

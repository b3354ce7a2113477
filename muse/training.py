"""``muse.train``: one entry point that trains every kind of model through the core."""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Sequence

import torch

from muse.core import distributed as D
from muse.core.callbacks import Callback
from muse.core.config import RunConfig, TrainConfig, apply_overrides, check_keys, coerce_dataclass, load_config_file
from muse.core.files import check_output_dir, make_dirs, write_text
from muse.core.trainer import FitResult, Trainer, seed_everything
from muse.errors import ConfigError, MuseError
from muse.recipes import get_recipe
from muse.recipes.base import check_model_name


def build_run_config(
    kind: str,
    *,
    model: str | None = None,
    corpus: str | None = None,
    data: str | None = None,
    out: str | Path | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    base: RunConfig | None = None,
    **train_kw: Any,
) -> RunConfig:
    """Defaults of the recipe <- config file <- explicit arguments <- key=value overrides."""
    recipe = get_recipe(kind)
    if base is None:
        file_cfg = load_config_file(config) if config else {}
        check_keys(file_cfg, {"model", "model_config", "data", "train", "out"}, f"config file {config}")
        model_name = model or file_cfg.get("model") or recipe.default_model
        mcfg = dict(check_model_name(recipe, model_name).defaults)
        mcfg.update(file_cfg.get("model_config", {}))
        dcfg = recipe.data_defaults()
        check_keys(file_cfg.get("data", {}), set(dcfg), f"data section of {config}")
        dcfg.update(file_cfg.get("data", {}))
        tdict = {**asdict(TrainConfig()), **recipe.train_defaults}
        check_keys(file_cfg.get("train", {}), set(tdict), f"train section of {config}")
        tdict.update(file_cfg.get("train", {}))
        cfg = RunConfig(kind=kind, model=model_name, model_config=mcfg, data=dcfg,
                        train=coerce_dataclass(TrainConfig, tdict, section="train"),
                        out=str(out or file_cfg.get("out") or f"runs/{kind}"))
    else:
        cfg = base
        if model and model != cfg.model:
            raise ConfigError(f"the run was started with model {cfg.model!r}; cannot resume it as {model!r}")
        if out:
            cfg.out = str(out)
    if corpus is not None:
        cfg.data["corpus"] = corpus
    if data is not None:
        cfg.data["corpus"] = data
    valid_train = {f.name for f in fields(TrainConfig)}
    for k, v in train_kw.items():
        if v is None:
            continue
        if k not in valid_train:
            raise ConfigError(f"unknown training option {k!r}; valid: {', '.join(sorted(valid_train))}")
        setattr(cfg.train, k, v)
    model_keys = _model_keys(check_model_name(recipe, cfg.model).arch)
    cfg = apply_overrides(cfg, list(overrides), model_keys, recipe.data_keys(),
                          model_types=_model_types(check_model_name(recipe, cfg.model).arch))
    cfg.data = asdict(recipe.data_config(cfg.data))
    cfg.train.validate()
    return cfg


def _model_types(arch: str) -> dict[str, str]:
    from muse.models.registry import model_class

    return {f.name: str(f.type) for f in fields(model_class(arch).Config)}  # type: ignore[attr-defined]


def _model_keys(arch: str) -> set[str]:
    from muse.models.registry import model_class

    return {f.name for f in fields(model_class(arch).Config)}  # type: ignore[attr-defined]


def train(
    kind: str,
    *,
    corpus: str | None = None,
    data: str | None = None,
    model: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    callbacks: Sequence[Callback] = (),
    **train_kw: Any,
) -> FitResult:
    """Train a model of ``kind`` through its recipe and return how the run ended.

    Settings are layered: the recipe's defaults, then the ``config`` file, then
    the explicit arguments, then ``overrides``. The run directory ``out`` gets
    ``config.json``, ``metrics.csv``, ``loss.png``, ``checkpoints/`` and, at the
    end, the exported model directory ``model/`` (load it with :func:`muse.load`).

    Args:
        kind: what to train: ``"melody"``, ``"poem"``, ``"vae"``, ``"gan"`` or
            ``"style"`` (see :func:`muse.get_recipe`).
        corpus: name of a built-in corpus (``"essen"``, ``"nottingham"``,
            ``"tang"``, ``"english-poetry"``...); None keeps the recipe's or the
            config file's corpus.
        data: a file or folder of your own to train on instead of a built-in
            corpus (wins over ``corpus`` when both are given).
        model: the recipe's model name: ``"lstm"``, ``"gru"``, ``"rnn"`` or
            ``"transformer"`` (melody, poem), ``"vae"`` or ``"vae-hier"`` (vae),
            ``"dcgan"`` (gan), ``"fast_style"`` (style). None: the recipe's default.
        out: run directory; default ``runs/<kind>``. It must not hold a run yet
            unless ``resume`` is True.
        resume: continue the run in ``out`` from ``checkpoints/last.pt`` (its
            ``config.json`` is reused; ``out`` is required).
        config: a TOML, YAML or JSON file with ``model``, ``model_config``,
            ``data``, ``train`` and ``out`` sections.
        overrides: ``key=value`` strings applied last, e.g.
            ``"model.n_layer=4"``, ``"data.block_size=128"``, ``"train.lr=3e-4"``;
            a bare key must name exactly one known setting.
        callbacks: :class:`muse.Callback` objects called during training (main
            process only).
        **train_kw: :class:`muse.TrainConfig` fields (``steps``, ``batch_size``,
            ``lr``, ``device``, ``precision``, ``max_time``...); None values are ignored.

    Returns:
        FitResult: ``step`` (optimiser steps done), ``best_val`` (best validation
        loss or None), ``stopped`` (why it ended: steps, epochs, max_time,
        early_stopping or interrupted), ``run_dir``, ``last_checkpoint``,
        ``best_checkpoint`` (paths or None) and ``train_seconds``.

    Example:
        >>> import muse
        >>> result = muse.train("melody", corpus="nottingham", model="lstm", out="runs/nottingham",
        ...                     steps=200, batch_size=16, device="cpu")
        >>> result.stopped
        'steps'
        >>> model = muse.load("runs/nottingham")
    """
    base = None
    run_dir = Path(out) if out else None
    if resume:
        if run_dir is None:
            raise ConfigError("--resume needs --out pointing at the run to continue")
        cfg_path = run_dir / "config.json"
        if not cfg_path.is_file():
            raise MuseError("cannot resume: no config.json (is this a muse run directory?)", run_dir)
        try:
            saved = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise MuseError(f"cannot resume: config.json is empty or corrupt ({str(e).splitlines()[0][:100]})",
                            cfg_path) from None
        if not isinstance(saved, dict):
            raise MuseError("cannot resume: config.json does not hold a run config", cfg_path)
        base = RunConfig.from_dict(saved)
        if base.kind != kind:
            raise ConfigError(f"{run_dir} holds a {base.kind!r} run, not {kind!r}")
    cfg = build_run_config(kind, model=model, corpus=corpus, data=data, out=out, config=config,
                           overrides=overrides, base=base, **train_kw)
    return run(cfg, resume=resume, callbacks=callbacks)


def run(cfg: RunConfig, resume: bool = False, callbacks: Sequence[Callback] = ()) -> FitResult:
    """Train from a complete :class:`RunConfig`."""
    recipe = get_recipe(cfg.kind)
    env = D.from_env()
    run_dir = Path(cfg.out)
    if env.enabled:
        D.init(env, torch.device("cuda", env.local_rank) if torch.cuda.is_available() and cfg.train.device != "cpu"
               else torch.device("cpu"))
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    last = run_dir / "checkpoints" / "last.pt"
    if env.is_main:
        check_output_dir(run_dir)  # before any data is read: a run directory that cannot be written is one line
    if not resume and last.exists():
        raise MuseError("already holds a run (checkpoints/last.pt); pass --resume to continue it or choose another --out", run_dir)
    prepared = recipe.prepare(cfg, env, last if resume else None)
    if env.is_main:
        make_dirs(run_dir)
        _write_config(run_dir, cfg)
    extra = {"run_config": cfg.to_dict(), "generation": dict(recipe.generation_defaults), **prepared.extra_state}
    trainer = Trainer(prepared.model, cfg.train, prepared.train, prepared.valid, run_dir=run_dir,
                      extra_state=extra, callbacks=[*prepared.callbacks, *callbacks], dist=env)
    result = trainer.fit(resume=resume)
    if env.is_main:
        recipe.export(cfg, prepared, run_dir)
    return result


def _write_config(run_dir: Path, cfg: RunConfig) -> None:
    write_text(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=1, ensure_ascii=False), fsync=True)  # never 0 bytes

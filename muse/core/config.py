"""Typed run configuration: dataclasses, file loading and ``key=value`` overrides.

A run is described by :class:`RunConfig` = which kind of task, which model with
what hyper-parameters, how to get data, and how to train. Everything is plain
data so it can be saved as JSON in every run directory and checkpoint.
"""
from __future__ import annotations

import ast
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from muse.errors import ConfigError


@dataclass
class TrainConfig:
    """How to train: the loop, optimiser, precision, checkpoints, logging.

    Every field is also a keyword of :func:`muse.train` and a ``train.<field>``
    override; each recipe replaces some defaults with values that suit its kind.
    Training ends at the first limit reached: ``steps``, ``epochs``, ``max_time``,
    early stopping (``patience``) or Ctrl-C.

    Example:
        >>> import muse
        >>> cfg = muse.TrainConfig(steps=500, batch_size=16, lr=3e-4, precision="bf16-mixed")
        >>> cfg.validate()
        >>> result = muse.train("poem", corpus="tang", out="runs/tang", steps=500, lr=3e-4)
    """

    steps: int | None = 1000
    """Optimiser steps to train for (None: until epochs/max_time end)."""
    epochs: float | None = None
    """Passes over the training data (fractions allowed; None: no epoch limit)."""
    max_time: float | None = None
    """Wall-clock budget in seconds, counted across resumes."""
    batch_size: int = 32
    """Global batch size (split across distributed ranks)."""
    grad_accum: int = 1
    """Batches of ``batch_size`` accumulated per optimiser step (effective batch: their product)."""
    lr: float = 1e-3
    """Peak AdamW learning rate, reached at the end of warmup."""
    min_lr: float = 1e-4
    """Learning rate at the end of the cosine or linear decay."""
    warmup_steps: int = 100
    """Steps of linear warmup from about 0 to ``lr``."""
    schedule: str = "cosine"
    """cosine | linear | constant (after warmup)."""
    weight_decay: float = 0.1
    """AdamW weight decay of weight matrices (biases and norm gains get none)."""
    beta1: float = 0.9
    """AdamW decay rate of the first-moment (mean) estimate."""
    beta2: float = 0.99
    """AdamW decay rate of the second-moment (variance) estimate."""
    grad_clip: float = 1.0
    """Max global grad norm; 0 disables clipping (the norm is still logged)."""
    eval_every: int = 200
    """Optimiser steps between validation evaluations (an improvement saves ``best``)."""
    eval_batches: int = 20
    """Validation batches per evaluation (the same fixed batches each time)."""
    save_every: int | None = None
    """Steps between `last` checkpoints (default: eval_every)."""
    log_every: int = 10
    """Optimiser steps between rows of training metrics (``metrics.csv``, progress bar)."""
    patience: int | None = None
    """Early stopping: evaluations without improvement before stopping."""
    min_delta: float = 0.0
    """Early stopping: how much the validation loss must drop to count as an improvement."""
    seed: int = 1337
    """Seed of Python's, NumPy's and torch's random generators."""
    deterministic: bool = False
    """Use torch's deterministic algorithms (slower; a warning where none exists)."""
    device: str = "auto"
    """auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps."""
    precision: str = "fp32"
    """fp32 | bf16-mixed | fp16-mixed (autocast; fp16 adds a gradient scaler)."""
    compile: bool = False
    """Run the model through ``torch.compile``."""
    progress: bool = True
    """Show a progress bar."""
    tensorboard: bool = True
    """Also log to TensorBoard when it is installed."""

    def validate(self) -> None:
        """Check the settings together.

        Raises:
            ConfigError: an unknown ``precision``, ``schedule`` or ``device``, no
                limit at all (``steps``, ``epochs`` and ``max_time`` all None), or a
                count (``batch_size``, ``grad_accum``, ``eval_every``...) below 1.

        Example:
            >>> import muse
            >>> muse.TrainConfig(precision="bf16-mixed", device="cuda:0").validate()
        """
        if self.precision not in ("fp32", "bf16-mixed", "fp16-mixed"):
            raise ConfigError(f"precision must be fp32, bf16-mixed or fp16-mixed, not {self.precision!r}")
        if self.schedule not in ("cosine", "linear", "constant"):
            raise ConfigError(f"schedule must be cosine, linear or constant, not {self.schedule!r}")
        if self.steps is None and self.epochs is None and self.max_time is None:
            raise ConfigError("give at least one of steps, epochs or max_time")
        for name in ("batch_size", "grad_accum", "eval_every", "eval_batches", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be >= 1 (or None with epochs/max_time), got {self.steps}")
        for name in ("epochs", "max_time"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.lr > 0 or self.min_lr < 0:
            raise ConfigError(f"lr must be > 0 and min_lr >= 0, got lr {self.lr}, min_lr {self.min_lr}")
        if self.weight_decay < 0 or self.grad_clip < 0 or self.warmup_steps < 0:
            raise ConfigError("weight_decay, grad_clip and warmup_steps must be >= 0")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, not {self.device!r}")


@dataclass
class RunConfig:
    """Everything needed to (re)start a run. Saved as ``config.json``.

    :func:`muse.train` builds one from its arguments and writes it into the run
    directory; ``muse.train(kind, out=..., resume=True)`` reads it back.

    Example:
        >>> import muse
        >>> cfg = muse.RunConfig(kind="melody", model="lstm", data={"corpus": "nottingham"},
        ...                      train=muse.TrainConfig(steps=200), out="runs/nottingham")
        >>> muse.RunConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    kind: str
    """The recipe: melody | poem | vae | gan | style."""
    model: str
    """The recipe's model name (e.g. ``lstm``, ``transformer``, ``vae``, ``dcgan``)."""
    model_config: dict[str, Any] = field(default_factory=dict)
    """Architecture hyper-parameters: keys of the model class's ``Config`` (``n_layer``, ``n_embd``...)."""
    data: dict[str, Any] = field(default_factory=dict)
    """The recipe's data settings (``corpus``, ``block_size``...)."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """How to train."""
    out: str = "runs/run"
    """Run directory: config, metrics, checkpoints and the exported model."""

    def to_dict(self) -> dict[str, Any]:
        """This config as plain, JSON-able data (what ``config.json`` holds).

        Returns:
            dict: ``kind``, ``model``, ``model_config``, ``data``, ``train`` (a dict of
            :class:`TrainConfig` fields) and ``out``.

        Example:
            >>> import muse
            >>> muse.RunConfig(kind="poem", model="transformer").to_dict()["train"]["steps"]
            1000
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        """Rebuild a config from :meth:`to_dict` output (e.g. a run's ``config.json``).

        Args:
            d: a dict with the keys of :meth:`to_dict`; ``train`` may be partial
                (missing fields take :class:`TrainConfig` defaults).

        Returns:
            RunConfig: the config. Unknown keys raise ConfigError.

        Example:
            >>> import json, muse
            >>> cfg = muse.RunConfig.from_dict(json.load(open("runs/nottingham/config.json")))
            >>> cfg.kind
            'melody'
        """
        d = dict(d)
        train = dataclass_from_dict(TrainConfig, d.pop("train", {}) or {}, where="train")
        check_keys(d, {f.name for f in fields(cls)} - {"train"}, where="run config")
        return cls(train=train, **d)


def check_keys(d: dict[str, Any], valid: set[str], where: str) -> None:
    unknown = sorted(set(d) - valid)
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}")


def dataclass_from_dict(cls: type, d: dict[str, Any], where: str) -> Any:
    check_keys(d, {f.name for f in fields(cls)}, where)
    return cls(**d)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON config file into a dict."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("config file not found" if not p.exists() else "config file is not a file", p)
    if p.suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise ConfigError("config file must end in .toml, .yaml, .yml or .json", p)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError("config file is not UTF-8 text (binary or corrupt?)", p) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file ({e.strerror})", p) from None
    try:
        if p.suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        if p.suffix in (".yaml", ".yml"):
            import yaml

            d = yaml.safe_load(text) or {}
        else:
            d = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parser error is the user's file
        raise ConfigError(f"cannot parse config: {e}".splitlines()[0], p) from None
    if not isinstance(d, dict):
        raise ConfigError(f"config file must hold a table of sections, not a {type(d).__name__}", p)
    for name, section in d.items():
        if name in ("model_config", "data", "train") and not isinstance(section, dict):
            raise ConfigError(f"section {name!r} must be a table of key = value, not {section!r}", p)
    return d


def parse_value(text: str) -> Any:
    """'3' -> 3, '1e-3' -> 0.001, 'true' -> True, 'none' -> None, else the string."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(cfg: RunConfig, overrides: list[str], model_keys: set[str], data_keys: set[str], *,
                    model_types: dict[str, str] | None = None) -> RunConfig:
    """Apply ``section.key=value`` or bare ``key=value`` overrides.

    Sections: ``train``, ``model``, ``data``. A bare key must name exactly one
    known key across sections; an unknown key is an error listing valid keys.
    ``model_types`` (field name -> annotation, e.g. ``"int"``) checks the type of
    each ``model.*`` value given (``model.n_layer=abc`` is a one-line error).
    """
    train_keys = {f.name for f in fields(TrainConfig)}
    sections = {"train": train_keys, "model": model_keys, "data": data_keys}
    train_d = asdict(cfg.train)
    model_d, data_d = dict(cfg.model_config), dict(cfg.data)
    targets = {"train": train_d, "model": model_d, "data": data_d}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, _, raw = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if "." in key:
            sec, _, name = key.partition(".")
            if sec not in sections:
                raise ConfigError(f"unknown section {sec!r} in {item!r}; use train., model. or data.")
            if name not in sections[sec]:
                raise ConfigError(
                    f"unknown key {name!r} in {sec}; valid keys: {', '.join(sorted(sections[sec]))}"
                )
        else:
            name = key
            owners = [s for s, keys in sections.items() if name in keys]
            if not owners:
                valid = sorted(f"{s}.{k}" for s, keys in sections.items() for k in keys)
                raise ConfigError(f"unknown config key {name!r}; valid keys: {', '.join(valid)}")
            if len(owners) > 1:
                raise ConfigError(f"key {name!r} is ambiguous; write one of {', '.join(o + '.' + name for o in owners)}")
            sec = owners[0]
        value = parse_value(raw)
        if sec == "model" and model_types and name in model_types:
            hint = model_types[name]
            if value is None and "str" in hint and "None" not in hint:
                value = str(raw).strip()  # `model.schedule=none` names the string "none"
            value = check_type(value, hint, f"model.{name}")
        targets[sec][name] = value
    train = coerce_dataclass(TrainConfig, train_d, section="train")
    return replace(cfg, train=train, model_config=model_d, data=data_d)


def coerce_dataclass(cls: type, d: dict[str, Any], section: str) -> Any:
    """Build dataclass ``cls`` from ``d``: unknown keys and wrongly typed values are one-line errors
    naming ``section.key``; ints become floats where the field is a float."""
    check_keys(d, {f.name for f in fields(cls)}, where=section)
    hints = get_type_hints(cls)
    return cls(**{k: check_type(v, str(hints.get(k, "")), f"{section}.{k}") for k, v in d.items()})


def check_type(v: Any, hint: str, name: str) -> Any:
    """``v`` if it fits the annotation text ``hint`` (an int is made a float for a float field), else a
    ConfigError naming ``name`` (``model.n_layer must be int, got 'abc'``)."""
    h = hint
    if isinstance(v, int) and not isinstance(v, bool) and "float" in h and "int" not in h:
        v = float(v)
    ok = not h or "Any" in h or (v is None and "None" in h) or (isinstance(v, bool) and "bool" in h) or (
        not isinstance(v, bool) and ((isinstance(v, int) and ("int" in h or "float" in h))
                                     or (isinstance(v, float) and "float" in h) or (isinstance(v, str) and "str" in h)
                                     or (isinstance(v, (list, tuple)) and ("list" in h or "tuple" in h))))
    if not ok:
        kind = h.replace("<class '", "").replace("'>", "").replace("typing.", "")
        raise ConfigError(f"{name} must be {kind}, got {v!r}")
    return v

"""How to decode: one dataclass of sampling/search settings, close to Hugging Face's names."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from muse.errors import ConfigError


FILE_NAME = "generation_config.json"


@dataclass
class GenerationConfig:
    """Decoding settings for :func:`muse.sampling.sampler.generate`.

    Order of logit processing at each step: constraint masks, repetition
    penalty, n-gram blocking, then (sampling only) temperature, top-k, top-p.

    Search modes:

    * ``num_beams == 1, do_sample``: ancestral sampling, ``num_return_sequences``
      independent samples per prompt.
    * ``num_beams == 1, not do_sample``: greedy (argmax) decoding.
    * ``num_beams > 1, not do_sample``: beam search on summed log-probabilities
      (of the masked, penalised distribution), each step keeping the best
      ``num_beams`` of the beams' extensions.
    * ``num_beams > 1, do_sample``: Magenta-style stochastic beam search: every
      beam draws ``branch_factor`` distinct continuations from its sampling
      distribution (temperature/top-k/top-p applied), and the ``num_beams``
      extensions with the highest log-probability survive.

    Finished beams are ranked by ``sum log p / n_generated ** length_penalty``.

    Every model directory saves its defaults as ``generation_config.json``
    (:attr:`muse.MuseModel.generation_config`); user settings are merged over
    them with :meth:`updated`.

    Example:
        >>> import muse
        >>> from muse.sampling.sampler import generate
        >>> poet = muse.load("poem-tang")
        >>> cfg = poet.generation_config.updated(temperature=0.7, top_k=40, seed=0)
        >>> greedy = muse.GenerationConfig(max_new_tokens=20, do_sample=False)
        >>> ids = generate(poet.model, [poet.tokenizer.bos_id], greedy)[0]
    """

    max_new_tokens: int = 256
    """Tokens to generate after the prompt (fewer if ``eos_id`` comes first)."""
    temperature: float = 1.0
    """Divides the logits before sampling; < 1 sharpens, > 1 flattens."""
    top_k: int | None = None
    """Sample among the k most likely tokens only."""
    top_p: float | None = None
    """Nucleus sampling: the smallest set of tokens whose probability reaches p."""
    repetition_penalty: float = 1.0
    """For ids already in the sequence, positive logits are divided by it, negative ones multiplied."""
    no_repeat_ngram_size: int = 0
    """Never produce an n-gram of this size twice (0: off)."""
    num_beams: int = 1
    """Beams; 1 means no beam search."""
    branch_factor: int = 2
    """Stochastic beam search only: sampled continuations per beam and step."""
    length_penalty: float = 1.0
    """Exponent of the length normalisation of beam scores (0: raw summed log-prob)."""
    num_return_sequences: int = 1
    """Sequences returned per prompt (at most num_beams in beam search)."""
    do_sample: bool = True
    """Sample (True) or take the most likely tokens (False)."""
    eos_id: int | None = None
    """Token that ends a sequence; it is not included in the returned sequence."""
    seed: int | None = None
    """Seed for a private random generator; same seed, model and prompt give the same output."""
    use_cache: bool = True
    """Reuse the model state between steps; False recomputes the (cropped) context every step."""

    def validate(self) -> "GenerationConfig":
        """Raise ConfigError for out-of-range or wrongly typed settings; return self.

        Returns:
            GenerationConfig: this config, unchanged, so calls can be chained.

        Raises:
            ConfigError: e.g. ``temperature <= 0``, ``top_p`` outside (0, 1], or
                ``num_return_sequences > num_beams`` in beam search.

        Example:
            >>> import muse
            >>> muse.GenerationConfig(num_beams=4, num_return_sequences=2).validate().num_beams
            4
        """
        try:
            return self._validate()
        except TypeError as e:
            raise ConfigError(f"generation: a setting has the wrong type ({e})") from None

    def _validate(self) -> "GenerationConfig":
        def bad(name: str, rule: str) -> ConfigError:
            return ConfigError(f"generation: {name} {rule}, got {getattr(self, name)!r}")

        if self.max_new_tokens < 0:
            raise bad("max_new_tokens", "must be >= 0")
        if not self.temperature > 0:
            raise bad("temperature", "must be > 0 (use do_sample=False for greedy decoding)")
        if self.top_k is not None and self.top_k < 1:
            raise bad("top_k", "must be >= 1 or None")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise bad("top_p", "must be in (0, 1] or None")
        if not self.repetition_penalty > 0:
            raise bad("repetition_penalty", "must be > 0")
        if self.no_repeat_ngram_size < 0:
            raise bad("no_repeat_ngram_size", "must be >= 0")
        if self.num_beams < 1:
            raise bad("num_beams", "must be >= 1")
        if self.branch_factor < 1:
            raise bad("branch_factor", "must be >= 1")
        if self.num_return_sequences < 1:
            raise bad("num_return_sequences", "must be >= 1")
        if self.num_beams > 1 and self.num_return_sequences > self.num_beams:
            raise ConfigError(
                f"generation: num_return_sequences ({self.num_return_sequences}) cannot exceed num_beams ({self.num_beams})"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Every setting as a plain dict.

        Returns:
            dict[str, Any]: field name -> value, all fields included.

        Example:
            >>> import muse
            >>> muse.GenerationConfig(top_k=40).to_dict()["top_k"]
            40
        """
        return asdict(self)

    def to_diff_dict(self) -> dict[str, Any]:
        """Only the settings that differ from the defaults (what ``generation_config.json`` holds).

        Returns:
            dict[str, Any]: field name -> value for the non-default fields.

        Example:
            >>> import muse
            >>> muse.GenerationConfig(temperature=0.8, top_p=0.95).to_diff_dict()
            {'temperature': 0.8, 'top_p': 0.95}
        """
        default = GenerationConfig()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}

    def updated(self, **overrides: Any) -> "GenerationConfig":
        """A validated copy with every override that is not None applied (unknown names are errors).

        Args:
            **overrides: field names and values (``temperature=0.7``,
                ``num_beams=4``...); None leaves that setting as it is, an unknown
                name raises ConfigError.

        Returns:
            GenerationConfig: a new, validated config; this one is not changed.

        Example:
            >>> import muse
            >>> base = muse.GenerationConfig(temperature=0.8)
            >>> base.updated(temperature=None, top_k=20).to_diff_dict()
            {'temperature': 0.8, 'top_k': 20}
        """
        valid = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ConfigError(f"generation: unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None}).validate()

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``generation_config.json`` into ``directory``.

        Only non-default settings are written (:meth:`to_diff_dict`).

        Args:
            directory: an existing folder, normally a model directory.

        Returns:
            Path: the file written, ``directory / "generation_config.json"``.

        Example:
            >>> import muse
            >>> muse.GenerationConfig(temperature=0.9).save_pretrained(".")
            PosixPath('generation_config.json')
        """
        path = Path(directory) / FILE_NAME
        path.write_text(json.dumps(self.to_diff_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "GenerationConfig":
        """Read ``generation_config.json`` from a model directory (defaults when it has none).

        Args:
            directory: the folder holding ``generation_config.json``.

        Returns:
            GenerationConfig: the validated settings; all defaults when the file
            is absent. An unreadable or invalid file raises ConfigError.

        Example:
            >>> import muse
            >>> path = muse.shipped_models()["poem-tang"]
            >>> muse.GenerationConfig.from_pretrained(path).temperature
            0.8
        """
        path = Path(directory) / FILE_NAME
        if not path.is_file():
            return cls()
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"unreadable generation config ({e})", path) from None
        if not isinstance(d, dict):
            raise ConfigError("generation config must be a JSON object", path)
        return cls.from_dict(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GenerationConfig":
        """Build from a plain dict, rejecting unknown keys; the result is validated.

        Args:
            d: field name -> value (e.g. :meth:`to_dict` or :meth:`to_diff_dict`
                output); missing fields take their defaults.

        Returns:
            GenerationConfig: the validated config.

        Example:
            >>> import muse
            >>> muse.GenerationConfig.from_dict({"num_beams": 3, "do_sample": False}).num_beams
            3
        """
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise ConfigError(
                f"generation: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}"
            )
        return cls(**d).validate()

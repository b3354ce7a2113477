"""``muse train vae``: MusicVAE-style melody VAEs on fixed-length bar slices.

Data: melodies of a corpus (default Essen), split at rests of ``gap_bars`` bars
as Magenta does, then cut into windows of ``bars`` bars (2 for ``vae``, 16 for
``vae-hier``) every ``hop_bars`` bars. As in MusicVAE, only melodies whose bar
is 16 steps (4/4 or 2/2 at 4 steps per quarter; the first time signature of a
piece counts) are used, so every window is exactly ``bars * 16`` steps and its
bar lines are the piece's; windows with more than ``max_rest`` of their steps
silent are dropped. The train/valid/test split is by piece, so the windows
of one tune never straddle splits.

Tokens: Magenta melody events (``ON_p``/``OFF``/``HOLD``, one per 16th), pitches
folded by octaves into ``min_pitch..max_pitch`` but *not* transposed to C: the
training split is instead augmented with every transposition (-5..+6 semitones)
that stays in range (``augment``), so the latent space covers all keys and
transposition stays a meaningful direction. Documents are the windows
themselves, without BOS/EOS, all of length ``T``; batches are plain ``[B, T]``.

After training the best checkpoint is exported to ``run/model`` with attribute
vectors (``attributes.json``) fitted on up to 2048 validation windows.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from muse.core import distributed as D
from muse.core.config import RunConfig
from muse.data.batches import DocumentBatches
from muse.errors import ConfigError, DataError
from muse.data.report import warn
from muse.music.corpora import CorpusReport, corpus_sources, iter_corpus
from muse.music.melody_recipe import melody_filter_hint, split_and_versions
from muse.models.latent import ATTRIBUTES_FILE
from muse.music.windows import BAR_STEPS, STEPS_PER_QUARTER, melody_windows
from muse.recipes.base import ModelSpec, Prepared
from muse.recipes.lm import LMRecipe
from muse.recipes.model import MuseModel
from muse.tokenizers.base import Tokenizer


ATTRIBUTE_WINDOWS = 2048
"""Windows used to fit the attribute vectors shipped with a trained model."""

_SLICE_KEYS = ("bars", "hop_bars", "max_rest", "augment", "min_pitch", "max_pitch", "gap_bars", "limit")


@dataclass
class VAEData:
    """Data settings of ``muse train vae``."""

    corpus: str | None = "essen"
    bars: int | None = None
    """Window length in 4/4 bars; None: the model's n_bars (2 for vae, 16 for vae-hier)."""
    hop_bars: int = 1
    max_rest: float = 0.5
    """Drop windows with a larger share of silent steps."""
    augment: bool = True
    """All in-range transpositions of the training split."""
    min_pitch: int = 48
    max_pitch: int = 83
    gap_bars: float | None = 1.0
    """Split melodies at rests this long (Magenta); None: never."""
    limit: int | None = None
    """Parse at most this many pieces."""
    valid_frac: float = 0.05
    test_frac: float = 0.05
    cache_dir: str | None = None
    rebuild: bool = False
    workers: int = 2

    @property
    def min_bars(self) -> int:
        return self.bars or 2

    min_pitches = 2

    def validate(self) -> None:
        for k in ("bars", "hop_bars"):
            v = getattr(self, k)
            if v is not None and v < 1:
                raise ConfigError(f"data.{k} must be a whole number >= 1, got {v!r}")
        if not 0.0 <= self.max_rest <= 1.0:
            raise ConfigError(f"data.max_rest must be a number in [0, 1], got {self.max_rest!r}")
        if self.gap_bars is not None and not self.gap_bars > 0:
            raise ConfigError(f"data.gap_bars must be a number > 0 or None, got {self.gap_bars!r}")


class VAERecipe(LMRecipe):
    kind = "vae"
    help = "MusicVAE-style melody VAE (flat 2-bar or hierarchical 16-bar)"
    default_model = "vae"
    models = {
        # free bits: the code may carry this many nats before KL is charged (MusicVAE's 16-bar melody
        # model allows 256 bits = 177 nats); it is what makes reconstruction near exact here
        # (bench/README.md, "Melody VAE": 0.81 -> 0.97 teacher-forced at 2 bars), at a cost to prior samples
        "vae": ModelSpec("vae", {"n_bars": 2, "embed_dim": 64, "enc_hidden": 256, "enc_layers": 1,
                                 "dec_hidden": 256, "dec_layers": 2, "z_dim": 256, "free_bits": 64.0,
                                 "max_beta": 0.2, "beta_rate": 0.999, "sampling_schedule": "none",
                                 "sampling_rate": 1000.0}),
        "vae-hier": ModelSpec("vae", {"n_bars": 16, "hierarchical": True, "embed_dim": 64, "enc_hidden": 256,
                                      "enc_layers": 1, "conductor_hidden": 256, "conductor_layers": 1,
                                      "dec_hidden": 256, "dec_layers": 2, "z_dim": 256, "free_bits": 177.0,
                                      "max_beta": 0.2, "beta_rate": 0.999, "sampling_schedule": "none"}),
    }
    Data = VAEData
    train_defaults = {"steps": 5000, "batch_size": 64, "lr": 1e-3, "min_lr": 1e-5, "schedule": "cosine",
                      "warmup_steps": 0, "weight_decay": 0.0, "grad_clip": 1.0, "eval_every": 250,
                      "eval_batches": 20}

    generation_defaults = {"temperature": 0.5}

    # ---- data
    def resolve_data(self, data: Any, model_bars: int = 2) -> VAEData:
        """Checked data settings with ``bars`` filled in."""
        d = self.data_config(data)
        return d if d.bars is not None else replace(d, bars=model_bars)

    def load_data(self, data: Any, resume_tok: Tokenizer | None = None, dist: D.DistEnv | None = None):
        return super().load_data(self.resolve_data(data), resume_tok, dist)

    def sources(self, data: VAEData) -> list[Path]:
        return corpus_sources(data.corpus)

    def tokenizer_options(self, data: VAEData) -> dict[str, Any]:
        return {"vae_slices": 1, **{k: getattr(data, k) for k in _SLICE_KEYS}}

    def load_items(self, data: VAEData):
        report = CorpusReport()
        items = list(iter_corpus(data.corpus, workers=int(data.workers), limit=data.limit,
                                 min_bars=data.bars, min_pitches=data.min_pitches, max_steps=None,
                                 split_silence_bars=data.gap_bars, report=report))
        kept = [(pid, m) for pid, m in items if m.steps_per_quarter == STEPS_PER_QUARTER
                and m.steps_per_bar == BAR_STEPS]
        if len(kept) < len(items):
            warn(f"vae uses melodies in 4/4 (or 2/2): kept {len(kept)} of {len(items)} from {data.corpus}")
        return kept, report

    def make_tokenizer(self, items: Sequence[tuple[str, Any]], data: VAEData) -> Tokenizer:
        from muse.music.events import MelodyEventTokenizer

        return MelodyEventTokenizer(data.min_pitch, data.max_pitch, squash=True, transpose_to_key=False,
                                    steps_per_quarter=STEPS_PER_QUARTER)

    def empty_hint(self, data: VAEData) -> str:
        return melody_filter_hint(data) + ", and yields whole 4/4 windows of data.bars bars"

    def encode_docs(self, items, tok, data):
        for piece_id, mel in items:
            split, versions = split_and_versions(piece_id, mel, data)
            for m in versions:
                for _, window in melody_windows(m, data.bars, hop_bars=data.hop_bars,
                                                max_rest=float(data.max_rest)):
                    try:
                        yield split, tok.encode(window)
                    except DataError:
                        continue  # not monophonic after quantisation: nothing the model can read

    # ---- training
    def prepare(self, cfg: RunConfig, dist: D.DistEnv, resume_from: Path | None) -> Prepared:
        spec = self.models[cfg.model]
        model_bars = int(cfg.model_config.get("n_bars", spec.defaults.get("n_bars", 2)))
        data = self.resolve_data(cfg.data, model_bars)
        cfg.data = asdict(data)
        bars = data.bars
        cfg.model_config["n_bars"] = bars
        cfg.model_config["seq_len"] = bars * BAR_STEPS
        if cfg.model_config.get("sampling_schedule", "") is None:  # `model.sampling_schedule=none` parses to None
            cfg.model_config["sampling_schedule"] = "none"
        return super().prepare(cfg, dist, resume_from)

    def batch_sources(self, stores, tok: Tokenizer, cfg: RunConfig, dist: D.DistEnv):
        t, seed = cfg.train, cfg.train.seed
        if len(stores["train"]) < t.batch_size:
            raise DataError(f"only {len(stores['train'])} training windows of {cfg.data['bars']} bars, "
                            f"fewer than one batch of {t.batch_size}", cfg.data["corpus"])
        train = DocumentBatches(stores["train"], t.batch_size, seed, dist.rank, dist.world, pad_id=tok.pad_id,
                                mode="plain", bucket=False)
        valid = None
        if len(stores["valid"]) >= t.batch_size:
            valid = DocumentBatches(stores["valid"], t.batch_size, seed + 1, dist.rank, dist.world,
                                    pad_id=tok.pad_id, mode="plain", bucket=False)
        return train, valid

    def export_files(self, cfg: RunConfig, prepared: Prepared, run_dir: Path) -> dict[str, Any]:
        """Attribute vectors fitted with the best checkpoint, shipped as ``attributes.json``."""
        ck = run_dir / "checkpoints"
        src = ck / "best.pt" if (ck / "best.pt").exists() else ck / "last.pt"
        if not src.exists():
            return {}
        source = prepared.valid if prepared.valid is not None else prepared.train
        vectors = fit_store_attributes(src, source.store, seed=cfg.train.seed)  # type: ignore[attr-defined]
        return {} if vectors is None else {ATTRIBUTES_FILE: vectors.to_dict()}

    # ---- generation half
    def load(self, name_or_path: Any, device: str = "cpu") -> Any:
        from muse.music.latent_space import load_vae

        return load_vae(name_or_path, device=device)

    def generate(self, loaded: Any, request: Any = None, constraints: Sequence[Any] = (), *, num: int = 1,
                 generation: dict[str, Any] | None = None, device: str = "cpu", **fields: Any) -> list[Any]:
        """``num`` melodies decoded from prior samples (``temperature`` and ``seed`` are the settings)."""
        from muse.music.latent_space import VAE, load_vae, sample_melodies

        g = {k: v for k, v in (generation or {}).items() if v is not None}
        temperature, seed = g.pop("temperature", None), g.pop("seed", None)
        extra = [*g, *fields] + (["a request"] if request is not None else []) + (["constraints"] if constraints else [])
        if extra:
            raise ConfigError(f"a VAE samples from its prior: it takes num_return_sequences, temperature and seed "
                              f"(got {', '.join(extra)})")
        vae = loaded if isinstance(loaded, VAE) else load_vae(loaded)
        if temperature is None:
            temperature = loaded.generation_config.temperature if hasattr(loaded, "generation_config") else 0.5
        return sample_melodies(vae, num, temperature=temperature, seed=seed)


def fit_store_attributes(model_path: Path, store, seed: int = 0, n: int = ATTRIBUTE_WINDOWS):
    """Attribute vectors of the model at ``model_path`` over up to ``n`` windows of a token store."""
    from muse.music.latent_space import fit_attribute_vectors, load_vae

    vae = load_vae(model_path)
    count = len(store)
    if count < 8:
        return None
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(count)[:n])
    ids = torch.tensor(np.stack([store.doc(int(i)) for i in pick]).astype(np.int64))
    windows = [vae.tokenizer.decode(row.tolist()) for row in ids]
    return fit_attribute_vectors(vae, ids, windows)


RECIPE = VAERecipe()


class VAEModel(MuseModel):
    """A melody VAE from :func:`muse.load`: sample, encode, decode, interpolate, reconstruct, vary.

    Example:
        >>> vae = muse.load("vae-2bar")
        >>> theme = vae.generate(num_return_sequences=1, seed=0)[0]
        >>> variations = vae.vary(theme, amount=0.4, num=3, seed=1)
    """

    @property
    def vae(self) -> Any:
        """The :class:`~muse.music.latent_space.VAE` (model, tokenizer, attribute vectors)."""
        if not hasattr(self, "_vae"):
            from muse.music.latent_space import load_vae

            self._vae = load_vae(self.loaded)
        return self._vae

    def encode(self, melodies: Any) -> Any:
        """Codes ``[windows, z_dim]`` of a melody or several."""
        from muse.music.latent_space import encode_melodies

        return encode_melodies(self.vae, melodies)

    def decode(self, z: Any, *, temperature: float = 0.0, seed: int | None = None) -> list[Any]:
        """One melody per code (temperature 0: greedy)."""
        from muse.music.latent_space import decode_latents

        return decode_latents(self.vae, z, temperature=temperature, seed=seed)

    def interpolate(self, a: Any, b: Any, steps: int = 5, **kw: Any) -> list[Any]:
        """``steps`` melodies on the spherical path from ``a``'s code to ``b``'s."""
        from muse.music.latent_space import interpolate_melodies

        return interpolate_melodies(self.vae, a, b, steps, **kw)

    def reconstruct(self, melody: Any, **kw: Any) -> Any:
        from muse.music.latent_space import reconstruct

        return reconstruct(self.vae, melody, **kw)

    def vary(self, melody: Any, amount: float = 0.5, num: int = 4, **kw: Any) -> list[Any]:
        """``num`` variations of ``melody``, further from it as ``amount`` grows from 0 to 1."""
        from muse.music.latent_space import vary_melody

        return vary_melody(self.vae, melody, amount, num, **kw)


VAERecipe.model_class = VAEModel

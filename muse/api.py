"""Public Python API. Every CLI verb has a function here; imports are lazy so
``import muse`` stays fast."""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # training
    "train": "muse.training",
    "TrainConfig": "muse.core.config",
    "RunConfig": "muse.core.config",
    "Trainer": "muse.core.trainer",
    "Callback": "muse.core.callbacks",
    "Every": "muse.core.callbacks",
    # models
    "load": "muse.recipes.model",
    "MuseModel": "muse.recipes.model",
    "load_model": "muse.recipes.hub",
    "get_recipe": "muse.recipes",
    "save_pretrained": "muse.recipes.hub",
    "shipped_models": "muse.recipes.hub",
    "build_model": "muse.models.registry",
    "GenerationConfig": "muse.sampling.config",
    "generate": "muse.sampling.sampler",
    # melodies
    "Melody": "muse.music.melody",
    "Note": "muse.music.melody",
    "generate_melodies": "muse.music.compose",
    # scores (polyphony)
    "Score": "muse.music.score",
    "Part": "muse.music.score",
    "ScoreRequest": "muse.music.score_compose",
    "compose_scores": "muse.music.score_compose",
    "harmonize": "muse.music.score_compose",
    "infill": "muse.music.score_compose",
    "save_scores": "muse.music.score_compose",
    "melody_over_chords": "muse.music.leadsheet",
    "suggest_chords": "muse.music.leadsheet",
    "save_lead_sheets": "muse.music.leadsheet",
    "read_score": "muse.music.score_io",
    "write_score": "muse.music.score_io",
    "iter_corpus_scores": "muse.music.corpora",
    "MelodyRequest": "muse.music.compose",
    "save_melodies": "muse.music.compose",
    "read_melodies": "muse.music.midi_io",
    "write_midi": "muse.music.midi_io",
    "parse_primer": "muse.music.midi_io",
    "render_wav": "muse.music.render",
    "plot_pianoroll": "muse.music.pianoroll",
    "iter_corpus": "muse.music.corpora",
    "compute_metrics": "muse.music.metrics",
    "compare_metrics": "muse.music.metrics",
    "evaluate_melody_model": "muse.music.evaluate",
    # melody VAE
    "load_vae": "muse.music.latent_space",
    "encode_melodies": "muse.music.latent_space",
    "decode_latents": "muse.music.latent_space",
    "sample_melodies": "muse.music.latent_space",
    "interpolate_melodies": "muse.music.latent_space",
    "reconstruct": "muse.music.latent_space",
    "attribute_vectors": "muse.music.latent_space",
    "apply_attribute": "muse.music.latent_space",
    "AttributeVectors": "muse.models.latent",
    # poems
    "PoemRequest": "muse.poetry.compose",
    "write_poems": "muse.poetry.compose",
    "read_poems": "muse.poetry.corpora",
    "check_chinese_form": "muse.poetry.forms",
    "check_english_form": "muse.poetry.english",
}

__all__ = sorted(_EXPORTS)


def __dir__() -> list[str]:
    return sorted({*__all__, "__version__", "CHECKPOINT_FORMAT", "MODEL_DIR_FORMAT"})


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'muse' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)

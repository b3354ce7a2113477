"""The version of muse and of the files it writes."""
__version__ = "0.2.0"
CHECKPOINT_FORMAT = 1
"""Training checkpoints (``.pt``) record it; loading refuses others."""
MODEL_DIR_FORMAT = 2
"""Model directories (``config.json``) record it; format 2 is the HF-style layout of :mod:`muse.recipes.hub`."""

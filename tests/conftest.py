"""Test-wide settings: the suite's models are tiny, and one intra-op thread is fastest for them."""
import os

import pytest
import torch

os.environ.setdefault("MUSE_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "test-muse"))


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

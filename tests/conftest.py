"""Every test starts from the same random state, whatever ran before it and in whichever order.

Tests seed their own generators where the values matter; this fixture makes the rest (a bare
`torch.randn(...)` input) deterministic too, so a run never depends on the tests before it."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:
            torch = None
    if torch is not None:
        torch.manual_seed(0)
    yield

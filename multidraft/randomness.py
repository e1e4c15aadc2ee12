"""Randomness for the tree verifiers' samplers: one torch generator, uniforms, categorical draws.

All randomness of a sampling tree verifier comes from one ``torch.Generator`` (the
token-level verifiers' convention), an int seed (a fresh generator seeded with it), or
torch's global generator (None).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .validation import InvalidInputError


def as_generator(generator: Any) -> torch.Generator | None:
    """A ``torch.Generator`` from a generator, an int seed, or None (torch's global generator)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise InvalidInputError(
        f"generator: expected a torch.Generator, an int seed or None, got {type(generator).__name__}"
    )


def uniforms(generator: torch.Generator | None, size: int) -> np.ndarray:
    """``size`` independent U[0, 1) draws (float64 numpy)."""
    return torch.rand(size, generator=generator, dtype=torch.float64).numpy()


def categorical(law: np.ndarray, generator: torch.Generator | None) -> int:
    """One draw from a (V,) law by inverse CDF (the last token with mass on rounding)."""
    u = float(uniforms(generator, 1)[0]) * float(law.sum())
    cdf = np.cumsum(law)
    i = int(np.searchsorted(cdf, u, side="right"))
    if i >= law.shape[0] or law[i] <= 0:
        i = int(np.flatnonzero(law > 0)[-1 if i >= law.shape[0] else 0]) if (law > 0).any() else 0
    return i

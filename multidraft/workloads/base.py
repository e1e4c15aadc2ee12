"""The :class:`Workload` record every generator returns: a batch of (p, q) pairs plus metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Workload:
    """A batch of target/draft law pairs.

    Attributes
    ----------
    target : np.ndarray, float64, shape (B, V)
        Target laws p, one per row (non-negative, rows sum to 1).
    draft : np.ndarray, float64, shape (B, V)
        Draft laws q, same shape.
    meta : dict
        How the pairs were made (``source``, ``seed``, ``temperature``, ``top_k``, ...);
        values are scalars or strings so they survive :func:`~multidraft.workloads.io.save_workload`.
    """

    target: np.ndarray
    draft: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Number of pairs B."""
        return int(self.target.shape[0])

    @property
    def vocab_size(self) -> int:
        """Vocabulary size V."""
        return int(self.target.shape[-1])

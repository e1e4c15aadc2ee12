"""The benchmark problems (fixed-seed workloads) and the published figures they are compared with.

Problems are LLM-like pairs from :func:`multidraft.workloads.llm_like_batch`: the draft
restricted to its top k tokens, temperature 1, a fixed draft/target correlation (default
0.9: mean single-draft acceptance about 0.7 at V = 128,256), row b drawn from seed
``[seed, b]``, so each row is a different problem and every run sees the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multidraft.workloads import llm_like_batch

#: The (k, n) grid of the published Table 1 (Thomas & Pal, ICLR 2026).
PUBLISHED_GRID = ((10, 2), (10, 4), (10, 5), (100, 2), (1000, 2))

#: Published ms per token (Llama-3 70B/8B, CPU): LP, max-flow, optimised max-flow,
#: GR tau=1e-3 (success), GR tau=1e-4 (success). None = not reported (shown as "4000+" etc.).
PUBLISHED_TABLE1 = {
    (10, 2): ("4.07", "2.45", "2.51", (5.27, 0.98), (7.62, 0.93)),
    (10, 4): ("4000+", "74.21", "74.37", (40.30, 0.97), (54.84, 0.86)),
    (10, 5): ("400000+", "10000+", "10000+", (70.75, 0.96), (94.79, 0.85)),
    (100, 2): ("4000+", "72.28", "63.03", (23.92, 0.38), (25.47, 0.23)),
    (1000, 2): ("out of memory", "400000+", "400000+", (34.94, 0.31), (47.46, 0.15)),
}

#: Published best acceptance within a time budget per token (Llama-3): {ms: (GR, max-flow)}.
PUBLISHED_BUDGET = {10.0: (0.8565, 0.8394), 100.0: (0.9004, 0.8901)}


def published_gr(k: int, n: int) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """Published GR ``(ms, success)`` for tau = 1e-3 and 1e-4, or ``(None, None)`` off the grid."""
    row = PUBLISHED_TABLE1.get((k, n))
    return (row[3], row[4]) if row else (None, None)


@dataclass
class Problems:
    """``rows`` problems ``target[b], draft[b]`` (float64, (rows, V)) with the draft cut to top k."""

    target: np.ndarray
    draft: np.ndarray
    k: int
    vocab_size: int
    seed: int
    correlation: float

    @property
    def label(self) -> str:
        return f"LLM-like V={self.vocab_size}, top-k={self.k}, c={self.correlation}, seed={self.seed}"


def llm_problems(
    rows: int, vocab_size: int, k: int, *, seed: int, correlation: float = 0.9, temperature: float = 1.0
) -> Problems:
    """``rows`` LLM-like problems over ``vocab_size`` tokens with the draft restricted to its top k."""
    top_k = None if k >= vocab_size else k
    w = llm_like_batch(rows, vocab_size, correlation=correlation, top_k=top_k, seed=seed, temperature=temperature)
    return Problems(w.target, w.draft, min(k, vocab_size), vocab_size, seed, correlation)


def draw_drafts(draft: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n i.i.d. drafts per row of ``draft`` ((B, V) -> (B, n) int64), from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(draft, axis=1)
    u = rng.random((draft.shape[0], n)) * cdf[:, -1:]
    idx = np.stack([np.searchsorted(cdf[b], u[b], side="right") for b in range(draft.shape[0])])
    return np.minimum(idx, draft.shape[1] - 1).astype(np.int64)

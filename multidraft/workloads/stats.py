"""Summary statistics of a workload: single-draft acceptance and optimal acceptance alpha*.

For each row b:

* ``1 - TV(p_b, q_b) = sum_v min(p_bv, q_bv)`` -- acceptance of single-draft speculative
  sampling (alpha* for n = 1);
* ``alpha*_n(p_b, q_b) = 1 - max_H [q_b(H)^n - p_b(H)]`` -- optimal acceptance with n i.i.d.
  drafts, from :func:`multidraft.reference.optimal_acceptance` (exact, O(V log V) per row).

:func:`summarize` reports their means (and quantiles of 1 - TV) over the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multidraft.validation import InvalidInputError, check_n, check_pair

from .progress import progress_bar

#: Rows per call of the exact oracle (bounds its temporaries to ~16 V int64 entries).
ORACLE_ROWS = 16


def single_draft_acceptance(target: Any, draft: Any) -> np.ndarray:
    """``1 - TV`` per row: ``sum_v min(p, q)`` of (B, V) laws, float64 (B,)."""
    p, q = check_pair(target, draft)
    return np.minimum(p, q).sum(axis=-1)


@dataclass(frozen=True)
class Summary:
    """Statistics of a workload (means over rows unless stated).

    Attributes
    ----------
    rows, vocab_size : int
        B and V (``rows`` counts the rows summarised).
    acceptance : float
        Mean ``1 - TV``.
    acceptance_quantiles : tuple[float, float, float]
        10%, 50% and 90% quantiles of ``1 - TV`` over rows.
    alpha_star : dict[int, float]
        Mean alpha* for each n asked.
    draft_support : float
        Mean number of nonzero entries of q.
    target_entropy : float
        Mean entropy of p in nats.
    """

    rows: int
    vocab_size: int
    acceptance: float
    acceptance_quantiles: tuple[float, float, float]
    alpha_star: dict[int, float]
    draft_support: float
    target_entropy: float

    def format(self) -> str:
        """A few human-readable lines."""
        q10, q50, q90 = self.acceptance_quantiles
        lines = [
            f"rows: {self.rows}   V: {self.vocab_size}   mean draft support: {self.draft_support:.1f} tokens"
            f"   mean target entropy: {self.target_entropy:.3f} nats",
            f"mean 1 - TV (n = 1): {self.acceptance:.4f}   (10%/50%/90%: {q10:.3f} / {q50:.3f} / {q90:.3f})",
        ]
        lines += [f"mean alpha* (n = {n}): {a:.4f}" for n, a in self.alpha_star.items()]
        return "\n".join(lines)


def summarize(
    target: Any, draft: Any, ns: Sequence[int] = (2, 4), *, max_rows: int | None = None, progress: bool = False
) -> Summary:
    """Summary statistics of a (B, V) workload (see the module doc).

    Parameters
    ----------
    target, draft : array-like, float, shape (B, V)
        The laws, validated like every input of the toolkit.
    ns : sequence of int
        Numbers of drafts for alpha*.
    max_rows : int, optional
        Summarise only the first ``max_rows`` rows (alpha* costs ~O(V log V) per row and n).
    progress : bool
        tqdm bar on stderr for work lasting over ~2 s.
    """
    from multidraft.reference import optimal_acceptance

    p, q = check_pair(target, draft)
    if p.ndim != 2:
        raise InvalidInputError(f"target: expected a batch of laws of shape (B, V), got shape {p.shape}")
    if max_rows is not None:
        if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 1:
            raise InvalidInputError(f"max_rows: expected an integer >= 1, got {max_rows!r}")
        p, q = p[:max_rows], q[:max_rows]
    ns = [check_n(n, "ns") for n in ns]
    accept = np.minimum(p, q).sum(axis=-1)
    alpha = {n: np.empty(len(p)) for n in ns}
    starts = range(0, len(p), ORACLE_ROWS)
    for s in progress_bar(starts, enabled=progress, desc="alpha*", total=len(starts)):
        rows = slice(s, s + ORACLE_ROWS)
        for n in ns:
            alpha[n][rows] = optimal_acceptance(p[rows], q[rows], n).alpha_star
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)
    q10, q50, q90 = np.quantile(accept, [0.1, 0.5, 0.9])
    return Summary(
        rows=int(len(p)),
        vocab_size=int(p.shape[1]),
        acceptance=float(accept.mean()),
        acceptance_quantiles=(float(q10), float(q50), float(q90)),
        alpha_star={n: float(a.mean()) for n, a in alpha.items()},
        draft_support=float((q > 0).sum(axis=-1).mean()),
        target_entropy=float(entropy.mean()),
    )

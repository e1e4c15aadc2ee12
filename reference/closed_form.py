"""Optimal acceptance in closed form (n i.i.d. drafts), and by brute force for any law.

By max-flow/min-cut on the bipartite graph draft-tuple -> tokens it contains,

    alpha* = 1 - max_H [ P(all drafts in H) - p(H) ]                          (1)

and for n i.i.d. drafts ``P(all drafts in H) = q(H)^n``. Write ``f(H) = q(H)^n - p(H)``.

Sorted prefixes (proof in docs/maths.md, section 2). Sort tokens by ``p/q`` ascending
(``q = 0, p > 0`` last with ratio +inf; "null" tokens with ``p = q = 0`` aside). If H is a
maximiser of f, i in H and j not in H, optimality against removing i and adding j gives
``p_i <= n s^(n-1) q_i`` and ``p_j >= n s^(n-1) q_j`` with ``s = q(H)`` (convexity of
``t -> t^n``), so ``p_j/q_j >= p_i/q_i``: every maximiser is a prefix up to ties. Along a
group of equal ratio, f is convex in the included q-mass, so for n >= 2 a maximiser takes a
tie group whole or not at all; for n = 1 (f modular) any part of a ratio-1 group is as
good. Null tokens never change f. Hence:

* the smallest maximiser ``H_min`` is the shortest group-boundary prefix attaining the
  maximum;
* the largest ``H_max`` is the longest such prefix, plus the null tokens (for n = 1 the
  largest prefix already takes the whole ratio-1 group).

Every maximiser H satisfies ``H_min <= H <= H_max`` (they form a lattice). Cost O(V log V).
Ties in the maximum are decided with the tolerance ``tie_tol`` (absolute, on f).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from multidraft.drafting import DraftingLaw, drafting_law
from multidraft.validation import (
    TooLargeError,
    check_distribution,
    check_n,
    check_pair,
    check_same_vocab,
)

#: Default absolute tolerance deciding that two prefixes attain the same maximum of f.
TIE_TOL = 1e-12

#: Largest vocabulary the brute-force oracle enumerates (2^V subsets).
BRUTE_FORCE_MAX_V = 16


@dataclass(frozen=True)
class OptimalAcceptance:
    """Result of :func:`optimal_acceptance`.

    Attributes
    ----------
    alpha_star : np.ndarray, float64, shape (...)
        Optimal acceptance alpha* (a 0-d array for unbatched input; ``float(result)`` works).
    h_min, h_max : np.ndarray, bool, shape (..., V)
        Smallest and largest minimising subsets H* of ``p(H) + 1 - q(H)^n``.
    gap_value : np.ndarray, float64, shape (...)
        ``max_H [q(H)^n - p(H)] = 1 - alpha*``.
    """

    alpha_star: np.ndarray
    h_min: np.ndarray
    h_max: np.ndarray
    gap_value: np.ndarray

    def __float__(self) -> float:
        return float(self.alpha_star)


def _sorted_order(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ratio keys p/q (inf where q = 0) and the ascending order, nulls moved to the end."""
    null = (p == 0) & (q == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(q > 0, p / np.where(q > 0, q, 1.0), np.inf)
    # nulls sort after everything (key +inf, then a second key) and are masked out below
    order = np.lexsort((null, ratio), axis=-1)
    return ratio, order


def optimal_acceptance(target: Any, draft: Any, n: Any, *, tie_tol: float = TIE_TOL) -> OptimalAcceptance:
    """Optimal acceptance alpha* for n i.i.d. drafts, by the sorted-prefix closed form.

    Solves ``alpha* = min_H [ p(H) + 1 - q(H)^n ]`` over subsets H of the vocabulary.

    Parameters
    ----------
    target : array-like or torch.Tensor, shape (V,) or (..., V), float
        Target law p (rows sum to 1).
    draft : array-like or torch.Tensor, shape (V,) or (..., V), float
        Draft law q, broadcast against ``target``.
    n : int >= 1
        Number of i.i.d. drafts.
    tie_tol : float
        Absolute tolerance on ``f(H) = q(H)^n - p(H)`` deciding ties between minimisers.

    Returns
    -------
    OptimalAcceptance with ``alpha`` of shape (...) and ``h_min``/``h_max`` of shape (..., V).

    Examples
    --------
    >>> float(optimal_acceptance([0.5, 0.5], [0.5, 0.5], 2).alpha_star)   # p = q: always accept
    1.0
    >>> round(float(optimal_acceptance([0.9, 0.1], [0.5, 0.5], 1).alpha_star), 12)  # 1 - TV
    0.6
    """
    p, q = check_pair(target, draft)
    n = check_n(n)
    ratio, order = _sorted_order(p, q)
    ps = np.take_along_axis(p, order, axis=-1)
    qs = np.take_along_axis(q, order, axis=-1)
    rs = np.take_along_axis(ratio, order, axis=-1)
    null_sorted = (ps == 0) & (qs == 0)

    zeros = np.zeros(p.shape[:-1] + (1,))
    cum_p = np.concatenate([zeros, np.cumsum(ps, axis=-1)], axis=-1)  # prefix sums, (..., V+1)
    cum_q = np.minimum(np.concatenate([zeros, np.cumsum(qs, axis=-1)], axis=-1), 1.0)
    f = cum_q**n - cum_p
    # a prefix of length k is a group boundary if token k-1 and token k differ in ratio;
    # prefixes that start including null tokens are not candidates (nulls are handled apart)
    V = p.shape[-1]
    boundary = np.ones(p.shape[:-1] + (V + 1,), dtype=bool)
    boundary[..., 1:V] = (rs[..., 1:] != rs[..., :-1]) | (null_sorted[..., 1:] != null_sorted[..., :-1])
    boundary[..., 1:] &= ~null_sorted
    f = np.where(boundary, f, -np.inf)

    best = f.max(axis=-1)
    attains = f >= best[..., None] - tie_tol
    k_min = np.argmax(attains, axis=-1)
    k_max = V - np.argmax(attains[..., ::-1], axis=-1)

    position = np.argsort(order, axis=-1)  # rank of each token in the sorted order
    h_min = position < k_min[..., None]
    h_max = (position < k_max[..., None]) | ((p == 0) & (q == 0))
    best = np.maximum(best, 0.0)  # the empty set gives f = 0 exactly
    return OptimalAcceptance(alpha_star=1.0 - best, h_min=h_min, h_max=h_max, gap_value=best)


def cut_values(target: Any, law: DraftingLaw, subsets: np.ndarray) -> np.ndarray:
    """Cut value ``p(H) + 1 - P(all drafts in H)`` (an upper bound on alpha*) per row of ``subsets`` (K, V)."""
    p = np.asarray(target, dtype=np.float64)
    subsets = np.atleast_2d(np.asarray(subsets, dtype=bool))
    return subsets.astype(np.float64) @ p + 1.0 - law.prob_all_in(subsets)


def all_subsets(vocab_size: int) -> np.ndarray:
    """Indicator rows of all 2^V subsets, bool (2^V, V); row b is the binary expansion of b."""
    bits = np.arange(2**vocab_size, dtype=np.int64)[:, None] >> np.arange(vocab_size)
    return (bits & 1).astype(bool)


def optimal_acceptance_bruteforce(
    target: Any, draft: Any = None, n: Any = None, *, drafting: Any = "iid"
) -> tuple[float, np.ndarray]:
    """alpha* by enumerating all 2^V subsets in (1): any drafting law, V <= 16.

    Returns ``(alpha, minimisers)`` with ``minimisers`` the bool (K, V) rows attaining the
    minimum within ``TIE_TOL``.
    """
    law = drafting_law(drafting, draft, n)
    p = check_distribution(target, "target", batched=False)
    check_same_vocab(p.shape[0], "target", law.vocab_size, "the drafting law")
    if p.shape[0] > BRUTE_FORCE_MAX_V:
        raise TooLargeError(
            f"brute force enumerates 2^V subsets and is limited to V <= {BRUTE_FORCE_MAX_V}, got V={p.shape[0]}"
        )
    subsets = all_subsets(p.shape[0])
    values = cut_values(p, law, subsets)
    best = values.min()
    return float(best), subsets[values <= best + TIE_TOL]

"""Exact output-law deviation of a verifier on one problem, with lumping of non-drafted tokens.

The total variation ``TV = 0.5 * sum_y |sum_x Q(x) f(y | x) - p(y)|`` is computed exactly by
:func:`multidraft.evaluate`, which enumerates every draft tuple (or multiset, for verifiers
whose output ignores the order of the drafts) and calls the verifier's conditional law.

That costs (number of tuples) x V numbers. When it is too large, the problem is *lumped*:
tokens outside the draft support (q = 0; never drafted) are merged into one token carrying
their total target mass, and the same method is run and evaluated on that (k + 1)-token
problem. The optimal acceptance and every acceptance are unchanged (acceptance only happens
on drafted tokens); the deviation that lumping cannot see is a wrong distribution *among*
the non-drafted tokens. For every method here the output on those tokens comes from a
residual that equals p there up to a constant factor, so none is missed -- but a verifier
that distorted them would need the full-V evaluation ("full V" in the tables).
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb
from typing import Any

import numpy as np

from multidraft.evaluate import evaluate

#: At most this many conditional-law entries (tuples x tokens) per evaluation (~400 MB float64).
MAX_CELLS = 50_000_000


def lump(target: np.ndarray, draft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (k + 1)-token problem: drafted tokens as they are, the rest merged into one last token."""
    support = draft > 0
    if support.all():
        return target, draft
    p = np.append(target[support], max(0.0, 1.0 - float(target[support].sum())))
    q = np.append(draft[support], 0.0)
    p = p / p.sum()
    q = q / q.sum()
    return p, q


def enumerated(k: int, n: int, order_invariant: bool) -> int:
    """Number of draft tuples (``k^n``) or multisets (``C(k + n - 1, n)``) over k drafted tokens."""
    return comb(k + n - 1, n) if order_invariant else k**n


def exact_tv(
    verifier_for: Callable[[np.ndarray, np.ndarray], Any],
    target: np.ndarray,
    draft: np.ndarray,
    n: int,
    *,
    alpha_star: float,
    order_invariant: bool,
    drafting: str = "iid",
    max_cells: int = MAX_CELLS,
) -> tuple[float | None, str]:
    """``(TV, how)`` with ``how`` one of ``"full V"``, ``"lumped k+1"`` or why it was not measured.

    ``verifier_for(p, q)`` returns a conditional verifier for the problem ``(p, q)`` (for the
    exact oracles it solves that problem first).
    """
    k = int((draft > 0).sum())
    count = enumerated(k, n, order_invariant)
    V = target.shape[0]
    if count * V <= max_cells:
        p, q, how = target, draft, "full V"
    elif count * (k + 1) <= max_cells:
        (p, q), how = lump(target, draft), "lumped k+1"
    else:
        return None, f"not measured ({count:,} tuples)"
    verifier = verifier_for(p, q)
    law = verifier.law(q, n) if hasattr(verifier, "law") else drafting  # e.g. greedy drafting
    ev = evaluate(
        verifier, p, q, n, drafting=law, order_invariant=order_invariant, max_count=max(count, 1), alpha_star=alpha_star
    )
    return float(max(ev.tv, ev.validity_error)), how

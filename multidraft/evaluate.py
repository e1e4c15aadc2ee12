"""Exact evaluation of a conditional verifier by enumerating the drafting law's support.

For a conditional verifier ``f(y | x)`` and a drafting law Q,

    marginal(y) = sum_x Q(x) f(y | x)                    (the output law; lossless iff = p)
    acceptance  = sum_x Q(x) sum_{y in set(x)} f(y | x)

The sums run over every draft tuple with Q(x) > 0 (``k^n`` of them for i.i.d. drafts with
k tokens in the draft's support), or, if the verifier is declared ``order_invariant`` and
the law is exchangeable, over multisets with their probabilities. The evaluator also
reports the worst per-tuple validity error ``max(-min_y f(y|x), |sum_y f(y|x) - 1|)`` and
compares the acceptance with alpha* when the caller supplies it (the core computes no
optimum: :func:`multidraft.reference.optimal_acceptance_for` does, for any law).

Limits: the support is counted before anything is enumerated and more than ``max_count``
tuples (default 2,000,000) are refused with :class:`~multidraft.validation.TooLargeError`,
naming the limit and pointing to the statistical check. The conditionals are summed in
blocks of ``BLOCK_ENTRIES`` float64 entries, so memory stays ~32 MiB whatever V and the
number of tuples are (time grows as tuples x V).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .drafting import MAX_ENUMERATION, DraftingLaw, drafting_law
from .validation import InvalidInputError, check_distribution, check_same_vocab
from .verifiers import as_numpy_probs, conditional_of, is_batched

#: Drafts per call when the verifier is batched.
CHUNK = 4096

#: Float64 entries of conditionals held at once (32 MiB): the evaluation runs over blocks of
#: ``BLOCK_ENTRIES // V`` draft tuples, so memory stays bounded whatever ``max_count`` is.
BLOCK_ENTRIES = 2**22


@dataclass
class Evaluation:
    """Exact evaluation of one verifier on one problem.

    Attributes
    ----------
    marginal : (V,) float64
        Output law ``sum_x Q(x) f(.|x)``.
    acceptance : float
        ``P(output in drafts)``.
    tv : float
        Total variation ``0.5 * sum |marginal - p|`` (0 for a lossless verifier).
    alpha_star : float or None
        Optimal acceptance for this problem, as supplied by the caller (None if not).
    gap : float or None
        ``alpha_star - acceptance`` (>= 0 up to rounding for any lossless verifier); None
        without ``alpha_star``.
    validity_error : float
        Worst per-tuple ``max(-min f, |sum f - 1|)`` (0 when every conditional is a law).
    worst_drafts : tuple[int, ...]
        The draft tuple where ``validity_error`` was found.
    evaluated : int
        Number of draft tuples (or multisets) the verifier was called on.
    """

    marginal: np.ndarray
    acceptance: float
    tv: float
    alpha_star: float | None
    gap: float | None
    validity_error: float
    worst_drafts: tuple[int, ...]
    evaluated: int

    def is_lossless(self, tol: float = 1e-12) -> bool:
        """Marginal within ``tol`` (TV) of p and every conditional a law within ``tol``."""
        return self.tv <= tol and self.validity_error <= tol

    def summary(self) -> str:
        """One line: acceptance, alpha* and gap (when known), TV, validity, tuples evaluated."""
        optimum = "" if self.alpha_star is None else f" alpha*={self.alpha_star:.12f} gap={self.gap:.3e}"
        return (
            f"acceptance={self.acceptance:.12f}{optimum} "
            f"TV={self.tv:.3e} validity={self.validity_error:.3e} ({self.evaluated} tuples)"
        )


def _support(law: DraftingLaw, order_invariant: bool, max_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Draft multisets when an order-invariant verifier meets an exchangeable law, else tuples."""
    if order_invariant and law.exchangeable:
        return law.multisets(max_count)
    return law.tuples(max_count)


def conditionals(f: Any, target: np.ndarray, draft: Any, drafts: np.ndarray, *, batched: bool) -> np.ndarray:
    """Call a conditional verifier function on every draft tuple; float64 (M, V).

    ``f(target, draft, drafts)``; with ``batched`` it receives drafts of shape (m, n) in
    chunks of ``CHUNK`` and returns (m, V), otherwise one tuple (n,) at a time.
    """
    V = target.shape[0]
    if batched:
        out = [as_numpy_probs(f(target, draft, drafts[i : i + CHUNK])) for i in range(0, len(drafts), CHUNK)]
        probs = np.concatenate(out, axis=0) if out else np.zeros((0, V))
    else:
        probs = np.stack([as_numpy_probs(f(target, draft, row)) for row in drafts]) if len(drafts) else np.zeros((0, V))
    if probs.shape != (len(drafts), V):
        raise InvalidInputError(
            f"verifier: returned conditionals of shape {probs.shape[1:] if probs.ndim > 1 else probs.shape}, "
            f"expected ({V},) per draft tuple"
        )
    return probs


def _accepted_mass(cond: np.ndarray, drafts: np.ndarray) -> np.ndarray:
    """``sum_{y in set(x)} f(y | x)`` per row: cond float64 (m, V), drafts int (m, n) -> (m,).

    Gathers ``f(x_j | x)`` and counts a token drafted twice once (O(m n^2), not O(m V)).
    """
    picked = np.take_along_axis(cond, drafts, axis=1)  # (m, n)
    for j in range(1, drafts.shape[1]):
        repeated = (drafts[:, :j] == drafts[:, j : j + 1]).any(axis=1)
        picked[repeated, j] = 0.0
    return picked.sum(axis=1)


def validity_errors(cond: np.ndarray) -> np.ndarray:
    """``max(-min_y f, |sum_y f - 1|)`` per row of cond (m, V); inf where a row is not finite.

    A row holding a NaN or an infinity has a non-finite sum, so the sums tell them apart.
    """
    sums = cond.sum(axis=1)
    validity = np.maximum(-np.minimum(cond.min(axis=1), 0.0), np.abs(sums - 1.0))
    return np.where(np.isfinite(sums), validity, np.inf)


def _enumerate(f: Any, p: np.ndarray, law: DraftingLaw, drafts: np.ndarray, probs: np.ndarray, batched: bool):
    """Sum the verifier's conditionals over the support, one block of tuples at a time.

    Returns ``(marginal (V,), acceptance, worst validity error, index of its tuple)``.
    """
    V = p.shape[0]
    rows = max(1, BLOCK_ENTRIES // V)
    marginal, acceptance, worst_error, worst = np.zeros(V), 0.0, -1.0, 0
    for start in range(0, len(drafts), rows):
        block, weights = drafts[start : start + rows], probs[start : start + rows]
        cond = conditionals(f, p, law.draft_argument, block, batched=batched)
        marginal += weights @ cond
        acceptance += float(weights @ _accepted_mass(cond, block))
        validity = validity_errors(cond)
        i = int(np.argmax(validity))
        if validity[i] > worst_error:
            worst_error, worst = float(validity[i]), start + i
    return marginal, acceptance, max(worst_error, 0.0), worst


def evaluate(
    verifier: Any,
    target: Any,
    draft: Any = None,
    n: Any = None,
    *,
    drafting: Any = "iid",
    order_invariant: bool = False,
    max_count: int = MAX_ENUMERATION,
    alpha_star: float | None = None,
) -> Evaluation:
    """Evaluate a conditional verifier exactly by enumeration.

    Parameters
    ----------
    verifier : callable or object with ``.conditional``
        ``f(target[V], draft, drafts[n]) -> probs[V]`` (numpy or torch), see
        :mod:`multidraft.verifiers`.
    target : array-like (V,), float
        Target law p.
    draft : array-like (V,), float
        Draft law q (for ``drafting="iid"`` or ``"without_replacement"``).
    n : int
        Number of drafts.
    drafting : str or DraftingLaw
        ``"iid"`` (default), ``"without_replacement"``, or a law object.
    order_invariant : bool
        Declare that f ignores the order of the drafts: exchangeable laws are then
        enumerated as multisets (``C(k+n-1, n)`` instead of ``k^n`` calls).
    max_count : int
        Refuse (``TooLargeError``) when more tuples would be enumerated.
    alpha_star : float, optional
        alpha* of this problem, to report ``gap``; compute it with
        :func:`multidraft.reference.optimal_acceptance_for` (the core layer calls no oracle).

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> import numpy as np
    >>> p_sampling = lambda target, draft, drafts: np.asarray(target)   # ignore the drafts
    >>> ev = evaluate(p_sampling, [0.5, 0.5], [0.5, 0.5], 1)
    >>> ev.tv, ev.acceptance
    (0.0, 0.5)
    """
    law = drafting_law(drafting, draft, n)
    p = check_distribution(target, "target", batched=False)
    check_same_vocab(p.shape[0], "target", law.vocab_size, "the draft")
    drafts, probs = _support(law, order_invariant, max_count)
    f = conditional_of(verifier)
    marginal, acceptance, validity, worst = _enumerate(f, p, law, drafts, probs, is_batched(verifier))
    a_star = None if alpha_star is None else float(alpha_star)
    return Evaluation(
        marginal=marginal,
        acceptance=acceptance,
        tv=float(0.5 * np.abs(marginal - p).sum()),
        alpha_star=a_star,
        gap=None if a_star is None else a_star - acceptance,
        validity_error=validity,
        worst_drafts=tuple(int(t) for t in drafts[worst]) if len(drafts) else (),
        evaluated=len(drafts),
    )

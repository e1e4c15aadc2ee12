"""The draft side of the oracles: binding a problem, counting and enumerating its support.

Preparation shared by the LP and max-flow oracles: binding the problem
(:func:`bind_problem`), counting (:func:`support_size`) and enumerating
(:func:`enumerate_support`) the draft-side support as keys (sets of distinct draft tokens,
or ordered tuples) with their probabilities and accepted pairs (:class:`Support`), and
evaluating cuts (:func:`cut_value`, :func:`best_level_cut`).

Set reduction. The acceptance only depends on x through the set ``S(x)`` of distinct draft
tokens (the edges of the bipartite graph x -> tokens of x). Given an optimal plan on sets,
``a(x, y) = Q(x)/Q(S) * a(S, y)`` for every tuple x with ``S(x) = S`` is feasible and has the
same value, and conversely summing a tuple plan over the tuples of a set gives a set plan
of the same value. So the LP over *sets* (variables ``a(S, y)``, ``y in S``) has the same
optimum as the OTLP over tuples, for every drafting law, with far fewer variables.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from multidraft.drafting import (
    COUNT_CAP,
    IID,
    MAX_ENUMERATION,
    DraftingLaw,
    Independent,
    Joint,
    WithoutReplacement,
    capped_comb,
    capped_perm,
    capped_power,
    capped_product,
    drafting_law,
    format_count,
)
from multidraft.validation import TooLargeError, check_choice, check_distribution, check_same_vocab

#: The two supports a plan can be written on.
FORMS = ("sets", "tuples")


# --------------------------------------------------------------------------- preparation


def check_form(form: Any) -> str:
    """Validate ``form``: ``"sets"`` (distinct-token sets) or ``"tuples"`` (ordered tuples).

    Raises
    ------
    InvalidInputError
        If ``form`` is neither.
    """
    return check_choice(form, "form", FORMS)


def bind_problem(target: Any, draft: Any, n: Any, drafting: Any) -> tuple[np.ndarray, DraftingLaw]:
    """Validate the target and bind the drafting law; returns ``(p float64 (V,), law)``."""
    law = drafting_law(drafting, draft, n)
    p = check_distribution(target, "target", batched=False)
    check_same_vocab(p.shape[0], "target", law.vocab_size, "the drafting law")
    return p, law


@dataclass(frozen=True)
class SupportSize:
    """Sizes of a support, computed without enumerating it.

    Attributes
    ----------
    enumerated : int
        Items the enumeration visits (tuples, multisets or combinations).
    keys : int
        Number of keys (upper bound for laws whose sets are found by grouping tuples).
    edges : int
        Number of accepted pairs ``(key, y in key)`` (upper bound likewise).
    """

    enumerated: int
    keys: int
    edges: int


def _capped_sum(*values: int) -> int:
    return min(sum(values), COUNT_CAP)


def _iid_set_size(k: int, n: int) -> SupportSize:
    """Sizes of the distinct-token sets of n i.i.d. drafts over k tokens (capped at ``COUNT_CAP``).

    ``enumerated`` counts (set, multiplicity pattern) pairs, the work of :func:`_iid_sets`:
    ``sum_j C(k, j) C(n-1, j-1)`` over set sizes j.
    """
    keys = edges = work = 0
    for j in range(1, min(n, k) + 1):
        sets = capped_comb(k, j)
        keys, edges = _capped_sum(keys, sets), _capped_sum(edges, capped_product((j, sets)))
        work = _capped_sum(work, capped_product((sets, capped_comb(n - 1, j - 1))))
        if keys >= COUNT_CAP:  # edges >= keys and work >= keys: all three are capped
            break
    return SupportSize(work, keys, edges)


def support_size(law: DraftingLaw, form: str) -> SupportSize:
    """Count the support of ``law`` in ``form`` before building anything.

    Cheap (never enumerates a named law), exact or an upper bound; counts at or above
    ``COUNT_CAP`` (2^62) are reported as ``COUNT_CAP``, so a huge n or V is refused at once.
    """
    n = law.n
    if isinstance(law, IID) and form == "sets":
        return _iid_set_size(len(law.support), n)
    if isinstance(law, (IID, WithoutReplacement)):
        k = len(law.support)
        tuples = capped_power(k, n) if isinstance(law, IID) else capped_perm(k, n)
        if form == "tuples":
            return SupportSize(tuples, tuples, capped_product((tuples, n)))
        sets = capped_comb(k, n)
        return SupportSize(tuples, sets, capped_product((sets, n)))
    if isinstance(law, Independent):
        tuples = capped_product(int(np.count_nonzero(row > 0)) for row in law.qs)
    elif isinstance(law, Joint):
        tuples = int(np.count_nonzero(law.table > 0))
    else:  # a user-defined law: only its enumeration can tell
        tuples = len(law.tuples()[0])
    return SupportSize(tuples, tuples, capped_product((tuples, n)))


def _compositions(n: int, parts: int) -> list[tuple[int, ...]]:
    """All ways of writing n as an ordered sum of ``parts`` positive integers."""
    out = []
    for cuts in itertools.combinations(range(1, n), parts - 1):
        bounds = (0, *cuts, n)
        out.append(tuple(b - a for a, b in zip(bounds[:-1], bounds[1:])))
    return out


#: Up to this n the multinomial coefficients n!/prod m_i! are exact integers below 1e306.
EXACT_MULTINOMIAL_MAX_N = 170


def _multinomial_terms(qs: np.ndarray, m: tuple[int, ...]) -> np.ndarray:
    """``n!/prod m_i! * prod_i qs[:, i]^m_i`` per row of ``qs`` (R, j), float64 (R,), n = sum m.

    Up to ``EXACT_MULTINOMIAL_MAX_N`` the coefficient is an exact integer and the powers are
    taken directly; beyond, both are combined in log space so that neither the coefficient
    (overflow) nor the powers (underflow) are formed on their own.
    """
    n, powers = sum(m), np.array(m, dtype=np.float64)
    if n <= EXACT_MULTINOMIAL_MAX_N:
        coef = math.factorial(n) // math.prod(math.factorial(mi) for mi in m)
        return float(coef) * np.prod(qs**powers, axis=1)
    log_coef = math.lgamma(n + 1) - sum(math.lgamma(mi + 1) for mi in m)
    return np.exp(log_coef + np.log(qs) @ powers)


def _iid_sets(law: IID) -> tuple[np.ndarray, np.ndarray]:
    """Sets of distinct tokens of n i.i.d. drafts with ``P(S = T)`` as a sum of positive terms.

    ``P(S = T) = sum over multiplicities m (m_i >= 1, sum m = n) of n!/prod m_i! prod q_i^m_i``
    (no inclusion-exclusion, so no cancellation for tiny probabilities).
    """
    n, q, support = law.n, law.q, law.support
    keys, probs = [], []
    for j in range(1, min(n, len(support)) + 1):
        combos = np.array(list(itertools.combinations(support, j)), dtype=np.int64).reshape(-1, j)
        qs = q[combos]
        total = np.zeros(len(combos))
        for m in _compositions(n, j):
            total += _multinomial_terms(qs, m)
        keys.append(np.hstack([combos, np.full((len(combos), n - j), -1, dtype=np.int64)]))
        probs.append(total)
    return np.concatenate(keys), np.concatenate(probs)


def canonical_keys(drafts: np.ndarray, form: str, vocab_size: int) -> np.ndarray:
    """The key of each draft tuple (rows of an int array (M, n)).

    ``"tuples"``: the tuple itself. ``"sets"``: its distinct tokens in ascending order,
    padded with -1 at the end. Returns int64 (M, n).
    """
    drafts = np.asarray(drafts, dtype=np.int64)
    if form == "tuples":
        return drafts
    s = np.sort(np.where(drafts < 0, vocab_size, drafts), axis=-1)  # -1 (padding) sorts last
    dup = np.zeros(s.shape, dtype=bool)
    dup[..., 1:] = s[..., 1:] == s[..., :-1]
    s = np.sort(np.where(dup, vocab_size, s), axis=-1)
    s[s >= vocab_size] = -1
    return s


@dataclass(frozen=True)
class Support:
    """The draft side of a coupling problem: keys with their probabilities and accepted pairs.

    Attributes
    ----------
    keys : np.ndarray, int64, shape (K, n)
        ``form="sets"``: distinct tokens of each set, ascending, padded with -1;
        ``form="tuples"``: the ordered draft tuples.
    probs : np.ndarray, float64, shape (K,)
        ``Q(key) > 0`` (sums to 1 up to rounding).
    rows, cols : np.ndarray, int64, shape (E,)
        The accepted pairs: key index and a distinct token of that key, sorted by row.
    form : str
    vocab_size : int
    """

    keys: np.ndarray
    probs: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    form: str
    vocab_size: int

    @classmethod
    def build(cls, keys: np.ndarray, probs: np.ndarray, form: str, vocab_size: int) -> Support:
        """Drop keys with ``Q = 0`` and derive the accepted pairs."""
        keep = probs > 0
        keys, probs = np.asarray(keys, dtype=np.int64)[keep], np.asarray(probs, dtype=np.float64)[keep]
        distinct = canonical_keys(keys, "sets", vocab_size)
        rows, pos = np.nonzero(distinct >= 0)
        return cls(keys, probs, rows.astype(np.int64), distinct[rows, pos], form, vocab_size)

    @property
    def num_keys(self) -> int:
        return len(self.probs)

    @property
    def num_edges(self) -> int:
        return len(self.rows)

    def edge_matrix(self, values: np.ndarray) -> sp.csr_matrix:
        """Values on the accepted pairs as a sparse (K, V) float64 matrix."""
        return sp.csr_matrix(
            (np.asarray(values, dtype=np.float64), (self.rows, self.cols)),
            shape=(self.num_keys, self.vocab_size),
        )


def enumerate_support(law: DraftingLaw, form: str, max_count: int = MAX_ENUMERATION) -> Support:
    """Enumerate the keys of ``law`` in ``form`` with their probabilities.

    Refuses (:class:`TooLargeError`) when more than ``max_count`` items would be visited.
    i.i.d. sets are enumerated directly (combinations of distinct tokens); every other law
    by grouping its tuples.
    """
    check_form(form)
    size = support_size(law, form)
    if size.enumerated > max_count:
        raise TooLargeError(
            f"enumerating the draft {form} of {law!r} would visit {format_count(size.enumerated)} items, "
            f"above max_count={max_count:,}"
        )
    if form == "sets" and isinstance(law, IID):
        keys, probs = _iid_sets(law)
        return Support.build(keys, probs, form, law.vocab_size)
    tuples, probs = law.tuples(max_count)
    if form == "tuples":
        return Support.build(tuples, probs, form, law.vocab_size)
    sets = canonical_keys(tuples, "sets", law.vocab_size)
    keys, inverse = np.unique(sets, axis=0, return_inverse=True)
    total = np.bincount(inverse.ravel(), weights=probs, minlength=len(keys))
    return Support.build(keys, total, form, law.vocab_size)


# --------------------------------------------------------------------------- cuts


def _inside(support: Support, h: np.ndarray) -> np.ndarray:
    """bool (K,): every token of the key lies in H (bool (V,))."""
    h_ext = np.append(np.asarray(h, dtype=bool), True)  # index -1 (padding) reads True
    return h_ext[support.keys].all(axis=1)


def cut_value(support: Support, p: np.ndarray, h: np.ndarray) -> float:
    """Cut value ``p(H) + P(some draft not in H)``, an upper bound on alpha* for any H (bool (V,))."""
    h = np.asarray(h, dtype=bool)
    return float(p[h].sum() + support.probs[~_inside(support, h)].sum())


def best_level_cut(support: Support, p: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, float]:
    """The best cut among the level sets ``H_t = {y : scores[y] > t}`` of a dual vector.

    If (u, v >= 0) is dual feasible (``u_key + v_y >= 1`` for y in key), a uniform threshold
    t in [0, 1) gives ``E[cut(H_t)] <= sum Q u + sum p v``, so the best level set of an
    optimal dual v is a minimum cut. For a 0/1 vertex dual this is ``{v > 0.5}``. Cost
    O((K + V) log(K + V)). Returns ``(H bool (V,), cut value)``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = np.concatenate([[-np.inf], np.unique(scores)])
    # a key is inside H_t iff the smallest score of its tokens exceeds t
    s_ext = np.append(scores, np.inf)
    key_min = s_ext[support.keys].min(axis=1)

    def mass_above(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        below = np.concatenate([[0.0], np.cumsum(weights[order])])
        return below[-1] - below[np.searchsorted(values[order], thresholds, side="right")], below

    p_above, _ = mass_above(scores, p)
    q_inside, q_cum = mass_above(key_min, support.probs)
    values = p_above + (q_cum[-1] - q_inside)
    best = int(np.argmin(values))
    h = scores > thresholds[best]
    return h, cut_value(support, p, h)

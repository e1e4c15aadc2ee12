"""Transport plans between the draft law Q and the target p, and their shared preparation.

The optimal transport LP (OTLP) of one multi-draft step couples the law Q of the draft
tuple x with the target p and maximises the accepted mass::

    maximise    sum_x sum_{y in x} pi(x, y)
    subject to  sum_y pi(x, y) = Q(x)   for every tuple x,
                sum_x pi(x, y) = p(y)   for every token y,        pi >= 0.

Only the *accepted* part ``a(x, y) = pi(x, y)`` for ``y in x`` matters: any ``a >= 0`` with
row sums ``<= Q`` and column sums ``<= p`` completes to a feasible plan by sending the
rejected mass ``Q(x) - sum_y a(x, y)`` of every tuple to the residual law

    r = (p - sum_x a(x, .)) / (1 - acceptance),

which is a law because the total rejected mass ``1 - acceptance`` equals the total residual
``sum_y (p(y) - sum_x a(x, y))``. :class:`TransportPlan` stores ``a`` and performs that
completion; its conditional law ``pi(. | x)`` is an exactly lossless verifier (up to float
rounding) whose acceptance is ``sum a``.

Set reduction. The acceptance only depends on x through the set ``S(x)`` of distinct draft
tokens (the edges of the bipartite graph x -> tokens of x). Given an optimal plan on sets,
``a(x, y) = Q(x)/Q(S) * a(S, y)`` for every tuple x with ``S(x) = S`` is feasible and has the
same value, and conversely summing a tuple plan over the tuples of a set gives a set plan
of the same value. So the LP over *sets* (variables ``a(S, y)``, ``y in S``) has the same
optimum as the OTLP over tuples, for every drafting law, with far fewer variables.

This module also holds the preparation shared by the LP and max-flow oracles: binding the
problem (:func:`bind_problem`), counting (:func:`support_size`) and enumerating
(:func:`enumerate_support`) the draft-side support, and evaluating cuts
(:func:`cut_value`, :func:`best_level_cut`).
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
from multidraft.validation import (
    InvalidInputError,
    TooLargeError,
    check_choice,
    check_distribution,
    check_drafts,
    check_same_vocab,
    to_numpy,
)

#: The two supports a plan can be written on.
FORMS = ("sets", "tuples")

#: Tolerance used by :meth:`TransportPlan.as_verifier` to check the target it is called with.
TARGET_TOL = 1e-12


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
    def build(cls, keys: np.ndarray, probs: np.ndarray, form: str, vocab_size: int) -> "Support":
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


# --------------------------------------------------------------------------- lookup


class _KeyIndex:
    """Find the row of each query key among the support keys (-1 if absent)."""

    def __init__(self, keys: np.ndarray):
        self.tokens = np.unique(keys[keys >= 0])
        self.base = len(self.tokens) + 1
        width = keys.shape[1]
        self.encodable = width * math.log2(self.base) < 62
        if self.encodable:
            codes = self._encode(keys)
            self.order = np.argsort(codes, kind="stable")
            self.sorted_codes = codes[self.order]
        else:  # pragma: no cover - only for very wide keys
            self.table = {row.tobytes(): i for i, row in enumerate(keys)}

    def _encode(self, keys: np.ndarray) -> np.ndarray:
        """Rank each token among the support's tokens (0 = padding) and read the row in base ``base``."""
        rank = np.searchsorted(self.tokens, keys)
        known = (rank < len(self.tokens)) & (self.tokens[np.minimum(rank, len(self.tokens) - 1)] == keys)
        digits = np.where(keys < 0, 0, np.where(known, rank + 1, -1))
        codes = np.zeros(len(keys), dtype=np.int64)
        for col in range(keys.shape[1]):
            codes = codes * self.base + np.maximum(digits[:, col], 0)
        return np.where((digits >= 0).all(axis=1), codes, -1)

    def find(self, queries: np.ndarray) -> np.ndarray:
        if not self.encodable:  # pragma: no cover
            return np.array([self.table.get(row.tobytes(), -1) for row in queries], dtype=np.int64)
        codes = self._encode(queries)
        if len(self.sorted_codes) == 0:
            return np.full(len(queries), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.sorted_codes, codes), len(self.sorted_codes) - 1)
        hit = (codes >= 0) & (self.sorted_codes[pos] == codes)
        return np.where(hit, self.order[pos], -1)


# --------------------------------------------------------------------------- plan


def _as_key_array(keys: Any, form: str, n: int, vocab_size: int) -> np.ndarray:
    """Keys as int64 (K, n): accepts such an array or a sequence of token collections."""
    if isinstance(keys, np.ndarray) and keys.ndim == 2:
        arr = keys.astype(np.int64)
    else:
        rows = [sorted(set(int(t) for t in k)) if form == "sets" else [int(t) for t in k] for k in keys]
        if any(len(r) > n or (form == "tuples" and len(r) != n) for r in rows):
            raise InvalidInputError(f"keys: every key must hold {'at most ' if form == 'sets' else ''}{n} tokens")
        arr = np.array([r + [-1] * (n - len(r)) for r in rows], dtype=np.int64).reshape(-1, n)
    if arr.shape[1] != n:
        raise InvalidInputError(f"keys: expected {n} columns (the drafting law's n), got shape {arr.shape}")
    if arr.size and (arr.max() >= vocab_size or arr.min() < -1 or (form == "tuples" and arr.min() < 0)):
        raise InvalidInputError(f"keys: token ids must lie in [0, {vocab_size})")
    return canonical_keys(arr, form, vocab_size) if form == "sets" else arr


class TransportPlan:
    """An accepted-mass plan completed with the residual law: an exactly lossless verifier.

    For every key (a set of distinct draft tokens, or an ordered tuple) the completed
    conditional law given drafts x with key k is::

        pi(y | x) = a[k, y] / Q[k]  +  (1 - A[k] / Q[k]) * r(y),       A[k] = sum_y a[k, y],
        r = (p - sum_k a[k, .]) / (1 - acceptance).

    ``a`` is repaired on construction so that the completion is exactly feasible: negative
    entries are set to 0, rows above Q and then columns above p are scaled down (changes of
    the order of the solver tolerance). ``r`` is the law of the rejected mass; when the
    acceptance is 1 there is no rejected mass, r is never used and is set to p.

    Drafts whose key has ``Q = 0`` (outside the support) receive r: any law would do for
    them since they never occur, and r keeps the output a law.

    Parameters
    ----------
    target : array-like, shape (V,), float64
        Target law p.
    law : DraftingLaw
        The drafting law the plan was computed for (used by :meth:`as_verifier`).
    keys : int array (K, n) or sequence of token collections
        Support keys (``form="sets"``: distinct tokens, any order, -1 padding allowed).
    probs : array-like, shape (K,), float64
        ``Q(key)``.
    accepted : array-like or scipy.sparse, shape (K, V), float64
        Accepted mass ``a[k, y]``; must be 0 for tokens y not in key k.
    form : {"sets", "tuples"}

    Attributes
    ----------
    acceptance : float
        ``sum a`` after repair: the plan's exact acceptance.
    residual : np.ndarray, float64 (V,)
        The residual law r.
    batched : bool
        True: :meth:`conditional` accepts drafts of shape (M, n).
    """

    batched = True

    def __init__(self, target: Any, law: DraftingLaw, keys: Any, probs: Any, accepted: Any, *, form: str = "sets"):
        self.form = check_form(form)
        self.law = law
        self.p = check_distribution(target, "target", batched=False)
        V = self.vocab_size = law.vocab_size
        check_same_vocab(self.p.shape[0], "target", V, "the drafting law")
        self.keys = _as_key_array(keys, form, law.n, V)
        self.probs = np.asarray(probs, dtype=np.float64).reshape(-1)
        if self.probs.shape[0] != len(self.keys) or (self.probs <= 0).any() or not np.isfinite(self.probs).all():
            raise InvalidInputError(f"probs: expected {len(self.keys)} positive finite key probabilities")
        self.accepted = self._repair(self._accepted_matrix(accepted))
        self._finish()

    @classmethod
    def from_edges(cls, target: np.ndarray, law: DraftingLaw, support: Support, values: np.ndarray) -> "TransportPlan":
        """A plan from accepted mass given on ``support``'s pairs (float64 (E,))."""
        return cls(target, law, support.keys, support.probs, support.edge_matrix(values), form=support.form)

    # -- construction helpers

    def _accepted_matrix(self, accepted: Any) -> sp.csr_matrix:
        K, V = len(self.keys), self.vocab_size
        a = sp.csr_matrix(accepted, dtype=np.float64)
        if a.shape != (K, V):
            raise InvalidInputError(f"accepted: expected shape ({K}, {V}) (keys x tokens), got {a.shape}")
        if not np.isfinite(a.data).all():
            raise InvalidInputError("accepted: entries must be finite")
        support = Support.build(self.keys, np.ones(K), self.form, V)
        pattern = support.edge_matrix(np.ones(support.num_edges))
        outside = a - a.multiply(pattern)
        if outside.count_nonzero() and np.abs(outside.data).max() > 0:
            raise InvalidInputError("accepted: has mass on a token that is not in its key (only y in key can be accepted)")
        return sp.csr_matrix(a.multiply(pattern))

    def _repair(self, a: sp.csr_matrix) -> sp.csr_matrix:
        """Clip to >= 0, then scale rows down to <= Q and columns down to <= p."""
        a.data = np.maximum(a.data, 0.0)
        a.eliminate_zeros()
        rows = np.asarray(a.sum(axis=1)).ravel()
        row_scale = np.where(rows > self.probs, self.probs / np.where(rows > 0, rows, 1.0), 1.0)
        a = sp.csr_matrix(sp.diags(row_scale) @ a)
        cols = np.asarray(a.sum(axis=0)).ravel()
        col_scale = np.where(cols > self.p, self.p / np.where(cols > 0, cols, 1.0), 1.0)
        return sp.csr_matrix(a @ sp.diags(col_scale))

    def _finish(self) -> None:
        a = self.accepted
        self.row_accepted = np.asarray(a.sum(axis=1)).ravel()
        self.col_accepted = np.asarray(a.sum(axis=0)).ravel()
        self.acceptance = float(self.row_accepted.sum())
        left = np.maximum(self.p - self.col_accepted, 0.0)
        self.residual = left / left.sum() if left.sum() > 0 else self.p.copy()
        self.reject = np.maximum(1.0 - self.row_accepted / self.probs, 0.0)  # (K,)
        self._accept_cond = sp.csr_matrix(sp.diags(1.0 / self.probs) @ a)  # a / Q, (K, V)
        self._index = _KeyIndex(self.keys)

    # -- the verifier

    def conditional(self, drafts: Any) -> np.ndarray:
        """Output law given the drafts.

        Parameters
        ----------
        drafts : int array, shape (n,) or (M, n)

        Returns
        -------
        np.ndarray, float64, shape (V,) or (M, V).
        """
        d = check_drafts(drafts, self.vocab_size, n=self.law.n)
        single = d.ndim == 1
        d = d.reshape(-1, self.law.n)
        idx = self._index.find(canonical_keys(d, self.form, self.vocab_size))
        out = np.tile(self.residual, (len(d), 1))
        found = idx >= 0
        k = idx[found]
        out[found] = self._accept_cond[k].toarray() + self.reject[k, None] * self.residual
        return out[0] if single else out

    def as_verifier(self) -> "PlanVerifier":
        """This plan as a conditional verifier ``f(target, draft, drafts)`` (see :mod:`multidraft.verifiers`)."""
        return PlanVerifier(self)

    # -- diagnostics

    def matrix(self) -> np.ndarray:
        """The completed plan ``pi[k, y]`` as a dense float64 array (K, V)."""
        return self.accepted.toarray() + (self.reject * self.probs)[:, None] * self.residual[None, :]

    def marginal_violation(self) -> float:
        """Max abs violation of ``sum_y pi(k, y) = Q(k)`` and ``sum_k pi(k, y) = p(y)``."""
        rejected = self.reject * self.probs
        rows = self.row_accepted + rejected * self.residual.sum() - self.probs
        cols = self.col_accepted + rejected.sum() * self.residual - self.p
        return float(max(np.abs(rows).max(initial=0.0), np.abs(cols).max(initial=0.0)))

    def __repr__(self) -> str:
        return f"TransportPlan(form={self.form!r}, keys={len(self.keys)}, acceptance={self.acceptance:.12f})"


class PlanVerifier:
    """A :class:`TransportPlan` behind the conditional-verifier interface.

    ``conditional(target, draft, drafts)`` checks that ``target`` (and ``draft`` if given)
    are the laws the plan was computed for (within 1e-12) and returns the plan's law.
    """

    batched = True

    def __init__(self, plan: TransportPlan):
        self.plan = plan

    def conditional(self, target: Any, draft: Any, drafts: Any) -> np.ndarray:
        p = to_numpy(target, "target")
        if p.shape != self.plan.p.shape or np.abs(p - self.plan.p).max() > TARGET_TOL:
            raise InvalidInputError("target: this plan was solved for a different target law")
        if draft is not None:
            expected = self.plan.law.draft_argument
            given = to_numpy(draft, "draft")
            if given.shape != expected.shape or np.abs(given - expected).max() > TARGET_TOL:
                raise InvalidInputError("draft: this plan was solved for a different draft law")
        return self.plan.conditional(drafts)


class PlanResult:
    """Mixin for oracle results that carry a ``plan`` (:class:`TransportPlan`): the verifier interface."""

    plan: TransportPlan
    batched = True

    def conditional(self, drafts: Any) -> np.ndarray:
        """The plan's output law given drafts (n,) or (M, n); float64 (V,) or (M, V)."""
        return self.plan.conditional(drafts)

    def as_verifier(self):
        """The plan as a conditional verifier (see :meth:`TransportPlan.as_verifier`)."""
        return self.plan.as_verifier()

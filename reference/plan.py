"""Transport plans between the draft law Q and the target p: exactly lossless verifiers.

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

The set reduction (why the LP over sets has the optimum of the LP over tuples) and the
preparation shared by the oracles live in :mod:`multidraft.reference.support`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from multidraft.drafting import DraftingLaw
from multidraft.validation import InvalidInputError, check_distribution, check_drafts, check_same_vocab, to_numpy

from .support import Support, canonical_keys, check_form

#: Tolerance used by :meth:`TransportPlan.as_verifier` to check the target it is called with.
TARGET_TOL = 1e-12


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
    def from_edges(cls, target: np.ndarray, law: DraftingLaw, support: Support, values: np.ndarray) -> TransportPlan:
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
            raise InvalidInputError(
                "accepted: has mass on a token that is not in its key (only y in key can be accepted)"
            )
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

    def as_verifier(self) -> PlanVerifier:
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

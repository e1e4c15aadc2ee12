"""Sequence-level tree verifiers: block verification, traversal verification, greedy multi-path BV.

Notation: at node v (context c_v) the target and draft laws are p_v = p(.|c_v), q_v.

**Block verification** (Sun et al., arXiv 2403.10444) on a chain x_1..x_L: ``w_0 = 1``,
``w_i = min(1, w_{i-1} p_{i-1}(x_i) / q_{i-1}(x_i))``, ``r_i = sum (w_i p_i - q_i)+``,
``h_i = r_i / (r_i + 1 - w_i)`` for i < L, ``h_L = w_L``, ``h_0 = 1``. Independent coins with
success h_i; tau = the largest i whose coin succeeds; emit x_1..x_tau and then a token from
``norm((w_tau p_tau - q_tau)+)`` (tau < L) or from p_L (tau = L, the bonus). Lossless and
optimal among lossless verifiers of one chain (docs/trees.md).

**Traversal verification** (after Weng et al., arXiv 2505.12398) on a tree: each node v
carries a target *measure* P_v of mass w_v <= 1 (the root: P = p_root, w = 1). Its children
are tried in a random order with their drafting law's order law (:mod:`.tree_base`): child
x_j, drawn from s_j (q_v for i.i.d. siblings; q_v without the earlier draws, renormalised,
for siblings without replacement), enters with weight ``a_j = min(1, P_j(x_j) / s_j(x_j))``
and its own measure ``a_j p_{x_j}``; the subtree either accepts (emit) or rejects. On a
rejection ``P_{j+1} = (P_j - s_j)+ / (1 - m_j)``, ``m_j = sum min(P_j, s_j)`` -- a
duplicate i.i.d. draw takes the step too (its weight is 0, but the update is not skipped).
When every child has rejected, v accepts with probability ``mass(P)`` and emits
``P / mass(P)``; otherwise v rejects to its parent. The root never rejects (w = 1). By
induction, a node's subtree accepts, averaged over its draws, with the first-token measure
``w_v p_v`` and a lossless continuation, and rejects with probability ``1 - w_v``, whatever
its size -- so merged i.i.d. copies are fine. On a chain it is block verification exactly.

**Greedy multi-path BV** (after Thomas & Pal, arXiv 2602.16961) on K i.i.d. paths: follow, at
every depth, the child with the largest ``p_v / q_v`` among the paths still matching (ties to
the lower token); the chosen path is a chain drawn from the law this rule induces,

    q'_i(y) = sum_m P(m | chosen prefix) [(q_v(y) + W(y))^m - W(y)^m],

with m the number of paths through the chosen prefix and W(y) the q_v-mass of the tokens
ranked below y (a small recursion over m, exact); then block verification against q'.
"""

from __future__ import annotations

import math

import numpy as np

from multidraft.block_law import (
    block_verification_law,
    block_verification_sample,
    bv_plan,
    bv_sample,
    chain_law,
)

from .tree_base import (
    TreeVerifier,
    add_to,
    categorical,
    sample_order,
    sibling_orders,
    uniforms,
)


class BlockVerification(TreeVerifier):
    """Block verification on one drafted chain (see the module docstring)."""

    name = "block_verification"
    chains_only = True

    def _conditional(self, tree, p, q):
        return block_verification_law(tree, p, q)

    def _sample(self, tree, p, q, generator):
        return block_verification_sample(tree, p, q, generator)


# ============================================================================ traversal
class Traversal(TreeVerifier):
    """Traversal verification on a tree of i.i.d. or without-replacement siblings (module docstring)."""

    name = "traversal"
    sibling_laws = ("iid", "without_replacement")

    def __init__(self, sibling_law: str = "iid"):
        if sibling_law not in self.sibling_laws:
            from multidraft.validation import InvalidInputError

            raise InvalidInputError(f"sibling_law: expected 'iid' or 'without_replacement', got {sibling_law!r}")
        self.sibling_law = sibling_law
        self.sibling_laws = (sibling_law,)
        self.name = "traversal" if sibling_law == "iid" else "traversal_without_replacement"

    def _steps(self, tree, node: int, order: tuple[int, ...], measure: np.ndarray, q_row: np.ndarray):
        """Yield (child, weight) in order and finally the measure left, following the updates."""
        s = q_row.copy()
        for x in order:
            child = tree.child_with_token(node, x)
            sx = s[x]
            a = min(1.0, measure[x] / sx) if sx > 0 else 0.0
            yield child, a
            m = float(np.minimum(measure, s).sum())
            measure = np.clip(measure - s, 0.0, None) / (1.0 - m) if m < 1.0 else np.zeros_like(measure)
            if self.sibling_law == "without_replacement":
                s = s.copy()
                s[x] = 0.0
                left = float(s.sum())
                s = s / left if left > 0 else s
        yield None, measure

    def _subtree(self, tree, node: int, measure: np.ndarray, p, q) -> tuple[dict, float]:
        """Exact ``({continuation: P(accept with it)}, P(reject))`` of the subtree at ``node``."""
        out: dict[tuple[int, ...], float] = {}
        reject = 0.0
        if float(measure.sum()) <= 0.0:
            return out, 1.0
        q_row = q[node + 1]
        for order, weight in sibling_orders(tree, node, q_row, self.sibling_law):
            alive = weight
            for child, a in self._steps(tree, node, order, measure, q_row):
                if child is None:
                    left = a
                    mass = float(left.sum())
                    for y in np.flatnonzero(left > 0).tolist():
                        add_to(out, (y,), alive * float(left[y]))
                    reject += alive * max(0.0, 1.0 - mass)
                    break
                if a <= 0.0 or alive <= 0.0:
                    continue
                sub, sub_reject = self._subtree(tree, child, a * p[child + 1], p, q)
                token = int(tree.tokens[child])
                for o, prob in sub.items():
                    add_to(out, (token,) + o, alive * prob)
                alive *= sub_reject
        return out, reject

    def _conditional(self, tree, p, q):
        out, _ = self._subtree(tree, -1, p[0].copy(), p, q)
        return out

    def _sample_subtree(self, tree, node: int, measure: np.ndarray, p, q, generator):
        if float(measure.sum()) <= 0.0:
            return None
        q_row = q[node + 1]
        order = sample_order(tree, node, q_row, self.sibling_law, generator)
        for child, a in self._steps(tree, node, order, measure, q_row):
            if child is None:
                mass = float(a.sum())
                if mass > 0 and uniforms(generator, 1)[0] < mass:
                    return (categorical(a, generator),)
                return None
            if a <= 0.0:
                continue
            sub = self._sample_subtree(tree, child, a * p[child + 1], p, q, generator)
            if sub is not None:
                return (int(tree.tokens[child]),) + sub
        return None  # pragma: no cover - the generator above always ends with the measure left

    def _sample(self, tree, p, q, generator):
        out = self._sample_subtree(tree, -1, p[0].copy(), p, q, generator)
        return out if out is not None else (categorical(p[0], generator),)  # root: w = 1, never rejects


# ============================================================================ greedy multi-path BV
def _rank_masses(p_row: np.ndarray, q_row: np.ndarray) -> np.ndarray:
    """W(y) = q-mass of the tokens ranked below y (by p/q, ties to the lower id), (V,)."""
    support = np.flatnonzero(q_row > 0)
    ratio = np.where(q_row > 0, p_row / np.where(q_row > 0, q_row, 1.0), -np.inf)
    order = sorted(support.tolist(), key=lambda t: (-ratio[t], t))  # best first
    below = np.zeros(q_row.shape[0])
    acc = 0.0
    for t in reversed(order):
        below[t] = acc
        acc += q_row[t]
    return below


def _greedy_child(tree, node: int, p_row: np.ndarray, q_row: np.ndarray) -> int:
    kids = tree.children(node)
    ratio = [
        (
            -(p_row[tree.tokens[c]] / q_row[tree.tokens[c]]) if q_row[tree.tokens[c]] > 0 else np.inf,
            int(tree.tokens[c]),
            int(c),
        )
        for c in kids
    ]
    return min(ratio)[2]


class GreedyBlockVerification(TreeVerifier):
    """Greedy multi-path block verification on K i.i.d. paths (module docstring)."""

    name = "greedy_block_verification"

    def accepts(self, structure) -> bool:
        return structure.sibling_law == "iid" and all(k == 1 for k in structure.factors[1:])

    def _plan(self, tree, p, q):
        nodes: list[int] = []
        node = -1
        n_paths = sum(int(tree.draws[c]) for c in tree.children(-1))
        post = np.zeros(n_paths + 1)
        post[n_paths] = 1.0  # law of the number of paths through the chosen prefix
        q_rows = []
        while len(tree.children(node)):
            p_row, q_row = p[node + 1], q[node + 1]
            below = _rank_masses(p_row, q_row)
            ms = np.arange(post.shape[0])
            induced = (post[:, None] * ((q_row + below)[None, :] ** ms[:, None] - below[None, :] ** ms[:, None])).sum(0)
            q_rows.append(induced)
            child = _greedy_child(tree, node, p_row, q_row)
            y = int(tree.tokens[child])
            new = np.zeros_like(post)
            for m in range(1, post.shape[0]):
                if post[m] > 0:
                    for k in range(1, m + 1):
                        new[k] += post[m] * math.comb(m, k) * q_row[y] ** k * below[y] ** (m - k)
            post = new / new.sum() if new.sum() > 0 else new
            nodes.append(child)
            node = child
        rows = np.array([0] + [n + 1 for n in nodes])
        q_chain = np.vstack(q_rows + [q[rows[-1]]]) if q_rows else q[rows]
        return nodes, bv_plan(p[rows], q_chain, tree.tokens[nodes])

    def _conditional(self, tree, p, q):
        nodes, (h, emit) = self._plan(tree, p, q)
        return chain_law(tree.tokens[nodes], h, emit)

    def _sample(self, tree, p, q, generator):
        nodes, (h, emit) = self._plan(tree, p, q)
        tau, y = bv_sample(h, emit, generator)
        return tuple(int(t) for t in tree.tokens[nodes[:tau]]) + (y,)

"""Per-node tree verifiers: a token-level verifier at every node, descend into the chosen child.

At node v (the root first) the drafts are v's children, child c repeated ``draws[c]`` times,
in a random order with the drafting law's order law (:mod:`.tree_base`). A token-level
verifier (:mod:`.baselines`, :mod:`.solver`) maps (p(.|v), q(.|v), drafts) to a token y with
law exactly p(.|v). If y is a child of v, descend into it; otherwise emit the path and y (a
correction). A node without children emits a bonus token y ~ p(.|v).

Lossless on any tree whose draws at every node are what the token-level rule is built for
(i.i.d. from q(.|v) for rrs / kseq / global resolution, without replacement for
rrs_without_replacement, anything for nss): the token at v has law p(.|v) given the path,
and, given the draws at v and the chosen child, the subtree below is drafted independently
of the decision; by induction O is the target's sequence stopped at a random time
(docs/trees.md). Multiplicities matter: a merged node of m i.i.d. copies is m drafts, and a
duplicate goes through the rule's step and residual update like any draft.

Built: ``token_chain`` (Leviathan's rule on a chain: single-draft steps), ``nss_tree``,
``spec_infer`` (recursive rejection with replacement), ``spec_infer_without_replacement``,
``spectr`` (K-SEQ at each node, n = the draws there), ``node_optimal`` (global resolution
at each node: optimal per node, not optimal for the tree; the gap is measured in docs/trees.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from multidraft.verifiers import as_numpy_probs

from .baselines import NSS, KSeq, RecursiveRejection, SingleDraft
from .solver import GlobalResolution
from .tree_base import (
    TreeVerifier,
    add_to,
    categorical,
    draws_at,
    sample_order,
    sibling_orders,
)

#: Cached node laws kept per verifier (keys: the node's laws and draft order).
CACHE_SIZE = 50_000


class PerNode(TreeVerifier):
    """A token-level verifier run at every node of the tree (see the module docstring).

    Parameters
    ----------
    token_verifier : a verifier of :mod:`multidraft.fast` (``.conditional`` / ``.sample``)
    name : str
    sibling_laws : tuple of str
        The sibling laws the token-level rule is lossless for.
    chains_only : bool
    """

    def __init__(self, token_verifier: Any, name: str, sibling_laws: tuple[str, ...], chains_only: bool = False):
        self.token_verifier = token_verifier
        self.name = name
        self.sibling_laws = sibling_laws
        self.chains_only = chains_only
        self.order_invariant = bool(getattr(token_verifier, "order_invariant", False))
        self._cache: dict[tuple, np.ndarray] = {}

    def _law(self, tree, node: int, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """The exact law (V,) of the token output at ``node`` (averaged over the draw orders)."""
        p_row, q_row = p[node + 1], q[node + 1]
        if not len(tree.children(node)):
            return p_row
        if self.order_invariant:
            orders = [(tuple(draws_at(tree, node)), 1.0)]
        else:
            orders = sibling_orders(tree, node, q_row, self._draw_law())
        key = (p_row.tobytes(), q_row.tobytes(), tuple(orders))
        cached = self._cache.get(key)
        if cached is None:
            drafts = np.array([o for o, _ in orders], dtype=np.int64)
            weights = np.array([w for _, w in orders])
            cond = as_numpy_probs(self.token_verifier.conditional(p_row, q_row, drafts)).reshape(len(orders), -1)
            cached = weights @ cond
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def _draw_law(self) -> str:
        """The order law of the children (the first declared sibling law)."""
        return self.sibling_laws[0]

    def _conditional(self, tree, p, q):
        out: dict[tuple[int, ...], float] = {}
        stack = [(-1, (), 1.0)]
        while stack:
            node, prefix, weight = stack.pop()
            law = self._law(tree, node, p, q)
            for y in np.flatnonzero(law > 0).tolist():
                child = tree.child_with_token(node, y)
                if child >= 0:
                    stack.append((child, prefix + (y,), weight * float(law[y])))
                else:
                    add_to(out, prefix + (y,), weight * float(law[y]))
        return out

    def _sample(self, tree, p, q, generator: torch.Generator | None):
        node, prefix = -1, ()
        while True:
            p_row, q_row = p[node + 1], q[node + 1]
            if not len(tree.children(node)):
                y = categorical(p_row, generator)
            else:
                order = sample_order(tree, node, q_row, self._draw_law(), generator)
                y = int(self.token_verifier.sample(p_row, q_row, np.array(order, dtype=np.int64), generator=generator))
            prefix = prefix + (y,)
            child = tree.child_with_token(node, y)
            if child < 0:
                return prefix
            node = child


class TokenChain(PerNode):
    """Leviathan's chain rule: accept x_i w.p. min(1, p/q), stop at the first rejection, residual (p - q)+."""

    def __init__(self):
        super().__init__(SingleDraft(), "token_chain", ("iid",), chains_only=True)


class NSSTree(PerNode):
    """NSS: y ~ p at every node, descend while y is a child (any tree; the valid rule for deterministic trees)."""

    def __init__(self):
        super().__init__(NSS(), "nss_tree", ("iid", "without_replacement", "top"))


class SpecInfer(PerNode):
    """SpecInfer: recursive rejection sampling over the children at every node, i.i.d. siblings
    (``replacement=True``) or siblings drawn without replacement (``replacement=False``)."""

    def __init__(self, replacement: bool = True):
        self.replacement = bool(replacement)
        if self.replacement:
            super().__init__(RecursiveRejection(replacement=True), "spec_infer", ("iid",))
        else:
            super().__init__(
                RecursiveRejection(replacement=False), "spec_infer_without_replacement", ("without_replacement",)
            )


class SpecTr(PerNode):
    """SpecTr: K-SEQ at every node over the next tokens of the paths still matching (with multiplicity)."""

    def __init__(self):
        super().__init__(KSeq(), "spectr", ("iid",))


class NodeOptimal(PerNode):
    """Global resolution (the optimal token-level plan for n i.i.d. drafts) at every node,
    n = the draws there. Optimal per node; *not* tree optimal (docs/trees.md reports the gap)."""

    def __init__(self, tol: float = 1e-9):
        super().__init__(GlobalResolution(tol=tol), "node_optimal", ("iid",))

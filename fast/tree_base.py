"""Shared pieces of the tree verifiers: the ``TreeVerifier`` base, sibling orders, randomness.

A tree verifier (interfaces in :mod:`multidraft.trees`) sees a :class:`~multidraft.trees.DraftTree`
and the (N + 1, V) target and draft laws along it, and emits O = an accepted path plus one
token. The base validates the inputs once (:func:`multidraft.trees.check_tree_laws`) and
exposes

* ``conditional(tree, target, draft) -> {emitted tuple: probability}`` (exact, float64);
* ``sample(tree, target, draft, generator=None) -> tuple[int, ...]`` (all randomness from a
  ``torch.Generator``, an int seed, or torch's global generator for None);
* ``accepts(structure)``: the structures the verifier is lossless on, from the declared
  attributes ``sibling_laws`` (how siblings may be drawn: "iid", "without_replacement",
  "top") and ``chains_only``.

Sibling order. The children of a node are the draws made there; the tree keeps them as a
set (with multiplicities ``draws``), not in draw order. An order-dependent rule must see
them in a random order with the law the draws had: for i.i.d. siblings every distinct
arrangement of the multiset is equally likely; for draws without replacement an order
``x_1..x_k`` has probability ``prod_i q(x_i) / (1 - q(x_1) - ... - q(x_{i-1}))`` given the
set (Plackett-Luce). :func:`sibling_orders` enumerates them with these weights (the exact
conditional averages over them); :func:`sample_order` draws one. A fixed order (say,
sorted) is *not* the drafting law and biases order-dependent rules.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch

from multidraft.randomness import as_generator, categorical, uniforms
from multidraft.trees import Branching, DraftTree, add_to, check_tree_laws
from multidraft.validation import InvalidInputError, TooLargeError

__all__ = [
    "TreeVerifier",
    "add_to",
    "as_generator",
    "categorical",
    "draws_at",
    "sample_order",
    "sibling_orders",
    "uniforms",
]

#: Most sibling orders enumerated at one node (k! for k distinct children).
MAX_ORDERS = 5040


def draws_at(tree: DraftTree, node: int) -> list[int]:
    """The draft tokens drawn at ``node`` (-1: the root): each child repeated ``draws`` times."""
    return [int(tree.tokens[c]) for c in tree.children(node) for _ in range(int(tree.draws[c]))]


def _distinct_permutations(items: list[int]) -> list[tuple[int, ...]]:
    return sorted(set(itertools.permutations(items)))


def sibling_orders(tree: DraftTree, node: int, q: np.ndarray, law: str) -> list[tuple[tuple[int, ...], float]]:
    """Every draw order of the children of ``node`` with its probability given the tree.

    ``law``: "iid" (uniform over the distinct arrangements of the multiset), "without_replacement"
    (Plackett-Luce in q) or "top" (one order, increasing token). Refuses above MAX_ORDERS orders.
    """
    items = draws_at(tree, node)
    if len(items) <= 1 or law == "top":
        return [(tuple(sorted(items)), 1.0)]
    if math.factorial(len(items)) > MAX_ORDERS:
        raise TooLargeError(
            f"node {node} has {len(items)} drafted children; an order-dependent rule enumerates their "
            f"{math.factorial(len(items)):,} orders, above the limit of {MAX_ORDERS:,}"
        )
    orders = _distinct_permutations(items)
    if law == "iid":
        return [(o, 1.0 / len(orders)) for o in orders]
    weights = np.array([_plackett_luce(q, o) for o in orders])
    total = weights.sum()
    if total <= 0:
        return [(o, 1.0 / len(orders)) for o in orders]
    return list(zip(orders, (weights / total).tolist()))


def _plackett_luce(q: np.ndarray, order: tuple[int, ...]) -> float:
    """``prod_i q(x_i) / q(tokens not drawn before x_i)``; the mass left is a direct sum."""
    prob = 1.0
    taken = np.zeros(q.shape[0], dtype=bool)
    for t in order:
        left = float(q[~taken].sum())
        prob *= q[t] / left if left > 0 else 0.0
        taken[t] = True
    return prob


def sample_order(
    tree: DraftTree, node: int, q: np.ndarray, law: str, generator: torch.Generator | None
) -> tuple[int, ...]:
    """One draw order of the children of ``node`` from its law given the tree (see :func:`sibling_orders`)."""
    items = draws_at(tree, node)
    if len(items) <= 1 or law == "top":
        return tuple(sorted(items))
    if law == "iid":
        perm = torch.randperm(len(items), generator=generator).tolist()
        return tuple(sorted(items)[i] for i in perm)
    orders = sibling_orders(tree, node, q, law)
    weights = np.array([w for _, w in orders])
    return orders[categorical(weights, generator)][0]


class TreeVerifier:
    """Base of the tree verifiers: validation, the two interfaces, declared structures.

    Subclasses set ``name``, ``sibling_laws`` (tuple of "iid", "without_replacement", "top"),
    ``chains_only``, ``optimal`` (never True for a tree rule here: see docs/trees.md) and
    implement ``_conditional(tree, p, q) -> dict`` and ``_sample(tree, p, q, generator) -> tuple``
    on validated float64 arrays p, q of shape (N + 1, V).
    """

    name = "tree_verifier"
    sibling_laws: tuple[str, ...] = ("iid",)
    chains_only = False
    optimal = False

    def __repr__(self) -> str:
        return f"<tree verifier {self.name}>"

    @property
    def drafting(self) -> str:
        """The declared structures, for reports: ``"chain"`` or the sibling laws joined by ``|``."""
        return "chain" if self.chains_only else "|".join(self.sibling_laws)

    def accepts(self, structure: Branching) -> bool:
        """True if this rule is lossless on ``structure`` (by its declared attributes)."""
        if self.chains_only:
            return structure.is_chain
        return structure.sibling_law in self.sibling_laws

    def _check(self, tree: Any, target: Any, draft: Any) -> tuple[np.ndarray, np.ndarray]:
        p, q = check_tree_laws(tree, target, draft)
        if self.chains_only and any(len(tree.children(i)) > 1 for i in range(-1, tree.size)):
            raise InvalidInputError(f"tree: {self.name} verifies one chain, got a node with several children")
        return p, q

    def conditional(self, tree: DraftTree, target: Any, draft: Any) -> dict[tuple[int, ...], float]:
        """Exact law of the emitted tokens given the tree: ``{tuple: probability}`` summing to 1.

        ``target``, ``draft``: (N + 1, V) float laws (row 0 the root, row i + 1 after node i).
        """
        p, q = self._check(tree, target, draft)
        return self._conditional(tree, p, q)

    def sample(self, tree: DraftTree, target: Any, draft: Any, generator: Any = None) -> tuple[int, ...]:
        """Run the verifier once: the emitted tokens (an accepted path plus one token)."""
        p, q = self._check(tree, target, draft)
        return self._sample(tree, p, q, as_generator(generator))

    def _conditional(self, tree: DraftTree, p: np.ndarray, q: np.ndarray) -> dict:
        raise NotImplementedError

    def _sample(self, tree: DraftTree, p: np.ndarray, q: np.ndarray, generator: torch.Generator | None) -> tuple:
        raise NotImplementedError

"""Exact evaluation of a tree verifier: the law of the emitted block O, by enumeration.

For a draft structure (a law Q over draft trees T, :mod:`multidraft.trees`) and a
conditional tree verifier ``f(T, target, draft) -> {o: P(O = o | T)}``,

    P(O = o) = sum_T Q(T) f(o | T).

**Losslessness of a block** (docs/trees.md, section 2). Decoding block after block gives the
target's stream for every context iff, with ``F(()) = 1``,

    F(o) = p(o_last | o_<last) F(o_<last) - P(O = o) >= 0     for 1 <= |o| <= L + 1,
    F(o) = 0                                                  for |o| = L + 1,

that is, O is the target sequence stopped at a randomised stopping time. Unrolled,
``F(z_1:k) = p(z_1:k) - sum_{m <= k} P(O = z_1:m) p(z_m+1:k | z_1:m)``: at length L + 1 it
is ``p(z) - S(z)`` with S the law of the first L + 1 tokens of "O, then the target". The
evaluation reports

* ``violation`` -- ``max(max_o -F(o), max_{|z| = L+1} |F(z)|)`` and the prefix where it
  is reached (0 for a lossless verifier, up to rounding);
* ``stream_tv`` -- ``0.5 sum_{|z| = L+1} |F(z)|``, the total variation between S and the
  target's law of L + 1 tokens (a readable summary of a violation);
* ``validity`` -- the worst per-tree ``max(-min_o f(o|T), |sum_o f(o|T) - 1|, mass on
  inadmissible o)``; o is admissible for T when ``o[:-1]`` is a path of T from the root,
  ``1 <= |o| <= L + 1`` and its tokens lie in [0, V);
* ``block_efficiency`` -- ``E|O| = sum_o P(O = o) |o|`` (tokens per target call).

Cost: one call of f per tree (the structure refuses more than ``max_trees`` trees), and
``V + V^2 + ... + V^(L+1)`` prefixes for the condition (refused above ``max_prefixes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .lm import cached, check_context, vocab_size_of
from .trees import MAX_TREES, Branching, DraftTree, tree_conditional_of
from .validation import InvalidInputError, TooLargeError

#: Default cap on the prefixes the condition is evaluated on (sum of V^m, m = 1..L+1).
MAX_PREFIXES = 2_000_000


@dataclass
class TreeEvaluation:
    """Exact evaluation of one tree verifier on one (target, draft, structure, context).

    Attributes
    ----------
    law : dict[tuple[int, ...], float]
        ``P(O = o)`` for every emitted o with positive probability.
    violation : float
        Section 2's worst violation (``max(-F)`` over prefixes, ``|F|`` at length L + 1).
    worst_prefix : tuple[int, ...]
        The prefix where ``violation`` is reached.
    stream_tv : float
        TV between the first L + 1 tokens of "O then the target" and the target.
    validity : float
        Worst per-tree validity error (0 when every conditional is a law on admissible outputs).
    worst_tree : DraftTree or None
        The tree where ``validity`` was found.
    block_efficiency : float
        ``E|O|``.
    trees : int
        Number of draft trees enumerated.
    depth : int
        L, the structure's depth.
    """

    law: dict
    violation: float
    worst_prefix: tuple
    stream_tv: float
    validity: float
    worst_tree: DraftTree | None
    block_efficiency: float
    trees: int
    depth: int
    extra: dict = field(default_factory=dict)

    def is_lossless(self, tol: float = 1e-9) -> bool:
        """Section 2's condition and every conditional's validity hold within ``tol``."""
        return self.violation <= tol and self.validity <= tol

    def summary(self) -> str:
        return (
            f"E|O|={self.block_efficiency:.12f} violation={self.violation:.3e} at {self.worst_prefix} "
            f"stream TV={self.stream_tv:.3e} validity={self.validity:.3e} ({self.trees} trees)"
        )


def emitted_law(conditional: Any, tree: DraftTree, vocab_size: int, depth: int) -> tuple[dict, float]:
    """A verifier's conditional output read as ``{tuple: float}``, and its validity error on ``tree``."""
    if not isinstance(conditional, dict):
        raise InvalidInputError(
            f"verifier: expected the conditional law as a dict {{emitted tuple: probability}}, got "
            f"{type(conditional).__name__}"
        )
    law: dict[tuple[int, ...], float] = {}
    negative, total, bad = 0.0, 0.0, 0.0
    for key, value in conditional.items():
        try:
            o = tuple(int(t) for t in key)
            prob = float(value)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"verifier: emitted {key!r} -> {value!r} is not a token tuple and a probability"
            ) from None
        if not np.isfinite(prob):
            return {}, float("inf")
        total += prob
        negative = max(negative, -prob)
        admissible = (
            1 <= len(o) <= depth + 1 and all(0 <= t < vocab_size for t in o) and tree.node_of(o[:-1]) is not None
        )
        if not admissible:
            bad += abs(prob)
            continue
        if prob != 0.0:
            law[o] = law.get(o, 0.0) + prob
    return law, max(negative, abs(total - 1.0), bad)


def _prefix_count(V: int, depth: int) -> int:
    return sum(V**m for m in range(1, depth + 2))


def stopped_prefix_check(
    law: dict, target_lm: Any, context: tuple[int, ...], V: int, depth: int, max_prefixes: int = MAX_PREFIXES
) -> tuple[float, tuple, float]:
    """Section 2's condition on every prefix: ``(violation, worst prefix, stream TV)``.

    ``F`` is computed level by level as arrays of shape (V,)*m (index = the prefix).
    """
    count = _prefix_count(V, depth)
    if count > max_prefixes:
        raise TooLargeError(
            f"checking every prefix of length <= {depth + 1} over {V} tokens visits {count:,} prefixes, above the "
            f"limit of {max_prefixes:,}; use a smaller vocabulary or depth, or the statistical check"
        )
    target_lm = cached(target_lm, "target_lm", V)
    F = np.ones(())
    worst, where, tv = 0.0, (), 0.0
    for m in range(1, depth + 2):
        rows = np.stack([target_lm.probs(context + tuple(int(t) for t in idx)) for idx in np.ndindex(*F.shape)])
        cond = rows.reshape(F.shape + (V,))
        emitted = np.zeros(F.shape + (V,))
        for o, prob in law.items():
            if len(o) == m:
                emitted[o] += prob
        F = cond * F[..., None] - emitted
        if m == depth + 1:
            score = np.abs(F)
            tv = 0.5 * float(score.sum())
        else:
            score = -F
        i = int(np.argmax(score))
        if score.flat[i] > worst:
            worst, where = float(score.flat[i]), tuple(int(t) for t in np.unravel_index(i, score.shape))
    return worst, where, tv


def evaluate_tree(
    verifier: Any,
    target_lm: Any,
    draft_lm: Any,
    structure: Branching,
    context: Any = (),
    *,
    max_trees: int = MAX_TREES,
    max_prefixes: int = MAX_PREFIXES,
    trees: list | None = None,
) -> TreeEvaluation:
    """Evaluate a tree verifier exactly by enumerating the structure's draft trees.

    Parameters
    ----------
    verifier : callable ``f(tree, target, draft) -> {tuple: prob}`` or an object with ``.conditional``
        ``target`` and ``draft`` are (N + 1, V) float64 arrays (:func:`multidraft.trees.tree_inputs`).
    target_lm, draft_lm : language models (``probs(context) -> (V,)``)
    structure : :class:`multidraft.trees.Branching` (``chain(L)``, ``paths(K, L)``, ...)
    context : tuple of int
        The block's context.
    max_trees, max_prefixes : int
        Refusal limits (:class:`~multidraft.validation.TooLargeError`, naming the size).
    trees : list of (DraftTree, prob), optional
        The structure's enumeration, if already computed (it depends only on draft_lm,
        structure and context).

    Returns
    -------
    TreeEvaluation

    Examples
    --------
    >>> from multidraft.trees import chain, table_pair
    >>> target, draft = table_pair(2, seed=0)
    >>> sample_target = lambda tree, p, q: {(t,): float(p[0, t]) for t in range(2)}  # ignore the drafts
    >>> ev = evaluate_tree(sample_target, target, draft, chain(2))
    >>> ev.block_efficiency, ev.violation < 1e-15
    (1.0, True)
    """
    if not isinstance(structure, Branching):
        raise InvalidInputError(
            f"structure: expected a draft structure (chain, paths, branching, delayed), got {structure!r}"
        )
    context = check_context(context)
    V = vocab_size_of(target_lm, "target_lm", context)
    p_lm, q_lm = cached(target_lm, "target_lm", V), cached(draft_lm, "draft_lm", V)
    if trees is None:
        trees = structure.trees(q_lm, context, max_count=max_trees)
    f = tree_conditional_of(verifier)
    law: dict[tuple[int, ...], float] = {}
    worst_validity, worst_tree = 0.0, None
    for tree, weight in trees:
        p = np.stack([p_lm.probs(context)] + [p_lm.probs(context + tree.path(i)) for i in range(tree.size)])
        q = np.stack([q_lm.probs(context)] + [q_lm.probs(context + tree.path(i)) for i in range(tree.size)])
        out, validity = emitted_law(f(tree, p, q), tree, V, structure.depth)
        if worst_tree is None or validity > worst_validity:
            worst_validity, worst_tree = validity, tree
        for o, prob in out.items():
            law[o] = law.get(o, 0.0) + weight * prob
    violation, where, tv = stopped_prefix_check(law, p_lm, context, V, structure.depth, max_prefixes)
    return TreeEvaluation(
        law=law,
        violation=violation,
        worst_prefix=where,
        stream_tv=tv,
        validity=worst_validity,
        worst_tree=worst_tree,
        block_efficiency=float(sum(prob * len(o) for o, prob in law.items())),
        trees=len(trees),
        depth=structure.depth,
    )

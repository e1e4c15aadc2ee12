"""The best block efficiency E|O| of any lossless verifier of a draft structure (exact oracle).

**Chains: block verification's closed form.** For one drafted chain of length L the optimum
is block verification's (Sun et al., arXiv 2403.10444; docs/trees.md):

    E|O| = 1 + sum_{i=1..L} sum_{x_1:i} mu_i(x_1:i),
    mu_0 = 1,   mu_i(x_1:i) = min( q(x_1:i), p(x_i | x_<i) mu_{i-1}(x_<i) ),

where q(x_1:i) is the draft's probability of the prefix (``mu_i = q(x_1:i) w_i`` with w_i
block verification's weight, and ``P(tau >= i) = E[w_i]``). Computed level by level over the
prefixes with mu > 0; refused above ``max_prefixes``.

**Trees: the LP.** Variables ``y(T, o) = Q(T) pi(o | T) >= 0`` for every draft tree T of the
structure (with its probability Q(T)) and every admissible output o (a path of T from the
root plus one token, p(o) > 0), and ``F(o) >= 0`` for the prefixes 1 <= |o| <= L (section 2's
flow; ``F(()) = 1``, ``F = 0`` at length L + 1)::

    maximise    sum_{T, o} |o| y(T, o)
    subject to  sum_o y(T, o) = Q(T)                                           for every T,
                F(o) + sum_T y(T, o) - p(o_last | o_<last) F(o_<last) = 0        for 1 <= |o| <= L + 1.

Every coefficient is 1 or one conditional probability (the flow is written prefix by
prefix, not as products along a sequence, so a row never mixes scales like p(z) and 1).
Target probabilities below ``SMALL_PROBABILITY`` (1e-12, HiGHS's smallest admissible matrix
entry) are zeroed and their law renormalised, which moves E|O| by at most ~(L + 1) V 1e-12.
Symmetry: trees are enumerated as tries (i.i.d. paths merged with their multiplicities), so
the K! orderings of a path multiset are one variable block. HiGHS (dual simplex) through
cvxpy. Sizes above ``max_variables`` (counted on the y variables) are refused, with the
size, before the LP is built (limits measured in docs/trees.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from multidraft.block_law import block_verification_law, block_verification_sample
from multidraft.lm import cached, check_context, vocab_size_of
from multidraft.randomness import as_generator, categorical
from multidraft.trees import MAX_TREES, Branching, DraftTree, check_tree_laws
from multidraft.validation import InvalidInputError, TooLargeError

#: Default refusal limit on LP variables (docs/trees.md: time and size measured).
MAX_TREE_LP_VARIABLES = 100_000

#: Default refusal limit on the prefixes the chain closed form visits.
MAX_PREFIXES = 5_000_000

#: HiGHS feasibility tolerance.
HIGHS_TOL = 1e-10

#: Target probabilities below this are zeroed (and the law renormalised) in the LP: HiGHS
#: treats smaller matrix entries as zero (its ``small_matrix_value``, at least 1e-12).
SMALL_PROBABILITY = 1e-12


@dataclass
class BlockEfficiency:
    """Result of :func:`optimal_block_efficiency`.

    Attributes
    ----------
    value : float
        The best E|O| of any lossless verifier (closed form, or the LP value).
    plan : tree verifier
        An optimal verifier usable through the conditional (and sampling) interface:
        block verification for chains, the LP's solution otherwise (:class:`TreeLPPlan`).
    method : "closed_form" or "lp"
    num_trees : int
        Draft trees in the LP (0 for the closed form).
    num_variables : int
        LP variables (0 for the closed form).
    solve_time : float
        Wall seconds of the whole call.
    primal_violation : float
        Worst violation of the LP's own constraints by the solver's solution (~1e-9).
    """

    value: float
    plan: Any
    method: str
    num_trees: int = 0
    num_variables: int = 0
    solve_time: float = 0.0
    primal_violation: float = 0.0


def chain_block_efficiency(
    target_lm: Any, draft_lm: Any, L: int, context: Any = (), *, max_prefixes: int = MAX_PREFIXES
) -> float:
    """Block verification's E|O| on a chain of length L (the closed form above); any V.

    Examples
    --------
    >>> from multidraft.trees import ConstantLM
    >>> same = ConstantLM([0.5, 0.5])
    >>> chain_block_efficiency(same, same, 3)        # p = q: every token accepted
    4.0
    """
    context = check_context(context)
    V = vocab_size_of(target_lm, "target_lm", context)
    p_lm, q_lm = cached(target_lm, "target_lm", V), cached(draft_lm, "draft_lm", V)
    prefixes: list[tuple[int, ...]] = [()]
    mu, qprob = np.ones(1), np.ones(1)
    total, visited = 1.0, 0
    for _ in range(L):
        visited += len(prefixes) * V
        if visited > max_prefixes:
            raise TooLargeError(
                f"the chain closed form visits more than {max_prefixes:,} prefixes here; "
                "use a smaller vocabulary, sparser laws or a shorter chain"
            )
        P = np.stack([p_lm.probs(context + pre) for pre in prefixes])
        Q = np.stack([q_lm.probs(context + pre) for pre in prefixes])
        q_next = qprob[:, None] * Q
        mu_next = np.minimum(q_next, P * mu[:, None])
        keep = np.argwhere(mu_next > 0)
        total += float(mu_next.sum())
        prefixes = [prefixes[i] + (int(t),) for i, t in keep]
        mu, qprob = mu_next[keep[:, 0], keep[:, 1]], q_next[keep[:, 0], keep[:, 1]]
        if not prefixes:
            break
    return total


class TreeLPPlan:
    """The LP's optimal verifier: ``pi(o | T)`` for every tree T of the solved structure.

    Usable through both tree interfaces; valid only for the (target, draft, structure,
    context) it was solved for (a tree outside the structure's support is refused, and
    row 0 of ``target`` must be the solved context's law). Its output laws are the solver's,
    clipped at 0 and renormalised per tree: lossless to the solver's tolerance (~1e-9).
    """

    name = "tree_lp_plan"
    optimal = True

    def __init__(self, structure: Branching, laws: dict, root_law: np.ndarray):
        self.structure = structure
        self._laws = laws
        self._root_law = root_law

    def __repr__(self) -> str:
        return f"<TreeLPPlan for {self.structure.name}: {len(self._laws)} trees>"

    def accepts(self, structure: Branching) -> bool:
        return structure == self.structure

    def conditional(self, tree: DraftTree, target: Any, draft: Any) -> dict:
        p, _ = check_tree_laws(tree, target, draft)
        if p.shape[1] != self._root_law.shape[0] or np.abs(p[0] - self._root_law).max() > 1e-12:
            raise InvalidInputError(
                "target: row 0 is not the law this plan was solved for (a plan is bound to its "
                "target, draft, structure and context)"
            )
        law = self._laws.get(tree.key())
        if law is None:
            raise InvalidInputError(f"tree: {tree!r} is not a tree of {self.structure.name} with positive probability")
        return dict(law)

    def sample(self, tree: DraftTree, target: Any, draft: Any, generator: Any = None) -> tuple[int, ...]:
        law = self.conditional(tree, target, draft)
        keys = list(law)
        return keys[categorical(np.array([law[k] for k in keys]), as_generator(generator))]


class ChainPlan:
    """The optimal verifier of one chain: block verification (:mod:`multidraft.block_law`)."""

    name = "block_verification"
    optimal = True

    def __repr__(self) -> str:
        return "<ChainPlan: block verification>"

    def accepts(self, structure: Branching) -> bool:
        return structure.is_chain

    def conditional(self, tree: DraftTree, target: Any, draft: Any) -> dict:
        p, q = check_tree_laws(tree, target, draft)
        return block_verification_law(tree, p, q)

    def sample(self, tree: DraftTree, target: Any, draft: Any, generator: Any = None) -> tuple[int, ...]:
        p, q = check_tree_laws(tree, target, draft)
        return block_verification_sample(tree, p, q, as_generator(generator))


def _outputs(tree: DraftTree, V: int) -> list[tuple[int, ...]]:
    """Admissible outputs of a tree: every root-to-node path (the root included) plus one token."""
    paths = [()] + [tree.path(i) for i in range(tree.size)]
    return [path + (y,) for path in paths for y in range(V)]


def _floored(law: np.ndarray) -> np.ndarray:
    """The law with entries below SMALL_PROBABILITY zeroed and renormalised (see the module docstring)."""
    if (law >= SMALL_PROBABILITY).all() or not ((law > 0) & (law < SMALL_PROBABILITY)).any():
        return law
    kept = np.where(law >= SMALL_PROBABILITY, law, 0.0)
    return kept / kept.sum()


def solve_tree_lp(
    target_lm: Any,
    draft_lm: Any,
    structure: Branching,
    context: Any = (),
    *,
    max_variables: int = MAX_TREE_LP_VARIABLES,
    max_trees: int = MAX_TREES,
    time_limit: float | None = None,
) -> BlockEfficiency:
    """Solve the block-efficiency LP of the module docstring (HiGHS dual simplex via cvxpy)."""
    import cvxpy as cp

    start = time.perf_counter()
    context = check_context(context)
    V = vocab_size_of(target_lm, "target_lm", context)
    p_lm, q_lm = cached(target_lm, "target_lm", V), cached(draft_lm, "draft_lm", V)
    L = structure.depth
    trees = structure.trees(q_lm, context, max_count=max_trees)
    variables = sum((tree.size + 1) * V for tree, _ in trees)
    if variables > max_variables:
        raise TooLargeError(
            f"the block-efficiency LP for {structure.name} over V={V} would have {variables:,} variables "
            f"({len(trees):,} draft trees), above max_variables={max_variables:,}"
        )
    # prefixes o (1 <= |o| <= L + 1) with p(o) > 0: one flow row each, an F variable if |o| <= L
    rows: dict[tuple[int, ...], int] = {}
    frontier = [()]
    cond: dict[tuple[int, ...], float] = {}
    for _ in range(L + 1):
        nxt = []
        for pre in frontier:
            law = _floored(p_lm.probs(context + pre))
            for t in np.flatnonzero(law > 0).tolist():
                o = pre + (t,)
                rows[o] = len(rows)
                cond[o] = float(law[t])
                nxt.append(o)
        frontier = nxt
    f_index = {o: i for i, o in enumerate(o for o in rows if len(o) <= L)}
    keys: list[tuple[int, tuple[int, ...]]] = []  # (tree index, output) of the y variables
    for t, (tree, _) in enumerate(trees):
        for path in [()] + [tree.path(i) for i in range(tree.size)]:
            if path and path not in rows:
                continue
            keys.extend((t, path + (y,)) for y in range(V) if path + (y,) in rows)
    n_y, n_f = len(keys), len(f_index)
    r_idx, c_idx, vals = [], [], []
    rhs = np.zeros(len(rows))
    for o, row in rows.items():  # F(o) + P(O = o) - p(o_last | o_<last) F(o_<last) = 0
        if o in f_index:
            r_idx.append(row), c_idx.append(n_y + f_index[o]), vals.append(1.0)
        if len(o) == 1:
            rhs[row] = cond[o]
        else:
            r_idx.append(row), c_idx.append(n_y + f_index[o[:-1]]), vals.append(-cond[o])
    for col, (_, o) in enumerate(keys):
        r_idx.append(rows[o]), c_idx.append(col), vals.append(1.0)
    flow = sp.csr_matrix((vals, (r_idx, c_idx)), shape=(len(rows), n_y + n_f))
    owner = np.array([t for t, _ in keys], dtype=np.int64)
    per_tree = sp.csr_matrix((np.ones(n_y), (owner, np.arange(n_y))), shape=(len(trees), n_y + n_f))
    q_tree = np.array([prob for _, prob in trees])
    gain = np.concatenate([np.array([len(o) for _, o in keys], dtype=np.float64), np.zeros(n_f)])
    x = cp.Variable(n_y + n_f, nonneg=True)
    problem = cp.Problem(cp.Maximize(gain @ x), [flow @ x == rhs, per_tree @ x == q_tree])
    options = {
        "primal_feasibility_tolerance": HIGHS_TOL,
        "dual_feasibility_tolerance": HIGHS_TOL,
        "small_matrix_value": SMALL_PROBABILITY,
        "solver": "simplex",
        "simplex_strategy": 1,
    }
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    problem.solve(solver=cp.HIGHS, highs_options=options)
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"HiGHS returned status {problem.status!r} for the block-efficiency LP")
    values = np.asarray(x.value, dtype=np.float64)
    violation = max(float(c.violation().max(initial=0.0)) for c in problem.constraints)
    violation = max(violation, float(-values.min(initial=0.0)))
    clipped = np.clip(values[:n_y], 0.0, None)
    by_tree: list[list[int]] = [[] for _ in trees]
    for col, t in enumerate(owner.tolist()):
        by_tree[t].append(col)
    laws: dict[tuple, dict] = {}
    root = np.array(p_lm.probs(context), dtype=np.float64)
    fallback = {(int(y),): float(root[y]) for y in np.flatnonzero(root > 0)}
    for t, (tree, prob) in enumerate(trees):
        mass = float(clipped[by_tree[t]].sum())
        if mass <= 0.5 * prob:  # a tree of probability below the solver's tolerance: y is noise there
            laws[tree.key()] = dict(fallback)
        else:
            laws[tree.key()] = {keys[col][1]: float(clipped[col]) / mass for col in by_tree[t] if clipped[col] > 0}
    plan = TreeLPPlan(structure, laws, root)
    return BlockEfficiency(
        value=float(problem.value),
        plan=plan,
        method="lp",
        num_trees=len(trees),
        num_variables=n_y + n_f,
        solve_time=time.perf_counter() - start,
        primal_violation=violation,
    )


def optimal_block_efficiency(
    target_lm: Any,
    draft_lm: Any,
    structure: Branching,
    context: Any = (),
    *,
    method: str = "auto",
    max_variables: int = MAX_TREE_LP_VARIABLES,
    max_trees: int = MAX_TREES,
    time_limit: float | None = None,
) -> BlockEfficiency:
    """The best block efficiency E|O| of any lossless verifier of ``structure``, and a verifier reaching it.

    Parameters
    ----------
    target_lm, draft_lm : language models (``probs(context) -> (V,)``)
    structure : :class:`multidraft.trees.Branching` (``chain(L)``, ``paths(K, L)``, ...)
    context : tuple of int
    method : {"auto", "closed_form", "lp"}
        "auto": the closed form for a chain (any V), the LP otherwise.
    max_variables, max_trees : int
        Refusal limits of the LP (:class:`~multidraft.validation.TooLargeError`, with the size).
    time_limit : float, optional
        Seconds given to HiGHS.

    Returns
    -------
    BlockEfficiency with ``.value`` and ``.plan`` (usable through the conditional interface).

    Examples
    --------
    >>> from multidraft.trees import chain, table_pair
    >>> target, draft = table_pair(3, seed=0)
    >>> closed = optimal_block_efficiency(target, draft, chain(2))
    >>> lp = optimal_block_efficiency(target, draft, chain(2), method="lp")
    >>> closed.method, lp.method, abs(closed.value - lp.value) < 1e-8
    ('closed_form', 'lp', True)
    """
    if not isinstance(structure, Branching):
        raise InvalidInputError(
            f"structure: expected a draft structure (chain, paths, branching, delayed), got {structure!r}"
        )
    if method not in ("auto", "closed_form", "lp"):
        raise InvalidInputError(f"method: expected 'auto', 'closed_form' or 'lp', got {method!r}")
    if method == "closed_form" and not structure.is_chain:
        raise InvalidInputError(f"method: the closed form is for chains; {structure.name} is a tree (use method='lp')")
    if method == "lp" or (method == "auto" and not structure.is_chain):
        return solve_tree_lp(
            target_lm,
            draft_lm,
            structure,
            context,
            max_variables=max_variables,
            max_trees=max_trees,
            time_limit=time_limit,
        )
    start = time.perf_counter()
    value = chain_block_efficiency(target_lm, draft_lm, structure.depth, context)
    return BlockEfficiency(value=value, plan=ChainPlan(), method="closed_form", solve_time=time.perf_counter() - start)

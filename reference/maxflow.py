"""Optimal acceptance by max-flow (OR-Tools), with a certified interval and the min cut.

The accepted-mass LP on distinct-token sets (see :mod:`multidraft.reference.lp`) is a
bipartite max-flow problem::

    source --Q(S)--> set S --(unbounded)--> token y in S --p(y)--> sink

whose maximum flow is alpha* and whose minimum cut is ``{source arcs of sets S not inside
H} + {sink arcs of tokens in H}``, of value ``p(H) + P(some draft not in H)``.

Certified interval. OR-Tools solves max-flow in int64. Capacities are scaled by
``scale = 2^b`` and rounded down (``floor``) in one solve and up (``ceil``) in another.
Max-flow is monotone in the capacities, so ``lo = flow_floor / scale <= alpha* <=
flow_ceil / scale = hi``; because the scale is a power of two, ``Q * scale`` and the
divisions are exact in float64, so the interval is rigorous *for the float64 values of Q
and p* (Q(S) itself is computed in float64 from q, with relative rounding ~1e-16 per
set). The width is at most ``(K + V) / scale``.

The "unbounded" middle arcs get capacity ``cap(S) + 1`` (one more than all the flow that
can enter S), so no minimum cut uses them and every capacity stays below ``scale + 1``:
all sums in the solver stay below ``(m + 2) * (scale + K + V) < 2^62`` with ``m = min(n, V)``
the most distinct tokens a key can hold (checked).

Cost: push-relabel on ``K + V + 2`` nodes and ``E + K + V`` arcs (E = sum_S |S|),
independent of the scale; enumeration of the K sets dominates for large problems.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multidraft.drafting import format_count
from multidraft.validation import InvalidInputError, TooLargeError

from .plan import PlanResult, TransportPlan
from .support import Support, bind_problem, check_form, cut_value, enumerate_support, support_size

#: Default scale: capacities are multiples of 2^-52 (interval width <= (K + V) * 2^-52).
DEFAULT_SCALE = 2**52

#: Largest accepted scale (beyond 2^52 the integers no longer resolve float64 steps below 1).
MAX_SCALE = 2**52

#: Default refusal limit on the number of arcs, and on enumerated draft tuples/sets
#: (about 10 s on a 2-core machine: 6.3M arcs took 8.5 s, 11M took 11 s; docs/oracles.md).
MAX_ARCS = 7_000_000


@dataclass
class MaxFlowResult(PlanResult):
    """Result of :func:`solve_maxflow`.

    Attributes
    ----------
    acceptance : float
        ``lo``: the value of the rounded-down flow, a feasible acceptance (<= alpha*).
    bounds : tuple[float, float]
        ``(lo, hi)`` with ``lo <= alpha* <= hi`` (see the module docstring for the caveat).
    plan : TransportPlan
        The rounded-down flow completed with the residual (exactly lossless).
    h_min, h_max : np.ndarray, bool (V,)
        Tokens on the source side of the smallest / largest minimum cut (rounded-down problem).
    certificate : float
        ``p(h_min) + P(some draft not in h_min)`` in float64, an upper bound on alpha*.
    scale : int
    solve_time : float
        Wall seconds of the whole call (enumeration, both solves, plan).
    num_arcs : int
    support : Support
    """

    acceptance: float
    bounds: tuple[float, float]
    plan: TransportPlan
    h_min: np.ndarray
    h_max: np.ndarray
    certificate: float
    scale: int
    solve_time: float
    num_arcs: int
    support: Support = field(repr=False)


def check_scale(scale: Any, n: int, keys: int, vocab_size: int) -> int:
    """Validate the scale: a power of two in [2, 2^52] whose capacity sums fit in int64."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 2 or scale & (scale - 1):
        raise InvalidInputError(f"scale: expected a power of two >= 2 (so Q * scale is exact), got {scale!r}")
    scale = int(scale)
    if scale > MAX_SCALE:
        raise InvalidInputError(f"scale: at most 2^52 (float64 resolution), got 2^{scale.bit_length() - 1}")
    if (n + 2) * (scale + keys + vocab_size) >= 2**62:
        raise InvalidInputError(f"scale: 2^{scale.bit_length() - 1} would let capacity sums overflow int64 here")
    return scale


def _capacities(support: Support, p: np.ndarray, scale: int, rounding) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer capacities (source arcs, middle arcs, sink arcs) under ``rounding`` (floor or ceil)."""
    source = rounding(support.probs * scale).astype(np.int64)
    sink = rounding(p * scale).astype(np.int64)
    middle = source[support.rows] + 1  # more than can ever enter the set: never in a min cut
    return source, middle, sink


def _build_graph(support: Support, caps) -> tuple[Any, np.ndarray]:
    """OR-Tools graph: node 0 source, 1 sink, 2.. sets, 2+K.. tokens. Returns (solver, middle arc ids)."""
    from ortools.graph.python import max_flow

    K, V = support.num_keys, support.vocab_size
    sets, tokens = 2 + np.arange(K), 2 + K + np.arange(V)
    source, middle, sink = caps
    smf = max_flow.SimpleMaxFlow()
    i32 = lambda a: np.ascontiguousarray(a, dtype=np.int32)  # noqa: E731
    smf.add_arcs_with_capacity(i32(np.zeros(K)), i32(sets), source)
    arcs = smf.add_arcs_with_capacity(i32(sets[support.rows]), i32(tokens[support.cols]), middle)
    smf.add_arcs_with_capacity(i32(tokens), i32(np.ones(V)), sink)
    return smf, np.asarray(arcs, dtype=np.int32)


def _solve(smf: Any) -> int:
    from ortools.graph.python import max_flow

    status = smf.solve(0, 1)
    if status != max_flow.SimpleMaxFlow.OPTIMAL:
        raise RuntimeError(f"OR-Tools max-flow returned status {status}")
    return int(smf.optimal_flow())


def solve_maxflow(
    target: Any,
    draft: Any = None,
    n: Any = None,
    *,
    drafting: Any = "iid",
    scale: int = DEFAULT_SCALE,
    form: str = "sets",
    max_arcs: int = MAX_ARCS,
    max_count: int = MAX_ARCS,
) -> MaxFlowResult:
    """Optimal acceptance as a max-flow, with a certified interval, the min cut and a plan.

    Solves ``max sum a(S, y)`` over ``a >= 0`` with row sums ``<= Q(S)`` and column sums
    ``<= p(y)`` (equivalently ``min_H p(H) + P(some draft not in H)``) as an integer
    max-flow at ``scale``, rounding capacities down and up.

    Parameters
    ----------
    target : array-like, shape (V,), float64
        Target law p.
    draft : array-like, shape (V,), float64
        Draft law q (named drafting laws); ignored for law objects.
    n : int
        Number of drafts (may be omitted for law objects).
    drafting : {"iid", "without_replacement"} or DraftingLaw
    scale : int
        A power of two in [2, 2^52]; the interval width is at most ``(K + V) / scale``.
    form : {"sets", "tuples"}
        Graph on distinct-token sets (default) or on ordered tuples (same value).
    max_arcs : int
        Refuse (:class:`~multidraft.validation.TooLargeError`) above this many arcs, before
        building anything.
    max_count : int
        Refuse enumerating more draft tuples/sets than this.

    Returns
    -------
    MaxFlowResult

    Examples
    --------
    >>> res = solve_maxflow([0.5, 0.5], [0.5, 0.5], 2)
    >>> res.bounds
    (1.0, 1.0)
    """
    start = time.perf_counter()
    p, law = bind_problem(target, draft, n, drafting)
    form = check_form(form)
    size = support_size(law, form)
    arcs = size.edges + size.keys + law.vocab_size
    if arcs > max_arcs:
        raise TooLargeError(
            f"the max-flow graph ({form}) for V={law.vocab_size}, n={law.n} would have {format_count(arcs)} arcs, "
            f"above max_arcs={max_arcs:,}"
        )
    # a key holds at most min(n, V) distinct tokens, hence as many middle arcs
    scale = check_scale(scale, min(law.n, law.vocab_size), size.keys, law.vocab_size)
    support = enumerate_support(law, form, max_count)

    low_caps = _capacities(support, p, scale, np.floor)
    smf, middle = _build_graph(support, low_caps)
    lo = _solve(smf)
    flows = np.asarray(smf.flows(middle), dtype=np.float64) / scale
    V, K = law.vocab_size, support.num_keys
    tokens = 2 + K + np.arange(V)
    h_min = np.isin(tokens, np.asarray(smf.get_source_side_min_cut()))
    h_max = ~np.isin(tokens, np.asarray(smf.get_sink_side_min_cut()))

    high_caps = _capacities(support, p, scale, np.ceil)
    smf_high, _ = _build_graph(support, high_caps)
    hi = _solve(smf_high)

    plan = TransportPlan.from_edges(p, law, support, flows)
    return MaxFlowResult(
        acceptance=lo / scale,
        bounds=(lo / scale, hi / scale),
        plan=plan,
        h_min=h_min,
        h_max=h_max,
        certificate=cut_value(support, p, h_min),
        scale=scale,
        solve_time=time.perf_counter() - start,
        num_arcs=int(len(middle) + K + V),
        support=support,
    )

"""The optimal transport LP of multi-draft verification, solved exactly with cvxpy over HiGHS.

Two formulations with the same optimum alpha* (see :mod:`multidraft.reference.support` for
the set reduction):

``form="tuples"`` -- the full OTLP, ``K * V`` variables for K draft tuples with Q(x) > 0::

    maximise    sum_x sum_{y in x} pi(x, y)
    subject to  sum_y pi(x, y) = Q(x),   sum_x pi(x, y) = p(y),   pi >= 0.

``form="sets"`` (default) -- accepted mass only, on pairs (S, y in S) of distinct-token
sets S with Q(S) > 0 (at most ``n`` variables per set)::

    maximise    sum_S sum_{y in S} a(S, y)
    subject to  sum_{y in S} a(S, y) <= Q(S)   (row duals u_S >= 0),
                sum_{S ni y} a(S, y) <= p(y)   (column duals v_y >= 0),   a >= 0.

Its dual ``min sum Q u + sum p v  s.t.  u_S + v_y >= 1 (y in S)`` is a min-cut LP: with
``H = {y : v_y > 1/2}`` at a 0/1 vertex, ``p(H) + P(some draft not in H)`` equals the LP
value. The result reports that certificate (the best level set of v, see
:func:`~multidraft.reference.support.best_level_cut`) and its gap to the LP value.

Cost: HiGHS primal simplex on a sparse LP; the sets form has ``sum_S |S|`` variables
(``~ n * C(k, n)`` for k draft tokens), the tuples form ``k^n * V``. Sizes above
``max_variables`` are refused before anything is built (limits measured in docs/oracles.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from multidraft.drafting import MAX_ENUMERATION, format_count
from multidraft.validation import TooLargeError, check_positive_float

from .plan import PlanResult, TransportPlan
from .support import Support, best_level_cut, bind_problem, check_form, enumerate_support, support_size

#: Default refusal limits on the number of LP variables (about 10 s on a 2-core machine,
#: see docs/oracles.md).
MAX_VARIABLES = {"sets": 55_000, "tuples": 120_000}

#: HiGHS feasibility tolerance (its smallest allowed value is 1e-10).
HIGHS_TOL = 1e-10


class SolverFailedError(RuntimeError):
    """The LP solver did not report an optimal solution (never expected for this always-feasible LP)."""


@dataclass
class LPResult(PlanResult):
    """Result of :func:`solve_lp`.

    Attributes
    ----------
    alpha_star : float
        Optimal LP value alpha* (as returned by HiGHS, feasibility tolerance ~1e-10).
    plan : TransportPlan
        The optimal accepted mass completed with the residual (exactly lossless; its own
        ``plan.acceptance`` may differ from ``alpha_star`` by the solver tolerance).
    success : bool
        The solver reported an optimum (always True: any other status raises
        :class:`SolverFailedError`).
    message : str
        cvxpy's status word (``"optimal"``).
    solve_time : float
        Wall seconds of the whole call (enumeration, build, solve, certificate).
    solver_time : float
        Seconds inside HiGHS.
    form : str
        ``"sets"`` or ``"tuples"``.
    num_variables : int
    row_duals : np.ndarray, float64 (K,)
        Duals of the row constraints (one per key).
    col_duals : np.ndarray, float64 (V,)
        Duals of the column constraints (tuples form: shifted so that the smallest is 0).
    h : np.ndarray, bool (V,)
        Min-cut set H read from the column duals.
    certificate : float
        ``p(H) + P(some draft not in H)`` (an upper bound on alpha* for any H).
    certificate_gap : float
        ``certificate - alpha_star`` (~0 at an optimum: strong duality).
    primal_violation : float
        Worst violation of the LP's own constraints (both marginals, ``>= 0``) by the raw
        solver solution, before the plan's repair (~1e-10).
    support : Support
        The keys (sets or tuples) the LP was written on.
    """

    alpha_star: float
    plan: TransportPlan
    success: bool
    message: str
    solve_time: float
    solver_time: float
    form: str
    num_variables: int
    row_duals: np.ndarray
    col_duals: np.ndarray
    h: np.ndarray
    certificate: float
    certificate_gap: float
    primal_violation: float
    support: Support = field(repr=False)


def lp_variables(size, form: str, vocab_size: int) -> int:
    """Number of LP variables for a :class:`~multidraft.reference.support.SupportSize`."""
    return size.edges if form == "sets" else size.keys * vocab_size


def _sets_problem(support: Support, p: np.ndarray):
    import cvxpy as cp

    E, K, V = support.num_edges, support.num_keys, support.vocab_size
    ones, e = np.ones(E), np.arange(E)
    rows = sp.csr_matrix((ones, (support.rows, e)), shape=(K, E))
    cols = sp.csr_matrix((ones, (support.cols, e)), shape=(V, E))
    x = cp.Variable(E, nonneg=True)
    constraints = [rows @ x <= support.probs, cols @ x <= p]
    # ones @ x, not cp.sum(x): cvxpy infers cp.sum's shape by summing np.empty (uninitialised
    # memory), which warns at random when that memory holds NaN bit patterns
    return cp.Problem(cp.Maximize(ones @ x), constraints), x, lambda values: values


def _tuples_problem(support: Support, p: np.ndarray):
    import cvxpy as cp

    K, V = support.num_keys, support.vocab_size
    accepted = support.rows * V + support.cols  # flat index of pi(x, y), y in x
    gain = np.zeros(K * V)
    gain[accepted] = 1.0
    rows = sp.kron(sp.eye(K, format="csr"), np.ones((1, V)), format="csr")
    cols = sp.kron(np.ones((1, K)), sp.eye(V, format="csr"), format="csr")
    x = cp.Variable(K * V, nonneg=True)
    constraints = [rows @ x == support.probs, cols @ x == p]
    return cp.Problem(cp.Maximize(gain @ x), constraints), x, lambda values: values[accepted]


def solve_lp(
    target: Any,
    draft: Any = None,
    n: Any = None,
    *,
    drafting: Any = "iid",
    form: str = "sets",
    max_variables: int | None = None,
    max_count: int = MAX_ENUMERATION,
    time_limit: float | None = None,
    verbose: bool = False,
) -> LPResult:
    """Solve the optimal transport LP exactly (HiGHS primal simplex) and return the optimal plan.

    Parameters
    ----------
    target : array-like, shape (V,), float64
        Target law p (sums to 1 within 1e-9).
    draft : array-like, shape (V,), float64
        Draft law q for ``drafting="iid"`` / ``"without_replacement"``; ignored for law objects.
    n : int
        Number of drafts (may be omitted for law objects).
    drafting : {"iid", "without_replacement"} or DraftingLaw
    form : {"sets", "tuples"}
        LP on distinct-token sets (default, small) or the full OTLP on ordered tuples.
    max_variables : int, optional
        Refuse (:class:`~multidraft.validation.TooLargeError`) above this many variables;
        default ``MAX_VARIABLES[form]``. Checked before anything is built.
    max_count : int
        Refuse enumerating more draft tuples/sets than this.
    time_limit : float, optional
        Seconds given to HiGHS.

    Returns
    -------
    LPResult

    Examples
    --------
    >>> res = solve_lp([0.5, 0.5], [0.5, 0.5], 2)      # p = q: always accept
    >>> round(res.alpha_star, 9), res.success, res.message
    (1.0, True, 'optimal')
    """
    import cvxpy as cp

    start = time.perf_counter()
    p, law = bind_problem(target, draft, n, drafting)
    form = check_form(form)
    limit = MAX_VARIABLES[form] if max_variables is None else int(max_variables)
    variables = lp_variables(support_size(law, form), form, law.vocab_size)
    if variables > limit:
        raise TooLargeError(
            f"the LP ({form} form) for V={law.vocab_size}, n={law.n} would have {format_count(variables)} variables, "
            f"above max_variables={limit:,}"
        )
    support = enumerate_support(law, form, max_count)
    build = _sets_problem if form == "sets" else _tuples_problem
    problem, x, accepted_of = build(support, p)
    # HiGHS options forwarded by cvxpy ("solver" clashes with cvxpy's own keyword, hence highs_options)
    options = {
        "primal_feasibility_tolerance": HIGHS_TOL,
        "dual_feasibility_tolerance": HIGHS_TOL,
        "solver": "simplex",
        "simplex_strategy": 4,
    }  # primal simplex: fastest measured, a vertex
    if time_limit is not None:
        options["time_limit"] = check_positive_float(time_limit, "time_limit")
    problem.solve(solver=cp.HIGHS, verbose=verbose, highs_options=options)
    if problem.status != cp.OPTIMAL:
        raise SolverFailedError(f"HiGHS returned status {problem.status!r} for the {form} LP")

    values = np.asarray(x.value, dtype=np.float64)
    violation = max(float(c.violation().max(initial=0.0)) for c in problem.constraints)
    violation = max(violation, float(-values.min(initial=0.0)))
    plan = TransportPlan.from_edges(p, law, support, accepted_of(values))
    row_duals = np.asarray(problem.constraints[0].dual_value, dtype=np.float64).reshape(-1)
    col_duals = np.asarray(problem.constraints[1].dual_value, dtype=np.float64).reshape(-1)
    if form == "tuples":  # equality duals are defined up to (u + c, v - c); fix min v = 0
        shift = col_duals.min()
        col_duals, row_duals = col_duals - shift, row_duals + shift
    h, certificate = best_level_cut(support, p, col_duals)
    value = float(problem.value)
    return LPResult(
        alpha_star=value,
        plan=plan,
        success=True,
        message=str(problem.status),
        solve_time=time.perf_counter() - start,
        solver_time=float(problem.solver_stats.solve_time or 0.0),
        form=form,
        num_variables=variables,
        row_duals=row_duals,
        col_duals=col_duals,
        h=h,
        certificate=certificate,
        certificate_gap=certificate - value,
        primal_violation=violation,
        support=support,
    )

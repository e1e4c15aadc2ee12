"""Exact properties of a conditional verifier, measured by enumeration on one problem.

For a problem (p, Q, n) the exact evaluator (:func:`multidraft.evaluate`) visits every draft
tuple x with Q(x) > 0 and records the verifier's conditional law ``f(.|x)`` (V,). From the
table ``F[m, y] = f(y | x_m)`` the properties below are measured (``tol`` default 1e-9):

``law``                  every conditional is a law: ``max_m max(-min_y F, |sum_y F - 1|) <= tol``
``lossless``             ``TV(sum_m Q(x_m) F[m], p) <= tol``
``acceptance_bound``     ``acceptance <= alpha* + tol`` (more is impossible for a lossless
                         verifier: an accounting or fidelity error)
``optimal``              ``acceptance >= alpha* - tol`` (required of verifiers claiming
                         optimality; otherwise the gap is reported as info)
``claimed_acceptance``   ``|acceptance - verifier.acceptance(p, q, n)| <= tol`` (if it has one)
``order_invariance``     ``f(.|x) = f(.|sigma x)`` for sigma = swap of the first two drafts and
                         the cyclic shift (they generate all permutations); required of
                         verifiers declaring ``order_invariant``, info otherwise; measured when
                         the support is closed under reordering (i.i.d., without replacement)
``relabel_equivariance`` for a token permutation pi (p' = p[pi], q' = q[pi], x' = pi^-1(x)):
                         ``f'(j | x') = f(pi[j] | x)``; required unless the verifier sets
                         ``label_equivariant = False`` (e.g. it breaks ties by token index)
``hazard``               no conditional holds a NaN or an infinity: the value is
                         ``Q(H) = sum_{x in H} Q(x)`` over the set H of such draft tuples

Numerical hazards. Real code often returns NaN on a path of tiny probability (after a
rejection, ``(p - q)_+`` can be all zero in floating point while p != q, and normalising gives
0/0). Such a tuple is a *hazard*: it is reported by ``hazard`` (which tuples, Q(H), the first
failing input), and every other property is measured on the verifier with each hazard row
replaced by p (the fill that adds no deviation of its own), so an algorithmic fault elsewhere
is still found and shrunk. The fill changes the measured TV and acceptance by at most Q(H).

:class:`ProblemContext` evaluates a problem once (and its relabelled copy when asked) and
caches the tables; every property is a :class:`Property` whose ``measure(ctx)`` returns a
:class:`Measurement` (the value, larger is worse; whether it is within tolerance; a detail
line; the snippet lines that show the failing call).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multidraft.evaluate import Evaluation, evaluate
from multidraft.reference import optimal_acceptance_for
from multidraft.verifiers import as_numpy_probs

from .adapters import VerifierSpec
from .problem import Problem, array_literal

#: Default absolute tolerance of the exact properties (TV, law error, acceptance).
TOL = 1e-9


class _Recorder:
    """Wraps a conditional verifier and keeps every (drafts, probs) pair it was called on.

    A row holding a NaN or an infinity (a hazard) is recorded as returned and handed on to
    the evaluator as ``target`` (module doc); ``on_call`` (optional) is called after every call.
    """

    def __init__(self, fn: Callable[[Any, Any, Any], Any], batched: bool, on_call: Callable[[], None] | None = None):
        self.fn, self.batched, self.on_call = fn, batched, on_call
        self.drafts: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []

    def conditional(self, target: Any, draft: Any, drafts: Any) -> np.ndarray:
        out = as_numpy_probs(self.fn(target, draft, drafts))
        self.drafts.append(np.atleast_2d(np.asarray(drafts)))
        self.probs.append(np.atleast_2d(out))
        if self.on_call is not None:
            self.on_call()
        if out.shape[-1:] == np.shape(target) and not np.isfinite(out).all():
            fill = np.asarray(target, dtype=np.float64)
            out = np.where(np.isfinite(out).all(axis=-1, keepdims=True), out, fill)
        return out

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.drafts), np.concatenate(self.probs)


@dataclass
class SuiteTable:
    """One exact evaluation and the conditional table behind it.

    ``conds`` holds the verifier's rows as returned; ``evaluation`` was computed with the
    hazard rows (``hazard``, a bool mask (M,)) replaced by p; ``probs`` is Q(x) per row.
    """

    evaluation: Evaluation
    tuples: np.ndarray  # (M, n) int64
    conds: np.ndarray  # (M, V) float64
    probs: np.ndarray  # (M,) float64
    hazard: np.ndarray  # (M,) bool: a NaN or an infinity in the row
    target: np.ndarray  # (V,) float64: p, the fill of the hazard rows

    @property
    def hazard_probability(self) -> float:
        """Q(H): the drafting-law probability of the hazard tuples."""
        return float(self.probs[self.hazard].sum())

    @property
    def clean_conds(self) -> np.ndarray:
        """``conds`` with the hazard rows replaced by p (what the evaluation saw)."""
        return np.where(self.hazard[:, None], self.target, self.conds) if self.hazard.any() else self.conds


def _codes(tuples: np.ndarray, V: int) -> np.ndarray:
    return tuples @ (V ** np.arange(tuples.shape[1], dtype=np.int64))


def _lookup(codes: np.ndarray, wanted: np.ndarray) -> np.ndarray | None:
    """Row index of each wanted code in ``codes``, or None if some are absent."""
    order = np.argsort(codes)
    pos = np.searchsorted(codes[order], wanted)
    pos = np.minimum(pos, len(codes) - 1)
    found = codes[order][pos] == wanted
    return order[pos] if found.all() else None


def relabelling(problem: Problem) -> np.ndarray:
    """The token permutation used for ``relabel_equivariance`` (deterministic in the problem)."""
    seed = zlib.crc32(problem.target.tobytes() + problem.draft.tobytes())
    return np.random.default_rng(seed).permutation(problem.vocab_size)


class ProblemContext:
    """Lazily evaluated tables of one problem for one verifier.

    ``error`` holds the message of an exception the verifier raised (then every property
    measures ``inf``).
    """

    def __init__(self, spec: VerifierSpec, problem: Problem, max_count: int, on_call: Callable[[], None] | None = None):
        self.spec, self.problem, self.max_count, self.on_call = spec, problem, max_count, on_call
        self.error: str | None = None
        self._base: SuiteTable | None = None
        self._relabelled: SuiteTable | None = None
        self._claimed: float | None | str = "unset"

    def _evaluate(self, problem: Problem, alpha_star: float | None) -> SuiteTable:
        rec = _Recorder(self.spec.conditional(), self.spec.batched, self.on_call)
        law = problem.law()
        if alpha_star is None:
            alpha_star = optimal_acceptance_for(problem.target, law)
        ev = evaluate(
            rec,
            problem.target,
            law.draft_argument,
            problem.n,
            drafting=law,
            max_count=self.max_count,
            alpha_star=alpha_star,
        )
        tuples, conds = rec.table()
        probs = law.tuples(self.max_count)[1]  # the evaluator's order (it enumerates law.tuples)
        hazard = ~np.isfinite(conds).all(axis=1)
        return SuiteTable(ev, tuples.astype(np.int64), conds, probs, hazard, problem.target)

    def _guard(self, compute: Callable[[], Any]) -> Any:
        if self.error is not None:
            return None
        try:
            return compute()
        except Exception as exc:  # a crash of the verifier is a finding, not a checker error
            self.error = f"{type(exc).__name__}: {exc}"
            return None

    @property
    def base(self) -> SuiteTable | None:
        if self._base is None:
            self._base = self._guard(lambda: self._evaluate(self.problem, None))
        return self._base

    @property
    def relabelled(self) -> SuiteTable | None:
        if self._relabelled is None and self.base is not None:
            perm = relabelling(self.problem)
            self._relabelled = self._guard(
                lambda: self._evaluate(self.problem.relabelled(perm), self.base.evaluation.alpha_star)
            )
        return self._relabelled

    @property
    def claimed(self) -> float | None:
        if self._claimed == "unset":
            law = self.problem.law()
            self._claimed = self._guard(
                lambda: self.spec.claimed_acceptance(self.problem.target, law.draft_argument, self.problem.n)
            )
        return self._claimed


@dataclass
class Measurement:
    """A property measured on one problem: ``value`` (larger is worse) and the verdict."""

    value: float
    ok: bool
    detail: str
    call: list[str]
    extra: dict = field(default_factory=dict)


def _crash(ctx: ProblemContext) -> Measurement:
    return Measurement(
        float("inf"),
        False,
        f"the verifier raised {ctx.error}",
        [f"ev = evaluate(verifier, target, draft, n, drafting={ctx.problem.drafting_argument()})"],
    )


def _evaluate_call(ctx: ProblemContext, comment: str) -> list[str]:
    return [
        f"ev = evaluate(verifier, target, draft, n, drafting={ctx.problem.drafting_argument()})",
        f"print(ev.summary())  # {comment}",
    ]


def _measure_law(ctx: ProblemContext, tol: float) -> Measurement:
    ev = ctx.base.evaluation
    x = array_literal(np.array(ev.worst_drafts, dtype=np.int64))
    return Measurement(
        ev.validity_error,
        ev.validity_error <= tol,
        f"worst |sum f - 1| or -min f = {ev.validity_error:.3e} at drafts {tuple(int(t) for t in ev.worst_drafts)}",
        [
            "f = conditional_of(verifier)",
            f"probs = np.asarray(f(target, draft, {x}), dtype=float)",
            f"print(probs, probs.sum(), probs.min())  # expected: a law (sum 1 within {tol:g}, >= 0)",
        ],
    )


def _measure_lossless(ctx: ProblemContext, tol: float) -> Measurement:
    ev = ctx.base.evaluation
    worst = int(np.argmax(np.abs(ev.marginal - ctx.problem.target)))
    return Measurement(
        ev.tv,
        ev.tv <= tol,
        f"TV(output, p) = {ev.tv:.3e}; worst token {worst}: output {ev.marginal[worst]:.6g} "
        f"vs p {ctx.problem.target[worst]:.6g}",
        _evaluate_call(ctx, f"expected: TV <= {tol:g}")
        + ["print(ev.marginal - target)  # per-token deviation of the output law"],
    )


def _measure_bound(ctx: ProblemContext, tol: float) -> Measurement:
    ev = ctx.base.evaluation
    excess = ev.acceptance - ev.alpha_star
    return Measurement(
        max(excess, 0.0),
        excess <= tol,
        f"acceptance {ev.acceptance:.12f} vs alpha* {ev.alpha_star:.12f} (excess {excess:.3e})",
        _evaluate_call(ctx, f"expected: acceptance <= alpha* + {tol:g}"),
    )


def _measure_optimal(ctx: ProblemContext, tol: float) -> Measurement:
    ev = ctx.base.evaluation
    return Measurement(
        max(ev.gap, 0.0),
        ev.gap <= tol,
        f"alpha* - acceptance = {ev.gap:.3e} (alpha* {ev.alpha_star:.12f})",
        _evaluate_call(ctx, f"expected: gap = alpha* - acceptance <= {tol:g}"),
    )


def _measure_claimed(ctx: ProblemContext, tol: float) -> Measurement:
    claimed = ctx.claimed
    if claimed is None:
        return _crash(ctx) if ctx.error else Measurement(0.0, True, "no claimed acceptance", [])
    ev = ctx.base.evaluation
    diff = abs(claimed - ev.acceptance)
    return Measurement(
        diff,
        diff <= tol,
        f"claimed {claimed:.12f} vs measured {ev.acceptance:.12f}",
        _evaluate_call(ctx, "measured acceptance")
        + ["print(verifier.acceptance(target, draft, n))  # claimed; expected equal"],
    )


#: Hazard tuples listed in a result's ``extra`` (the count and Q(H) cover all of them).
HAZARD_LISTED = 20


def _measure_hazard(ctx: ProblemContext, tol: float) -> Measurement:
    table = ctx.base
    if not table.hazard.any():
        return Measurement(0.0, True, "every conditional is finite", [])
    rows = np.flatnonzero(table.hazard)
    first = rows[np.argmax(table.probs[rows])]  # the most likely hazard tuple
    x = tuple(int(t) for t in table.tuples[first])
    mass = table.hazard_probability
    values = np.array2string(table.conds[first], precision=4, max_line_width=200)
    detail = (
        f"non-finite output on {len(rows)} of {len(table.hazard)} draft tuples of total probability "
        f"Q(H) = {mass:.3e} under the drafting law; first at drafts {x}: f = {values}; away from its hazard "
        f"paths TV(output, p) = {table.evaluation.tv:.3e}"
    )
    extra = {
        "hazard_probability": mass,
        "hazard_tuples": len(rows),
        "hazard_drafts": [[int(t) for t in table.tuples[r]] for r in rows[:HAZARD_LISTED]],
        "first_input": {"drafts": list(x), "output": [float(v) for v in table.conds[first]]},
        "tv_away_from_hazards": table.evaluation.tv,
    }
    return Measurement(
        mass,
        False,
        detail,
        [
            "f = conditional_of(verifier)",
            f"print(np.asarray(f(target, draft, {array_literal(table.tuples[first])}), dtype=float))"
            "  # expected: finite",
        ],
        extra,
    )


#: Draft reorderings checked by ``order_invariance``: swap of the first two, cyclic shift.
def _reorderings(n: int) -> list[np.ndarray]:
    if n < 2:
        return []
    swap = np.arange(n)
    swap[[0, 1]] = [1, 0]
    shift = np.roll(np.arange(n), 1)
    return [swap] if n == 2 else [swap, shift]


def _measure_order(ctx: ProblemContext, tol: float) -> Measurement:
    table, V = ctx.base, ctx.problem.vocab_size
    codes = _codes(table.tuples, V)
    lookups = [(sigma, _lookup(codes, _codes(table.tuples[:, sigma], V))) for sigma in _reorderings(ctx.problem.n)]
    if not lookups or any(idx is None for _, idx in lookups):
        return Measurement(0.0, True, "not applicable (n = 1 or support not closed under reordering)", [])
    worst, where = 0.0, None
    for sigma, idx in lookups:
        conds = table.clean_conds
        diff = np.abs(conds - conds[idx]).max(axis=1)
        m = int(np.argmax(diff))
        if diff[m] > worst:
            worst, where = float(diff[m]), (table.tuples[m], table.tuples[m][sigma])
    if where is None:
        return Measurement(0.0, True, "f(.|x) = f(.|sigma x) exactly", [])
    x, y = (array_literal(w) for w in where)
    return Measurement(
        worst,
        worst <= tol,
        f"max |f(.|x) - f(.|sigma x)| = {worst:.3e} at x = {tuple(int(t) for t in where[0])}",
        [
            "f = conditional_of(verifier)",
            f"print(np.asarray(f(target, draft, {x})) - np.asarray(f(target, draft, {y})))"
            f"  # expected: 0 within {tol:g}",
        ],
    )


def _measure_relabel(ctx: ProblemContext, tol: float) -> Measurement:
    base, other, V = ctx.base, ctx.relabelled, ctx.problem.vocab_size
    if other is None:
        return _crash(ctx)
    perm = relabelling(ctx.problem)
    original = perm[other.tuples]  # x = pi(x')
    idx = _lookup(_codes(base.tuples, V), _codes(original, V))
    if idx is None:  # the drafting law itself breaks ties by index (e.g. greedy top-k drafts)
        return Measurement(0.0, True, "not applicable: the drafting law is not relabelling-equivariant here", [])
    diff = np.abs(other.clean_conds - base.clean_conds[idx][:, perm]).max(axis=1)
    m = int(np.argmax(diff)) if len(diff) else 0
    worst = float(diff[m]) if len(diff) else 0.0
    xr, xo = array_literal(other.tuples[m]), array_literal(original[m])
    return Measurement(
        worst,
        worst <= tol,
        f"max |f'(j|x') - f(pi[j]|x)| = {worst:.3e} at x = {tuple(int(t) for t in original[m])}",
        [
            "f = conditional_of(verifier)",
            f"perm = {array_literal(perm)}",
            f"relabelled = np.asarray(f(target[perm], draft[..., perm], {xr}))",
            f"original = np.asarray(f(target, draft, {xo}))",
            f"print(relabelled - original[perm])  # expected: 0 within {tol:g}",
        ],
    )


@dataclass(frozen=True)
class Property:
    """An exact property: how to measure it, and whether a given verifier must satisfy it.

    ``required(spec, optimal)`` returns True (a failure fails the check), False (measured
    and reported as info) or None (not measured for this verifier).
    """

    name: str
    measure_label: str
    measure_fn: Callable[[ProblemContext, float], Measurement]
    required: Callable[[VerifierSpec, bool], bool | None]

    def measure(self, ctx: ProblemContext, tol: float) -> Measurement:
        if ctx.base is None:
            return _crash(ctx)
        return self.measure_fn(ctx, tol)


EXACT_PROPERTIES: tuple[Property, ...] = (
    Property("hazard", "P(non-finite paths)", _measure_hazard, lambda s, o: True),
    Property("law", "max law error", _measure_law, lambda s, o: True),
    Property("lossless", "TV(output, p)", _measure_lossless, lambda s, o: True),
    Property("acceptance_bound", "acceptance - alpha*", _measure_bound, lambda s, o: True),
    Property("optimal", "alpha* - acceptance", _measure_optimal, lambda s, o: o),
    Property(
        "claimed_acceptance",
        "|claimed - measured|",
        _measure_claimed,
        lambda s, o: True if callable(getattr(s.verifier, "acceptance", None)) else None,
    ),
    Property("order_invariance", "max |f(x) - f(sigma x)|", _measure_order, lambda s, o: s.order_invariant),
    Property("relabel_equivariance", "max |f' - f o pi|", _measure_relabel, lambda s, o: s.label_equivariant),
)


#: Imports a snippet may need, each added only when its name is used.
_SNIPPET_IMPORTS = (
    ("evaluate(", "from multidraft import evaluate"),
    ("Independent(", "from multidraft import Independent"),
    ("conditional_of(", "from multidraft.verifiers import conditional_of"),
)


def snippet(spec: VerifierSpec, problem: Problem, call: list[str]) -> str:
    """A runnable reproduction: imports, the verifier, the problem at full precision, the call.

    Only the imports the lines use are written (numpy always: the problem's arrays need it).
    """
    body = spec.source + problem.snippet_lines() + call
    text = "\n".join(body)
    imports = ["import numpy as np"] + [line for name, line in _SNIPPET_IMPORTS if name in text]
    return "\n".join(imports + [line for line in body if line not in imports])

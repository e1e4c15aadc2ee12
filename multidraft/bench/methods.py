"""The timed methods, one problem (one row) at a time, and their per-batch statistics.

What one "token" costs, for each method (``time.perf_counter`` around the complete call,
float64, inputs already on the device, drafts drawn beforehand and not timed):

* ``global_resolution`` -- ``global_resolution(p, q, n)`` (the solve) plus ``plan.sample``;
* ``maxflow`` / ``lp`` -- ``solve_maxflow`` / ``solve_lp`` (distinct-token-set forms) plus
  the plan's output law given the drafts and one draw from it; in a forked child with a
  wall-clock limit (:mod:`multidraft.bench.limits`), so a call over the limit reads ``> limit``;
* baselines -- the registered verifier's ``.sample(target, draft, drafts, generator)``.

A row *succeeds* when the call finished within the limit and its acceptance is within
``OPTIMAL_TOL`` of alpha* (for global resolution also ``status.success``). Baselines are
lossless but not optimal, so their success rate is the share of rows where they happen to be
optimal. Acceptance is exact for every method (the plan's acceptance, or the baseline's
``.acceptance``), never sampled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from multidraft.reference import optimal_acceptance
from multidraft.validation import check_choice

from .common import summarize_times, synchronizer, timed
from .deviation import MAX_CELLS, enumerated, exact_tv, lump
from .limits import call_with_limit

#: A row counts as optimal when alpha* - acceptance <= OPTIMAL_TOL.
OPTIMAL_TOL = 1e-6

ORACLES = ("lp", "maxflow")


@dataclass
class RowResult:
    """One problem: wall seconds (None if it did not finish), status, exact acceptance."""

    seconds: float | None
    status: str
    acceptance: float = float("nan")
    converged: bool = True
    message: str = ""


@dataclass
class MethodStats:
    """Statistics of one method over a batch of rows."""

    method: str
    rows: int = 0
    seconds: list[float] = field(default_factory=list)
    successes: int = 0
    ratios: list[float] = field(default_factory=list)
    acceptances: list[float] = field(default_factory=list)
    worst_gap: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    deviation: float | None = None
    deviation_how: str = "-"
    deviation_rows: int = 0
    message: str = ""

    def add(self, row: RowResult, alpha: float) -> None:
        self.rows += 1
        self.message = self.message or row.message
        self.statuses[row.status] = self.statuses.get(row.status, 0) + 1
        if row.seconds is None:
            return
        self.seconds.append(row.seconds)
        gap = alpha - row.acceptance
        self.worst_gap = max(self.worst_gap, gap)
        self.ratios.append(row.acceptance / alpha if alpha > 0 else 1.0)
        self.acceptances.append(row.acceptance)
        self.successes += int(row.converged and gap <= OPTIMAL_TOL)

    @property
    def median_ms(self) -> float:
        return summarize_times(self.seconds)[0] if self.finished == self.rows else float("nan")

    @property
    def p99_ms(self) -> float:
        return summarize_times(self.seconds)[1] if self.finished == self.rows else float("nan")

    @property
    def finished(self) -> int:
        return len(self.seconds)

    @property
    def success_rate(self) -> float:
        return self.successes / self.rows if self.rows else float("nan")

    @property
    def mean_ratio(self) -> float:
        return float(np.mean(self.ratios)) if self.ratios else float("nan")

    @property
    def mean_acceptance(self) -> float:
        return float(np.mean(self.acceptances)) if self.acceptances else float("nan")

    def time_cell(self, which: str = "median", limit_s: float | None = None) -> str | float:
        """The median/p99 in ms, or ``> limit`` / ``refused`` when some rows did not finish."""
        if self.finished == self.rows and self.rows:
            return self.median_ms if which == "median" else self.p99_ms
        bad = [s for s in self.statuses if s != "ok"]
        if "> limit" in bad and limit_s is not None:
            return f"> {limit_s * 1e3:g} ({self.rows - self.finished}/{self.rows} rows)"
        return f"{', '.join(bad)} ({self.rows - self.finished}/{self.rows} rows{'; ' + self.message if self.message else ''})"

    def deviation_cell(self) -> str:
        if self.deviation is None:
            return self.deviation_how
        return f"{self.deviation:.1e} ({self.deviation_how}, {self.deviation_rows} rows)"


class Method:
    """A timed method: ``run_row`` times one problem; ``verifier_for`` builds its conditional law."""

    name = "method"
    order_invariant = False
    drafting = "iid"

    def warm_up(self, target: np.ndarray, draft: np.ndarray, drafts: np.ndarray, n: int) -> None:
        self.run_row(target, draft, drafts, n)

    def run_row(self, target: np.ndarray, draft: np.ndarray, drafts: np.ndarray, n: int) -> RowResult:
        raise NotImplementedError

    def verifier_for(self, n: int) -> Callable[[np.ndarray, np.ndarray], Any]:
        raise NotImplementedError


class GlobalResolutionMethod(Method):
    """The project's global resolution (``multidraft.fast``), solve + sample."""

    name = "global_resolution"
    order_invariant = True  # the race among drafts is symmetric in their order

    def __init__(self, device: Any = "cpu", seed: int = 0, backend: str = "auto", numpy_inputs: bool = False):
        self.device = torch.device(device or "cpu")
        self.sync = synchronizer(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.backend = backend
        self.numpy_inputs = numpy_inputs

    def prepare(self, target: np.ndarray, draft: np.ndarray, drafts: np.ndarray) -> tuple[Any, ...]:
        """Move inputs to the device (not timed); with ``numpy_inputs`` they stay numpy arrays
        (CPU), so the timed call includes their conversion."""
        if self.numpy_inputs:
            return tuple(np.ascontiguousarray(x) for x in (target, draft, drafts))
        return tuple(torch.as_tensor(x, device=self.device) for x in (target, draft, drafts))

    def run_tensors(self, p: torch.Tensor, q: torch.Tensor, d: torch.Tensor, n: int) -> tuple[Any, float]:
        from multidraft.fast import global_resolution

        def call():
            plan = global_resolution(p, q, n, device=self.device, backend=self.backend)
            plan.sample(d, generator=self.generator)
            return plan

        return timed(call, self.sync)

    def run_row(self, target, draft, drafts, n) -> RowResult:
        p, q, d = self.prepare(target[None], draft[None], drafts[None])
        plan, seconds = self.run_tensors(p, q, d, n)
        return RowResult(seconds, "ok", float(plan.kept[0]), bool(plan.status.success[0]))

    def verifier_for(self, n):
        from multidraft.fast import GlobalResolution

        return lambda p, q: GlobalResolution(backend=self.backend)


class OracleMethod(Method):
    """An exact oracle (``lp`` or ``maxflow``) run in a child process under a time limit."""

    order_invariant = True  # plans on distinct-token sets

    def __init__(self, name: str, limit_s: float, seed: int = 0):
        self.name = check_choice(name, "oracle", ORACLES)
        self.limit_s = float(limit_s)
        self.rng = np.random.default_rng(seed)

    def _solve(self, p: np.ndarray, q: np.ndarray, n: int) -> Any:
        from multidraft.reference import solve_lp, solve_maxflow

        if self.name == "lp":
            return solve_lp(p, q, n, time_limit=self.limit_s)
        return solve_maxflow(p, q, n)

    def warm_up(self, target, draft, drafts, n) -> None:
        """Load the solver libraries in this process (children inherit them) on a tiny problem.

        A missing solver library is left for the timed calls to report, row by row."""
        try:
            self._solve(np.array([0.5, 0.5]), np.array([0.5, 0.5]), 2)
        except ImportError:
            pass

    def run_row(self, target, draft, drafts, n) -> RowResult:
        u = float(self.rng.random())

        def job() -> tuple[float, float]:
            start = time.perf_counter()
            res = self._solve(target, draft, n)
            law = np.asarray(res.conditional(drafts), dtype=np.float64).reshape(-1)
            int(np.searchsorted(np.cumsum(law), u * law.sum()))
            return time.perf_counter() - start, float(res.alpha_star if self.name == "lp" else res.acceptance)

        out = call_with_limit(job, self.limit_s)
        if not out.ok:
            return RowResult(None, out.status, message=out.message if out.status == "error" else "")
        seconds, acceptance = out.value
        if seconds > self.limit_s:
            return RowResult(None, "> limit")
        return RowResult(seconds, "ok", acceptance)

    def verifier_for(self, n):
        return lambda p, q: self._solve(p, q, n).as_verifier()


class BaselineMethod(Method):
    """A registered baseline verifier (``multidraft.get_verifier(name)``): ``.sample`` timed."""

    def __init__(self, name: str, seed: int = 0):
        from multidraft import get_verifier

        self.name = name
        self.verifier = get_verifier(name)
        self.order_invariant = bool(getattr(self.verifier, "order_invariant", False))
        self.drafting = getattr(self.verifier, "drafting", "iid") or "iid"
        self.generator = torch.Generator().manual_seed(seed)

    def run_row(self, target, draft, drafts, n) -> RowResult:
        from multidraft.validation import TooLargeError

        try:
            _, seconds = timed(
                lambda: self.verifier.sample(target[None], draft[None], drafts[None], generator=self.generator)
            )
        except TooLargeError:  # e.g. canonical's exact enumeration of draft multisets
            return RowResult(None, "refused", message="size guard: too many draft multisets")
        acceptance = baseline_acceptance(self.name, target[None], draft[None], n)
        if acceptance is None:
            return RowResult(seconds, "ok", float("nan"), converged=False)
        return RowResult(seconds, "ok", float(acceptance[0]))

    def verifier_for(self, n):
        from multidraft import get_verifier

        return lambda p, q: get_verifier(self.name)


def baseline_names() -> list[str]:
    """Registered verifiers other than global resolution (empty until the baselines exist)."""
    from multidraft import list_verifiers

    return [name for name in list_verifiers() if name != "global_resolution"]


_CLOSED_FORM: dict[tuple[str, int], bool] = {}


def has_closed_form(name: str, n: int) -> bool:
    """Whether baseline ``name``'s ``.acceptance`` answers without enumerating draft tuples.

    Probed once per (name, n) on a uniform 3,000-token problem with max(n, 3) drafts, whose
    enumeration the evaluator refuses at once (TooLargeError), so the probe is cheap either way.
    """
    from multidraft import get_verifier
    from multidraft.validation import TooLargeError

    if (name, n) not in _CLOSED_FORM:
        u = np.full(3000, 1 / 3000)
        try:
            get_verifier(name).acceptance(u, u, max(n, 3))
            _CLOSED_FORM[(name, n)] = True
        except TooLargeError:
            _CLOSED_FORM[(name, n)] = False
    return _CLOSED_FORM[(name, n)]


def baseline_acceptance(name: str, target: np.ndarray, draft: np.ndarray, n: int) -> np.ndarray | None:
    """Exact acceptance per row of baseline ``name`` ((B,) float64), or None if too costly.

    Closed forms run on the full (B, V) batch. Otherwise each row is lumped (non-drafted
    tokens merged into one, which leaves the acceptance unchanged, see
    :mod:`multidraft.bench.deviation`) and enumerated if at most ``MAX_CELLS`` entries.
    """
    from multidraft import get_verifier

    verifier = get_verifier(name)
    if has_closed_form(name, n):
        return np.asarray(torch.as_tensor(verifier.acceptance(target, draft, n)).cpu(), dtype=np.float64).reshape(-1)
    out = []
    for p, q in zip(target, draft):
        k = int((q > 0).sum())
        if enumerated(k, n, bool(getattr(verifier, "order_invariant", False))) * (k + 1) > MAX_CELLS:
            return None
        lp, lq = lump(p, q)
        out.append(float(torch.as_tensor(verifier.acceptance(lp, lq, n))))
    return np.asarray(out)


def alpha_stars(target: np.ndarray, draft: np.ndarray, n: int) -> np.ndarray:
    """alpha* per row, by the closed form (batched)."""
    return np.asarray(optimal_acceptance(target, draft, n).alpha_star, dtype=np.float64).reshape(-1)


def measure(
    method: Method,
    target: np.ndarray,
    draft: np.ndarray,
    drafts: np.ndarray,
    n: int,
    alpha: np.ndarray,
    *,
    deviation_rows: int = 0,
    progress: Callable[[Any], Any] = lambda it: it,
) -> MethodStats:
    """Time ``method`` on every row (after one untimed warm-up call on row 0) and measure the
    exact deviation on the first ``deviation_rows`` rows that finished."""
    stats = MethodStats(method.name)
    method.warm_up(target[0], draft[0], drafts[0], n)
    for b in progress(range(target.shape[0])):
        stats.add(method.run_row(target[b], draft[b], drafts[b], n), float(alpha[b]))
    if deviation_rows > 0 and stats.rows and stats.finished == stats.rows:  # oracles: only when none hit the limit
        worst, how, done = 0.0, "-", 0
        for b in range(min(deviation_rows, target.shape[0])):
            try:
                tv, how = exact_tv(
                    method.verifier_for(n),
                    target[b],
                    draft[b],
                    n,
                    alpha_star=float(alpha[b]),
                    order_invariant=method.order_invariant,
                    drafting=method.drafting,
                )
            except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
                how = f"error: {type(exc).__name__}"
                break
            if tv is None:
                break
            worst, done = max(worst, tv), done + 1
        stats.deviation, stats.deviation_how, stats.deviation_rows = (worst if done else None), how, done
    return stats

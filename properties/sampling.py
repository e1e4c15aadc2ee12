"""The sampling harness of the statistical check: draw outputs, run the tests per problem.

The checker draws N draft tuples from the drafting law (``law.sample`` with
``numpy.random.default_rng([seed, 0])``), calls the sampling verifier on them (with a
``torch.Generator`` seeded ``seed``, or ``numpy.random.default_rng([seed, 1])`` for the
numpy backend), and tests, per problem:

``output_law``                 counts of output tokens vs ``N p`` (G-test);
``acceptance_bound``           accepted count ``A = #{i: y_i in x_i}`` vs ``Binomial(N, alpha*)``,
                               one-sided upper (more than alpha* is impossible when lossless);
``optimal``                    the same, one-sided lower (for verifiers claiming optimality);
``claimed_acceptance``         A vs the verifier's ``acceptance(p, q, n)``, two-sided;
``sample_matches_conditional`` (verifiers with both interfaces) counts vs
                               ``sum_i f(.|x_i)`` over the drawn drafts (G-test);

and, once per check (not a statistical test, so outside the Bonferroni count):

``reproducible``               same seed, same output: the first problem's N outputs are
                               drawn again with the same drafts and a freshly seeded
                               generator; any difference from the measured run fails.

The statistics (G-test, pooling, binomial p-values, detectable deviations) are in
:mod:`multidraft.properties.stats`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multidraft.evaluate import conditionals
from multidraft.validation import InvalidInputError, check_choice, is_torch_tensor

from .adapters import VerifierSpec
from .problem import Problem
from .stats import binomial_p_value, detectable_rate_shift, detectable_tv, g_test

#: Most rows per call of a sampling verifier; the calls of one draw take
#: ``PILOT_ROWS, 2 PILOT_ROWS, 4 PILOT_ROWS, ...`` rows up to ``CHUNK`` (a fixed schedule, so the
#: same seed gives the same output, while a slow sampler shows progress and a time estimate early).
CHUNK = 1 << 16
PILOT_ROWS = 1 << 10
#: Where the sampling verifier gets its randomness: a ``torch.Generator`` or a numpy one.
SAMPLING_BACKENDS = ("torch", "numpy")


# ----------------------------------------------------------------------------- sampling


def _generator(backend: str, seed: int) -> Any:
    if backend == "torch":
        import torch

        return torch.Generator().manual_seed(int(seed))
    return np.random.default_rng([int(seed), 1])


def _tokens(values: Any, rows: int, V: int) -> np.ndarray:
    if isinstance(values, tuple):
        values = values[0]
    if is_torch_tensor(values):
        values = values.detach().cpu().numpy()
    if values is None:
        raise InvalidInputError(f"verifier: sample returned None, expected {rows} integer tokens")
    arr = np.asarray(values).reshape(-1)
    if arr.shape != (rows,):
        raise InvalidInputError(f"verifier: sample returned {np.shape(values)} values, expected {rows} integer tokens")
    if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.all(np.isfinite(arr))):
        bad = "non-finite" if arr.dtype.kind == "f" else f"{arr.dtype}"
        raise InvalidInputError(f"verifier: sample returned {bad} tokens, expected integer token ids")
    if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        first = float(arr[arr != np.round(arr)][0])
        raise InvalidInputError(
            f"verifier: sample returned the non-integer token {first!r}, expected integer token ids"
        )
    arr = arr.astype(np.int64)
    if rows and (arr.min() < 0 or arr.max() >= V):
        raise InvalidInputError(
            f"verifier: sample returned token {int(arr[(arr < 0) | (arr >= V)][0])} outside [0, {V})"
        )
    return arr


def call_sizes(samples: int, chunk: int = CHUNK, pilot: int = PILOT_ROWS) -> list[int]:
    """Rows of each sampler call for ``samples`` rows: doubling from ``pilot`` up to ``chunk``."""
    sizes, size, left = [], max(1, min(pilot, chunk)), int(samples)
    while left > 0:
        sizes.append(min(size, left))
        left -= sizes[-1]
        size = min(2 * size, chunk)
    return sizes


def draw_outputs(
    spec: VerifierSpec,
    problem: Problem,
    samples: int,
    seed: int,
    backend: str = "torch",
    chunk: int = CHUNK,
    on_rows: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``samples`` draft tuples and the verifier's output tokens: (N, n) and (N,) int64.

    Batched verifiers (``batched = True``) get the unbatched target (V,) with drafts (B, n);
    others get target and draft broadcast to (B, V) (a view, no copy). B follows
    :func:`call_sizes`; ``on_rows(rows, seconds)`` (optional) is called after every call.
    """
    check_choice(backend, "backend", SAMPLING_BACKENDS)
    law = problem.law()
    drafts = law.sample(samples, np.random.default_rng([int(seed), 0]))
    generator = _generator(backend, seed)
    g = spec.sampler()
    target, draft = problem.target, law.draft_argument
    if backend == "torch":
        import torch

        target, draft = torch.from_numpy(target), torch.from_numpy(np.ascontiguousarray(draft))
    out = []
    start = 0
    for rows in call_sizes(samples, chunk):
        block = drafts[start : start + rows]
        start += rows
        began = time.perf_counter()
        x = torch.from_numpy(block) if backend == "torch" else block
        if spec.batched:
            t, d = target, draft
        elif backend == "torch":
            t, d = target.expand(rows, -1), draft.expand(rows, *draft.shape)
        else:
            t, d = np.broadcast_to(target, (rows, len(target))), np.broadcast_to(draft, (rows, *draft.shape))
        out.append(_tokens(g(t, d, x, generator), rows, problem.vocab_size))
        if on_rows is not None:
            on_rows(rows, time.perf_counter() - began)
    return drafts, np.concatenate(out) if out else np.zeros(0, np.int64)


# ----------------------------------------------------------------------------- per problem


@dataclass
class StatMeasurement:
    """One statistical test on one problem."""

    name: str
    p_value: float
    estimate: float
    measure: str
    detail: str
    detectable: dict = field(default_factory=dict)


def test_names(spec: VerifierSpec, optimal: bool) -> list[str]:
    """The tests run per problem for this verifier (their count sets the Bonferroni level)."""
    names = ["output_law", "acceptance_bound"]
    if optimal:
        names.append("optimal")
    if callable(getattr(spec.verifier, "acceptance", None)):
        names.append("claimed_acceptance")
    if spec.has_conditional:
        names.append("sample_matches_conditional")
    return names


def _law_test(name: str, counts: np.ndarray, expected: np.ndarray, samples: int, level: float) -> StatMeasurement:
    res = g_test(counts, expected)
    tv_hat = 0.5 * float(np.abs(counts - expected).sum()) / samples
    mdd = {f"tv_power{int(b * 100)}": detectable_tv(samples, res.df, level, b) for b in (0.5, 0.9)}
    extra = f", {res.impossible} impossible outputs" if res.impossible else ""
    return StatMeasurement(
        name,
        res.p_value,
        tv_hat,
        "TV estimate",
        f"G={res.statistic:.4g} df={res.df} p={res.p_value:.3g}{extra}; plug-in TV {tv_hat:.2e}; "
        f"detectable TV {mdd['tv_power50']:.2e} (50% power) / {mdd['tv_power90']:.2e} (90%)",
        mdd,
    )


#: What each side of a rate test looks for, in words (``"greater"`` reads wrongly next to a smaller estimate).
_SIDES = {
    "greater": "one-sided test: is acceptance above {what}?",
    "less": "one-sided test: is acceptance below {what}?",
    "two-sided": "two-sided test: does acceptance differ from {what}?",
}


def _rate_test(
    name: str, accepted: int, samples: int, rate: float, side: str, level: float, what: str
) -> StatMeasurement:
    p = binomial_p_value(accepted, samples, rate, side)
    est = accepted / samples
    shift = {
        f"shift_power{int(b * 100)}": detectable_rate_shift(samples, rate, level, b, side == "two-sided")
        for b in (0.5, 0.9)
    }
    return StatMeasurement(
        name,
        p,
        est - rate,
        f"acceptance - {what}",
        f"acceptance {est:.6f} vs {what} {rate:.6f} ({_SIDES[side].format(what=what)}) p={p:.3g}; detectable shift "
        f"{shift['shift_power50']:.2e} (50%) / {shift['shift_power90']:.2e} (90%)",
        shift,
    )


def measure_problem(
    spec: VerifierSpec,
    problem: Problem,
    *,
    samples: int,
    level: float,
    seed: int,
    optimal: bool,
    alpha_star: float,
    backend: str = "torch",
    outputs: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[StatMeasurement]:
    """Run :func:`test_names` on one problem; every test at ``level``.

    ``outputs``: the ``(drafts, tokens)`` of :func:`draw_outputs` with these arguments, if
    already drawn.
    """
    drafts, tokens = outputs if outputs is not None else draw_outputs(spec, problem, samples, seed, backend)
    V = problem.vocab_size
    counts = np.bincount(tokens, minlength=V).astype(float)
    accepted = int((drafts == tokens[:, None]).any(axis=1).sum())
    out = [
        _law_test("output_law", counts, samples * problem.target, samples, level),
        _rate_test("acceptance_bound", accepted, samples, alpha_star, "greater", level, "alpha*"),
    ]
    if optimal:
        out.append(_rate_test("optimal", accepted, samples, alpha_star, "less", level, "alpha*"))
    law = problem.law()
    claimed = spec.claimed_acceptance(problem.target, law.draft_argument, problem.n)
    if claimed is not None:
        out.append(_rate_test("claimed_acceptance", accepted, samples, claimed, "two-sided", level, "claimed"))
    if spec.has_conditional:
        unique, weights = np.unique(drafts, axis=0, return_counts=True)
        conds = conditionals(spec.conditional(), problem.target, law.draft_argument, unique, batched=spec.batched)
        out.append(_law_test("sample_matches_conditional", counts, weights @ conds, samples, level))
    return out


def reproducibility(
    spec: VerifierSpec,
    problem: Problem,
    samples: int,
    seed: int,
    backend: str = "torch",
    first: np.ndarray | None = None,
    on_rows: Any = None,
) -> tuple[int, int]:
    """``(differing, compared)``: outputs of two runs with the same seed that differ (module doc).

    ``first``: the tokens of a run already drawn with these arguments (then one more run).
    """
    m = int(samples)
    if first is None:
        first = draw_outputs(spec, problem, m, seed, backend, on_rows=on_rows)[1]
    second = draw_outputs(spec, problem, m, seed, backend, on_rows=on_rows)[1]
    return int((first != second).sum()), m

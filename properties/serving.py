"""Inputs as serving engines have them: sampling parameters and low-precision dtypes.

Two options of the checker (``CheckConfig.sampling`` / ``.dtype``; ``--temperature``,
``--top-k``, ``--top-p``, ``--dtype`` on the command line) turn every generated problem (p, q)
into the one a serving engine would hand the verifier:

* **sampling parameters**: p and q both go through :func:`multidraft.logits.process_probs`
  (temperature, then top-k, then top-p, on ``log p`` / ``log q``); problems whose processed
  draft law cannot drive the drafting law (e.g. fewer than n tokens left without replacement)
  are skipped;
* **dtype** (``float32``, ``bfloat16``, ``float16``): p and q are rounded to the dtype; the
  problem's laws become the *float64 laws of the rounded inputs* (the rounded values divided by
  their float64 sum), and every exact and statistical property is measured against them
  (algorithmic faults, at the usual tolerance). Separately, the row ``dtype_deviation`` calls
  the verifier on the rounded tensors themselves (torch, in the dtype, not renormalised: what
  the engine has) and reports ``TV(output law, float64 law of the rounded inputs)`` and the
  law error, worst over the problems: the deviation the dtype causes. It is an info row
  unless ``dtype_tol`` is given (then a failure above it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from multidraft.evaluate import evaluate
from multidraft.logits import SamplingParams, process_probs
from multidraft.validation import InvalidInputError
from multidraft.verifiers import as_numpy_probs, conditional_of

from .adapters import VerifierSpec
from .problem import Problem
from .report import PropertyResult

#: The dtypes ``--dtype`` accepts (float64 = no rounding).
DTYPES = ("float64", "float32", "bfloat16", "float16")


def torch_dtype(name: str | None) -> torch.dtype | None:
    """``torch.float32`` etc. for a name of :data:`DTYPES`; None for None / float64."""
    if name in (None, "float64"):
        return None
    if name not in DTYPES:
        raise InvalidInputError(f"dtype: expected one of {DTYPES}, got {name!r}")
    return getattr(torch, name)


def rounded(values: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    """``values`` rounded to ``dtype`` (round to nearest), back in float64, same shape."""
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64)).to(dtype).to(torch.float64).numpy()


def _normalised(values: np.ndarray) -> np.ndarray:
    return values / values.sum(axis=-1, keepdims=True)


def serving_problem(problem: Problem, params: SamplingParams | None, dtype: str | None) -> Problem | None:
    """The problem a serving engine would see (see module doc); None if it is no longer a problem."""
    p, q = problem.target, problem.draft
    origin = [problem.origin] if problem.origin else []
    if params is not None and not params.identity:
        p, q = process_probs(p, params=params), process_probs(q, params=params)
        origin.append(f"T={params.temperature:g} top_k={params.top_k} top_p={params.top_p}")
    tdtype = torch_dtype(dtype)
    if tdtype is not None:
        p, q = _normalised(rounded(p, tdtype)), _normalised(rounded(q, tdtype))
        origin.append(f"rounded to {dtype}")
    out = Problem(p, q, problem.n, problem.drafting, "; ".join(origin), problem.law_factory)
    try:
        out.law()
    except InvalidInputError:
        return None
    return out


def _serving_settings(config: Any) -> tuple[SamplingParams | None, str | None] | None:
    """The config's (sampling parameters, dtype), or None when they leave problems unchanged."""
    params = getattr(config, "sampling", None)
    dtype = getattr(config, "dtype", None)
    if (params is None or params.identity) and dtype in (None, "float64"):
        return None
    return params, dtype


def wrap_strategy(strategy: Any, config: Any) -> Any:
    """``strategy`` mapped through :func:`serving_problem` for the config's sampling parameters and dtype."""
    settings = _serving_settings(config)
    if settings is None:
        return strategy
    return strategy.map(lambda prob: serving_problem(prob, *settings)).filter(lambda prob: prob is not None)


def serving_problems(problems: list[Problem], config: Any) -> list[Problem]:
    """:func:`serving_problem` of each of ``problems`` (those still problems), as :func:`wrap_strategy` does."""
    settings = _serving_settings(config)
    if settings is None:
        return problems
    return [prob for prob in (serving_problem(p, *settings) for p in problems) if prob is not None]


def _law_at_dtype(spec: VerifierSpec, problem: Problem, dtype: torch.dtype, max_count: int) -> Any:
    """Exact evaluation of the verifier called with p, q rounded to ``dtype`` (torch tensors in that
    dtype, not renormalised), against the float64 law of those rounded values (divided by their sum)."""
    r_p, r_q = rounded(problem.target, dtype), rounded(problem.draft, dtype)
    reference = Problem(
        _normalised(r_p), _normalised(r_q), problem.n, problem.drafting, problem.origin, problem.law_factory
    )
    law = reference.law()
    f = conditional_of(spec.verifier)
    p_in, q_in = torch.from_numpy(r_p).to(dtype), torch.from_numpy(r_q).to(dtype)

    def at_dtype(target: Any, draft: Any, drafts: Any) -> np.ndarray:
        return as_numpy_probs(f(p_in, q_in, drafts))

    return evaluate(
        at_dtype, reference.target, law.draft_argument, problem.n, drafting=law, max_count=max_count, alpha_star=0.0
    )


def dtype_row(spec: VerifierSpec, config: Any, problems: list[Problem]) -> PropertyResult:
    """The ``dtype_deviation`` row: TV and law error of the verifier at the dtype's inputs (see module doc)."""
    dtype = torch_dtype(config.dtype)
    tol = getattr(config, "dtype_tol", None)
    if not spec.has_conditional:
        return PropertyResult(
            "dtype_deviation",
            "exact",
            "skip",
            "TV at dtype inputs",
            0.0,
            0.0,
            0,
            None,
            "needs a conditional interface (or --interface exact-sampling / uniforms)",
        )
    worst, where, detail = -1.0, None, ""
    for problem in problems:
        try:
            ev = _law_at_dtype(spec, problem, dtype, config.max_tuples)
        except Exception as exc:  # the verifier may refuse low-precision tensors: that is the finding
            return PropertyResult(
                "dtype_deviation",
                "exact",
                "fail",
                "TV at dtype inputs",
                float("inf"),
                tol or 0.0,
                len(problems),
                problem,
                f"the verifier raised {type(exc).__name__}: {exc} on {config.dtype} inputs",
            )
        if ev.tv > worst:
            worst, where = ev.tv, problem
            detail = (
                f"TV(output at {config.dtype} inputs, float64 law of the rounded inputs) = {ev.tv:.3e}, "
                f"law error {ev.validity_error:.3e} (worst over {len(problems)} problems)"
            )
    status = "info" if tol is None else ("pass" if worst <= tol else "fail")
    return PropertyResult(
        "dtype_deviation",
        "exact",
        status,
        "TV at dtype inputs",
        max(worst, 0.0),
        tol if tol is not None else 0.0,
        len(problems),
        where,
        detail,
    )

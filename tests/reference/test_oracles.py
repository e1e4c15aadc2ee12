"""The three exact oracles agree with each other and with brute force; their plans are lossless."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import multidraft
from multidraft.properties.strategies import drafting_laws, laws

LAWS = ("iid", "without_replacement", "independent", "joint")


@st.composite
def problems(draw, law: str, max_v: int = 6, max_n: int = 3):
    """``(p, drafting_law)`` with V <= max_v and n <= max_n for the named law (shipped strategies)."""
    V = draw(st.integers(1 if law != "without_replacement" else 2, max_v))
    n = draw(st.integers(1, max_n))
    if law == "without_replacement":
        n = min(n, V)
    elif law != "iid":
        n = min(n, 2) if V > 4 else n
    return draw(laws(V)), draw(drafting_laws(V, n, kinds=(law,)))


# --------------------------------------------------------------------------- helpers

from hypothesis import given, settings  # noqa: E402

from multidraft.reference import (  # noqa: E402
    TransportPlan,
    optimal_acceptance,
    optimal_acceptance_bruteforce,
    solve_lp,
    solve_maxflow,
)

VALUE_TOL = 1e-8  # LP / float agreement on alpha*
EXACT_TOL = 1e-12  # lossless: TV and validity of completed plans


def check_plan(plan: TransportPlan, p: np.ndarray, law, expected: float) -> None:
    """The completed plan is exactly lossless and its acceptance is the oracle's value."""
    ev = multidraft.evaluate(plan.as_verifier(), p, drafting=law, alpha_star=expected)
    assert ev.tv <= EXACT_TOL, ev.summary()
    assert ev.validity_error <= EXACT_TOL, ev.summary()
    assert abs(ev.acceptance - expected) <= VALUE_TOL, ev.summary()
    assert abs(plan.acceptance - ev.acceptance) <= 1e-12
    assert plan.marginal_violation() <= 1e-12


def check_all_oracles(p: np.ndarray, law, *, plans: bool = True) -> float:
    """Every oracle agrees with brute force (and the closed form for i.i.d.); returns alpha*."""
    brute, _ = optimal_acceptance_bruteforce(p, drafting=law)
    if isinstance(law, multidraft.IID):
        assert abs(float(optimal_acceptance(p, law.q, law.n).alpha_star) - brute) <= 1e-12
    forms = ("sets", "tuples") if law.vocab_size ** (law.n + 1) <= 5000 else ("sets",)
    for form in forms:
        lp = solve_lp(p, drafting=law, form=form)
        assert abs(lp.alpha_star - brute) <= VALUE_TOL, (form, lp.alpha_star, brute)
        assert abs(lp.certificate_gap) <= VALUE_TOL, (form, lp.certificate_gap)
        assert abs(lp.certificate - brute) <= VALUE_TOL
        assert lp.primal_violation <= 1e-9
        if plans:
            check_plan(lp.plan, p, law, brute)
    mf = solve_maxflow(p, drafting=law)
    lo, hi = mf.bounds
    assert lo - 1e-12 <= brute <= hi + 1e-12, (mf.bounds, brute)
    assert hi - lo <= 1e-12
    assert abs(mf.certificate - brute) <= 1e-12
    if plans:
        check_plan(mf.plan, p, law, brute)
    return brute


# --------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(problems("iid"))
def test_oracles_agree_iid(problem):
    check_all_oracles(*problem)


@settings(max_examples=30, deadline=None)
@given(problems("without_replacement"))
def test_oracles_agree_without_replacement(problem):
    check_all_oracles(*problem)


@settings(max_examples=30, deadline=None)
@given(problems("independent"))
def test_oracles_agree_independent(problem):
    check_all_oracles(*problem)


@settings(max_examples=30, deadline=None)
@given(problems("joint"))
def test_oracles_agree_joint(problem):
    check_all_oracles(*problem)


@settings(max_examples=20, deadline=None)
@given(problems("iid"))
def test_maxflow_interval_contains_lp_and_shrinks(problem):
    p, law = problem
    lp = solve_lp(p, drafting=law)
    widths = []
    for bits in (8, 16, 32, 52):
        lo, hi = solve_maxflow(p, drafting=law, scale=2**bits).bounds
        assert lo - 1e-9 <= lp.alpha_star <= hi + 1e-9, (bits, lo, hi, lp.alpha_star)
        widths.append(hi - lo)
    assert all(b <= a for a, b in zip(widths, widths[1:])), widths


@settings(max_examples=20, deadline=None)
@given(problems("iid"))
def test_minimal_and_maximal_cuts_match_closed_form(problem):
    p, law = problem
    closed = optimal_acceptance(p, law.q, law.n)
    mf = solve_maxflow(p, drafting=law)
    _, minimisers = optimal_acceptance_bruteforce(p, drafting=law)
    # every max-flow cut is a minimiser; brute force lists all minimisers (within 1e-12)
    for h in (mf.h_min, mf.h_max):
        assert any(np.array_equal(h, m) for m in minimisers), (h, minimisers)
    # minimisers form a lattice: the closed form's extremes bracket every minimiser
    # (unless a probability is below the scale's resolution 2^-52, where ties blur)
    tiny = lambda x: np.any((x > 0) & (x < 1e-12))  # noqa: E731
    if not (tiny(p) or tiny(law.q)):
        assert np.all(closed.h_min <= mf.h_min) and np.all(mf.h_max <= closed.h_max)

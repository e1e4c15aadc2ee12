"""Named edge cases and bad inputs for the LP and max-flow oracles and TransportPlan."""

from __future__ import annotations

import importlib
import importlib.util
import pathlib

import numpy as np
import pytest
import scipy.sparse as sp

import multidraft
from multidraft import InvalidInputError, TooLargeError
from multidraft.examples import llm_like
from multidraft.reference import TransportPlan, optimal_acceptance, optimal_acceptance_for, solve_lp, solve_maxflow

_spec = importlib.util.spec_from_file_location("_oracle_props", pathlib.Path(__file__).with_name("test_oracles.py"))
_props = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_props)
check_all_oracles = _props.check_all_oracles

TOY_P = np.array([0.35, 0.25, 0.15, 0.1, 0.1, 0.05])
TOY_Q = np.array([0.1, 0.3, 0.3, 0.05, 0.2, 0.05])


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("n", [1, 2, 3])
def test_equal_laws_accept_always(n):
    p = np.array([0.4, 0.3, 0.2, 0.1])
    assert check_all_oracles(p, multidraft.IID(p, n)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", [1, 3])
def test_disjoint_supports_accept_never(n):
    p, q = np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.5, 0.5])
    assert check_all_oracles(p, multidraft.IID(q, n)) == pytest.approx(0.0, abs=1e-12)


def test_single_draft_is_one_minus_tv():
    alpha = check_all_oracles(TOY_P, multidraft.IID(TOY_Q, 1))
    assert alpha == pytest.approx(1 - 0.5 * np.abs(TOY_P - TOY_Q).sum(), abs=1e-12)


def test_one_hot_target_and_draft():
    one_hot = np.array([0.0, 1.0, 0.0, 0.0])
    spread = np.array([0.25, 0.25, 0.25, 0.25])
    # one-hot p: accept iff token 1 is drafted
    assert check_all_oracles(one_hot, multidraft.IID(spread, 2)) == pytest.approx(1 - 0.75**2, abs=1e-12)
    # one-hot q: the single drafted token is accepted with probability p(1)
    assert check_all_oracles(spread, multidraft.IID(one_hot, 3)) == pytest.approx(0.25, abs=1e-12)


def test_zeros_ties_and_tiny_probabilities():
    p = np.array([0.3, 0.3, 0.2, 0.2 - 1e-30, 1e-30, 0.0])
    q = np.array([0.2, 0.2, 0.3, 0.3 - 2e-30, 0.0, 2e-30])
    for n in (1, 2, 3):
        check_all_oracles(p, multidraft.IID(q, n))
        check_all_oracles(p, multidraft.WithoutReplacement(q, n))


def test_acceptance_one_with_no_residual_uses_p():
    p = np.array([0.5, 0.5])
    res = solve_lp(p, p, 3)
    assert res.plan.acceptance == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(res.plan.residual, p)


def test_toy_example_matches_closed_form():
    closed = float(optimal_acceptance(TOY_P, TOY_Q, 2).alpha_star)
    assert solve_lp(TOY_P, TOY_Q, 2).alpha_star == pytest.approx(closed, abs=1e-12)
    assert solve_lp(TOY_P, TOY_Q, 2, form="tuples").alpha_star == pytest.approx(closed, abs=1e-12)
    lo, hi = solve_maxflow(TOY_P, TOY_Q, 2).bounds
    assert lo <= closed + 1e-15 and closed - 1e-15 <= hi


def test_drafts_outside_the_support_get_the_residual():
    q = np.array([0.5, 0.5, 0.0])
    p = np.array([0.2, 0.3, 0.5])
    res = solve_lp(p, q, 2)
    np.testing.assert_array_equal(res.conditional([2, 2]), res.plan.residual)
    np.testing.assert_allclose(res.plan.residual.sum(), 1.0)


def test_batched_conditional_matches_single_calls():
    res = solve_maxflow(TOY_P, TOY_Q, 3)
    drafts = np.array([[0, 1, 2], [2, 1, 0], [5, 5, 5], [3, 4, 3]])
    batch = res.conditional(drafts)
    assert batch.shape == (4, 6) and batch.dtype == np.float64
    for row, out in zip(drafts, batch):
        np.testing.assert_array_equal(res.conditional(row), out)
    np.testing.assert_array_equal(batch[0], batch[1])  # the sets form ignores order


def test_evaluate_uses_maxflow_for_large_non_iid_laws():
    p, q = llm_like(20, seed=3)
    law = multidraft.WithoutReplacement(q, 2)
    alpha = optimal_acceptance_for(p, law)
    assert alpha == pytest.approx(solve_lp(p, drafting=law).alpha_star, abs=1e-9)


def test_plan_from_user_keys_and_dense_accepted_mass():
    law = multidraft.IID(np.array([0.5, 0.5]), 2)
    keys = [{0}, {1}, {0, 1}]
    probs = [0.25, 0.25, 0.5]
    accepted = np.array([[0.25, 0.0], [0.0, 0.25], [0.25, 0.25]])
    plan = TransportPlan([0.5, 0.5], law, keys, probs, accepted)
    assert plan.acceptance == pytest.approx(1.0)
    assert plan.marginal_violation() <= 1e-15
    sparse = TransportPlan([0.5, 0.5], law, keys, probs, sp.csr_matrix(accepted))
    np.testing.assert_array_equal(plan.conditional([[0, 1], [1, 1]]), sparse.conditional([[0, 1], [1, 1]]))


def test_plan_repairs_slightly_infeasible_mass():
    law = multidraft.IID(np.array([0.5, 0.5]), 1)
    plan = TransportPlan([0.5, 0.5], law, [[0], [1]], [0.5, 0.5], np.array([[0.5 + 1e-10, 0], [0, -1e-12]]))
    ev = multidraft.evaluate(plan.as_verifier(), [0.5, 0.5], [0.5, 0.5], 1)
    assert ev.is_lossless(1e-12)


# --------------------------------------------------------------------------- bad inputs


def test_bad_form_and_sizes():
    with pytest.raises(InvalidInputError, match="form"):
        solve_lp(TOY_P, TOY_Q, 2, form="pairs")
    with pytest.raises(InvalidInputError, match="form"):
        solve_maxflow(TOY_P, TOY_Q, 2, form="pairs")
    with pytest.raises(InvalidInputError, match="target"):
        solve_lp(TOY_P[:5] / TOY_P[:5].sum(), TOY_Q, 2)
    with pytest.raises(InvalidInputError, match="target"):
        solve_maxflow(-TOY_P, TOY_Q, 2)
    with pytest.raises(InvalidInputError, match="n"):
        solve_lp(TOY_P, TOY_Q, 0)
    with pytest.raises(InvalidInputError, match="drafting"):
        solve_maxflow(TOY_P, TOY_Q, 2, drafting="greedy")


@pytest.mark.parametrize("scale", [3, 0, 2**53, 1.5, True])
def test_bad_scale(scale):
    with pytest.raises(InvalidInputError, match="scale"):
        solve_maxflow(TOY_P, TOY_Q, 2, scale=scale)


def test_too_large_is_refused_before_building():
    with pytest.raises(TooLargeError, match="max_variables"):
        solve_lp(TOY_P, TOY_Q, 2, max_variables=10)
    with pytest.raises(TooLargeError, match="max_arcs"):
        solve_maxflow(TOY_P, TOY_Q, 2, max_arcs=10)
    p, q = llm_like(5000, seed=0)
    with pytest.raises(TooLargeError, match="variables"):
        solve_lp(p, q, 4)  # C(5000, 4) sets: refused from the count alone
    with pytest.raises(TooLargeError, match="arcs"):
        solve_maxflow(p, q, 4)


@pytest.mark.parametrize("n", [10**6, 10**30])
def test_huge_n_is_refused_from_the_count(n):
    for solve in (solve_lp, solve_maxflow):
        with pytest.raises(TooLargeError, match="max_count"):
            solve(TOY_P, TOY_Q, n)  # C(n - 1, 5) multiplicity patterns per 6-token set


def test_large_n_with_few_tokens_is_solved():
    # n > 170: multinomial coefficients above 1e308 and powers below 1e-308 (log space);
    # capacity sums bounded by min(n, V) middle arcs per set, not by n
    p, q, n = np.array([0.3, 0.7]), np.array([0.5, 0.5]), 1100
    closed = float(optimal_acceptance(p, q, n).alpha_star)
    lp = solve_lp(p, q, n)
    assert lp.support.probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert lp.alpha_star == pytest.approx(closed, abs=1e-9)
    lo, hi = solve_maxflow(p, q, n).bounds
    assert lo - 1e-12 <= closed <= hi + 1e-12


def test_verifier_checks_its_target_and_drafts():
    verifier = solve_lp(TOY_P, TOY_Q, 2).as_verifier()
    with pytest.raises(InvalidInputError, match="target"):
        verifier.conditional(TOY_Q, TOY_Q, [0, 1])
    with pytest.raises(InvalidInputError, match="draft"):
        verifier.conditional(TOY_P, TOY_P, [0, 1])
    with pytest.raises(InvalidInputError, match="drafts"):
        verifier.conditional(TOY_P, TOY_Q, [0, 6])
    with pytest.raises(InvalidInputError, match="drafts"):
        verifier.conditional(TOY_P, TOY_Q, [0, 1, 2])


def test_bad_plan_inputs():
    law = multidraft.IID(np.array([0.5, 0.5]), 1)
    with pytest.raises(InvalidInputError, match="accepted"):
        TransportPlan([0.5, 0.5], law, [[0], [1]], [0.5, 0.5], np.array([[0.0, 0.5], [0.0, 0.0]]))
    with pytest.raises(InvalidInputError, match="accepted"):
        TransportPlan([0.5, 0.5], law, [[0], [1]], [0.5, 0.5], np.zeros((3, 2)))
    with pytest.raises(InvalidInputError, match="probs"):
        TransportPlan([0.5, 0.5], law, [[0], [1]], [0.5, 0.0], np.zeros((2, 2)))

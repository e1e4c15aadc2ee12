"""Closed-form alpha* and its minimising cuts against brute force over all subsets."""

import numpy as np
import pytest
from hypothesis import given, settings

from multidraft.drafting import Independent, Joint
from multidraft.properties.strategies import MODIFIERS, problem_tuples
from multidraft.reference import optimal_acceptance, optimal_acceptance_bruteforce
from multidraft.validation import TooLargeError


def laws(max_vocab=7):
    """(p, q, n), V <= max_vocab, n <= 5, from the shipped strategies (zeros, exact and near ties).

    Without entries below 1e-20 (the ``tiny`` modifier, cold LLM-like laws): a token with p = 0
    and q = 1e-30 lowers psi(H) by 1e-30, which the brute force's float sums lose, so its
    minimiser sets (not alpha*) then differ by rounding.
    """

    def no_tiny(t):
        return all(not ((x > 0) & (x < 1e-20)).any() for x in t[:2])

    return problem_tuples(n=(1, 5), vocab=(1, max_vocab), modifiers=tuple(m for m in MODIFIERS if m != "tiny")).filter(
        no_tiny
    )


@settings(max_examples=150, deadline=None, derandomize=True)
@given(laws())
def test_closed_form_equals_brute_force_and_finds_the_extreme_minimisers(problem):
    p, q, n = problem
    result = optimal_acceptance(p, q, n)
    alpha, minimisers = optimal_acceptance_bruteforce(p, q, n)
    assert float(result.alpha_star) == pytest.approx(alpha, abs=1e-12)
    np.testing.assert_array_equal(result.h_min, minimisers.all(axis=0))  # smallest = intersection
    np.testing.assert_array_equal(result.h_max, minimisers.any(axis=0))  # largest = union


def test_named_values():
    p, q = np.array([0.6, 0.3, 0.1]), np.array([0.2, 0.3, 0.5])
    assert float(optimal_acceptance(p, q, 1).alpha_star) == pytest.approx(1 - 0.5 * np.abs(p - q).sum())
    assert float(optimal_acceptance(p, p, 3).alpha_star) == 1.0
    assert float(optimal_acceptance([0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5], 4).alpha_star) == 0.0
    assert float(optimal_acceptance([1.0, 0, 0], q, 2).alpha_star) == pytest.approx(1 - 0.8**2)


def test_batched_rows_equal_single_rows():
    rng = np.random.default_rng(0)
    P, Q = rng.dirichlet(np.ones(6), (3, 4)), rng.dirichlet(np.ones(6), (3, 4))
    result = optimal_acceptance(P, Q, 3)
    assert result.alpha_star.shape == (3, 4) and result.h_min.shape == (3, 4, 6)
    for i in range(3):
        for j in range(4):
            assert result.alpha_star[i, j] == float(optimal_acceptance(P[i, j], Q[i, j], 3).alpha_star)


def test_alpha_grows_with_n():
    rng = np.random.default_rng(1)
    p, q = rng.dirichlet(np.ones(20)), rng.dirichlet(np.ones(20))
    values = [float(optimal_acceptance(p, q, n).alpha_star) for n in range(1, 9)]
    assert all(b >= a - 1e-15 for a, b in zip(values, values[1:]))


def test_brute_force_for_other_laws():
    import itertools

    p, q1, q2 = np.array([0.4, 0.2, 0.4]), np.array([0.7, 0.3, 0.0]), np.array([0.1, 0.1, 0.8])
    by_hand = min(
        p[list(h)].sum() + 1 - q1[list(h)].sum() * q2[list(h)].sum()
        for r in range(4)
        for h in itertools.combinations(range(3), r)
    )
    alpha, _ = optimal_acceptance_bruteforce(p, drafting=Independent([q1, q2]))
    assert alpha == pytest.approx(by_hand, abs=1e-14)
    assert optimal_acceptance_bruteforce(p, drafting=Joint(np.outer(q1, q2)))[0] == pytest.approx(by_hand, abs=1e-14)
    with pytest.raises(TooLargeError, match="V <= 16"):
        optimal_acceptance_bruteforce(np.full(17, 1 / 17), np.full(17, 1 / 17), 2)

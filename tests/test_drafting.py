"""Drafting laws: exact supports sum to 1, agree with each other and with sampling."""

import math

import numpy as np
import pytest

from multidraft.drafting import (
    COUNT_CAP,
    IID,
    Independent,
    Joint,
    WithoutReplacement,
    capped_comb,
    capped_perm,
    capped_power,
    drafting_law,
    format_count,
)
from multidraft.validation import InvalidInputError, TooLargeError

Q = np.array([0.5, 0.3, 0.2, 0.0])


def test_iid_tuples_multisets_and_sets_agree():
    law = IID(Q, 3)
    tuples, probs = law.tuples()
    assert len(tuples) == 27 and probs.sum() == pytest.approx(1.0, abs=1e-15)
    multisets, mprobs = law.multisets()
    assert len(multisets) == math.comb(5, 3) and mprobs.sum() == pytest.approx(1.0, abs=1e-15)
    masks, sprobs = law.sets()
    generic = IID.__mro__[1].sets(law)  # aggregation of ordered tuples
    order = np.lexsort(masks.T), np.lexsort(generic[0].T)
    np.testing.assert_allclose(sprobs[order[0]], generic[1][order[1]], rtol=0, atol=1e-15)


def test_prob_all_in_matches_enumeration_for_every_law():
    rng = np.random.default_rng(0)
    laws = [
        IID(Q, 2),
        WithoutReplacement(Q, 2),
        Independent([Q, [0.1, 0.2, 0.3, 0.4]]),
        Joint(rng.dirichlet(np.ones(16)).reshape(4, 4)),
    ]
    subsets = rng.random((10, 4)) < 0.5
    for law in laws:
        tuples, probs = law.tuples()
        brute = [(probs * np.all(h[tuples], axis=1)).sum() for h in subsets]
        np.testing.assert_allclose(law.prob_all_in(subsets), brute, rtol=0, atol=1e-15)
        masks, sprobs = law.sets()
        assert sprobs.sum() == pytest.approx(1.0, abs=1e-14)


def test_without_replacement_draws_distinct_tokens_and_matches_sampling():
    law = WithoutReplacement(Q, 2)
    tuples, probs = law.tuples()
    assert np.all(tuples[:, 0] != tuples[:, 1]) and probs.sum() == pytest.approx(1.0, abs=1e-15)
    sample = law.sample(20000, np.random.default_rng(1))
    assert np.all(sample[:, 0] != sample[:, 1])
    first = np.bincount(sample[:, 0], minlength=4) / 20000
    np.testing.assert_allclose(first, Q, atol=0.015)
    with pytest.raises(InvalidInputError, match="needs at least 4 tokens"):
        WithoutReplacement(Q, 4)


def test_joint_law_and_exchangeability():
    table = np.full((3, 3), 1 / 9)
    assert Joint(table).exchangeable
    skew = np.zeros((3, 3))
    skew[0, 1] = 1.0
    assert not Joint(skew).exchangeable
    with pytest.raises(InvalidInputError, match="table"):
        Joint(np.full((2, 3), 1 / 6))


def test_independent_needs_at_least_one_law():
    with pytest.raises(InvalidInputError, match=r"drafts: expected at least one draft law \(n >= 1\)"):
        Independent(np.zeros((0, 4)))


def test_drafting_law_names_and_errors():
    assert isinstance(drafting_law("iid", Q, 2), IID)
    assert isinstance(drafting_law("without_replacement", Q, 2), WithoutReplacement)
    with pytest.raises(InvalidInputError, match="drafting: expected one of"):
        drafting_law("sorted", Q, 2)
    with pytest.raises(InvalidInputError, match="n: 3 does not match"):
        drafting_law(Independent([Q, Q]), None, 3)


def test_enumeration_refuses_large_sizes():
    with pytest.raises(TooLargeError, match="above the limit"):
        IID(np.full(100, 0.01), 4).tuples(max_count=10_000)


def test_capped_counts_are_exact_below_the_cap_and_never_computed_above():
    for k in range(0, 12):
        for j in range(0, 14):
            assert capped_comb(k, j) == math.comb(k, j)
            assert capped_perm(k, j) == math.perm(k, j)
            assert capped_power(k, j) == k**j
    assert capped_power(2, 61) == 2**61 and capped_power(2, 62) == COUNT_CAP
    assert capped_comb(200, 100) == COUNT_CAP and capped_perm(10**6, 10**5) == COUNT_CAP
    assert capped_power(3, 10**30) == COUNT_CAP and capped_power(1, 10**30) == 1  # instant, no big ints
    assert capped_comb(10**30 + 5, 10**30) == COUNT_CAP and capped_comb(10**6 + 2, 10**6) == math.comb(10**6 + 2, 2)
    assert format_count(1234567) == "1,234,567" and format_count(COUNT_CAP) == "more than 4.6e+18"


def test_multiset_probabilities_for_large_n():
    law = IID([0.25, 0.75], 40)
    combos, probs = law.multisets()
    heads = (combos == 0).sum(axis=1)
    binomial = [math.comb(40, h) * 0.25**h * 0.75 ** (40 - h) for h in heads]
    np.testing.assert_allclose(probs, binomial, rtol=1e-13, atol=0)

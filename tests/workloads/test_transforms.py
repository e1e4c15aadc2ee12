"""Tempered softmax, top-k and top-p on (B, V) laws."""

import numpy as np
import pytest

from multidraft.validation import InvalidInputError
from multidraft.workloads.transforms import (
    check_top_k,
    check_top_p,
    restrict_top_k,
    restrict_top_p,
    temper_law,
    tempered_softmax,
)


def test_tempered_softmax_rows_are_laws():
    z = np.random.default_rng(0).normal(size=(5, 50)) * 10
    for T in (0.2, 1.0, 3.0):
        p = tempered_softmax(z, T)
        assert p.shape == z.shape and (p > 0).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(np.log(p[:, 1] / p[:, 0]), (z[:, 1] - z[:, 0]) / T, atol=1e-9)


def test_temper_law_matches_softmax_of_logits():
    z = np.random.default_rng(1).normal(size=(3, 20))
    p = tempered_softmax(z)
    np.testing.assert_allclose(temper_law(p, 0.5), tempered_softmax(z, 0.5), atol=1e-14)


def test_top_k_keeps_exactly_k_even_with_ties():
    law = np.full((4, 10), 0.1)
    out = restrict_top_k(law, 3)
    assert ((out > 0).sum(axis=1) == 3).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-15)
    assert np.array_equal(law, np.full((4, 10), 0.1))  # input untouched


def test_top_k_keeps_the_largest():
    rng = np.random.default_rng(2)
    law = tempered_softmax(rng.normal(size=(6, 40)))
    out = restrict_top_k(law, 5)
    for row_in, row_out in zip(law, out):
        assert set(np.flatnonzero(row_out)) == set(np.argsort(-row_in)[:5])
        np.testing.assert_allclose(row_out[row_out > 0], row_in[row_out > 0] / np.sort(row_in)[-5:].sum())


def test_top_p_is_the_smallest_nucleus():
    rng = np.random.default_rng(3)
    law = tempered_softmax(rng.normal(size=(8, 600)) * 2)  # 600 > the first candidate count
    for top_p in (0.3, 0.9, 0.999):
        out = restrict_top_p(law, top_p)
        for row_in, row_out in zip(law, out):
            s = np.sort(row_in)[::-1]
            expected = int(np.searchsorted(np.cumsum(s), top_p) + 1)  # first prefix with mass >= top_p
            assert (row_out > 0).sum() == expected
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("bad", [0, -1, 11, 2.5, "3", True, float("nan")])
def test_top_k_errors_name_the_argument(bad):
    with pytest.raises(InvalidInputError, match="top_k"):
        check_top_k(bad, 10)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, "x"])
def test_top_p_errors_name_the_argument(bad):
    with pytest.raises(InvalidInputError, match="top_p"):
        check_top_p(bad)


def test_trivial_restrictions_are_none():
    assert check_top_k(10, 10) is None and check_top_k(None, 10) is None
    assert check_top_p(1.0) is None

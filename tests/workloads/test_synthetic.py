"""Synthetic LLM-like workloads: shapes, valid laws, seeds, top-k, calibration."""

import numpy as np
import pytest

from multidraft.examples import llm_like as llm_like_from_examples
from multidraft.validation import InvalidInputError
from multidraft.workloads import calibrate_correlation, llm_like, llm_like_batch, single_draft_acceptance

V = 2000


def _assert_laws(x, shape):
    assert x.shape == shape and x.dtype == np.float64
    assert (x >= 0).all() and np.isfinite(x).all()
    np.testing.assert_allclose(x.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_shapes_and_valid_laws():
    w = llm_like_batch(12, V, correlation=0.8, seed=0)
    _assert_laws(w.target, (12, V))
    _assert_laws(w.draft, (12, V))
    assert (w.target > 0).all() and (w.draft > 0).all()
    assert w.meta["source"] == "synthetic" and w.meta["seed"] == 0


def test_same_seed_same_batch_and_rows_independent_of_batch_size():
    a = llm_like_batch(6, V, correlation=0.9, seed=7, top_k=100)
    b = llm_like_batch(6, V, correlation=0.9, seed=7, top_k=100)
    c = llm_like_batch(3, V, correlation=0.9, seed=7, top_k=100)
    d = llm_like_batch(6, V, correlation=0.9, seed=8, top_k=100)
    assert np.array_equal(a.target, b.target) and np.array_equal(a.draft, b.draft)
    assert np.array_equal(a.target[:3], c.target) and np.array_equal(a.draft[:3], c.draft)
    assert not np.array_equal(a.target, d.target)


@pytest.mark.parametrize("k", [10, 100, 1000])
def test_top_k_leaves_exactly_k_nonzeros(k):
    w = llm_like_batch(8, V, correlation=0.7, top_k=k, temperature=0.2, seed=1)
    assert ((w.draft > 0).sum(axis=1) == k).all()
    _assert_laws(w.draft, (8, V))


def test_top_p_restricts_the_draft_only():
    w = llm_like_batch(8, V, correlation=0.9, top_p=0.8, seed=2)
    assert ((w.draft > 0).sum(axis=1) < V).all() and (w.target > 0).all()
    _assert_laws(w.draft, (8, V))


def test_correlation_one_without_truncation_gives_p_equals_q():
    w = llm_like_batch(4, V, correlation=1.0, seed=3)
    np.testing.assert_allclose(w.draft, w.target, atol=1e-15)


CAL_TOL = 1e-3


@pytest.mark.parametrize(
    "acceptance,temperature,top_k",
    [
        (0.5, 1.0, None),
        (0.7, 0.6, 100),
        (0.9, 1.0, 1000),
        (0.8, 0.2, 10),
    ],
)
def test_calibration_hits_requested_acceptance(acceptance, temperature, top_k):
    w = llm_like_batch(16, V, acceptance=acceptance, temperature=temperature, top_k=top_k, seed=4, tol=CAL_TOL)
    assert abs(single_draft_acceptance(w.target, w.draft).mean() - acceptance) <= CAL_TOL
    cal = calibrate_correlation(acceptance, batch=16, vocab_size=V, temperature=temperature, top_k=top_k, seed=4)
    assert cal.correlation == pytest.approx(w.meta["correlation"])
    assert abs(cal.acceptance - acceptance) <= CAL_TOL


def test_unreachable_acceptance_names_the_range():
    with pytest.raises(InvalidInputError, match="acceptance.*reachable range"):
        llm_like_batch(4, V, acceptance=0.99, top_k=10, seed=0)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"batch": 0}, "batch"),
        ({"vocab_size": 1}, "vocab_size"),
        ({"temperature": 0}, "temperature"),
        ({"top_k": V + 1}, "top_k"),
        ({"top_p": 2}, "top_p"),
        ({"correlation": 1.5}, "correlation"),
        ({"seed": -1}, "seed"),
        ({"acceptance": 0.7, "correlation": 0.5}, "acceptance"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    args = {"batch": 2, "vocab_size": V, **kwargs}
    with pytest.raises(InvalidInputError, match=name):
        llm_like_batch(**args)


def test_single_pair_generator_still_importable_from_examples():
    assert llm_like_from_examples is llm_like
    p, q = llm_like(64, seed=0, top_k=5)
    assert p.shape == (64,) and (q > 0).sum() == 5

"""The real-text workload on a small slice of the pydoc text (quick)."""

import numpy as np
import pytest

from multidraft.validation import InvalidInputError
from multidraft.workloads import single_draft_acceptance, text_models, text_workload

SMALL = {"bpe_vocab": 600, "max_chars": 60_000}


def test_laws_are_full_valid_and_consecutive():
    w = text_workload(300, **SMALL)
    assert w.target.shape == w.draft.shape == (300, 600)
    for x in (w.target, w.draft):
        assert x.dtype == np.float64 and (x > 0).all()
        np.testing.assert_allclose(x.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    later = text_workload(200, start=100, **SMALL)
    np.testing.assert_array_equal(later.target, w.target[100:])
    assert w.meta["source"] == "text:pydoc" and w.meta["target_order"] == 4 and w.meta["draft_order"] == 2


def test_target_model_is_stronger_and_the_pair_differs():
    w = text_workload(1000, **SMALL)
    assert w.meta["target_ppl"] < w.meta["draft_ppl"]
    accept = single_draft_acceptance(w.target, w.draft)
    assert 0.2 < accept.mean() < 0.95


def test_temperature_and_top_k_apply_to_the_draft():
    w = text_workload(50, temperature=0.5, top_k=20, **SMALL)
    assert ((w.draft > 0).sum(axis=1) == 20).all() and (w.target > 0).all()
    np.testing.assert_allclose(w.draft.sum(axis=1), 1.0, atol=1e-12)
    hot = text_workload(50, **SMALL)
    assert (w.target.max(axis=1) >= hot.target.max(axis=1) - 1e-15).all()  # T < 1 sharpens


def test_deterministic():
    a = text_workload(40, **SMALL)
    text_models.cache_clear()
    b = text_workload(40, **SMALL)
    assert np.array_equal(a.target, b.target) and np.array_equal(a.draft, b.draft)


def test_too_many_positions_is_an_error():
    available = text_models(600, 4, 2, 0.1, 60_000).available_positions
    with pytest.raises(InvalidInputError, match="positions"):
        text_workload(available + 1, **SMALL)

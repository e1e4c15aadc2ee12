"""Saving, loading and building workloads from users' logits."""

import numpy as np
import pytest
import torch

from multidraft.examples import load_laws
from multidraft.validation import InvalidInputError
from multidraft.workloads import from_logits, llm_like_batch, load_workload, save_workload


def test_save_load_round_trip(tmp_path):
    w = llm_like_batch(3, 500, correlation=0.8, top_k=10, seed=5)
    path = save_workload(tmp_path / "w.npz", w.target, w.draft, **w.meta, note=None)
    back = load_workload(path)
    assert np.array_equal(back.target, w.target) and np.array_equal(back.draft, w.draft)
    assert back.meta["seed"] == 5 and back.meta["top_k"] == 10 and back.meta["source"] == "synthetic"
    assert "note" not in back.meta
    with np.load(path) as data:
        assert data["target"].shape == (3, 500) and data["target"].dtype == np.float64
    p, q, n = load_laws(path)  # the core loader reads the same file
    assert np.array_equal(p, w.target) and n is None


def test_suffix_is_added_and_unbatched_laws_become_one_row(tmp_path):
    path = save_workload(tmp_path / "pair", [0.5, 0.5], [0.25, 0.75], seed=1)
    assert path.suffix == ".npz"
    assert load_workload(path).target.shape == (1, 2)


def test_save_refuses_bad_laws_and_meta(tmp_path):
    with pytest.raises(InvalidInputError, match="target"):
        save_workload(tmp_path / "x.npz", [[0.5, 0.6]], [[0.5, 0.5]])
    with pytest.raises(InvalidInputError, match="blob"):
        save_workload(tmp_path / "x.npz", [[0.5, 0.5]], [[0.5, 0.5]], blob=[1, 2])
    with pytest.raises(InvalidInputError, match="path"):
        load_workload(tmp_path / "missing.npz")


def test_from_logits_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    zp, zq = rng.normal(size=(4, 100)), rng.normal(size=(4, 100))
    a = from_logits(zp, zq, temperature=0.7, top_k=10)
    b = from_logits(torch.tensor(zp), torch.tensor(zq, dtype=torch.float32), temperature=0.7, top_k=10)
    np.testing.assert_allclose(a.target, b.target, atol=1e-15)
    np.testing.assert_allclose(a.draft, b.draft, atol=1e-6)
    assert ((a.draft > 0).sum(axis=1) == 10).all() and (a.target > 0).all()
    np.testing.assert_allclose(a.draft.sum(axis=1), 1.0, atol=1e-12)
    e = np.exp(zp / 0.7)
    np.testing.assert_allclose(a.target, e / e.sum(axis=1, keepdims=True), rtol=1e-12)


def test_from_logits_masks_restrict_target_and_probs():
    z = np.array([[0.0, -np.inf, 1.0, 2.0]])
    w = from_logits(z, z, top_p=0.5, restrict_target=True)
    assert w.target[0, 1] == 0 and (w.target > 0).sum() == (w.draft > 0).sum() == 1
    probs = from_logits([0.5, 0.3, 0.2], [0.2, 0.3, 0.5], probs=True, temperature=2.0)
    expected = np.sqrt([0.5, 0.3, 0.2]) / np.sqrt([0.5, 0.3, 0.2]).sum()
    np.testing.assert_allclose(probs.target[0], expected, rtol=1e-12)


@pytest.mark.parametrize(
    "zp,zq,kwargs,name",
    [
        ([[np.nan, 1.0]], [[0.0, 1.0]], {}, "target_logits"),
        ([[0.0, 1.0]], [[-np.inf, -np.inf]], {}, "draft_logits"),
        ([[0.0, 1.0]], [[0.0, 1.0, 2.0]], {}, "draft_logits"),
        ([[0.0, 1.0]], [[0.0, 1.0]], {"temperature": -1}, "temperature"),
        ([[0.0, 1.0]], [[0.0, 1.0]], {"top_k": 3}, "top_k"),
    ],
)
def test_from_logits_errors_name_the_argument(zp, zq, kwargs, name):
    with pytest.raises(InvalidInputError, match=name):
        from_logits(zp, zq, **kwargs)

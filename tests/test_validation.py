"""Validation: every bad input raises InvalidInputError naming the argument and the expectation."""

import numpy as np
import pytest
import torch

from multidraft.validation import (
    InvalidInputError,
    check_distribution,
    check_drafts,
    check_n,
    check_pair,
    check_pair_tensors,
    check_positive_float,
    sum_tolerance,
)


@pytest.mark.parametrize(
    "value, message",
    [
        ([0.5, float("nan")], "target: entries must be finite, got nan at index 1"),
        ([0.5, float("inf")], "target: entries must be finite"),
        ([1.5, -0.5], "target: entries must be non-negative, got -0.5 at index 1"),
        ([0.5, 0.6], "target: entries must sum to 1 within 1e-09, got sum 1.1"),
        ([0.0, 0.0], "target: has no support"),
        ([], "target: expected at least one token"),
        (0.5, "target: expected a 1-D probability vector, got a scalar"),
        ("abc", "target: could not read"),
        (np.array([0.5 + 1j, 0.5]), "target: entries must be real"),
        (torch.tensor([0.5 + 1j, 0.5]), "target: entries must be real"),
        ([[0.5, 0.5], [1.0]], "target: could not read"),
    ],
)
def test_bad_distributions(value, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_distribution(value, "target")


def test_tolerance_depends_on_dtype_and_normalize_is_explicit():
    assert sum_tolerance(np.zeros(2)) == 1e-9
    assert sum_tolerance(np.zeros(2, dtype=np.float32)) == 1e-5
    assert sum_tolerance(torch.zeros(2, dtype=torch.float32)) == 1e-5
    check_distribution(np.array([0.5, 0.5 + 5e-10]), "p")  # within 1e-9
    check_distribution(np.array([0.5, 0.5 + 5e-6], dtype=np.float32), "p")  # float32 tolerance
    np.testing.assert_allclose(check_distribution([1.0, 3.0], "p", normalize=True), [0.25, 0.75])


def test_pairs_must_share_the_vocabulary_and_batch():
    with pytest.raises(InvalidInputError, match="draft: vocabulary size 3 does not match target's 2"):
        check_pair([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(InvalidInputError, match="draft: batch shape"):
        check_pair(np.full((2, 2), 0.5), np.full((3, 2), 0.5))
    p, q = check_pair(np.full((3, 2), 0.5), [0.1, 0.9])
    assert p.shape == q.shape == (3, 2)


def test_torch_fast_path_and_its_errors():
    p, q, batched = check_pair_tensors(torch.tensor([0.5, 0.5]), torch.tensor([[0.1, 0.9], [0.3, 0.7]]))
    assert p.shape == (2, 2) and batched and p.dtype == torch.float64
    with pytest.raises(InvalidInputError, match="draft: entries must be non-negative"):
        check_pair_tensors(torch.tensor([0.5, 0.5]), torch.tensor([1.5, -0.5]))
    p, q, batched = check_pair_tensors([0.5, 0.5], [0.2, 0.8])
    assert p.shape == (1, 2) and not batched


@pytest.mark.parametrize(
    "bad, message",
    [
        ([0.5, 0.6, -0.1], "non-negative"),
        ([0.5, 0.5, float("nan")], "finite"),
        ([0.5, 0.5, float("inf")], "finite"),
        ([0.5, 0.4, 0.0], "sum to 1"),
    ],
)
@pytest.mark.parametrize("batched", [False, True])
def test_compiled_cpu_check_refuses_what_the_detailed_checks_refuse(bad, message, batched):
    """CPU float64 tensors are checked in one compiled pass (multidraft/law_checks.py)."""
    good = [0.2, 0.3, 0.5]
    draft = torch.tensor([good, bad] if batched else bad, dtype=torch.float64)
    with pytest.raises(InvalidInputError, match=message):
        check_pair_tensors(torch.tensor(good, dtype=torch.float64), draft)


def test_compiled_cpu_check_accepts_laws_and_negative_zero():
    from multidraft.law_checks import rows_are_laws

    rng = np.random.default_rng(0)
    laws = rng.dirichlet(np.ones(1000), size=3)
    assert rows_are_laws(laws, 1e-9) and not rows_are_laws(laws * 1.01, 1e-9)
    assert not rows_are_laws(np.array([1.0, -0.0]), 1e-9)  # sign bit: left to the detailed checks,
    p, _, _ = check_pair_tensors(torch.tensor([1.0, -0.0]), torch.tensor([0.5, 0.5]))  # which accept it
    assert p.shape == (1, 2)


@pytest.mark.parametrize("V", [1, 255, 256, 257, 1000])
def test_compiled_check_counts_the_draft_support_per_block(V):
    """The validation pass over q also counts its entries > 0 per block of law_checks.BLOCK
    tokens (for the compiled solver's support scan), for V on and off the block size, on
    torch and numpy inputs, broadcast over p's rows when q is one row."""
    from multidraft.law_checks import BLOCK, rows_are_laws_counting

    rng = np.random.default_rng(V)
    p, q = rng.dirichlet(np.ones(V), 3), rng.dirichlet(np.ones(V), 3)
    q[rng.random(q.shape) < 0.7] = 0.0
    q[:, 0] += 0.5
    q /= q.sum(axis=1, keepdims=True)
    blocks = -(-V // BLOCK)
    expected = np.array([[np.count_nonzero(row[j * BLOCK : (j + 1) * BLOCK]) for j in range(blocks)] for row in q])
    assert np.array_equal(rows_are_laws_counting(q, 1e-9), expected)
    assert rows_are_laws_counting(q * 1.01, 1e-9) is None
    for target, draft in ((p, q), (torch.from_numpy(p), torch.from_numpy(q))):
        *_, counts = check_pair_tensors(target, draft, draft_counts=True)
        assert np.array_equal(counts, expected)
    *_, counts = check_pair_tensors(p, q[1], draft_counts=True)  # one q row, broadcast over 3
    assert np.array_equal(counts, expected[[1, 1, 1]])
    # where the compiled pass does not run (low precision, lists), no counts
    assert check_pair_tensors(torch.from_numpy(p).float(), torch.from_numpy(q).float(), draft_counts=True)[3] is None
    assert check_pair_tensors(p.tolist(), q.tolist(), draft_counts=True)[3] is None
    with pytest.raises(InvalidInputError, match="non-negative"):
        check_pair_tensors(p, -q, draft_counts=True)


@pytest.mark.parametrize(
    "value, message",
    [
        (0, "n: expected an integer number of drafts >= 1, got 0"),
        (-3, "got -3"),
        (2.5, "got 2.5"),
        ("2", "got '2'"),
        (True, "got True"),
        (None, "got None"),
    ],
)
def test_bad_n(value, message):
    with pytest.raises(InvalidInputError, match=message):
        check_n(value)


def test_n_accepts_integral_floats_and_caps():
    assert check_n(3.0) == 3 and check_n(np.int64(4)) == 4
    with pytest.raises(InvalidInputError, match="at most 8"):
        check_n(9, maximum=8)


def test_bad_drafts():
    with pytest.raises(InvalidInputError, match=r"drafts: token ids must lie in \[0, 4\), got 4"):
        check_drafts([0, 4], 4)
    with pytest.raises(InvalidInputError, match="drafts: token ids must be integers"):
        check_drafts([0.5, 1], 4)
    with pytest.raises(InvalidInputError, match="expected 3 drafts"):
        check_drafts([0, 1], 4, n=3)
    assert check_drafts(np.array([1.0, 2.0]), 4).dtype == np.int64


def test_positive_float():
    assert check_positive_float("1e-3", "tol") == 1e-3
    for bad in (0, -1, float("nan"), "x"):
        with pytest.raises(InvalidInputError, match="tol:"):
            check_positive_float(bad, "tol")


def test_check_pair_tensors_shares_the_memory_of_float64_numpy_laws():
    """Writeable C-contiguous float64 numpy laws become CPU tensors without a copy (the cost of
    a torch input); others are copied; bad ones still get the detailed error."""
    p, q = np.array([0.5, 0.5]), np.array([[0.1, 0.9], [0.3, 0.7]])
    tp, tq, batched = check_pair_tensors(p, q)
    assert batched and tp.shape == tq.shape == (2, 2)
    assert np.shares_memory(tp.numpy(), p) and np.shares_memory(tq.numpy(), q)
    frozen = p.copy()
    frozen.flags.writeable = False
    assert not np.shares_memory(check_pair_tensors(frozen, p)[0].numpy(), frozen)
    with pytest.raises(InvalidInputError, match="draft"):
        check_pair_tensors(p, np.array([1.5, -0.5]))
    with pytest.raises(InvalidInputError, match="draft"):
        check_pair_tensors(p, np.array([0.5, 0.5, 0.0]))

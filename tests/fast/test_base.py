"""fast.base: conversion/validation helpers and the Verifier base class."""

import numpy as np
import pytest
import torch

import multidraft as md
from multidraft.fast.base import Verifier, as_tensor_drafts, as_tensor_laws, in_drafts
from multidraft.validation import InvalidInputError


def test_as_tensor_laws_shapes_and_dtype():
    p, q, batched = as_tensor_laws([0.5, 0.5], np.array([0.25, 0.75]))
    assert p.shape == q.shape == (1, 2) and p.dtype == torch.float64 and not batched
    p, q, batched = as_tensor_laws(torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float32), [0.25, 0.75])
    assert p.shape == q.shape == (2, 2) and q.dtype == torch.float64 and batched
    assert torch.equal(q[0], q[1])
    p, _, _ = as_tensor_laws([1.0], [1.0], dtype=torch.float32)
    assert p.dtype == torch.float32


@pytest.mark.parametrize(
    "target, draft, arg",
    [
        ([np.nan, 1.0], [0.5, 0.5], "target"),
        ([0.5, 0.5], [1.5, -0.5], "draft"),
        ([0.5, 0.6], [0.5, 0.5], "target"),
        ([0.5, 0.5], [1.0], "draft"),
        ([[0.5, 0.5]] * 2, [[0.5, 0.5]] * 3, "draft"),
        ([[[1.0]]], [[[1.0]]], "target"),
    ],
)
def test_as_tensor_laws_errors_name_the_argument(target, draft, arg):
    for convert in (np.array, torch.tensor):
        with pytest.raises(InvalidInputError, match=arg):
            as_tensor_laws(convert(target), convert(draft))


def test_as_tensor_drafts():
    ids = as_tensor_drafts([1, 2], 3)
    assert ids.shape == (1, 2) and ids.dtype == torch.long
    assert as_tensor_drafts(torch.tensor([[0, 1], [2, 2]]), 3, n=2).shape == (2, 2)
    for bad in ([3], [-1], [0.5], np.zeros((1, 1, 1), int), np.zeros((2, 0), int)):
        with pytest.raises(InvalidInputError, match="drafts"):
            as_tensor_drafts(bad, 3)
    with pytest.raises(InvalidInputError, match="drafts"):
        as_tensor_drafts([0, 1], 3, n=3)
    assert torch.equal(in_drafts(torch.tensor([1, 0]), torch.tensor([[1, 2], [2, 2]])), torch.tensor([True, False]))


class FirstDraftOrP(Verifier):
    """Toy: output the first draft with probability 1/2, else a draw from p (not lossless)."""

    name = "toy"
    cache_state = True
    prepared = 0

    def _prepare(self, p, q, n):
        FirstDraftOrP.prepared += 1
        return {"half": torch.full_like(p[:, :1], 0.5)}

    def _conditional(self, p, q, drafts, state):
        return (state["half"] * p).scatter_add(1, drafts[:, :1], state["half"])


def test_verifier_shapes_default_sample_and_cache():
    v = FirstDraftOrP()
    p, q = np.array([0.5, 0.25, 0.25]), np.array([0.2, 0.3, 0.5])
    assert v.conditional(p, q, [2, 1]).shape == (3,)
    assert v.conditional(p, q, [[2, 1], [0, 0], [1, 1]]).shape == (3, 3)  # broadcast laws over M tuples
    assert v.conditional(np.stack([p, p]), q, [2, 1]).shape == (2, 3)  # drafts shared by B problems
    assert torch.allclose(v.conditional(p, q, [2, 1]), torch.tensor([0.25, 0.125, 0.625], dtype=torch.float64))
    before = FirstDraftOrP.prepared
    v.conditional(p, q, [0, 1])
    assert FirstDraftOrP.prepared == before  # same problem: cached preparation
    tokens = v.sample(p, q, np.repeat([[2, 1]], 1000, 0), torch.Generator().manual_seed(0))
    assert tokens.shape == (1000,) and 0.55 < float((tokens == 2).double().mean()) < 0.7
    assert v.sample(p, q, [2, 1]).shape == ()
    # acceptance without a closed form: exact enumeration of i.i.d. drafts
    expected = md.evaluate(v, p, q, 2).acceptance
    assert abs(float(v.acceptance(p, q, 2)) - expected) <= 1e-12
    with pytest.raises(InvalidInputError, match="drafts"):
        v.conditional(np.stack([p, p]), np.stack([q, q]), [[0, 1]] * 3)
    with pytest.raises(InvalidInputError, match="n"):
        v.acceptance(p, q, 0)


def test_torch_input_stays_on_its_device_and_dtype():
    v = FirstDraftOrP()
    out = v.conditional(torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.5]), torch.tensor([1]))
    assert out.device.type == "cpu" and out.dtype == torch.float64


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_round_trip():
    from multidraft.fast import BASELINES

    p = torch.tensor([[0.5, 0.3, 0.2]], device="cuda")
    q = torch.tensor([[0.2, 0.3, 0.5]], device="cuda")
    x = torch.tensor([[2, 2]], device="cuda")
    for name, v in BASELINES.items():
        if name in ("rrs_without_replacement",):
            x_ = torch.tensor([[2, 1]], device="cuda")
        else:
            x_ = x
        out = v.conditional(p, q, x_)
        assert out.device.type == "cuda"
        assert torch.allclose(out.cpu(), v.conditional(p.cpu(), q.cpu(), x_.cpu()), atol=1e-12)
        assert v.sample(p, q, x_, torch.Generator(device="cuda").manual_seed(0)).device.type == "cuda"

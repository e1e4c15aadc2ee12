"""The sampling-parameter step: temperature, top-k, top-p on logits and on laws."""

from __future__ import annotations

import numpy as np
import pytest

from multidraft.logits import SamplingParams, process_logits, process_pair, process_probs
from multidraft.validation import InvalidInputError


def softmax(z):
    w = np.exp(z - np.max(z))
    return w / w.sum()


def test_temperature_is_softmax_of_scaled_logits():
    z = np.array([1.5, -0.3, 0.0, 2.2])
    for t in (0.1, 0.5, 1.0, 3.0):
        assert np.abs(process_logits(z, temperature=t) - softmax(z / t)).max() <= 1e-15


def test_temperature_zero_is_greedy_lowest_id_on_ties():
    assert process_logits([0.0, 2.0, 2.0, 1.0], temperature=0).tolist() == [0.0, 1.0, 0.0, 0.0]


def test_top_k_keeps_ties_at_the_boundary():
    out = process_logits([3.0, 1.0, 1.0, 0.0], top_k=2)
    assert np.count_nonzero(out) == 3 and out[3] == 0.0
    assert np.abs(out[:3] - softmax(np.array([3.0, 1.0, 1.0]))).max() <= 1e-15


def test_top_p_keeps_the_shortest_prefix_reaching_p():
    p = np.array([0.1, 0.5, 0.25, 0.15])
    assert np.flatnonzero(process_probs(p, top_p=0.75)).tolist() == [1, 2]  # 0.5 + 0.25 reaches 0.75 exactly
    assert np.flatnonzero(process_probs(p, top_p=0.76)).tolist() == [1, 2, 3]
    assert np.flatnonzero(process_probs(p, top_p=0.2)).tolist() == [1]


def test_order_is_temperature_then_top_k_then_top_p():
    z = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    step = process_logits(z, temperature=2.0, top_k=3, top_p=0.5)
    hot = softmax(z / 2.0)[:3]
    hot = hot / hot.sum()
    keep = np.cumsum(hot) < 0.5
    keep[np.argmin(keep)] = True
    expected = np.where(np.append(keep, False), np.append(hot, 0.0), 0.0)
    assert np.abs(step - expected / expected.sum()).max() <= 1e-15


def test_laws_keep_their_zeros_and_identity_leaves_them():
    p = np.array([0.0, 0.7, 0.3])
    assert process_probs(p, temperature=0.5)[0] == 0.0
    assert np.abs(process_probs(p) - p).max() <= 1e-15
    assert SamplingParams().identity and not SamplingParams(top_k=2).identity


def test_pair_applies_the_same_step_to_both():
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.2, 0.6])
    pp, qq = process_pair(p, q, SamplingParams(0.5, 2, None))
    assert np.array_equal(pp, process_probs(p, 0.5, 2)) and np.array_equal(qq, process_probs(q, 0.5, 2))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": 1.5}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_bad_parameters_name_the_argument(kwargs, name):
    with pytest.raises(InvalidInputError, match=name):
        process_logits([0.0, 1.0], **kwargs)


def test_bad_logits():
    with pytest.raises(InvalidInputError, match="logits"):
        process_logits([0.0, np.nan])
    with pytest.raises(InvalidInputError, match="logits"):
        process_logits([-np.inf, -np.inf])

"""The chain-rule G-test of streams: the decomposition is exact, calibrated, and it locates a fault."""

import itertools

import numpy as np
import pytest

from multidraft.properties.sequences import sequence_g_test
from multidraft.properties.stats import g_test
from multidraft.trees import ConstantLM, table_pair
from multidraft.validation import InvalidInputError


def _sample(lm, context, M, rng, fault=None):
    out = []
    for j in range(M):
        p = np.array(lm.probs(tuple(context) + tuple(out)))
        if fault is not None and j == fault[0] and tuple(out) == fault[1]:
            p = np.roll(p, 1)  # the wrong law after one prefix
        out.append(int(rng.choice(len(p), p=p)))
    return out


def test_sum_of_prefix_terms_is_the_g_statistic_of_the_sequences():
    target, _ = table_pair(2, seed=3, concentration=3.0)  # flat laws: every cell well filled, no pooling
    rng = np.random.default_rng(0)
    streams = [_sample(target, (1,), 3, rng) for _ in range(4000)]
    res = sequence_g_test(streams, target, (1,), 3)
    cells = list(itertools.product(range(2), repeat=3))
    observed = np.array([sum(tuple(s) == z for s in streams) for z in cells], dtype=float)
    law = np.array([np.prod([target.probs((1,) + z[:j])[z[j]] for j in range(3)]) for z in cells])
    direct = g_test(observed, 4000 * law)
    assert res.df == direct.df == 7 and res.prefixes == 7
    assert res.statistic == pytest.approx(direct.statistic, rel=1e-9)
    assert res.p_value == pytest.approx(direct.p_value, rel=1e-7)
    assert sum(g for g, _ in res.by_depth) == pytest.approx(res.statistic)


def test_false_alarm_rate_on_exact_samples():
    p_values = []
    for seed in range(120):
        target, _ = table_pair(3, seed=seed, concentration=0.5)
        rng = np.random.default_rng(seed)
        p_values.append(sequence_g_test([_sample(target, (), 3, rng) for _ in range(300)], target, (), 3).p_value)
    p_values = np.array(p_values)
    assert 0.01 <= (p_values < 0.1).mean() <= 0.2 and (p_values < 0.01).mean() <= 0.04


def test_a_fault_after_one_prefix_is_located():
    target, _ = table_pair(3, seed=8, concentration=1.0)
    rng = np.random.default_rng(1)
    first = int(np.argmax(target.probs(())))
    streams = [_sample(target, (), 3, rng, fault=(1, (first,))) for _ in range(3000)]
    res = sequence_g_test(streams, target, (), 3)
    assert res.p_value < 1e-12
    assert res.worst[0].prefix == (first,)
    assert max(range(3), key=lambda j: res.by_depth[j][0]) == 1
    assert "after" in res.worst[0].describe()


def test_impossible_token_and_bad_streams():
    lm = ConstantLM([0.5, 0.5, 0.0])
    res = sequence_g_test([[0, 1], [2, 0]] + [[0, 0]] * 20, lm, (), 2)
    assert res.p_value == 0.0 and res.impossible == 1
    with pytest.raises(InvalidInputError, match="fewer than"):
        sequence_g_test([[0]], lm, (), 2)
    with pytest.raises(InvalidInputError, match="outside"):
        sequence_g_test([[0, 3]], lm, (), 2)
    with pytest.raises(InvalidInputError, match="tokens"):
        sequence_g_test([[0, 1]], lm, (), 0)

"""The wall-time model: the formula, its limits, and the implied acceptance of a chain."""

import numpy as np
import pytest

from multidraft.bench.walltime import CostModel, implied_acceptance
from multidraft.validation import InvalidInputError


def test_time_per_token_is_the_stated_formula():
    m = CostModel(cost_ratio=10.0, target_ms=20.0)
    # (2 ms x 8 drafted + 20 ms + 1 ms verifier) / 3 tokens
    assert m.time_per_token_ms(3.0, 8, 1.0) == pytest.approx((2.0 * 8 + 20 + 1) / 3, rel=1e-15)
    assert m.speedup(3.0, 8, 1.0) == pytest.approx(20.0 / ((2.0 * 8 + 20 + 1) / 3), rel=1e-15)
    # no drafts, free verifier, one token per call: autoregressive speed
    assert m.speedup(1.0, 0, 0.0) == pytest.approx(1.0)
    # free drafts (infinite ratio) and free verifier: the speed-up is the block efficiency
    assert CostModel(cost_ratio=1e300).speedup(4.5, 64, 0.0) == pytest.approx(4.5)


def test_draft_calls_tokens_or_depth():
    assert CostModel(draft_calls="tokens").drafted(64, 8) == 64
    assert CostModel(draft_calls="depth").drafted(64, 8) == 8
    slow, fast = CostModel(draft_calls="tokens"), CostModel(draft_calls="depth")
    assert fast.speedup(4.0, fast.drafted(64, 8), 0) > slow.speedup(4.0, slow.drafted(64, 8), 0)


def test_implied_acceptance_inverts_the_chain_formula():
    for a in (0.0, 0.3, 0.66, 0.9, 0.999):
        e = float(np.sum(a ** np.arange(9)))
        assert implied_acceptance(e, 8) == pytest.approx(a, abs=1e-9)
    with pytest.raises(InvalidInputError, match="block_efficiency"):
        implied_acceptance(10.0, 8)


def test_bad_costs_are_errors():
    with pytest.raises(InvalidInputError, match="cost_ratio"):
        CostModel(cost_ratio=0)
    with pytest.raises(InvalidInputError, match="draft_calls"):
        CostModel(draft_calls="nodes")
    with pytest.raises(InvalidInputError, match="block_efficiency"):
        CostModel().speedup(0.5, 1, 0)

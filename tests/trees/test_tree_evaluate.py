"""evaluate_tree: section 2's condition, stream TV, validity and E|O| on hand-checkable cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from multidraft import InvalidInputError, TooLargeError, evaluate_tree
from multidraft.trees import ConstantLM, chain, paths, table_pair


def sample_target(tree, p, q):
    """Ignore the drafts: one token from the root's target law (lossless, E|O| = 1)."""
    return {(t,): float(p[0, t]) for t in range(p.shape[1])}


def always_accept(tree, p, q):
    """Wrong: emit the whole drafted chain and a bonus from the leaf's target law."""
    node, prefix = -1, ()
    while len(tree.children(node)):
        node = int(tree.children(node)[0])
        prefix += (int(tree.tokens[node]),)
    return {prefix + (t,): float(p[node + 1, t]) for t in range(p.shape[1])}


def test_a_lossless_trivial_verifier():
    target, draft = table_pair(3, seed=1)
    ev = evaluate_tree(sample_target, target, draft, paths(2, 2), (0, 1))
    assert ev.is_lossless(1e-15) and ev.block_efficiency == pytest.approx(1.0, abs=1e-15)
    assert ev.trees == paths(2, 2).count(draft, (0, 1)) and ev.depth == 2


def test_always_accepting_is_the_draft_law_and_its_violation_is_located():
    target, draft = table_pair(2, seed=3)
    ev = evaluate_tree(always_accept, target, draft, chain(1))
    # O = (x, y) with P(O = (x, y)) = q(x) p(y | x): F(x) = p(x) >= 0, F(x, y) = p(y | x) (p(x) - q(x))
    p0, q0 = target.probs(()), draft.probs(())
    F = np.array([[target.probs((x,))[y] * (p0[x] - q0[x]) for y in range(2)] for x in range(2)])
    assert ev.violation == pytest.approx(np.abs(F).max(), abs=1e-15)
    assert ev.worst_prefix == tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(F)), F.shape))
    assert ev.stream_tv == pytest.approx(0.5 * np.abs(p0 - q0).sum(), abs=1e-15)
    assert ev.block_efficiency == pytest.approx(2.0)


def test_when_p_equals_q_always_accepting_is_lossless():
    same = ConstantLM([0.2, 0.3, 0.5])
    ev = evaluate_tree(always_accept, same, same, chain(2))
    assert ev.is_lossless(1e-12) and ev.block_efficiency == pytest.approx(3.0)


@pytest.mark.parametrize(
    "bad, expected",
    [
        (lambda tree, p, q: {(0,): 1.2, (1,): -0.2}, 0.2),  # negative mass, sums to 1
        (lambda tree, p, q: {(0,): 0.5}, 0.5),  # does not sum to 1
        (lambda tree, p, q: {(5,): 1.0}, 1.0),  # a token outside the vocabulary
    ],
)
def test_validity_errors(bad, expected):
    target, draft = table_pair(2, seed=0)
    ev = evaluate_tree(bad, target, draft, chain(1))
    assert ev.validity == pytest.approx(expected) and not ev.is_lossless()


def test_an_undrafted_path_is_inadmissible():
    target, draft = table_pair(2, seed=0)

    def jump(tree, p, q):  # emits a two-token block whatever was drafted
        return {(0, 0): 1.0}

    ev = evaluate_tree(jump, target, draft, chain(1))
    assert ev.validity == pytest.approx(1.0)


def test_bad_inputs():
    target, draft = table_pair(2, seed=0)
    with pytest.raises(InvalidInputError, match="dict"):
        evaluate_tree(lambda tree, p, q: [1.0], target, draft, chain(1))
    with pytest.raises(InvalidInputError, match="structure"):
        evaluate_tree(sample_target, target, draft, "chain:1")
    with pytest.raises(InvalidInputError, match="language model"):
        evaluate_tree(sample_target, object(), draft, chain(1))
    with pytest.raises(TooLargeError, match="prefixes"):
        evaluate_tree(sample_target, target, draft, chain(2), max_prefixes=5)


def test_condition_matches_its_definition_on_every_sequence():
    target, draft = table_pair(2, seed=7)
    ev = evaluate_tree(always_accept, target, draft, chain(2))
    worst = 0.0
    for z in itertools.product(range(2), repeat=3):
        total = 0.0
        for m in range(1, 4):
            pz = np.prod([target.probs(z[:j])[z[j]] for j in range(m)])
            total += ev.law.get(z[:m], 0.0) / pz
        worst = max(worst, abs(total - 1.0) * np.prod([target.probs(z[:j])[z[j]] for j in range(3)]))
    assert worst <= ev.violation + 1e-15
    assert ev.stream_tv > 0

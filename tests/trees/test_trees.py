"""Draft trees, structures and language models of :mod:`multidraft.trees` (exact, small)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from multidraft import InvalidInputError, TooLargeError
from multidraft.trees import (
    ConstantLM,
    DraftTree,
    TableLM,
    branching,
    chain,
    delayed,
    parse_structure,
    paths,
    table_pair,
    tree_inputs,
)

STRUCTURES = [
    chain(2),
    paths(3, 2),
    paths(2, 3),
    branching((2, 2)),
    branching((2, 2), "without_replacement"),
    branching((2, 1), "top"),
    delayed(1, 2, 1),
    delayed(0, 3, 1),
]


def test_table_lm_is_deterministic_and_context_dependent():
    a, b = TableLM(4, seed=3), TableLM(4, seed=3)
    assert np.array_equal(a.probs((1, 2)), b.probs((1, 2)))
    assert not np.allclose(a.probs((1, 2)), a.probs((2, 1)))
    assert not np.allclose(a.probs(()), TableLM(4, seed=3, salt=1).probs(()))
    sparse = TableLM(5, seed=0, sparsity=0.6)
    laws = np.stack([sparse.probs((t,)) for t in range(5)])
    assert (laws == 0).any() and np.allclose(laws.sum(axis=1), 1.0) and ((laws > 0).sum(axis=1) >= 1).all()
    tied = TableLM(3, seed=0, ties=4).probs(())
    assert np.allclose(tied * 4, np.round(tied * 4)) and tied.sum() == 1.0


def test_table_pair_similarity():
    target, draft = table_pair(3, seed=2, similarity=1.0)
    assert np.allclose(target.probs((0,)), draft.probs((0,)))
    target, draft = table_pair(3, seed=2, similarity=0.5)
    assert not np.allclose(target.probs((0,)), draft.probs((0,)))


@pytest.mark.parametrize("structure", STRUCTURES, ids=lambda s: s.name)
def test_enumeration_is_a_law_and_matches_sampling(structure):
    _, draft = table_pair(3, seed=1, sparsity=0.2)
    trees = structure.trees(draft, (1,))
    total = sum(p for _, p in trees)
    assert abs(total - 1.0) < 1e-12
    assert len({t.key() for t, _ in trees}) == len(trees) == structure.count(draft, (1,))
    for tree, _ in trees:
        assert tree.depth <= structure.depth
        assert all(
            tree.counts[i] == tree.draws[i] * structure.width // np.prod(structure.factors[: tree.depths[i]])
            for i in range(tree.size)
        )
    probs = {t.key(): p for t, p in trees}
    rng, M = np.random.default_rng(0), 4000
    seen = Counter(structure.sample(draft, (1,), rng).key() for _ in range(M))
    assert set(seen) <= set(probs)
    for key, p in probs.items():  # 5 standard deviations of a binomial frequency
        assert abs(seen[key] / M - p) <= 5 * np.sqrt(p * (1 - p) / M) + 1e-9


def test_paths_merge_with_multiplicity():
    tree = DraftTree.from_paths([[2, 1], [2, 1], [2, 0]])
    assert tree.tokens.tolist() == [2, 1, 0] and tree.counts.tolist() == [3, 2, 1]
    assert tree.draws.tolist() == tree.counts.tolist()
    assert DraftTree.from_paths(tree.to_paths()) == tree


def test_engine_encodings_round_trip():
    tree = DraftTree.from_parents([0, 1, 1, 2, 0], [-1, -1, 0, 0, 1])
    tokens, first, nxt = tree.to_sglang(root_token=7)
    assert DraftTree.from_sglang(tokens, first, nxt) == tree
    leaves = tree.leaves().tolist()
    retrieve = np.full((len(leaves), tree.depth + 1), -1)
    for r, leaf in enumerate(leaves):
        chain_nodes = []
        node = leaf
        while node >= 0:
            chain_nodes.append(node + 1)
            node = int(tree.parents[node])
        retrieve[r, : len(chain_nodes) + 1] = [0, *reversed(chain_nodes)]
    assert DraftTree.from_eagle(retrieve, np.concatenate([[7], tree.tokens])) == tree
    assert tree.counts.tolist() == [2, 1, 1, 1, 1]


def test_from_parents_reorders_and_merges():
    tree = DraftTree.from_parents([5, 1, 1], [2, 2, -1])  # child listed before its parent
    assert tree.tokens.tolist() == [1, 5, 1] and tree.parents.tolist() == [-1, 0, 0]
    merged = DraftTree.from_parents([1, 1, 0], [-1, -1, 0], counts=[1, 1, 1])
    assert merged.tokens.tolist() == [1, 0] and merged.counts.tolist() == [2, 1]


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda: DraftTree([0, 0], [-1, -1]), "siblings must be distinct"),
        (lambda: DraftTree([0, 1], [1, -1]), "parents before children"),
        (lambda: DraftTree([0, 1], [-1, 0], counts=[1, 2]), "counts"),
        (lambda: DraftTree.from_paths([[0, -1, 1]]), "padded on the right"),
        (lambda: parse_structure("paths:3"), "paths:KxL"),
        (lambda: branching((2, 0)), "factors"),
        (lambda: branching((2,), law="random"), "law"),
        (lambda: TableLM(0), "vocab_size"),
    ],
)
def test_bad_input_is_refused_with_its_name(bad, match):
    with pytest.raises(InvalidInputError, match=match):
        bad()


def test_tree_inputs_rows_follow_paths():
    target, draft = table_pair(3, seed=4)
    tree = DraftTree.from_paths([[0, 2], [1, 1]])
    p, q = tree_inputs(tree, target, draft, (2,))
    assert p.shape == q.shape == (tree.size + 1, 3)
    assert np.array_equal(p[0], target.probs((2,)))
    for i in range(tree.size):
        assert np.array_equal(p[i + 1], target.probs((2, *tree.path(i))))
        assert np.array_equal(q[i + 1], draft.probs((2, *tree.path(i))))


def test_enumeration_size_guard_names_the_count():
    with pytest.raises(TooLargeError, match="limit of 10"):
        paths(3, 3).trees(ConstantLM([0.25] * 4), max_count=10)


def test_parse_structure_specs():
    assert parse_structure("paths:3x2") == paths(3, 2)
    assert parse_structure("chain:3").is_chain
    assert parse_structure("branching:2,1", law="top").law == "top"
    assert parse_structure("delayed:1x2x1").factors == (1, 2)

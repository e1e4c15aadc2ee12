"""The built-in tree verifiers: lossless by exact test, both interfaces agree, chain reductions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from tree_models import SkipDuplicates, WrongBonus, model_pairs

from multidraft import InvalidInputError, evaluate_tree, fast
from multidraft.trees import (
    DraftTree,
    branching,
    chain,
    delayed,
    paths,
    table_pair,
    tree_inputs,
)

#: Structures of the exact tests (K <= 3, L <= 3, i.i.d. siblings where they branch).
STRUCTURES = [
    chain(2),
    chain(3),
    paths(2, 2),
    paths(3, 2),
    paths(2, 3),
    branching((2, 2)),
    delayed(1, 3, 1),
    branching((2, 2), "without_replacement"),
    branching((2, 1), "top"),
]

NAMES = sorted(fast.TREE_VERIFIERS)


def _cases(name):
    verifier = fast.TREE_VERIFIERS[name]
    return [s for s in STRUCTURES if verifier.accepts(s)]


@pytest.mark.parametrize("name", NAMES)
def test_lossless_on_every_accepted_structure(name):
    verifier = fast.TREE_VERIFIERS[name]
    structures = _cases(name)
    assert structures, f"{name} accepts none of the test structures"
    for structure in structures:
        V = 3 if structure.width * structure.depth <= 4 else 2
        for model, target, draft in model_pairs(V):
            ev = evaluate_tree(verifier, target, draft, structure, context=(1,))
            assert ev.is_lossless(1e-9), f"{name} on {structure.name}, {model}: {ev.summary()}"
            assert 1.0 - 1e-12 <= ev.block_efficiency <= structure.depth + 1 + 1e-12


def test_every_verifier_is_checked_on_a_branching_structure_with_duplicates():
    # i.i.d. siblings with multiplicities (K = 3) are where published code goes wrong
    iid_trees = [name for name in NAMES if fast.TREE_VERIFIERS[name].accepts(paths(3, 2))]
    assert set(iid_trees) >= {
        "spec_infer",
        "spectr",
        "node_optimal",
        "traversal",
        "greedy_block_verification",
        "nss_tree",
    }


@pytest.mark.parametrize("name", NAMES)
def test_sampling_matches_the_conditional_law(name):
    verifier = fast.TREE_VERIFIERS[name]
    structure = next(
        s for s in (paths(2, 2), branching((2, 2), "without_replacement"), chain(2)) if verifier.accepts(s)
    )
    target, draft = table_pair(3, seed=5, sparsity=0.2)
    tree = structure.sample(draft, (0,), np.random.default_rng(1))
    p, q = tree_inputs(tree, target, draft, (0,))
    law = verifier.conditional(tree, p, q)
    generator = torch.Generator().manual_seed(0)
    M = 1000
    seen = Counter(verifier.sample(tree, p, q, generator) for _ in range(M))
    assert set(seen) <= {o for o, prob in law.items() if prob > 0}
    for o, prob in law.items():  # 5 standard deviations of a binomial frequency
        assert abs(seen[o] / M - prob) <= 5 * np.sqrt(prob * (1 - prob) / M) + 1e-9, (o, seen[o] / M, prob)


def test_sampling_is_reproducible_from_a_seed():
    target, draft = table_pair(3, seed=2)
    tree = paths(3, 2).sample(draft, (), 0)
    for verifier in fast.TREE_VERIFIERS.values():
        if verifier.accepts(paths(3, 2)) or verifier.chains_only:
            t = tree if not verifier.chains_only else chain(2).sample(draft, (), 0)
            pp, qq = tree_inputs(t, target, draft)
            runs = [[verifier.sample(t, pp, qq, seed) for seed in range(20)] for _ in range(2)]
            assert runs[0] == runs[1]


def _law_distance(a: dict, b: dict) -> float:
    return max(abs(a.get(o, 0.0) - b.get(o, 0.0)) for o in set(a) | set(b))


@pytest.mark.parametrize("V, L", [(2, 3), (3, 2), (4, 2)])
def test_chain_reductions(V, L):
    target, draft = table_pair(V, seed=V + L)
    for tree, _ in chain(L).trees(draft, (2,)):
        p, q = tree_inputs(tree, target, draft, (2,))
        bv = fast.block_verification.conditional(tree, p, q)
        for other in (fast.traversal, fast.greedy_block_verification):
            assert _law_distance(other.conditional(tree, p, q), bv) < 1e-14
        token = fast.token_chain.conditional(tree, p, q)
        assert _law_distance(token, fast.spec_infer.conditional(tree, p, q)) < 1e-14


def test_known_bad_variants_are_caught_exactly():
    target, draft = table_pair(3, seed=12, sparsity=0.35, ties=4)
    good = evaluate_tree(fast.spec_infer, target, draft, paths(3, 2))
    assert good.is_lossless(1e-12)
    skip = evaluate_tree(SkipDuplicates(), target, draft, paths(3, 2))
    bonus = evaluate_tree(WrongBonus(), target, draft, paths(3, 2))
    assert skip.violation > 1e-3 and bonus.violation > 1e-3
    assert bonus.stream_tv > 1e-3


def test_chain_verifiers_refuse_a_tree():
    target, draft = table_pair(3, seed=0)
    tree = DraftTree.from_paths([[0, 1], [1, 0]])
    p, q = tree_inputs(tree, target, draft)
    for verifier in (fast.block_verification, fast.token_chain):
        with pytest.raises(InvalidInputError, match="one chain"):
            verifier.conditional(tree, p, q)


def test_bad_laws_are_refused_with_their_name():
    tree = DraftTree.from_paths([[0, 1]])
    good = np.full((3, 2), 0.5)
    with pytest.raises(InvalidInputError, match="target"):
        fast.spec_infer.conditional(tree, np.full((2, 2), 0.5), good)
    with pytest.raises(InvalidInputError, match="draft"):
        fast.spec_infer.conditional(tree, good, np.full((3, 2), 0.7))
    with pytest.raises(InvalidInputError, match="generator"):
        fast.spec_infer.sample(tree, good, good, generator="seed")


def test_node_optimal_beats_per_node_rules_and_respects_the_declared_laws():
    target, draft = table_pair(3, seed=3)
    values = {
        name: evaluate_tree(fast.TREE_VERIFIERS[name], target, draft, paths(3, 2)).block_efficiency
        for name in ("spec_infer", "spectr", "node_optimal", "nss_tree")
    }
    assert values["node_optimal"] >= max(values["spec_infer"], values["spectr"]) - 1e-9 >= values["nss_tree"]
    assert not fast.spec_infer.accepts(branching((2, 2), "without_replacement"))
    assert not fast.traversal.accepts(branching((2, 1), "top"))
    assert fast.nss_tree.accepts(branching((2, 1), "top"))

"""The block-efficiency oracle: closed form = LP on chains, LP = independent brute force, bounds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog
from tree_models import model_pairs

from multidraft import InvalidInputError, TooLargeError, evaluate_tree, fast, reference
from multidraft.trees import (
    ConstantLM,
    DraftTree,
    chain,
    paths,
    table_pair,
    tree_inputs,
)


@pytest.mark.parametrize("V, L", [(2, 2), (2, 3), (3, 2)])
def test_block_verification_equals_the_lp_optimum_on_chains(V, L):
    for model, target, draft in model_pairs(V):
        closed = reference.optimal_block_efficiency(target, draft, chain(L), (1,))
        lp = reference.optimal_block_efficiency(target, draft, chain(L), (1,), method="lp")
        bv = evaluate_tree(fast.block_verification, target, draft, chain(L), (1,)).block_efficiency
        assert closed.method == "closed_form" and lp.method == "lp"
        assert abs(closed.value - bv) < 1e-12, model
        assert abs(closed.value - lp.value) < 1e-8, (model, closed.value, lp.value)


@pytest.mark.parametrize("K", [1, 2, 3])
def test_one_level_trees_are_the_token_level_optimum(K):
    target, draft = table_pair(3, seed=K)
    lp = reference.optimal_block_efficiency(target, draft, paths(K, 1))
    alpha = reference.optimal_acceptance(target.probs(()), draft.probs(()), K).alpha_star
    assert abs(lp.value - (1.0 + float(alpha))) < 1e-8


def _brute_force_lp(target, draft, K, L, V):
    """The LP written independently: ordered K-tuples of paths (no trie, no symmetry), section 2's
    condition as F >= 0 at every prefix and F = 0 at length L + 1, unscaled, variables pi(o | tuple)."""
    seqs = list(itertools.product(range(V), repeat=L))

    def prob(lm, seq):
        out = 1.0
        for j, t in enumerate(seq):
            out *= lm.probs(seq[:j])[t]
        return out

    tuples = [(tup, np.prod([prob(draft, s) for s in tup])) for tup in itertools.product(seqs, repeat=K)]
    tuples = [(tup, w) for tup, w in tuples if w > 0]
    outputs = []
    for t_index, (tup, _) in enumerate(tuples):
        prefixes = {s[:m] for s in tup for m in range(L + 1)}
        outputs.extend((t_index, pre + (y,)) for pre in sorted(prefixes) for y in range(V))
    n = len(outputs)
    all_prefixes = [z for m in range(1, L + 2) for z in itertools.product(range(V), repeat=m)]
    # F(z) = p(z) - sum_{m <= |z|} P(O = z_1:m) p(z_m+1: | z_1:m), linear in the variables
    a_ub, b_ub, a_eq, b_eq = [], [], [], []
    for z in all_prefixes:
        row = np.zeros(n)
        for col, (t_index, o) in enumerate(outputs):
            if len(o) <= len(z) and z[: len(o)] == o:
                rest = 1.0
                for j in range(len(o), len(z)):
                    rest *= target.probs(z[:j])[z[j]]
                row[col] = tuples[t_index][1] * rest
        if len(z) == L + 1:
            a_eq.append(row)
            b_eq.append(prob(target, z))
        else:
            a_ub.append(row)
            b_ub.append(prob(target, z))
    for t_index in range(len(tuples)):
        a_eq.append(np.array([1.0 if t == t_index else 0.0 for t, _ in outputs]))
        b_eq.append(1.0)
    gain = np.array([tuples[t][1] * len(o) for t, o in outputs])
    res = linprog(-gain, A_ub=np.array(a_ub), b_ub=b_ub, A_eq=np.array(a_eq), b_eq=b_eq, method="highs")
    assert res.status == 0
    return -res.fun


@pytest.mark.parametrize("K, L, seed", [(2, 2, 0), (2, 2, 1), (3, 1, 2)])
def test_the_lp_equals_an_independent_brute_force_on_the_smallest_trees(K, L, seed):
    target, draft = table_pair(2, seed=seed)
    lp = reference.optimal_block_efficiency(target, draft, paths(K, L))
    assert abs(lp.value - _brute_force_lp(target, draft, K, L, 2)) < 1e-8


def test_the_lp_bounds_every_verifier_and_its_plan_is_lossless():
    target, draft = table_pair(3, seed=4, sparsity=0.2)
    structure = paths(3, 2)
    best = reference.optimal_block_efficiency(target, draft, structure)
    ev = evaluate_tree(best.plan, target, draft, structure)
    assert ev.is_lossless(1e-7) and abs(ev.block_efficiency - best.value) < 1e-7
    gaps = {}
    for name, verifier in fast.TREE_VERIFIERS.items():
        if verifier.accepts(structure):
            value = evaluate_tree(verifier, target, draft, structure).block_efficiency
            assert value <= best.value + 1e-8, name
            gaps[name] = best.value - value
    assert gaps["nss_tree"] > gaps["node_optimal"] >= -1e-8


def test_the_plan_samples_and_refuses_foreign_inputs():
    target, draft = table_pair(2, seed=0)
    best = reference.optimal_block_efficiency(target, draft, paths(2, 2))
    tree = paths(2, 2).sample(draft, (), 3)
    p, q = tree_inputs(tree, target, draft)
    law = best.plan.conditional(tree, p, q)
    assert abs(sum(law.values()) - 1.0) < 1e-9
    assert best.plan.sample(tree, p, q, 0) in law
    with pytest.raises(InvalidInputError, match="not a tree"):
        foreign = DraftTree.from_paths([[0, 0, 0]])
        best.plan.conditional(foreign, *tree_inputs(foreign, target, draft))
    with pytest.raises(InvalidInputError, match="row 0"):
        best.plan.conditional(tree, *tree_inputs(tree, target, draft, (1,)))


def test_size_guard_refuses_with_the_size():
    uniform = ConstantLM([0.25] * 4)
    with pytest.raises(TooLargeError, match=r"variables \(.* draft trees\), above max_variables=1,000"):
        reference.optimal_block_efficiency(uniform, uniform, paths(2, 2), max_variables=1000)
    with pytest.raises(InvalidInputError, match="closed form is for chains"):
        reference.optimal_block_efficiency(uniform, uniform, paths(2, 2), method="closed_form")


def test_closed_form_handles_a_large_vocabulary():
    V = 2000
    target, draft = table_pair(V, seed=0, concentration=0.05, sparsity=0.995)
    value = reference.chain_block_efficiency(target, draft, 2)
    assert 1.0 <= value <= 3.0


def test_peaked_laws_with_tiny_probabilities_stay_feasible():
    # the product-form LP (rows sum_m y p(z_m+1: | z_1:m) = p(z)) was infeasible here: HiGHS drops
    # matrix entries below 1e-9, and products of peaked conditionals fall far below it
    target, draft = table_pair(3, seed=30, concentration=0.15)
    best = reference.optimal_block_efficiency(target, draft, paths(2, 2))
    ev = evaluate_tree(best.plan, target, draft, paths(2, 2))
    assert ev.is_lossless(1e-7) and abs(ev.block_efficiency - best.value) < 1e-7
    chain_lp = reference.optimal_block_efficiency(target, draft, chain(3), method="lp").value
    assert abs(chain_lp - reference.chain_block_efficiency(target, draft, 3)) < 1e-9

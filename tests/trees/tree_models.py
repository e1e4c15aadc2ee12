"""Small context-dependent model pairs and known-bad tree verifiers shared by the tree tests."""

from __future__ import annotations

import numpy as np

from multidraft.fast.baselines import RecursiveRejection
from multidraft.fast.tree_base import draws_at
from multidraft.fast.tree_node import PerNode
from multidraft.trees import TableLM, table_pair


class DisjointLM:
    """Target and draft put their mass on disjoint halves of the vocabulary at odd-length contexts."""

    def __init__(self, base: TableLM, half: int):
        self.base, self.half, self.vocab_size = base, half, base.vocab_size

    def probs(self, context):
        law = np.array(self.base.probs(context), dtype=np.float64)
        if len(context) % 2 == 1:
            mask = (np.arange(self.vocab_size) % 2) == self.half
            law = np.where(mask, law, 0.0)
            law = law / law.sum()
        return law


def model_pairs(V: int) -> list[tuple[str, object, object]]:
    """Adversarial (name, target, draft) pairs over V tokens: generic, sparse with ties, p = q,
    near one-hot, disjoint supports at some contexts."""
    pairs = [
        ("dirichlet", *table_pair(V, seed=11)),
        ("sparse_ties", *table_pair(V, seed=12, sparsity=0.35, ties=4)),
        ("equal", *table_pair(V, seed=13, similarity=1.0)),
        ("peaked", *table_pair(V, seed=14, concentration=0.15)),
    ]
    if V >= 2:
        pairs.append(("disjoint", DisjointLM(TableLM(V, 15), 0), DisjointLM(TableLM(V, 15, salt=1), 1)))
    return pairs


class SkipDuplicates(PerNode):
    """Known bad: SpecInfer that sees each distinct child once, so a duplicate i.i.d. draw is
    skipped without its residual update."""

    def __init__(self):
        super().__init__(RecursiveRejection(replacement=True), "spec_infer_skip_duplicates", ("iid",))

    def _law(self, tree, node, p, q):
        kids = tree.children(node)
        if not len(kids):
            return p[node + 1]
        drafts = np.array(sorted(set(draws_at(tree, node))), dtype=np.int64)
        from multidraft.verifiers import as_numpy_probs

        return as_numpy_probs(self.token_verifier.conditional(p[node + 1], q[node + 1], drafts))


class WrongBonus(PerNode):
    """Known bad: SpecInfer whose bonus token after a full accept is drawn from the parent's law."""

    def __init__(self):
        super().__init__(RecursiveRejection(replacement=True), "spec_infer_wrong_bonus", ("iid",))

    def _law(self, tree, node, p, q):
        if not len(tree.children(node)) and node >= 0:
            return p[int(tree.parents[node]) + 1]
        return super()._law(tree, node, p, q)


class ResidualPort:
    """Known bad: a block verification port whose correction after tau accepted tokens is drawn
    from norm((p - q)+) instead of norm((w_tau p - q)+) (a published bug). Both interfaces."""

    name = "bv_port_plain_residual"

    def accepts(self, structure):
        return structure.is_chain

    def _plan(self, tree, target, draft):
        from multidraft.block_law import bv_plan, chain_nodes

        p, q = np.asarray(target, dtype=np.float64), np.asarray(draft, dtype=np.float64)
        nodes = chain_nodes(tree)
        rows = np.array([0] + [n + 1 for n in nodes])
        h, emit = bv_plan(p[rows], q[rows], tree.tokens[nodes])
        for i in range(len(nodes)):  # the bug: the plain residual, whatever w_i
            plain = np.clip(p[rows[i]] - q[rows[i]], 0.0, None)
            emit[i] = plain / plain.sum() if plain.sum() > 0 else p[rows[i]]
        return nodes, h, emit

    def conditional(self, tree, target, draft):
        from multidraft.block_law import chain_law

        nodes, h, emit = self._plan(tree, target, draft)
        return chain_law(tree.tokens[nodes], h, emit)

    def sample(self, tree, target, draft, generator=None):
        from multidraft.block_law import bv_sample
        from multidraft.randomness import as_generator

        nodes, h, emit = self._plan(tree, target, draft)
        tau, y = bv_sample(h, emit, as_generator(generator))
        return tuple(int(t) for t in tree.tokens[nodes[:tau]]) + (y,)


def always_accept(tree, target, draft, generator=None):
    """Known bad, sampling only: emit the first drafted path and a bonus token from the target."""
    from multidraft.randomness import as_generator, categorical

    node, out = -1, []
    while len(tree.children(node)):
        node = int(tree.children(node)[0])
        out.append(int(tree.tokens[node]))
    return tuple(out) + (categorical(np.asarray(target)[node + 1], as_generator(generator)),)

"""Draft trees, draft structures and the tree-verifier interfaces (multi-step verification).

Language models
    Any object with ``probs(context: tuple[int, ...]) -> array[V]``; built-in table models
    in :mod:`multidraft.lm`, re-exported here (``TableLM``, ``table_pair``, ...).

Draft tree
    :class:`DraftTree`: N nodes with integer arrays ``.tokens`` (N,), ``.parents`` (N,)
    (-1 = child of the root; parents before children), ``.counts`` (N,) -- how many drafted
    paths pass through the node -- and ``.draws`` (N,) -- how many of the i.i.d. draws made
    at the node's parent produced its token (1 for distinct siblings: without replacement,
    top-k, deterministic trees). Siblings carry distinct tokens: i.i.d. paths sharing a
    prefix merge into one node and keep their multiplicity. For K i.i.d. paths
    ``draws == counts``; per-node verifiers read ``draws`` (the node's i.i.d. drafts are its
    children repeated ``draws`` times). Constructors: :meth:`DraftTree.from_paths` (token
    sequences [K, L], -1 padded), :meth:`DraftTree.from_eagle` (EAGLE's ``retrieve_indices``
    [K, L+1] into a token array whose entry 0 is the root), :meth:`DraftTree.from_sglang`
    (SGLang's first-child / next-sibling arrays, root at index 0),
    :meth:`DraftTree.from_parents` (parent arrays in any order).

Draft structures
    How a tree is drawn from the draft model: :func:`chain` (L), :func:`paths` (K i.i.d.
    sequences of length L), :func:`branching` ((k_1..k_L), law "iid", "without_replacement"
    or "top") and :func:`delayed` (a trunk of L1 tokens, then K i.i.d. branches of L2).
    All are :class:`Branching` structures: every node at depth d - 1 draws k_d children from
    the draft at its context (i.i.d., without replacement, or the top k_d of the draft's
    support, ties to the lower id); i.i.d. draws of one token merge into one node that
    carries the copies, and a node of ``m`` copies draws ``m * k_{d+1}`` i.i.d. children
    (so ``paths(K, L)`` is ``branching((K, 1, ..., 1))``: K i.i.d. sequences, merged into
    their trie). Each structure can enumerate its trees with their probabilities
    (:meth:`Branching.trees`, small cases) and sample one (:meth:`Branching.sample`).

Tree verifiers (the two interfaces, mirroring :mod:`multidraft.verifiers`)
    conditional ``f(tree, target, draft) -> {emitted tuple: probability}`` and sampling
    ``g(tree, target, draft, generator) -> emitted tokens``; ``target`` and ``draft`` are
    (N + 1, V) arrays: row 0 the laws at the block's context, row i + 1 the laws after the
    path to node i (:func:`tree_laws` / :func:`tree_inputs` build them from models). The
    emitted tuple O is an accepted path from the root plus one more token, so
    ``1 <= |O| <= depth + 1``. An object may expose ``.conditional(tree, target, draft)``
    and ``.sample(tree, target, draft, generator=None)`` instead of being callable, and
    declare ``accepts(structure) -> bool``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .drafting import COUNT_CAP, format_count
from .lm import (
    BlendLM,
    CachedLM,
    ConstantLM,
    LanguageModel,
    TableLM,
    cached,
    check_context,
    check_lm,
    lm_probs,
    table_pair,
    vocab_size_of,
)
from .validation import InvalidInputError, TooLargeError, check_distribution

#: Default cap on the number of draft trees an enumeration visits.
MAX_TREES = 200_000

SIBLING_LAWS = ("iid", "without_replacement", "top")


# ============================================================================ trees
def _int_array(values: Any, name: str, ndim: int = 1) -> np.ndarray:
    if type(values).__module__.startswith("torch"):
        values = values.detach().to("cpu").numpy()
    arr = np.asarray(values)
    if arr.size == 0:
        arr = arr.astype(np.int64).reshape((0,) * ndim if ndim == 1 else arr.shape)
    if arr.ndim != ndim:
        raise InvalidInputError(f"{name}: expected a {ndim}-D integer array, got shape {arr.shape}")
    if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.size and arr.dtype.kind not in "iu":
        raise InvalidInputError(f"{name}: expected integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


class DraftTree:
    """A draft tree of N nodes; see the module docstring for the fields.

    Parameters
    ----------
    tokens : (N,) int
        Token id of each node (>= 0).
    parents : (N,) int
        Parent of each node, -1 for a child of the root; ``parents[i] < i``.
    counts : (N,) int >= 1, optional
        Drafted paths through each node; default: the number of leaves below it (each leaf
        one path). Must satisfy ``counts[i] >= sum of its children's counts``.
    draws : (N,) int >= 1, optional
        Draws at the parent that produced the node's token; default ``counts`` when
        ``counts`` is given (K i.i.d. paths), else 1 (distinct siblings).

    Raises
    ------
    InvalidInputError
        On a parent after its child, two siblings with one token (merge them with
        :meth:`from_paths` or :meth:`from_parents`), or inconsistent counts.

    Examples
    --------
    >>> tree = DraftTree.from_paths([[0, 1], [0, 2], [1, -1]])
    >>> tree.tokens.tolist(), tree.parents.tolist(), tree.counts.tolist()
    ([0, 1, 2, 1], [-1, 0, 0, -1], [2, 1, 1, 1])
    >>> [tree.path(i) for i in tree.children(-1)]
    [(0,), (1,)]
    """

    def __init__(self, tokens: Any, parents: Any, counts: Any = None, draws: Any = None):
        self.tokens = _int_array(tokens, "tokens")
        self.parents = _int_array(parents, "parents")
        N = self.tokens.shape[0]
        if self.parents.shape != (N,):
            raise InvalidInputError(f"parents: expected shape ({N},) like tokens, got {self.parents.shape}")
        if N and self.tokens.min() < 0:
            raise InvalidInputError(f"tokens: token ids must be >= 0, got {int(self.tokens.min())}")
        index = np.arange(N)
        bad = np.flatnonzero((self.parents < -1) | (self.parents >= index))
        if bad.size:
            i = int(bad[0])
            raise InvalidInputError(
                f"parents: node {i} has parent {int(self.parents[i])}; expected -1 (the root) or a node before it "
                "(parents before children; DraftTree.from_parents reorders any parent array)"
            )
        self._children: list[list[int]] = [[] for _ in range(N + 1)]  # slot 0: the root
        for i, parent in enumerate(self.parents.tolist()):
            self._children[parent + 1].append(i)
        for slot, kids in enumerate(self._children):
            seen = [int(self.tokens[k]) for k in kids]
            if len(set(seen)) != len(seen):
                dup = next(t for t in seen if seen.count(t) > 1)
                raise InvalidInputError(
                    f"tokens: two children of node {slot - 1} carry token {dup}; siblings must be distinct "
                    "(i.i.d. draws of one token merge into one node with a count: use DraftTree.from_paths "
                    "or DraftTree.from_parents, which merge)"
                )
        leaves = np.zeros(N, dtype=np.int64)
        for i in range(N - 1, -1, -1):
            kids = self._children[i + 1]
            leaves[i] = 1 if not kids else leaves[kids].sum()
        explicit = counts is not None
        self.counts = leaves if counts is None else _int_array(counts, "counts")
        if draws is None:
            self.draws = self.counts.copy() if explicit else np.ones(N, dtype=np.int64)
        else:
            self.draws = _int_array(draws, "draws")
        for name in ("counts", "draws"):
            arr = getattr(self, name)
            if arr.shape != (N,):
                raise InvalidInputError(f"{name}: expected shape ({N},) like tokens, got {arr.shape}")
            if N and arr.min() < 1:
                raise InvalidInputError(f"{name}: expected integers >= 1, got {int(arr.min())}")
        for i in range(N):
            kids = self._children[i + 1]
            if kids and self.counts[kids].sum() > self.counts[i]:
                raise InvalidInputError(
                    f"counts: node {i} has count {int(self.counts[i])} but its children carry "
                    f"{int(self.counts[kids].sum())} paths (a path through a child passes through its parent)"
                )
        depth = np.zeros(N, dtype=np.int64)
        for i, parent in enumerate(self.parents.tolist()):
            depth[i] = 1 if parent < 0 else depth[parent] + 1
        self.depths = depth
        for arr in (self.tokens, self.parents, self.counts, self.draws, self.depths):
            arr.setflags(write=False)

    # ------------------------------------------------------------------ queries
    @property
    def size(self) -> int:
        """N, the number of nodes (the root not counted)."""
        return int(self.tokens.shape[0])

    def __len__(self) -> int:
        return self.size

    @property
    def depth(self) -> int:
        """Length of the longest path (0 for the empty tree)."""
        return int(self.depths.max()) if self.size else 0

    def children(self, i: int) -> np.ndarray:
        """Indices of the children of node ``i`` (``i = -1`` for the root), int64, in node order."""
        if not -1 <= int(i) < self.size:
            raise InvalidInputError(f"i: expected a node in [-1, {self.size}), got {i!r}")
        return np.asarray(self._children[int(i) + 1], dtype=np.int64)

    def child_with_token(self, i: int, token: int) -> int:
        """The child of node ``i`` (-1: the root) carrying ``token``, or -1 if there is none."""
        for k in self._children[int(i) + 1]:
            if self.tokens[k] == token:
                return k
        return -1

    def path(self, i: int) -> tuple[int, ...]:
        """Tokens from the root to node ``i`` (inclusive); ``()`` for ``i = -1``."""
        out = []
        while i >= 0:
            out.append(int(self.tokens[i]))
            i = int(self.parents[i])
        return tuple(reversed(out))

    def node_of(self, tokens: tuple[int, ...]) -> int:
        """The node reached by following ``tokens`` from the root (-1 for ``()``); None if absent."""
        node = -1
        for t in tokens:
            node = self.child_with_token(node, t)
            if node < 0:
                return None
        return node

    def leaves(self) -> np.ndarray:
        """Indices of the nodes without children."""
        return np.asarray([i for i in range(self.size) if not self._children[i + 1]], dtype=np.int64)

    def key(self) -> tuple:
        """A hashable canonical form: equal for trees that differ only in node order."""

        def canon(i: int) -> tuple:
            kids = sorted(self._children[i + 1], key=lambda k: int(self.tokens[k]))
            return tuple((int(self.tokens[k]), int(self.counts[k]), int(self.draws[k]), canon(k)) for k in kids)

        return canon(-1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DraftTree) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return (
            f"DraftTree(tokens={self.tokens.tolist()}, parents={self.parents.tolist()}, "
            f"counts={self.counts.tolist()}, draws={self.draws.tolist()})"
        )

    # ------------------------------------------------------------------ encodings
    def to_paths(self) -> np.ndarray:
        """Root-to-leaf token sequences, one row per drafted path (a leaf of count c gives c rows,
        a node whose count exceeds its children's gives the surplus as shorter rows), -1 padded;
        int64 (K, depth). Inverse of :meth:`from_paths`."""
        rows: list[tuple[int, ...]] = []
        for i in range(self.size):
            kids = self._children[i + 1]
            surplus = int(self.counts[i]) - int(self.counts[kids].sum() if kids else 0)
            rows.extend([self.path(i)] * surplus)
        out = np.full((len(rows), self.depth), -1, dtype=np.int64)
        for r, row in enumerate(sorted(rows)):
            out[r, : len(row)] = row
        return out

    def to_sglang(self, root_token: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """SGLang's encoding: ``(tokens, first_child, next_sibling)``, each (N + 1,), index 0 the
        root (carrying ``root_token``), -1 for none. Inverse of :meth:`from_sglang`."""
        tokens = np.concatenate([[root_token], self.tokens]).astype(np.int64)
        first = np.full(self.size + 1, -1, dtype=np.int64)
        nxt = np.full(self.size + 1, -1, dtype=np.int64)
        for slot, kids in enumerate(self._children):
            if kids:
                first[slot] = kids[0] + 1
                for a, b in itertools.pairwise(kids):
                    nxt[a + 1] = b + 1
        return tokens, first, nxt

    @classmethod
    def from_paths(cls, paths: Any) -> DraftTree:
        """The trie of drafted token sequences (K i.i.d. paths, SpecTr / SpecInfer).

        Parameters
        ----------
        paths : (K, L) int
            One drafted sequence per row, padded on the right with -1 (a shorter path).
            Rows sharing a prefix merge; ``counts`` and ``draws`` count the rows through a node.
        """
        arr = _int_array(paths, "paths", ndim=2)
        index: dict[tuple[int, ...], int] = {}
        tokens: list[int] = []
        parents: list[int] = []
        counts: list[int] = []
        for r, row in enumerate(arr.tolist()):
            length = next((j for j, t in enumerate(row) if t < 0), len(row))
            if any(t >= 0 for t in row[length:]) or any(t < -1 for t in row):
                raise InvalidInputError(f"paths: row {r} is {row}; expected token ids >= 0 padded on the right with -1")
            for j in range(length):
                prefix = tuple(row[: j + 1])
                node = index.get(prefix)
                if node is None:
                    node = index[prefix] = len(tokens)
                    tokens.append(row[j])
                    parents.append(index[prefix[:-1]] if j else -1)
                    counts.append(0)
                counts[node] += 1
        return cls(
            np.array(tokens, dtype=np.int64), np.array(parents, dtype=np.int64), np.array(counts, dtype=np.int64)
        )

    @classmethod
    def from_eagle(cls, retrieve_indices: Any, tokens: Any) -> DraftTree:
        """EAGLE's encoding: ``retrieve_indices`` (K, L + 1) indexes ``tokens`` (N + 1,) along each
        root-to-leaf path; column 0 is the root (index 0, its token ignored), -1 pads shorter paths.
        Node i of the result is ``tokens[i + 1]`` (distinct siblings: ``draws = 1``, ``counts`` =
        leaves below)."""
        idx = _int_array(retrieve_indices, "retrieve_indices", ndim=2)
        toks = _int_array(tokens, "tokens")
        M = toks.shape[0]
        if idx.shape[0] and (idx[:, 0] != 0).any():
            raise InvalidInputError("retrieve_indices: column 0 must be the root, index 0, in every row")
        parent = np.full(M, -2, dtype=np.int64)
        for r, row in enumerate(idx.tolist()):
            length = next((j for j, t in enumerate(row) if t < 0), len(row))
            if any(t >= 0 for t in row[length:]) or any(t >= M or t < -1 for t in row):
                raise InvalidInputError(
                    f"retrieve_indices: row {r} is {row}; expected indices into tokens "
                    f"(< {M}) padded on the right with -1"
                )
            for j in range(1, length):
                node, up = row[j], row[j - 1]
                if parent[node] not in (-2, up):
                    raise InvalidInputError(f"retrieve_indices: node {node} has two parents ({parent[node]} and {up})")
                parent[node] = up
        missing = [i for i in range(1, M) if parent[i] == -2]
        if missing:
            raise InvalidInputError(f"retrieve_indices: node {missing[0]} of tokens lies on no path")
        return cls.from_parents(toks[1:], parent[1:] - 1)

    @classmethod
    def from_sglang(cls, tokens: Any, first_child: Any, next_sibling: Any) -> DraftTree:
        """SGLang's encoding (``retrive_next_token`` / ``retrive_next_sibling``): arrays (N + 1,)
        with index 0 the root (its token ignored), -1 for none. Node i of the result is index i + 1."""
        toks = _int_array(tokens, "tokens")
        first = _int_array(first_child, "first_child")
        nxt = _int_array(next_sibling, "next_sibling")
        M = toks.shape[0]
        for name, arr in (("first_child", first), ("next_sibling", nxt)):
            if arr.shape != (M,):
                raise InvalidInputError(f"{name}: expected shape ({M},) like tokens, got {arr.shape}")
            if M and (arr.min() < -1 or arr.max() >= M):
                raise InvalidInputError(f"{name}: entries must be -1 or an index in [1, {M}), got {arr.tolist()}")
        parent = np.full(M, -2, dtype=np.int64)
        stack = [0]
        while stack:
            node = stack.pop()
            child = int(first[node])
            while child >= 0:
                if child == 0 or parent[child] != -2:
                    raise InvalidInputError(f"first_child/next_sibling: index {child} is reached twice (not a tree)")
                parent[child] = node
                stack.append(child)
                child = int(nxt[child])
        missing = [i for i in range(1, M) if parent[i] == -2]
        if missing:
            raise InvalidInputError(f"first_child/next_sibling: index {missing[0]} is not reachable from the root")
        return cls.from_parents(toks[1:], parent[1:] - 1)

    @classmethod
    def from_parents(cls, tokens: Any, parents: Any, counts: Any = None, draws: Any = None) -> DraftTree:
        """A tree from a parent array in any node order (-1 = the root).

        Nodes are kept in their given order when parents already come first; otherwise they
        are reordered breadth-first (stable). Siblings with one token are merged (counts and
        draws added; their subtrees merged recursively).
        """
        toks = _int_array(tokens, "tokens")
        par = _int_array(parents, "parents")
        N = toks.shape[0]
        if par.shape != (N,):
            raise InvalidInputError(f"parents: expected shape ({N},) like tokens, got {par.shape}")
        if N and (par.min() < -1 or par.max() >= N):
            raise InvalidInputError(f"parents: entries must be -1 or a node index in [0, {N}), got {par.tolist()}")
        explicit = counts is not None
        cnt = None if counts is None else _int_array(counts, "counts")
        drw = None if draws is None else _int_array(draws, "draws")
        order: list[int] = []
        if bool(np.all(par < np.arange(N))):
            order = list(range(N))
        else:
            kids: list[list[int]] = [[] for _ in range(N + 1)]
            for i, p in enumerate(par.tolist()):
                kids[p + 1].append(i)
            frontier = kids[0][:]
            while frontier:
                order.extend(frontier)
                frontier = [k for node in frontier for k in kids[node + 1]]
            if len(order) != N:
                raise InvalidInputError("parents: the parent array has a cycle (some node never reaches the root)")
        # merge siblings that carry one token (in the new order)
        new_index: dict[tuple[int, int], int] = {}
        mapped: dict[int, int] = {}
        out_tokens, out_parents, out_counts, out_draws = [], [], [], []
        leaves_below = DraftTree._leaf_counts(par, N)
        for old in order:
            parent_new = -1 if par[old] < 0 else mapped[int(par[old])]
            key = (parent_new, int(toks[old]))
            c = int(cnt[old]) if cnt is not None else int(leaves_below[old])
            d = int(drw[old]) if drw is not None else (c if explicit else 1)
            node = new_index.get(key)
            if node is None:
                node = new_index[key] = len(out_tokens)
                out_tokens.append(int(toks[old]))
                out_parents.append(parent_new)
                out_counts.append(0)
                out_draws.append(0)
            out_counts[node] += c
            out_draws[node] += d
            mapped[old] = node
        return cls(
            np.array(out_tokens, dtype=np.int64),
            np.array(out_parents, dtype=np.int64),
            np.array(out_counts, dtype=np.int64),
            np.array(out_draws, dtype=np.int64),
        )

    @staticmethod
    def _leaf_counts(parents: np.ndarray, N: int) -> np.ndarray:
        kids: list[list[int]] = [[] for _ in range(N)]
        for i, p in enumerate(parents.tolist()):
            if p >= 0:
                kids[p].append(i)
        memo = np.zeros(N, dtype=np.int64)
        order: list[int] = []
        stack = [i for i in range(N) if parents[i] < 0]
        while stack:  # reverse of a preorder visits children before parents
            node = stack.pop()
            order.append(node)
            stack.extend(kids[node])
        for node in reversed(order):
            memo[node] = 1 if not kids[node] else memo[kids[node]].sum()
        return memo


# ============================================================================ laws on a tree
def tree_laws(lm: Any, tree: DraftTree, context: Any = (), *, name: str = "lm") -> np.ndarray:
    """The (N + 1, V) float64 laws a tree verifier receives: row 0 ``lm.probs(context)``, row
    i + 1 ``lm.probs(context + tree.path(i))``."""
    context = check_context(context)
    check_lm(lm, name)
    rows = [lm_probs(lm, context, name)]
    V = rows[0].shape[0]
    rows.extend(lm_probs(lm, context + tree.path(i), name, V) for i in range(tree.size))
    return np.stack(rows)


def tree_inputs(tree: DraftTree, target_lm: Any, draft_lm: Any, context: Any = ()) -> tuple[np.ndarray, np.ndarray]:
    """``(target, draft)``, each (N + 1, V) float64: :func:`tree_laws` of both models."""
    target = tree_laws(target_lm, tree, context, name="target_lm")
    draft = tree_laws(draft_lm, tree, context, name="draft_lm")
    if target.shape != draft.shape:
        raise InvalidInputError(
            f"draft_lm: vocabulary size {draft.shape[1]} does not match target_lm's {target.shape[1]}"
        )
    return target, draft


def check_tree_laws(tree: Any, target: Any, draft: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a tree verifier's inputs: a :class:`DraftTree` and two (N + 1, V) law arrays.

    Returns the laws as float64 numpy arrays.
    """
    if not isinstance(tree, DraftTree):
        raise InvalidInputError(f"tree: expected a DraftTree, got {type(tree).__name__}")
    p = check_distribution(target, "target")
    q = check_distribution(draft, "draft")
    shape = (tree.size + 1,)
    for name, arr in (("target", p), ("draft", q)):
        if arr.ndim != 2 or arr.shape[0] != shape[0]:
            raise InvalidInputError(
                f"{name}: expected shape ({shape[0]}, V) (row 0 the root, row i + 1 after node i), got {arr.shape}"
            )
    if p.shape != q.shape:
        raise InvalidInputError(f"draft: shape {q.shape} does not match target's {p.shape}")
    if tree.size and tree.tokens.max() >= p.shape[1]:
        raise InvalidInputError(
            f"tree: token {int(tree.tokens.max())} is outside the vocabulary of {p.shape[1]} tokens"
        )
    return p, q


# ============================================================================ structures
def _multisets(support: np.ndarray, q: np.ndarray, n: int) -> Iterator[tuple[dict[int, int], float]]:
    """Multisets of n i.i.d. draws from q (restricted to ``support``) with their probabilities."""
    log_n = math.lgamma(n + 1)
    for combo in itertools.combinations_with_replacement(support.tolist(), n):
        mult: dict[int, int] = {}
        for t in combo:
            mult[t] = mult.get(t, 0) + 1
        log_coef = log_n - sum(math.lgamma(m + 1) for m in mult.values())
        yield mult, math.exp(log_coef) * float(np.prod([q[t] ** m for t, m in mult.items()]))


def _distinct_sets(support: np.ndarray, q: np.ndarray, k: int) -> Iterator[tuple[dict[int, int], float]]:
    """Sets of k sequential draws without replacement (all of the support if it is smaller),
    probability summed over the orders; the mass left is a direct sum (no cancellation)."""
    tokens = support.tolist()
    k = min(k, len(tokens))
    for combo in itertools.combinations(tokens, k):
        total = 0.0
        for order in itertools.permutations(combo):
            prob = 1.0
            for j, t in enumerate(order):
                left = float(sum(q[s] for s in tokens if s not in order[:j]))
                prob *= q[t] / left
            total += prob
        yield {t: 1 for t in combo}, total


def _top(support: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    order = sorted(support.tolist(), key=lambda t: (-q[t], t))
    return sorted(order[:k])


@dataclass(frozen=True)
class Branching:
    """A draft structure: node at depth d - 1 draws ``factors[d - 1]`` children (see the module
    docstring for the laws and the merging of i.i.d. copies).

    Attributes
    ----------
    factors : tuple of int >= 1, length L (the depth)
    law : "iid", "without_replacement" or "top"
    name : the spec it was built from (``"chain:2"``, ``"paths:3x2"``, ...)
    """

    factors: tuple[int, ...]
    law: str = "iid"
    name: str = ""

    def __post_init__(self):
        if not isinstance(self.factors, tuple) or not self.factors:
            raise InvalidInputError(f"factors: expected a non-empty tuple of integers >= 1, got {self.factors!r}")
        for k in self.factors:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise InvalidInputError(f"factors: expected integers >= 1, got {self.factors!r}")
        if self.law not in SIBLING_LAWS:
            raise InvalidInputError(f"law: expected one of {SIBLING_LAWS}, got {self.law!r}")
        if not self.name:
            object.__setattr__(self, "name", f"branching:{','.join(map(str, self.factors))}:{self.law}")

    def __repr__(self) -> str:
        return f"<structure {self.name}>"

    @property
    def depth(self) -> int:
        """L, the length of the longest drafted path."""
        return len(self.factors)

    @property
    def is_chain(self) -> bool:
        """Every node has at most one child (one drafted sequence)."""
        return all(k == 1 for k in self.factors)

    @property
    def width(self) -> int:
        """K, the number of drafted root-to-leaf paths (the product of the factors)."""
        return int(np.prod(self.factors))

    @property
    def sibling_law(self) -> str:
        """How siblings are drawn ("iid" for a chain: one draw per node)."""
        return "iid" if self.is_chain else self.law

    # ------------------------------------------------------------------ enumeration
    def _children(self, q: np.ndarray, n: int) -> Iterator[tuple[dict[int, int], float]]:
        support = np.flatnonzero(q > 0)
        if self.law == "iid" or n == 1 and self.law != "top":
            return _multisets(support, q, n)
        if self.law == "without_replacement":
            return _distinct_sets(support, q, n)
        return iter([({t: 1 for t in _top(support, q, n)}, 1.0)])

    def count(self, draft_lm: Any, context: Any = (), *, cap: int = COUNT_CAP) -> int:
        """Number of trees with positive probability (counted without building them; capped at ``cap``)."""
        context = check_context(context)
        q_lm = cached(draft_lm, "draft_lm")
        memo: dict[tuple, int] = {}

        def count(ctx: tuple[int, ...], copies: int, level: int) -> int:
            if level == self.depth:
                return 1
            key = (ctx, copies, level)
            if key not in memo:
                total = 0
                for mult, _ in self._children(q_lm.probs(ctx), copies * self.factors[level]):
                    prod = 1
                    for t, m in mult.items():
                        prod = min(prod * count(ctx + (t,), m if self.law == "iid" else 1, level + 1), cap)
                    total = min(total + prod, cap)
                memo[key] = total
            return memo[key]

        return count(context, 1, 0)

    def trees(self, draft_lm: Any, context: Any = (), *, max_count: int = MAX_TREES) -> list[tuple[DraftTree, float]]:
        """Every tree with positive probability, with it: ``[(tree, probability), ...]`` summing to 1.

        Nodes are in depth-first order, siblings by increasing token. Refuses
        (:class:`TooLargeError`, with the count) above ``max_count`` trees.
        """
        context = check_context(context)
        q_lm = cached(draft_lm, "draft_lm")
        total = self.count(q_lm, context, cap=max_count + 1)
        if total > max_count:
            raise TooLargeError(
                f"structure {self.name}: enumerating its draft trees would visit {format_count(total) if total <= max_count else 'more than ' + format(max_count, ',')} "
                f"trees, above the limit of {max_count:,}; use a smaller vocabulary or structure, raise max_count, "
                "or use the statistical check"
            )
        out = []
        for nodes, prob in self._forests(q_lm, context, 1, 0):
            tokens, parents, counts, draws = (
                (np.array(col, dtype=np.int64).reshape(-1) for col in zip(*nodes))
                if nodes
                else (np.zeros(0, dtype=np.int64),) * 4
            )
            out.append((DraftTree(tokens, parents, counts, draws), prob))
        return out

    def _paths_below(self, level: int) -> int:
        return int(np.prod(self.factors[level:])) if level < self.depth else 1

    def _forests(self, q_lm: CachedLM, ctx: tuple[int, ...], copies: int, level: int) -> list[tuple[list, float]]:
        """Forests below a node at ``level`` carrying ``copies`` i.i.d. copies: lists of
        (token, parent offset, count, draws) in depth-first order, with probabilities."""
        if level == self.depth:
            return [([], 1.0)]
        out = []
        for mult, prob in self._children(q_lm.probs(ctx), copies * self.factors[level]):
            parts = []
            for t in sorted(mult):
                m = mult[t] if self.law == "iid" else 1
                below = self._paths_below(level + 1)
                options = self._forests(q_lm, ctx + (t,), m, level + 1)
                parts.append([(t, m, m * below, sub, p) for sub, p in options])
            for combo in itertools.product(*parts):
                nodes, p_tree = [], prob
                for t, m, c, sub, p in combo:
                    here = len(nodes)
                    nodes.append((t, -1, c, m))
                    nodes.extend((tok, here if par < 0 else par + here + 1, cnt, drw) for tok, par, cnt, drw in sub)
                    p_tree *= p
                out.append((nodes, p_tree))
        return out

    # ------------------------------------------------------------------ sampling
    def sample(self, draft_lm: Any, context: Any = (), rng: Any = None) -> DraftTree:
        """Draw one tree from the draft model (``rng``: a ``numpy.random.Generator`` or a seed)."""
        context = check_context(context)
        check_lm(draft_lm, "draft_lm")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        tokens: list[int] = []
        parents: list[int] = []
        counts: list[int] = []
        draws: list[int] = []

        def grow(ctx: tuple[int, ...], node: int, copies: int, level: int) -> None:
            if level == self.depth:
                return
            q = lm_probs(draft_lm, ctx, "draft_lm")
            n = copies * self.factors[level]
            support = np.flatnonzero(q > 0)
            if self.law == "iid" or n == 1 and self.law != "top":
                drawn = rng.choice(q.shape[0], size=n, p=q)
                mult = {int(t): int((drawn == t).sum()) for t in np.unique(drawn)}
            elif self.law == "without_replacement":
                with np.errstate(divide="ignore"):
                    keys = np.log(q) + rng.gumbel(size=q.shape[0])
                chosen = np.argsort(-keys, kind="stable")[: min(n, len(support))]
                mult = {int(t): 1 for t in chosen}
            else:
                mult = {t: 1 for t in _top(support, q, n)}
            for t in sorted(mult):
                m = mult[t] if self.law == "iid" else 1
                here = len(tokens)
                tokens.append(t)
                parents.append(node)
                counts.append(m * self._paths_below(level + 1))
                draws.append(m)
                grow(ctx + (t,), here, m, level + 1)

        grow(context, -1, 1, 0)
        return DraftTree(
            np.array(tokens, dtype=np.int64),
            np.array(parents, dtype=np.int64),
            np.array(counts, dtype=np.int64),
            np.array(draws, dtype=np.int64),
        )


def _check_length(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def chain(L: int) -> Branching:
    """One drafted sequence of L tokens (each drawn from the draft at its context)."""
    L = _check_length(L, "L")
    return Branching((1,) * L, "iid", f"chain:{L}")


def paths(K: int, L: int) -> Branching:
    """K i.i.d. drafted sequences of length L, merged into their trie (multiplicities kept)."""
    K, L = _check_length(K, "K"), _check_length(L, "L")
    return Branching((K,) + (1,) * (L - 1), "iid", f"paths:{K}x{L}")


def branching(factors: Any, law: str = "iid") -> Branching:
    """Per-node branching: a node at depth d - 1 draws ``factors[d - 1]`` children by ``law``
    ("iid", "without_replacement", or "top": the draft's top-k, deterministic)."""
    try:
        factors = tuple(int(k) if not isinstance(k, bool) and float(k).is_integer() else k for k in factors)
    except (TypeError, ValueError):
        raise InvalidInputError(f"factors: expected a sequence of integers >= 1, got {factors!r}") from None
    return Branching(factors, law)


def delayed(L1: int, K: int, L2: int) -> Branching:
    """A trunk of L1 drafted tokens, then K i.i.d. branches of L2 tokens from its end."""
    L1, K, L2 = _check_length(L1, "L1", 0), _check_length(K, "K"), _check_length(L2, "L2")
    return Branching((1,) * L1 + (K,) + (1,) * (L2 - 1), "iid", f"delayed:{L1}x{K}x{L2}")


def parse_structure(spec: str, law: str = "iid") -> Branching:
    """A structure from its command-line spec: ``chain:L``, ``paths:KxL``, ``branching:k1,k2,...``
    (with ``law``) or ``delayed:L1xKxL2``."""
    text = str(spec).strip()
    kind, _, rest = text.partition(":")
    try:
        if kind == "chain":
            return chain(int(rest))
        if kind == "paths":
            K, L = (int(v) for v in rest.lower().split("x"))
            return paths(K, L)
        if kind == "delayed":
            L1, K, L2 = (int(v) for v in rest.lower().split("x"))
            return delayed(L1, K, L2)
        if kind == "branching":
            return branching(tuple(int(v) for v in rest.split(",")), law)
    except ValueError:
        pass
    raise InvalidInputError(
        f"structure: expected chain:L, paths:KxL, branching:k1,k2,... or delayed:L1xKxL2 (e.g. paths:3x2), got {spec!r}"
    )


# ============================================================================ verifier interfaces
def _method_or_callable(verifier: Any, method: str, expected: str) -> Callable[..., Any]:
    found = getattr(verifier, method, None)
    if callable(found):
        return found
    if callable(verifier):
        return verifier
    raise InvalidInputError(
        f"verifier: expected {expected} or an object with .{method}(...), got {type(verifier).__name__}"
    )


def tree_conditional_of(verifier: Any) -> Callable[[DraftTree, Any, Any], dict]:
    """The conditional function ``f(tree, target, draft) -> {tuple: prob}`` of a tree verifier."""
    return _method_or_callable(
        verifier, "conditional", "a callable f(tree, target, draft) -> {emitted tuple: probability}"
    )


def tree_sampler_of(verifier: Any) -> Callable[..., Any]:
    """The sampling function ``g(tree, target, draft, generator) -> tokens`` of a tree verifier."""
    return _method_or_callable(verifier, "sample", "a callable g(tree, target, draft, generator) -> emitted tokens")


def accepts(verifier: Any, structure: Branching) -> bool:
    """Whether ``verifier`` declares it handles ``structure`` (``accepts(structure)``; default yes)."""
    method = getattr(verifier, "accepts", None)
    return bool(method(structure)) if callable(method) else True


def add_to(law: dict, key: tuple[int, ...], prob: float) -> None:
    """``law[key] += prob`` for a conditional law being built (zeros skipped)."""
    if prob != 0.0:
        law[key] = law.get(key, 0.0) + prob


def as_emitted(tokens: Any) -> tuple[int, ...]:
    """A sampling verifier's output (list, numpy or torch) as a tuple of ints."""
    if type(tokens).__module__.startswith("torch"):
        tokens = tokens.detach().to("cpu").numpy()
    arr = np.asarray(tokens).reshape(-1)
    if arr.size and arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
        raise InvalidInputError(f"verifier: expected emitted token ids, got {tokens!r}")
    return tuple(int(t) for t in arr)


__all__ = [
    "MAX_TREES",
    "SIBLING_LAWS",
    "BlendLM",
    "Branching",
    "CachedLM",
    "ConstantLM",
    "DraftTree",
    "LanguageModel",
    "TableLM",
    "accepts",
    "as_emitted",
    "branching",
    "cached",
    "chain",
    "check_context",
    "check_lm",
    "check_tree_laws",
    "delayed",
    "lm_probs",
    "parse_structure",
    "paths",
    "table_pair",
    "tree_conditional_of",
    "tree_inputs",
    "tree_laws",
    "tree_sampler_of",
    "vocab_size_of",
]

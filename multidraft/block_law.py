"""Block verification's law on one drafted chain (Sun et al., arXiv 2403.10444).

On a chain x_1..x_L with target laws p_0..p_L (p_i after x_1..x_i) and draft laws q_0..q_{L-1}
(x_{i+1} ~ q_i): ``w_0 = 1``, ``w_i = min(1, w_{i-1} p_{i-1}(x_i) / q_{i-1}(x_i))``,
``r_i = sum (w_i p_i - q_i)+``, coins ``h_0 = 1``, ``h_i = r_i / (r_i + 1 - w_i)`` (0 < i < L),
``h_L = w_L``. tau = the largest i whose coin succeeds; emit x_1..x_tau and a token from
``norm((w_tau p_tau - q_tau)+)`` (tau < L) or from p_L (the bonus). ``P(tau = i) = h_i
prod_{j > i} (1 - h_j)``. Lossless and optimal for one chain (docs/trees.md).

Shared by the fast verifier (:class:`multidraft.fast.BlockVerification`) and the oracle's
chain plan (:func:`multidraft.reference.optimal_block_efficiency`); the law of the chain
(the ``q_i``) is the caller's, so a chain chosen from several paths is verified against the
law its choice induces (greedy multi-path BV).
"""

from __future__ import annotations

import numpy as np
import torch

from .randomness import categorical, uniforms
from .trees import DraftTree, add_to


def bv_plan(p_rows: np.ndarray, q_rows: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block verification's coins and emission laws on one chain.

    Parameters
    ----------
    p_rows : (L + 1, V) float64
        Target laws at the chain's root and after each of its L tokens.
    q_rows : (L + 1, V) float64
        Draft laws the chain was drawn from (row i: the law of token i + 1; row L unused).
    tokens : (L,) int

    Returns
    -------
    h : (L + 1,) float64, the coins' success probabilities (h_0 = 1)
    emit : (L + 1, V) float64, the law of the token emitted after x_1..x_i
    """
    L = tokens.shape[0]
    h = np.ones(L + 1)
    emit = np.empty_like(p_rows)
    w = 1.0
    for i in range(L + 1):
        if i > 0:
            x = int(tokens[i - 1])
            prev_q = q_rows[i - 1, x]
            w = min(1.0, w * p_rows[i - 1, x] / prev_q) if prev_q > 0 else (1.0 if w * p_rows[i - 1, x] > 0 else 0.0)
        if i == L:
            h[i] = w if i > 0 else 1.0
            emit[i] = p_rows[i]
            break
        residual = np.clip(w * p_rows[i] - q_rows[i], 0.0, None)
        r = float(residual.sum())
        if i > 0:
            denom = r + 1.0 - w
            h[i] = r / denom if denom > 0 else 1.0
        emit[i] = residual / r if r > 0 else p_rows[i]
    return h, emit


def bv_stop_law(h: np.ndarray) -> np.ndarray:
    """``P(tau = i) = h_i prod_{j > i} (1 - h_j)`` for the coins ``h`` (h_0 = 1), (L + 1,)."""
    survive = np.concatenate([np.cumprod(1.0 - h[::-1])[::-1][1:], [1.0]])
    return h * survive


def bv_sample(h: np.ndarray, emit: np.ndarray, generator: torch.Generator | None) -> tuple[int, int]:
    """Draw the coins; ``(tau, emitted token)``."""
    coins = uniforms(generator, h.shape[0]) < h
    coins[0] = True
    tau = int(np.flatnonzero(coins)[-1])
    return tau, categorical(emit[tau], generator)


def chain_nodes(tree) -> list[int]:
    """The nodes of a chain tree from the root down."""
    nodes, node = [], -1
    while True:
        kids = tree.children(node)
        if not len(kids):
            return nodes
        node = int(kids[0])
        nodes.append(node)


def chain_law(tokens: np.ndarray, h: np.ndarray, emit: np.ndarray) -> dict:
    """``{x_1..x_tau + (y,): P}`` from the coins and the emission laws of block verification."""
    out: dict[tuple[int, ...], float] = {}
    prefix = tuple(int(t) for t in tokens)
    for tau, stop in enumerate(bv_stop_law(h).tolist()):
        if stop > 0:
            for y in np.flatnonzero(emit[tau] > 0).tolist():
                add_to(out, prefix[:tau] + (y,), stop * float(emit[tau, y]))
    return out


def block_verification_law(tree: DraftTree, p: np.ndarray, q: np.ndarray) -> dict:
    """Block verification's exact output law on a chain tree; p, q (N + 1, V) along the tree."""
    nodes = chain_nodes(tree)
    rows = np.array([0] + [n + 1 for n in nodes])
    h, emit = bv_plan(p[rows], q[rows], tree.tokens[nodes])
    return chain_law(tree.tokens[nodes], h, emit)


def block_verification_sample(
    tree: DraftTree, p: np.ndarray, q: np.ndarray, generator: torch.Generator | None
) -> tuple[int, ...]:
    """One run of block verification on a chain tree (its coins drawn from ``generator``)."""
    nodes = chain_nodes(tree)
    rows = np.array([0] + [n + 1 for n in nodes])
    h, emit = bv_plan(p[rows], q[rows], tree.tokens[nodes])
    tau, y = bv_sample(h, emit, generator)
    return tuple(int(t) for t in tree.tokens[nodes[:tau]]) + (y,)

"""Compiled CPU preparation and sampler of the ``canonical`` baseline
(:class:`~multidraft.fast.baselines.Canonical`), on the draft support only.

Why. The torch preparation enumerates the ``C(k + n - 1, n)`` draft multisets of the support
(k tokens with ``q > 0``) as tensors, once per exponent gamma (16 of them), with per-call
dispatch overhead: about 8 ms per token at (k, n) = (10, 2), more than solving the optimal
problem. The maths needs much less.

The induced law. With Luce weights w (:func:`_weights`; one row per gamma), the selection
``beta(c | S) = w(c) / W(S)``, ``W(S) = sum_{z in S} w(z)``, depends on the drafts only
through their set S of distinct tokens (uniform ``1 / |S|`` on S when ``W(S) = 0``). So

    r(c) = sum_{S contains c} P(S) beta(c | S)
         = w(c) sum_{S contains c, W(S) > 0} P(S) / W(S) + sum_{S contains c, W(S) = 0} P(S) / |S|,

summed over the sets S of at most n support tokens, with ``P(S)`` the probability that n
i.i.d. draws from q have exactly the distinct set S. In sorted order every such S has exactly
one prefix ending at c, so a depth-first walk over the sets (:func:`_induced`) credits c, at
the node of each prefix ending at c, with the sum of ``P / W`` (and ``P / |S|``) over that
node's subtree (a set of total weight below :data:`SMALL_TOTAL` credits its members
directly, as ``P w(c) / W`` could overflow through ``P / W``): O(1) per set and gamma, ``sum_{s <= n} C(k, s)`` sets (not the
``C(k + n - 1, n)`` multisets), every gamma in one walk. ``P(S)`` comes from the walk too: with
``b_S[m]`` the probability that m i.i.d. draws have distinct set exactly S,

    b_{S + z}[m] = sum_{j=1}^{m} C(m, j) q(z)^j b_S[m - j],   b_{}[0] = 1,   P(S) = b_S[n],

each term the probability of a disjoint event (j of the m draws are z), so the sums only add
non-negative terms (no cancellation, nothing over 1). Then gamma is chosen as in the torch
code (the smallest exponent within ``tie`` of the best ``sum min(p, r_gamma)``).

The sampler (:func:`canonical_rows`): per tuple, the Luce choice among the distinct drafts,
the keep test ``min(1, p(c) / r(c))`` and, on rejection, one inverse-CDF draw of
``(p - r)+`` (p off the support; p when it has no mass) through the chain sampler's
:func:`~multidraft.fast.chain_kernel.draw_weights`: the same law as the torch
``Canonical._sample`` (its exact conditional is unchanged); the random numbers are used
differently, so the tokens on a seed differ.

Drafts: ``n <= MAX_DRAFTS`` (binomials and their products stay finite); the baseline takes
its torch code beyond.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .chain_kernel import accept_step, draw_weights, row_runs, row_total, support_slot
from .kernel import SCAN_BLOCK, gather_support, support_sizes

_jit = nb.njit(cache=True, nogil=True)

#: Largest number of drafts the compiled code takes (``C(n, n/2) q^j`` stays finite).
MAX_DRAFTS = 512
#: Sets whose total weight W is below this (subnormal or nearly: ``P / W`` could overflow)
#: credit each member with ``P w(c) / W`` directly, in O(|S|), as the torch code divides.
SMALL_TOTAL = 2.0**-900


@_jit
def _weights(pk, qk, gammas):
    """``w = (p/q)^gamma`` on the support, scaled by a per-row constant: (G, k).

    ``exp(gamma (log(p/q) - max log(p/q)))``, the torch code's formula
    (:func:`~multidraft.fast.baselines._canonical_weights`); p = 0 gives 0 (1 for gamma = 0).
    """
    k = pk.shape[0]
    log_ratio = np.empty(k)
    top = -np.inf
    for i in range(k):
        if pk[i] > 0:
            log_ratio[i] = np.log(pk[i]) - np.log(qk[i])
            top = max(top, log_ratio[i])
    if not np.isfinite(top):
        top = 0.0
    w = np.empty((gammas.shape[0], k))
    for g in range(gammas.shape[0]):
        for i in range(k):
            if pk[i] > 0:
                w[g, i] = np.exp(gammas[g] * (log_ratio[i] - top))
            else:
                w[g, i] = 1.0 if gammas[g] == 0 else 0.0
    return w


@_jit
def _induced(qk, w, n):
    """The induced law ``r_gamma`` of the Luce selection on the support, one row per gamma:
    qk (k,), w (G, k) -> (G, k). Depth-first over the sets of at most n support tokens
    (module docstring); row d of ``poly`` holds ``b_S[0..n]`` of the set at depth d. A node
    whose children are all leaves of total weight >= :data:`SMALL_TOTAL` for every gamma
    runs them in one loop (most of the sets); the per-gamma arrays are (., G), contiguous
    in gamma."""
    G, k = w.shape
    depth = min(n, k)
    wt = np.ascontiguousarray(w.T)  # (k, G)
    binom = np.zeros((n + 1, n + 1))
    for m in range(n + 1):
        binom[m, 0] = 1.0
        for j in range(1, m + 1):
            binom[m, j] = binom[m - 1, j - 1] + binom[m - 1, j]
    powers = np.empty((k, n + 1))  # q(z)^j
    for i in range(k):
        powers[i, 0] = 1.0
        for j in range(1, n + 1):
            powers[i, j] = powers[i, j - 1] * qk[i]
    poly = np.zeros((depth + 1, n + 1))
    poly[0, 0] = 1.0
    total = np.zeros((depth + 1, G))  # W(S) of the set at each depth
    by_weight = np.zeros((depth + 1, G))  # subtree sums of P / W (W >= SMALL_TOTAL)
    uniform = np.zeros((depth + 1, G))  # subtree sums of P / |S| (W = 0)
    heavy = np.zeros(depth + 1, dtype=np.bool_)  # W >= SMALL_TOTAL for every gamma
    elem = np.empty(depth, dtype=np.int64)
    out = np.zeros((k, G))
    d = 0  # the node at depth d is open; its children are tried from `nxt` on
    nxt = 0
    while True:
        if d < depth and nxt < k:
            if d + 1 == depth and heavy[d]:  # the remaining children: leaves, one loop
                for z in range(nxt, k):
                    prob = 0.0
                    for j in range(1, n - d + 1):  # b_S[m - j] = 0 below |S| = d
                        prob += binom[n, j] * powers[z, j] * poly[d, n - j]
                    for g in range(G):
                        share = prob / (total[d, g] + wt[z, g])
                        out[z, g] += wt[z, g] * share
                        by_weight[d, g] += share
                nxt = k
                continue
            z = nxt  # open the child S + {z}
            elem[d] = z
            lowest = d + 1 if d + 1 < depth else n  # a leaf needs b[n] only
            for m in range(lowest, n + 1):
                acc = 0.0
                for j in range(1, m - d + 1):
                    acc += binom[m, j] * powers[z, j] * poly[d, m - j]
                poly[d + 1, m] = acc
            prob = poly[d + 1, n]
            heavy[d + 1] = True
            for g in range(G):
                W = total[d, g] + wt[z, g]
                total[d + 1, g] = W
                by_weight[d + 1, g] = 0.0
                uniform[d + 1, g] = 0.0
                if W >= SMALL_TOTAL:
                    by_weight[d + 1, g] = prob / W
                else:
                    heavy[d + 1] = False
                    if W > 0:  # P / W could overflow: beta(c | S) = w(c) / W directly
                        for t in range(d + 1):
                            out[elem[t], g] += prob * (wt[elem[t], g] / W)
                    else:
                        uniform[d + 1, g] = prob / (d + 1)
            d += 1
            nxt = z + 1
        else:  # close the node at depth d: credit its last token with its subtree
            if d == 0:
                break
            z = elem[d - 1]
            for g in range(G):
                out[z, g] += wt[z, g] * by_weight[d, g] + uniform[d, g]
                by_weight[d - 1, g] += by_weight[d, g]
                uniform[d - 1, g] += uniform[d, g]
            d -= 1
            nxt = z + 1
    return np.ascontiguousarray(out.T)


@_jit
def _best(pk, induced, tie):
    """Index of the smallest gamma whose ``sum min(p, r_gamma)`` is within ``tie`` of the best."""
    G = induced.shape[0]
    kept = np.zeros(G)
    for g in range(G):
        for i in range(pk.shape[0]):
            kept[g] += min(induced[g, i], pk[i])
    top = kept.max()
    for g in range(G):
        if kept[g] >= top - tie:
            return g
    return 0


@_jit
def _problem(p, q, k, blocks, n, gammas, tie):
    """One problem's support ids (sorted), the chosen gamma's index, and its weights and
    induced law on the support (k,) each."""
    ids = np.empty(k, dtype=np.int64)
    ratio = np.empty(k)
    gather_support(p, q, k, blocks, ids, ratio)
    pk = p[ids]
    qk = q[ids]
    w = _weights(pk, qk, gammas)
    induced = _induced(qk, w, n)
    best = _best(pk, induced, tie)
    return ids, best, w[best].copy(), induced[best].copy()


@_jit
def _states(P, Q, counts, blocks, n, gammas, tie, best, induced, weights):
    """:func:`_problem` for every row, scattered into (B,) and (B, V) outputs (zero-filled)."""
    for b in range(P.shape[0]):
        ids, g, w, r = _problem(P[b], Q[b], counts[b], blocks[b], n, gammas, tie)
        best[b] = g
        for i in range(ids.shape[0]):
            weights[b, ids[i]] = w[i]
            induced[b, ids[i]] = r[i]


@_jit
def _choose(drafts, ids, w, u):
    """Slot of the Luce choice among the distinct drafts (weight 0 off the support; uniform
    over the distinct drafts when every weight is 0), by inverse CDF of ``u`` in slot order."""
    n = drafts.shape[0]
    weight = np.zeros(n)
    distinct = 0
    for t in range(n):
        first = True
        for s in range(t):
            if drafts[s] == drafts[t]:
                first = False
                break
        if first:
            slot = support_slot(ids, drafts[t])
            weight[t] = w[slot] if slot >= 0 else 0.0
            distinct += 1
        else:
            weight[t] = -1.0  # a repeat: never chosen
    total = 0.0
    for t in range(n):
        total += max(weight[t], 0.0)
    if not total > 0:  # uniform over the distinct drafts
        for t in range(n):
            weight[t] = 1.0 if weight[t] >= 0 else -1.0
        total = float(distinct)
    target = u * total
    running = 0.0
    last = 0
    for t in range(n):
        if weight[t] > 0:
            running += weight[t]
            last = t
            if running > target:
                return t
    return last  # rounding left the target unreached


@_jit
def _canonical_row(p, q, k, blocks, drafts, n, gammas, tie, noise, out_rows):
    """Every tuple of one problem: ``drafts`` (M, n), ``noise`` (M, 3) (choice, keep test,
    residual draw); tokens into ``out_rows`` (M,)."""
    ids, _, w, r = _problem(p, q, k, blocks, n, gammas, tie)
    pk = p[ids]
    p_total = row_total(p)
    p_off = max(p_total - pk.sum(), 0.0)
    residual = np.empty(k)  # (p - r)+ on the support; p off it
    mass = p_off
    for i in range(k):
        residual[i] = max(pk[i] - r[i], 0.0)
        mass += residual[i]
    if not mass > 0:  # no residual mass: p stands in (the torch convention)
        residual[:] = pk
        mass = p_total
    for m in range(drafts.shape[0]):
        c = drafts[m, _choose(drafts[m], ids, w, noise[m, 0])]
        slot = support_slot(ids, c)
        if noise[m, 1] < accept_step(p[c], r[slot] if slot >= 0 else 0.0):
            out_rows[m] = c
        else:
            out_rows[m] = draw_weights(p, ids, 1.0, residual, mass, noise[m, 2] * mass)


@_jit
def _canonical_rows(P, Q, counts, blocks, rows, drafts, n, gammas, tie, noise, out):
    """:func:`_canonical_row` for each problem b on the tuples m with ``rows[m] = b``
    (non-decreasing rows: each problem's tuples are contiguous)."""
    edges = row_runs(rows)
    for run in range(edges.shape[0] - 1):
        start, end = edges[run], edges[run + 1]
        b = rows[start]
        _canonical_row(
            P[b], Q[b], counts[b], blocks[b], drafts[start:end], n, gammas, tie, noise[start:end], out[start:end]
        )


def support_counts(Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Support size per row (B,) and per block of :data:`~multidraft.fast.kernel.SCAN_BLOCK`
    tokens (B, ceil(V / SCAN_BLOCK)) of a (B, V) float64 array (one pass)."""
    blocks = np.empty((Q.shape[0], -(-Q.shape[1] // SCAN_BLOCK)), dtype=np.int64)
    return support_sizes(Q, blocks), blocks


def canonical_state(
    P: np.ndarray, Q: np.ndarray, n: int, gammas: np.ndarray, tie: float, counts: tuple | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The canonical preparation of each row: the chosen gamma's index, its induced law and weights.

    Parameters
    ----------
    P, Q : (B, V) float64 C-contiguous, validated laws.
    n : number of drafts, ``1 <= n <= MAX_DRAFTS``.
    gammas : (G,) float64 exponents; tie: the gamma tie tolerance.
    counts : :func:`support_counts` of Q, when already computed.

    Returns
    -------
    best (B,) int64 indices into gammas, induced (B, V) and weights (B, V) float64 (0 off the
    draft support).
    """
    counts, blocks = support_counts(Q) if counts is None else counts
    best = np.empty(P.shape[0], dtype=np.int64)
    induced, weights = np.zeros_like(P), np.zeros_like(P)
    _states(P, Q, counts, blocks, n, gammas, tie, best, induced, weights)
    return best, induced, weights


def canonical_rows(
    P: np.ndarray,
    Q: np.ndarray,
    rows: np.ndarray,
    drafts: np.ndarray,
    gammas: np.ndarray,
    tie: float,
    noise: np.ndarray,
    counts: tuple | None = None,
) -> np.ndarray:
    """Sample the canonical baseline once per draft tuple.

    Parameters
    ----------
    P, Q : (B, V) float64 C-contiguous, validated laws.
    rows : (M,) int64, non-decreasing: the problem of each tuple.
    drafts : (M, n) int64 validated token ids, ``n <= MAX_DRAFTS``.
    gammas, tie : as :func:`canonical_state`.
    noise : (M, 3) uniforms: the choice, the keep test, the residual draw.
    counts : :func:`support_counts` of Q, when already computed.

    Returns
    -------
    tokens (M,) int64.
    """
    counts, blocks = support_counts(Q) if counts is None else counts
    out = np.empty(drafts.shape[0], dtype=np.int64)
    _canonical_rows(P, Q, counts, blocks, rows, drafts, drafts.shape[1], gammas, tie, noise, out)
    return out

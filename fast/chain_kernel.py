"""Compiled CPU sampler of the chain baselines (NSS, single draft, RRS with and without
replacement, K-SEQ, greedy): the laws of :mod:`multidraft.fast.baselines`, on the draft
support only.

Why. The torch code of :class:`~multidraft.fast.baselines._Chain` materialises every
intermediate law over the whole vocabulary (a residual ``norm((r - s)+)`` per rejected draft,
a ``torch.multinomial`` over V): at V = 128,256 a single draft costs it 2.6-12 ms per token,
more than solving the optimal problem. One problem's chain needs far less.

The structure. Let K be the draft support (tokens with ``q > 0``, k of them). Every law the
chain carries is, off K, a multiple of p, and the proposal s vanishes there:

* ``r = p`` (or ``p / rho`` for K-SEQ) is ``c p`` off K with ``c = 1`` (``1 / rho``);
* a rejection replaces r by ``(r - s)+ / Z``; off K ``(c p - 0)+ = c p``, so the new r is
  ``(c / Z) p`` there, with ``Z = c p(not K) + sum_K (r - s)+`` (if ``Z = 0`` r is kept, the
  torch convention);
* s is q, or q with rejected (greedy: fixed) tokens removed and renormalised: zero off K.

So a law is held as one coefficient c and k explicit values on K, a rejection costs O(k), and
only the final draw walks the vocabulary: the inverse CDF of ``c p`` off K and the explicit
values on K, in vocabulary order, up to the drawn token (no pass at all when a draft is
kept). K-SEQ's rho* is the same bisection as :func:`~multidraft.fast.baselines.kseq_rho`
(same steps, same validity test) on sums over K only (``min(q, p/rho)`` and
``(q - p/rho)+`` vanish off K). Each output token has exactly the law of the torch code's
(its exact conditional, :meth:`_Chain._conditional`, is unchanged); the random numbers are
used differently, so the tokens on a seed differ from the torch sampler's.

Entry point :func:`chain_rows`; :class:`~multidraft.fast.baselines._Chain` calls it for CPU
float64 inputs.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .kernel import SCAN_BLOCK, gather_support, support_sizes

_jit = nb.njit(cache=True, nogil=True)

#: Chain kinds (:func:`chain_rows`'s ``mode``): what a rejection updates and what is drawn last.
REPLACEMENT, WITHOUT_REPLACEMENT, KSEQ, GREEDY = 0, 1, 2, 3
#: The kinds by name, as the baselines give them.
MODES = {"replacement": REPLACEMENT, "without_replacement": WITHOUT_REPLACEMENT, "kseq": KSEQ, "greedy": GREEDY}


@nb.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def row_total(p):
    """``sum p`` (vectorised; only used as a normalising mass)."""
    total = 0.0
    for z in range(p.shape[0]):
        total += p[z]
    return total


@_jit
def support_slot(ids, token):
    """Position of ``token`` in the sorted support ids, -1 when it is not in the support."""
    k = ids.shape[0]
    pos = np.searchsorted(ids, token)
    return pos if pos < k and ids[pos] == token else -1


@_jit
def accept_step(r_x, s_x):
    """``min(1, r(x) / s(x))``, with 1 if ``s(x) = 0 < r(x)`` and 0 if both vanish."""
    if s_x > 0:
        return min(1.0, r_x / s_x)
    return 1.0 if r_x > 0 else 0.0


@_jit
def _kseq_rho(pk, qk, n, steps, slack):
    """K-SEQ's rho* by bisection on [1, n] over the support (baselines.kseq_rho)."""
    lo = 1.0
    hi = float(n)
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        beta, miss = _kseq_beta(pk, qk, mid)
        if mid * beta - 1.0 + miss**n >= -slack:
            hi = mid
        else:
            lo = mid
    return hi


@_jit
def _kseq_beta(pk, qk, rho):
    """``sum min(q, p/rho)`` and ``sum (q - p/rho)+`` over the support."""
    beta = 0.0
    miss = 0.0
    for i in range(pk.shape[0]):
        scaled = pk[i] / rho
        beta += min(qk[i], scaled)
        miss += max(qk[i] - scaled, 0.0)
    return beta, miss


#: The final draw adds up runs of this many entries without a support token in one
#: vectorised sum, and walks entry by entry only inside the run where the draw falls.
DRAW_RUN = 64


@nb.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def _run_sum(p, lo, hi):
    """``sum p[lo:hi]`` (vectorised)."""
    total = 0.0
    for z in range(lo, hi):
        total += p[z]
    return total


@_jit
def draw_weights(p, ids, c, values, total, target):
    """Inverse-CDF draw from the weights ``c p`` off the support, ``values`` on it (sorted
    ids), of sum ``total``: the first token whose running sum in vocabulary order exceeds
    ``target = u total``, else (rounding) the last token of positive weight. Runs of
    :data:`DRAW_RUN` entries off the support are added up at once."""
    V = p.shape[0]
    k = ids.shape[0]
    running = 0.0
    next_slot = 0
    start = 0
    while start < V:
        end = min(start + DRAW_RUN, V)
        if next_slot >= k or ids[next_slot] >= end:  # no support token in the run
            run = c * _run_sum(p, start, end)
            if running + run <= target:
                running += run
                start = end
                continue
        for z in range(start, end):
            if next_slot < k and ids[next_slot] == z:
                value = values[next_slot]
                next_slot += 1
            else:
                value = c * p[z]
            if value > 0:
                running += value
                if running > target:
                    return z
        start = end
    for z in range(V - 1, -1, -1):  # rounding left the target unreached
        slot = support_slot(ids, z)
        if (values[slot] if slot >= 0 else c * p[z]) > 0:
            return z
    return V - 1


@_jit
def _chain_row(p, q, k, blocks, drafts, positions, mode, noise, steps, slack, out_rows):
    """Every tuple of one problem: ``drafts`` (M, n), ``noise`` (M, len(positions) + 1);
    tokens into ``out_rows`` (M,)."""
    M, n = drafts.shape
    if positions.shape[0] == 0 and mode == REPLACEMENT:  # NSS: a draw from p, no support needed
        empty_ids = np.empty(0, dtype=np.int64)
        empty = np.empty(0)
        total = row_total(p)
        for m in range(M):
            out_rows[m] = draw_weights(p, empty_ids, 1.0, empty, total, noise[m, 0] * total)
        return
    ids = np.empty(k, dtype=np.int64)
    ratio = np.empty(k)
    gather_support(p, q, k, blocks, ids, ratio)
    pk = p[ids]
    qk = q[ids]
    p_off = max(row_total(p) - pk.sum(), 0.0)
    c0 = 1.0
    final = np.empty(k)  # K-SEQ's fixed residual (p - accepted)+ on the support, p off it
    final_mass = 0.0
    if mode == KSEQ:
        rho = _kseq_rho(pk, qk, n, steps, slack)
        beta, miss = _kseq_beta(pk, qk, rho)
        scale = (1.0 - miss**n) / (beta if beta > 0 else 1.0)
        final_mass = p_off
        for i in range(k):
            final[i] = max(pk[i] - min(qk[i], pk[i] / rho) * scale, 0.0)
            final_mass += final[i]
        if not final_mass > 0:  # no residual mass: p stands in (the torch convention)
            final[:] = pk
            final_mass = p_off + pk.sum()
        c0 = 1.0 / rho
    r = np.empty(k)
    s = np.empty(k)
    part = np.empty(k)
    for m in range(M):
        c = c0
        for i in range(k):
            r[i] = pk[i] * c0
            s[i] = qk[i]
        if mode == GREEDY:  # s = q without the n - 1 fixed drafts, renormalised
            for j in range(n - 1):
                slot = support_slot(ids, drafts[m, j])
                if slot >= 0:
                    s[slot] = 0.0
            mass = s.sum()
            for i in range(k):
                s[i] = s[i] / mass if mass > 0 else s[i]
        token = -1
        for j in range(positions.shape[0]):
            x = drafts[m, positions[j]]
            slot = support_slot(ids, x)
            r_x = r[slot] if slot >= 0 else c * p[x]
            s_x = s[slot] if slot >= 0 else 0.0
            if noise[m, j] < accept_step(r_x, s_x):
                token = x
                break
            if mode == KSEQ:
                continue
            # r <- (r - s)+ / Z (kept if Z = 0); off the support (c p - 0)+ = c p
            mass = c * p_off
            for i in range(k):
                part[i] = max(r[i] - s[i], 0.0)
                mass += part[i]
            if mass > 0:
                c /= mass
                for i in range(k):
                    r[i] = part[i] / mass
            if mode == WITHOUT_REPLACEMENT and slot >= 0:  # s <- s without x, renormalised
                s[slot] = 0.0
                mass = s.sum()
                if mass > 0:
                    for i in range(k):
                        s[i] /= mass
        if token < 0:  # inverse CDF of the final law, unnormalised (c p off the support)
            u = noise[m, positions.shape[0]]
            if mode == KSEQ:
                token = draw_weights(p, ids, 1.0, final, final_mass, u * final_mass)
            else:
                total = c * p_off + r.sum()
                token = draw_weights(p, ids, c, r, total, u * total)
        out_rows[m] = token


@_jit
def row_runs(rows):
    """Edges (R + 1,) int64 of the runs of equal values in a non-decreasing (M,) array of
    problem rows: run r covers tuples ``edges[r]:edges[r + 1]``, all of problem
    ``rows[edges[r]]``."""
    M = rows.shape[0]
    edges = np.empty(M + 1, dtype=np.int64)
    count = 0
    for m in range(M):
        if m == 0 or rows[m] != rows[m - 1]:
            edges[count] = m
            count += 1
    edges[count] = M
    return edges[: count + 1]


@_jit
def _chain_rows(P, Q, counts, blocks, rows, drafts, positions, mode, noise, steps, slack, out):
    """:func:`_chain_row` for each problem b of P, Q (B, V) on the tuples m with
    ``rows[m] = b`` (rows are non-decreasing: each problem's tuples are contiguous)."""
    edges = row_runs(rows)
    for run in range(edges.shape[0] - 1):
        start, end = edges[run], edges[run + 1]
        b = rows[start]
        _chain_row(
            P[b],
            Q[b],
            counts[b],
            blocks[b],
            drafts[start:end],
            positions,
            mode,
            noise[start:end],
            steps,
            slack,
            out[start:end],
        )


def chain_rows(
    P: np.ndarray,
    Q: np.ndarray,
    rows: np.ndarray,
    drafts: np.ndarray,
    positions: np.ndarray,
    mode: int,
    noise: np.ndarray,
    steps: int = 0,
    slack: float = 0.0,
) -> np.ndarray:
    """Sample the chain baseline ``mode`` once per draft tuple.

    Parameters
    ----------
    P, Q : (B, V) float64 C-contiguous, validated laws.
    rows : (M,) int64, non-decreasing: the problem of each tuple.
    drafts : (M, n) int64 validated token ids.
    positions : (J,) int64 the draft positions tried, in order (NSS: none; single draft: 0;
        greedy: n - 1; RRS and K-SEQ: all).
    mode : REPLACEMENT, WITHOUT_REPLACEMENT, KSEQ or GREEDY.
    noise : (M, J + 1) uniforms: one accept test per tried position, then the final draw.
    steps, slack : K-SEQ's bisection steps and validity slack (:func:`~multidraft.fast.baselines.kseq_rho`).

    Returns
    -------
    tokens (M,) int64.
    """
    blocks = np.empty((P.shape[0], -(-P.shape[1] // SCAN_BLOCK)), dtype=np.int64)
    counts = support_sizes(Q, blocks)
    out = np.empty(drafts.shape[0], dtype=np.int64)
    _chain_rows(P, Q, counts, blocks, rows, drafts, positions, mode, noise, steps, slack, out)
    return out

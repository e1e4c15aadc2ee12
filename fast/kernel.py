"""Compiled CPU kernel of global resolution: the same solve as the torch path, row by row.

Why a second implementation. The torch path (:mod:`multidraft.fast.support`,
:mod:`multidraft.fast.race`, :mod:`multidraft.fast.fit`) is batched and runs on CUDA; on a
CPU a single small problem costs it about 1,500 tensor operations at 1.5-6 us each, several
milliseconds of pure dispatch overhead. This module runs the identical algorithm as
scalar loops compiled by numba: the draft support and the min cut (support.py), the
uniform-key race's exact induced law, potential and Hessian (race.py), and the damped
projected Newton fit with its Armijo line search (fit.py). Every formula, tolerance,
starting point and stopping rule is the one documented in those modules (only the size at
which Newton systems switch from dense elimination to conjugate gradients differs, see
:data:`DENSE_MAX`); tests check that both paths give the same alpha*, cut, iteration
counts, acceptance and status, and that both are exactly lossless.

The constants the compiled code freezes in (tolerances, damping, the path's exponents) are
defined here, in this file, because numba's disk cache is keyed on this file alone: a
constant imported from another module could change without invalidating the cached
binaries. They equal the torch path's constants of the same names in fit.py and
support.py (:data:`SHARED_CONSTANTS`; tests/fast/test_kernel_constants.py checks it), so a
change there fails that test until it is made here too, which recompiles the kernel.

Entry point: :func:`solve_rows` (float64 numpy arrays in, padded numpy arrays out). The
caller (:func:`multidraft.fast.solver.global_resolution`) turns them into a ``Plan``.

Notation per race (one row, one system): ``m`` participating tokens with draft masses
``qs`` (m,), utilities ``u`` (m,), targets ``t`` (m,), a baseline mass ``base`` that never
wins, an optional reject competitor, and a cap on u (``+inf`` for none).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .memory import keep_freed_memory

# The torch path's constants, local to this file so that numba's cache (keyed on this file)
# sees every change (module docstring); their meaning is documented where the torch path
# defines them (fit.py, support.py).
ARMIJO = 1e-4
LINE_SEARCH_STEPS = 40
CG_MAX_ITER = 200
CG_RTOL = 1e-9
CG_FORCING_MAX = 0.1
CG_FINAL_SAFETY = 0.1
DAMPING_RELATIVE = 1e-9
DAMPING_FLOOR = 1e-15
TINY = 1e-200
CAP_TOL = 1e-12
BARRIER_EXPONENT_MAX = 2.0
BARRIER_FLOOR = 1e-12
BARRIER_MIN_MOVE = 0.05
TIE_TOL = 1e-12
OUTER_CAP = 0.0

#: The constants above by name, with the torch-path module that defines the same value.
SHARED_CONSTANTS = {
    "fit": (
        "ARMIJO",
        "LINE_SEARCH_STEPS",
        "CG_MAX_ITER",
        "CG_RTOL",
        "CG_FORCING_MAX",
        "CG_FINAL_SAFETY",
        "DAMPING_RELATIVE",
        "DAMPING_FLOOR",
        "TINY",
        "CAP_TOL",
        "BARRIER_EXPONENT_MAX",
        "BARRIER_FLOOR",
        "BARRIER_MIN_MOVE",
    ),
    "support": ("TIE_TOL", "OUTER_CAP"),
}

_jit = nb.njit(cache=True, nogil=True)

#: Above this many tokens the kernel solves Newton systems by conjugate gradients. Lower than
#: the torch path's ``fit.DENSE_MAX``: compiled, an O(m) Hessian product costs ~2 us while
#: dense elimination grows as m^3 (measured: 6 us at m = 30, 97 us at m = 90); in torch the
#: dense solve is one batched call and each CG iteration a dozen operations.
DENSE_MAX = 32


# ----------------------------------------------------------------------------- the race
@_jit
def _grid(u, qs, base, reject):
    """Breakpoints of a race in sorted order and the key CDFs there.

    Returns ``(bp, G, R, start, end, order)``: ``bp`` (2m+2,) the sorted breakpoints
    ``{u_i, u_i + 1, 0, 1}``, ``G``/``R`` the draft-key and reject-key CDFs at them,
    ``start``/``end`` (m,) the positions of ``u_i`` and ``u_i + 1`` in ``bp`` and ``order``
    (m,) the tokens sorted by utility. All windows have width 1, so the window ends come in
    the same order as the starts: one sort of u (:func:`_argsort_near_sorted`) and a
    three-way merge (with 0 and 1) give ``bp`` in O(m log m), O(m) when u is sorted. Among
    equal breakpoints any order serves (zero-width pieces).
    """
    m = u.shape[0]
    order = _argsort_near_sorted(u)
    size = 2 * m + 2
    bp = np.empty(size)
    G = np.empty(size)
    R = np.empty(size)
    start = np.empty(m, dtype=np.int64)
    end = np.empty(m, dtype=np.int64)
    total = base + qs.sum()
    i = 0  # next window start (in utility order)
    j = 0  # next window end
    c = 0  # next of the fixed breakpoints 0 and 1
    level = base
    slope = 0.0
    for pos in range(size):
        s_next = u[order[i]] if i < m else np.inf
        e_next = u[order[j]] + 1.0 if j < m else np.inf
        c_next = float(c) if c < 2 else np.inf
        if s_next <= e_next and s_next <= c_next:
            value, change = s_next, qs[order[i]]
            start[order[i]] = pos
            i += 1
        elif e_next <= c_next:
            value, change = e_next, -qs[order[j]]
            end[order[j]] = pos
            j += 1
        else:
            value, change = c_next, 0.0
            c += 1
        if pos > 0:
            level += slope * (value - bp[pos - 1])
        slope += change
        bp[pos] = value
        G[pos] = min(max(level, 0.0), total)
        R[pos] = min(max(value, 0.0), 1.0) if reject else 1.0
    return bp, G, R, start, end, order


#: Pieces per block of :func:`_piece_integrals` in :func:`_evaluate`: the block's running
#: powers and sums stay in L1 and the recurrences run across the block's pieces, whose
#: chains are independent, in SIMD lanes (n = 16 at 128k pieces: 7.3 -> 4.1 ms per
#: evaluation, bit-identical; fast.md "Vectorised piece integrals").
PIECE_BLOCK = 256


@_jit
def _piece_integrals(G0, G1, R0, R1, n, flat, work, out):
    """``(int G^(n-2) R, int G^(n-1) R, int G^n R)`` over b pieces of unit width on each of
    which G and R are linear from ``(G0[j], R0[j])`` to ``(G1[j], R1[j])`` (all >= 0, (b,)
    each), exactly, in O(n) per piece, into ``out[0:3, :b]``.

    With ``S_k = sum_i g1^i g0^(k-i)``, ``T_k = sum_i (i+1) g1^i g0^(k-i)`` and
    ``U_k = sum_i (k+1-i) g1^i g0^(k-i)`` (i = 0..k): ``int_0^1 G^k R = r0 S_k / (k+1)`` when
    ``r0 = r1`` and ``(r0 U_k + r1 T_k) / ((k+1)(k+2))`` otherwise (maths.md section 5). The
    sums follow ``S_k = g0 S_(k-1) + g1^k``, ``T_k = g0 T_(k-1) + (k+1) g1^k``,
    ``U_k = g1 U_(k-1) + (k+1) g0^k`` from 1: sums of non-negative terms, no cancellation.
    A power below 0 (n = 1) gives 0. ``flat``: R is constant on every piece (no reject
    competitor, R = 1), so T and U are not needed. ``work``: a (5, >= b) scratch array.

    The loop over k is outside the loop over pieces, so each step of the recurrences is one
    branch-free pass over the block (vectorised), and every piece's value is computed by the
    same operations in the same order as one piece at a time.
    """
    b = G0.shape[0]
    pow0, pow1, S, T, U = work[0], work[1], work[2], work[3], work[4]
    for j in range(b):
        pow0[j] = pow1[j] = S[j] = T[j] = U[j] = 1.0
    for k in range(n + 1):
        if k > 0:
            if flat:
                for j in range(b):
                    pow1[j] *= G1[j]
                    S[j] = G0[j] * S[j] + pow1[j]
            else:
                for j in range(b):
                    pow0[j] *= G0[j]
                    pow1[j] *= G1[j]
                    S[j] = G0[j] * S[j] + pow1[j]
                    T[j] = G0[j] * T[j] + (k + 1) * pow1[j]
                    U[j] = G1[j] * U[j] + (k + 1) * pow0[j]
        if k >= n - 2:
            row = out[k - n + 2]
            if flat:
                for j in range(b):
                    row[j] = R0[j] * S[j] / (k + 1)
            else:
                for j in range(b):
                    level = R0[j] * S[j] / (k + 1)
                    sloped = (R0[j] * U[j] + R1[j] * T[j]) / ((k + 1) * (k + 2))
                    row[j] = level if R0[j] == R1[j] else sloped
    if n < 2:  # no G^(n-2) term
        for j in range(b):
            out[0, j] = 0.0


@_jit
def _evaluate(u, qs, base, reject, n):
    """Exact induced law ``a`` (m,), potential ``Psi`` and what the Hessian and the lift need.

    Returns ``(a, psi, grid, C, law)`` with ``grid`` the tuple of :func:`_grid`, ``C`` (2m+2,)
    the cumulative per-piece curvature ``n (n-1) int G^(n-2) R`` (race.py :func:`evaluate`;
    the pieces' integrals by :func:`_piece_integrals`, PIECE_BLOCK pieces at a time, instead
    of Gauss-Legendre nodes) and ``law`` (2m+2,) the cumulative ``int G^(n-1) R`` from the
    first breakpoint, so that ``a_i = n q_i (law[end_i] - law[start_i])``.
    """
    grid = _grid(u, qs, base, reject)
    bp, G, R, start, end, _ = grid
    P = bp.shape[0] - 1
    law = np.zeros(P + 1)  # cumulative int G^(n-1) R
    C = np.zeros(P + 1)  # cumulative n (n-1) int G^(n-2) R
    top = 0.0
    work = np.empty((5, PIECE_BLOCK))
    piece = np.empty((3, PIECE_BLOCK))
    # the running sums live in registers: read back from law and C, each addition waited for
    # the store before it (0.44 ms of 3.2 per evaluation at m = 128k; the same additions)
    law_sum = 0.0
    C_sum = 0.0
    for lo in range(0, P, PIECE_BLOCK):
        hi = min(lo + PIECE_BLOCK, P)
        # R = clip(x, 0, 1) is flat on every piece of a block that ends by 0 or starts from 1
        flat = not reject or bp[hi] <= 0.0 or bp[lo] >= 1.0
        _piece_integrals(G[lo:hi], G[lo + 1 : hi + 1], R[lo:hi], R[lo + 1 : hi + 1], n, flat, work, piece)
        for j in range(lo, hi):
            width = bp[j + 1] - bp[j]
            if width > 0.0:  # a zero-width piece adds exactly nothing
                law_sum += piece[1, j - lo] * width
                C_sum += piece[0, j - lo] * width * (n * (n - 1))
                top += piece[2, j - lo] * width
            law[j + 1] = law_sum
            C[j + 1] = C_sum
    a = np.empty(u.shape[0])
    for i in range(u.shape[0]):
        a[i] = n * qs[i] * (law[end[i]] - law[start[i]])
    psi = bp[P] * G[P] ** n * R[P] - bp[0] * G[0] ** n * R[0] - top
    return a, psi, grid, C, law


@_jit
def _boundary(qs, G, R, start, end, n):
    """The diagonal boundary term ``n q_i [G^(n-1) R]_{u_i}^{u_i+1}`` of the Hessian, (m,)."""
    out = np.empty(qs.shape[0])
    for i in range(qs.shape[0]):
        out[i] = n * qs[i] * (G[end[i]] ** (n - 1) * R[end[i]] - G[start[i]] ** (n - 1) * R[start[i]])
    return out


@_jit
def _dense_hessian(qs, grid, C, n):
    """Dense Hessian ``d a / d u`` (m, m), race.py :func:`~multidraft.fast.race.hessian`."""
    _, G, R, start, end, _ = grid
    m = qs.shape[0]
    H = np.empty((m, m))
    for i in range(m):
        for j in range(m):
            lo = max(start[i], start[j])
            hi = min(end[i], end[j])
            H[i, j] = -qs[i] * qs[j] * (C[hi] - C[min(lo, hi)])
    boundary = _boundary(qs, G, R, start, end, n)
    for i in range(m):
        H[i, i] += boundary[i]
    return H


@_jit
def _matvec_setup(qs, grid, C, n):
    """The O(m) Hessian-vector product's arrays (race.py :class:`HessianOperator`), in
    *utility order*: position i holds token ``order[i]``.

    Returns ``(order, Cs, Ce, upper, lower, q_sorted, boundary_sorted, diagonal)``: ``Cs``,
    ``Ce`` the cumulative curvature at each window's start and end, ``upper[i]`` the first
    position whose window starts at or after window i ends, ``lower[i]`` the first whose
    window ends after window i starts, and the Hessian's diagonal (m,) in *slot* order.
    """
    _, G, R, start, end, order = grid
    m = qs.shape[0]
    s = start[order]
    e = end[order]
    # upper and lower are non-decreasing in i, like s and e: two forward sweeps instead of
    # binary searches
    upper = np.empty(m, dtype=np.int64)
    lower = np.empty(m, dtype=np.int64)
    j_up = 0
    j_lo = 0
    for i in range(m):
        while j_up < m and s[j_up] < e[i]:
            j_up += 1
        while j_lo < m and e[j_lo] <= s[i]:
            j_lo += 1
        upper[i] = max(j_up, i + 1)
        lower[i] = min(j_lo, i)
    boundary = _boundary(qs, G, R, start, end, n)
    diagonal = np.empty(m)
    for i in range(m):
        diagonal[i] = boundary[i] - qs[i] * qs[i] * (C[end[i]] - C[start[i]])
    return order, C[s], C[e], upper, lower, qs[order], boundary[order], diagonal


@_jit
def _matvec(x, out, work, Cs, Ce, upper, lower, q_sorted, boundary_sorted):
    """``H x`` into ``out`` (m,), both in utility order (:func:`_matvec_setup`), in O(m) by
    three prefix sums (``work``: a (3, m + 1) scratch array). Contiguous loops: no gather."""
    m = x.shape[0]
    Y, YCs, YCe = work[0], work[1], work[2]
    Y[0] = YCs[0] = YCe[0] = 0.0
    y_sum = ys_sum = ye_sum = 0.0  # running sums in registers, not read back (the same additions)
    for i in range(m):
        y = q_sorted[i] * x[i]
        y_sum += y
        ys_sum += y * Cs[i]
        ye_sum += y * Ce[i]
        Y[i + 1] = y_sum
        YCs[i + 1] = ys_sum
        YCe[i + 1] = ye_sum
    for i in range(m):
        above = Ce[i] * (Y[upper[i]] - Y[i]) - (YCs[upper[i]] - YCs[i])
        below = (YCe[i] - YCe[lower[i]]) - Cs[i] * (Y[i] - Y[lower[i]])
        out[i] = boundary_sorted[i] * x[i] - q_sorted[i] * (above + below)


@_jit
def _is_identity(order):
    """Whether a permutation (m,) is the identity (utilities already in slot order: the usual case)."""
    for i in range(order.shape[0]):
        if order[i] != i:
            return False
    return True


# ----------------------------------------------------------------------------- Newton
# Plain loops throughout: numba compiles them an order of magnitude faster than the
# equivalent array expressions (first-use compile time), at the same run-time speed.
@_jit
def _dot(x, y):
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i] * y[i]
    return total


@_jit
def _solve_dense(A, b):
    """Solve ``A x = b`` by Gaussian elimination with partial pivoting (A is overwritten)."""
    m = b.shape[0]
    x = b.copy()
    for col in range(m):
        pivot = col
        for row in range(col + 1, m):
            if abs(A[row, col]) > abs(A[pivot, col]):
                pivot = row
        if pivot != col:
            for j in range(m):
                A[col, j], A[pivot, j] = A[pivot, j], A[col, j]
            x[col], x[pivot] = x[pivot], x[col]
        for row in range(col + 1, m):
            factor = A[row, col] / A[col, col]
            if factor != 0.0:
                for j in range(col + 1, m):
                    A[row, j] -= factor * A[col, j]
                x[row] -= factor * x[col]
    for row in range(m - 1, -1, -1):
        total = x[row]
        for j in range(row + 1, m):
            total -= A[row, j] * x[j]
        x[row] = total / A[row, row]
    return x


@_jit
def _damping(diag):
    """Levenberg damping per token, (m,) from ``|H_ii|`` (fit.py :func:`~multidraft.fast.fit._damping`)."""
    floor = DAMPING_FLOOR * diag.max() + TINY
    out = np.empty(diag.shape[0])
    for i in range(diag.shape[0]):
        out[i] = DAMPING_RELATIVE * diag[i] + floor
    return out


@_jit
def _newton_step(qs, n, grad, free, grid, C, loss, tol):
    """Solve ``(H_ff + Lambda) d = -g`` on the free tokens (fit.py :func:`_newton_step`; CG
    stops at the relative residual :func:`~multidraft.fast.fit.cg_tolerance` of ``loss`` and ``tol``).
    Returns ``(d, |diag H|)``."""
    m = qs.shape[0]
    b = -grad
    if m <= DENSE_MAX:
        H = _dense_hessian(qs, grid, C, n)
        diag = np.abs(np.diag(H))
        damping = _damping(diag)
        for i in range(m):
            for j in range(m):
                if not (free[i] and free[j]):
                    H[i, j] = 0.0
            H[i, i] += damping[i] if free[i] else 1.0
        return _solve_dense(H, b), diag
    order, Cs, Ce, upper, lower, q_sorted, boundary_sorted, diag = _matvec_setup(qs, grid, C, n)
    diag = np.abs(diag)
    damping = _damping(diag)
    # CG runs in utility order (the matvec's), the result is put back in slot order
    identity = _is_identity(order)
    if not identity:
        b, damping, free = b[order], damping[order], free[order]
        diag_sorted = diag[order]
    else:
        diag_sorted = diag
    precond = np.ones(m)
    for i in range(m):
        if free[i]:
            precond[i] = 1.0 / (diag_sorted[i] + damping[i])
    # Jacobi-preconditioned conjugate gradients on the free tokens. b, hence r, z and d, are 0
    # on the others and stay 0 (their rows of the system are masked), so d needs no mask.
    x = np.zeros(m)
    r = b.copy()
    z = np.empty(m)
    d = np.empty(m)
    rz = 0.0
    rr = 0.0
    for i in range(m):
        z[i] = precond[i] * r[i]
        d[i] = z[i]
        rz += r[i] * z[i]
        rr += r[i] * r[i]
    stop = max(CG_RTOL, min(CG_FORCING_MAX, loss), CG_FINAL_SAFETY * tol / loss) * np.sqrt(rr)
    Ad = np.empty(m)
    work = np.empty((3, m + 1))
    for _ in range(CG_MAX_ITER):
        if np.sqrt(rr) <= stop:
            break
        _matvec(d, Ad, work, Cs, Ce, upper, lower, q_sorted, boundary_sorted)
        dAd = 0.0
        for i in range(m):
            Ad[i] = Ad[i] + damping[i] * d[i] if free[i] else 0.0
            dAd += d[i] * Ad[i]
        alpha = rz / dAd if dAd > 0 else 0.0
        rz_new = 0.0
        rr = 0.0
        for i in range(m):
            x[i] += alpha * d[i]
            r[i] -= alpha * Ad[i]
            z[i] = precond[i] * r[i]
            rz_new += r[i] * z[i]
            rr += r[i] * r[i]
        beta = rz_new / rz if rz > 0 else 0.0
        for i in range(m):
            d[i] = z[i] + beta * d[i]
        rz = rz_new
    if not identity:
        step = np.empty(m)
        step[order] = x
        return step, diag
    return x, diag


@_jit
def _barrier_exponent(u, a, diag, step, reject):
    """Local power-law exponents near the reject barrier, 0 = straight path (fit.py
    :func:`~multidraft.fast.fit.barrier_exponent`)."""
    out = np.zeros(u.shape[0])
    if reject:
        for i in range(u.shape[0]):
            v = u[i] + 1.0
            if v > 0 and a[i] > 0 and diag[i] > 0 and abs(step[i]) > BARRIER_MIN_MOVE * v:
                out[i] = min(max(v * diag[i] / a[i], 1.0), BARRIER_EXPONENT_MAX)
    return out


@_jit
def _along_path(u, step, scale, exponent, cap, out):
    """The line search's trial point at step length ``scale``, projected below ``cap``, into
    ``out`` (fit.py :func:`~multidraft.fast.fit.along_path`)."""
    for i in range(u.shape[0]):
        k = exponent[i]
        if k > 0:
            v = u[i] + 1.0
            value = v * max(1.0 + k * scale * step[i] / v, BARRIER_FLOOR) ** (1.0 / k) - 1.0
        else:
            value = u[i] + scale * step[i]
        out[i] = min(value, cap)


@_jit
def _at_cap(u, a, t, cap):
    """Tokens held at the cap with slack (``a < t``): they only need ``a <= t``."""
    out = np.empty(u.shape[0], dtype=np.bool_)
    for i in range(u.shape[0]):
        out[i] = u[i] >= cap - CAP_TOL and a[i] < t[i]
    return out


@_jit
def _loss(a, t, at_cap):
    """``sum |a - t|`` over free tokens plus ``sum (a - t)+`` over capped ones (fit.py :func:`_loss`)."""
    total = 0.0
    for i in range(a.shape[0]):
        diff = a[i] - t[i]
        total += max(diff, 0.0) if at_cap[i] else abs(diff)
    return total


#: A Newton step on the loss carriers only (:func:`_loss_carriers`) leaves the other tokens'
#: share of the loss at most this fraction of ``tol``, ...
CARRIER_REST = 0.25
#: ... and is taken only when the carriers are at most this fraction of the system's tokens
#: (otherwise a full step costs little more). Measured at k = V: after the lift, the 1,000
#: tokens of largest |a - t| carry 99-100% of the loss (the heavy tokens and the last slots
#: before the cut).
CARRIER_MAX_SHARE = 0.25
#: Systems smaller than this never take a carrier step (the torch path has none; below it,
#: the kernel's iterations equal the torch path's).
CARRIER_MIN = 64
#: A carrier step may follow a carrier step only if that one cut the loss to at most this
#: fraction (else a full step comes next). Measured at (V, 4): the lift leaves 2.6e-7 and
#: carrier and full steps make the same progress per iteration (a factor 2-20), so runs of
#: carrier steps save the full steps' Hessian set-up and CG (about 10 ms each at m = 128k).
CARRIER_PROGRESS = 0.5
#: Trial points of a carrier step's line search. A carrier step that does not cut the loss
#: at full length rarely does at a shorter one: it moves the carriers against the others
#: held (their share of the loss grows as the carriers' falls), and near the optimum the
#: potential's decrease (about loss^2) is below its rounding, so Armijo's test cannot pass
#: either. A failed carrier step leaves u as it was and a full step follows. Measured on an
#: LLM-like row at (10000, 16) (tests/fast): with the full search, a carrier step that did not
#: cut the loss ran its halvings, 33 exact evaluations of the race for a 3-iteration fit; now 4.
CARRIER_TRIALS = 1


@_jit
def _loss_carriers(grad, keep):
    """Slots (ascending) of the tokens that carry the loss ``sum |grad|``: all with
    ``|grad_i| >= theta``, theta the smallest power of two such that the others sum to at most
    ``keep``. One pass builds the sums of |grad| per binary exponent, a walk up from the
    smallest finds theta, a second pass collects. Returns an empty array when more than
    ``CARRIER_MAX_SHARE`` of the slots would be needed."""
    m = grad.shape[0]
    bits = np.abs(grad).view(np.int64)
    sums = np.zeros(2048)
    for i in range(m):
        sums[bits[i] >> 52] += abs(grad[i])
    rest = 0.0
    theta = 0
    while theta < 2048 and rest + sums[theta] <= keep:
        rest += sums[theta]
        theta += 1
    count = 0
    for i in range(m):
        count += (bits[i] >> 52) >= theta
    if count == 0 or count > CARRIER_MAX_SHARE * m:
        return np.empty(0, dtype=np.int64)
    out = np.empty(count, dtype=np.int64)
    j = 0
    for i in range(m):
        if (bits[i] >> 52) >= theta:
            out[j] = i
            j += 1
    return out


@_jit
def _carrier_step(qs, n, grad, u, grid, C, loss, tol, carriers):
    """Newton step on the carriers alone, the other utilities held: ``(H_SS + Lambda) d_S =
    -g_S``, d = 0 elsewhere (block coordinate Newton; H_SS is a principal block of the
    positive-definite race Hessian, so d is a descent direction of the same objective and
    the same line search applies). The block's Hessian is the race's restricted to S: the
    same windows (``start``, ``end`` into the full grid) and curvature ``C``, so
    :func:`_newton_step` solves it on a sub-grid. Returns ``(d, |diag H|)`` (m,), zero off S."""
    bp, G, R, start, end, _ = grid
    S = carriers
    sub_grid = (bp, G, R, start[S], end[S], _argsort_near_sorted(u[S]))
    free = np.ones(S.shape[0], dtype=np.bool_)
    d_S, diag_S = _newton_step(qs[S], n, grad[S], free, sub_grid, C, loss, tol)
    step = np.zeros(qs.shape[0])
    diag = np.zeros(qs.shape[0])
    step[S] = d_S
    diag[S] = diag_S
    return step, diag


@_jit
def _fit_from(qs, base, n, reject, t, u, cap, tol, max_iter):
    """Fit one race (fit.py :func:`fit_race`, one row) from the starting utilities ``u`` (m,)
    (below ``cap``; overwritten): returns ``(u, a, loss, iterations, carrier_steps, grid,
    law, evaluations)``, ``carrier_steps`` the iterations that took a carrier step, ``grid``
    and ``law`` the race's at the returned u (:func:`_evaluate`), ``evaluations`` the exact
    evaluations of the race made.

    In a system of at least CARRIER_MIN tokens whose loss is carried by few tokens
    (:func:`_loss_carriers`), an iteration takes the Newton step on those alone
    (:func:`_carrier_step`, O(|S|) instead of O(m)). Another carrier step follows only one
    that cut the loss to at most CARRIER_PROGRESS of what it was; otherwise a full step comes
    next, so the loss of a run of carrier steps falls geometrically and a carrier step that
    stalls is followed by a full one. The stopping rule is the same."""
    m = qs.shape[0]
    a, psi, grid, C, law = _evaluate(u, qs, base, reject, n)
    evaluations = 1
    value = psi - _dot(t, u)
    iterations = 0
    grad = np.empty(m)
    trial = np.empty(m)
    carrier_last = False
    carrier_steps = 0
    last_loss = np.inf  # the loss before the last step
    for _ in range(max_iter):
        at_cap = _at_cap(u, a, t, cap)
        loss = _loss(a, t, at_cap)
        if loss <= tol:
            break
        iterations += 1
        free = ~at_cap
        for i in range(m):
            grad[i] = a[i] - t[i] if free[i] else 0.0
        carriers = np.empty(0, dtype=np.int64)
        if m >= CARRIER_MIN and (not carrier_last or loss <= CARRIER_PROGRESS * last_loss):
            carriers = _loss_carriers(grad, CARRIER_REST * tol)
        carrier_last = carriers.shape[0] > 0
        carrier_steps += carrier_last
        last_loss = loss
        if carrier_last:
            step, diag = _carrier_step(qs, n, grad, u, grid, C, loss, tol, carriers)
        else:
            step, diag = _newton_step(qs, n, grad, free, grid, C, loss, tol)
        exponent = _barrier_exponent(u, a, diag, step, reject)
        scale = 1.0
        accepted = False
        for _tries in range(CARRIER_TRIALS if carrier_last else LINE_SEARCH_STEPS):
            _along_path(u, step, scale, exponent, cap, trial)
            decrease = 0.0
            for i in range(m):
                decrease += grad[i] * (trial[i] - u[i])
            ta, tpsi, tgrid, tC, tlaw = _evaluate(trial, qs, base, reject, n)
            evaluations += 1
            t_value = tpsi - _dot(t, trial)
            if t_value <= value + ARMIJO * decrease or _loss(ta, t, at_cap) < 0.5 * loss:
                u, trial, value = trial, u, t_value
                a, grid, C, law = ta, tgrid, tC, tlaw
                accepted = True
                break
            scale /= 2.0
        if not accepted and not carrier_last:  # no step decreases D any more: numerical floor
            break
    return u, a, _loss(a, t, _at_cap(u, a, t, cap)), iterations, carrier_steps, grid, law, evaluations


# ----------------------------------------------------------------------------- sampling
@_jit
def _race_rows(sorted_ids, slot_of_sorted, outer, inner_active, u, accept_ratio, ids, rows, noise, tokens, accepted):
    """The race and the accept test of :meth:`multidraft.fast.solver.Plan.sample`, per draft tuple.

    ``sorted_ids``/``slot_of_sorted`` (B, k) the support's sorted token ids and their slots,
    ``outer``/``inner_active`` (B, k) bool, ``u``/``accept_ratio`` (B, k), ``ids`` (M, n) the
    drafts, ``rows`` (M,) the plan row of each tuple, ``noise`` (M, n + 2) uniforms (n draft
    keys, the reject key, the accept test). Writes ``tokens`` (M,) and ``accepted`` (M,); the
    same comparisons, in the same order, as the torch code, so the same noise gives the same
    output.
    """
    M, n = ids.shape
    k = sorted_ids.shape[1]
    slot = np.empty(n, dtype=np.int64)
    found = np.empty(n, dtype=np.bool_)
    for m in range(M):
        b = rows[m]
        any_outer = False
        for j in range(n):
            pos = min(np.searchsorted(sorted_ids[b], ids[m, j]), k - 1)
            found[j] = sorted_ids[b, pos] == ids[m, j]
            slot[j] = slot_of_sorted[b, pos]
            any_outer |= found[j] and outer[b, slot[j]]
        best = -np.inf
        winner = 0
        for j in range(n):
            takes_part = found[j] and (outer[b, slot[j]] if any_outer else inner_active[b, slot[j]])
            key = u[b, slot[j]] + noise[m, j] if takes_part else -np.inf
            if key > best:
                best, winner = key, j
        if not any_outer and noise[m, n] > best:  # the reject competitor
            winner = n
        w = min(winner, n - 1)
        keep = accept_ratio[b, slot[w]] if found[w] else 0.0
        accepted[m] = winner < n and noise[m, n + 1] < keep
        tokens[m] = ids[m, w]


#: The blocked residual draw's certified margin, in units of ``(V + blocks + 2 SCAN_BLOCK) *
#: 2^-53 * total`` (maths.md section 7, "The blocked residual draw"): a draw is trusted when
#: the target lies this far from the summed cdf on both sides of the drawn token.
RESIDUAL_MARGIN = 4.0
#: The blocked draw defers to the in-order walk below this total: above it the margin is a
#: normal number far above the absolute error 2^-1075 of an underflowing ``uniform * total``.
RESIDUAL_MIN_TOTAL = 2.0**-960


@_jit
def _residual_draws(P, sorted_ids, slot_of_sorted, residual_on_support, rows, uniform, out):
    """One inverse-CDF draw from the residual ``p - min(a, p)`` of each given plan row.

    The residual is p off the support and ``residual_on_support`` on it. The draw is the
    torch code's ``searchsorted(cumsum(residual), uniform * total, right=True)`` (p stands in
    where the total rounds to 0), without materialising the (V,) residual, and gives the same
    token: :func:`_residual_draw_blocked` sums the residual in vectorised blocks and returns
    the drawn token where a certified error bound proves that torch's sums pick it too (all
    but a fraction of at most ``8 V (V + blocks + 2 SCAN_BLOCK) 2^-53`` of draws, maths.md
    section 7); where it defers, :func:`_residual_draw_in_order` sums in vocabulary order, as
    ``torch.cumsum`` does. Writes ``out`` (rows,).
    """
    V = P.shape[1]
    sums = np.empty(-(-V // SCAN_BLOCK))
    buffer = np.empty(SCAN_BLOCK)
    for r in range(rows.shape[0]):
        args = (P[rows[r]], sorted_ids[rows[r]], slot_of_sorted[rows[r]], residual_on_support[rows[r]])
        token = _residual_draw_blocked(*args, uniform[r], sums, buffer)
        out[r] = token if token >= 0 else _residual_draw_in_order(*args, uniform[r], sums, buffer)


@_jit
def _residual_block(p, sorted_ids, slot_of_sorted, residual_on_support, lo, hi, slot, buffer):
    """The residual of tokens [lo, hi) into ``buffer[: hi - lo]``: a copy of p, then the
    support tokens' residuals written over it; ``slot`` is the first support slot (in
    token-id order) with id >= lo. Returns the first slot with id >= hi."""
    buffer[: hi - lo] = p[lo:hi]
    while slot < sorted_ids.shape[0] and sorted_ids[slot] < hi:
        buffer[sorted_ids[slot] - lo] = residual_on_support[slot_of_sorted[slot]]
        slot += 1
    return slot


@nb.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def _residual_block_sums(p, sorted_ids, slot_of_sorted, residual_on_support, sums, buffer):
    """The sum of each block of SCAN_BLOCK residual entries into ``sums`` (blocks,), in any
    order (reassociation: the sums vectorise; on p itself for a block without support tokens,
    whose full blocks run loops of constant trip count: with a run-time bound, or behind a
    call, they did not vectorise and ran 5x slower), and their total, also in any order."""
    V = p.shape[0]
    total = 0.0
    slot = 0
    for j in range(sums.shape[0]):
        lo = j * SCAN_BLOCK  # (a tuple assignment of lo, hi here stopped the vectorisation)
        hi = min(lo + SCAN_BLOCK, V)
        if slot < sorted_ids.shape[0] and sorted_ids[slot] < hi:  # the block holds support tokens
            slot = _residual_block(p, sorted_ids, slot_of_sorted, residual_on_support, lo, hi, slot, buffer)
            block = 0.0
            for z in range(hi - lo):
                block += buffer[z]
        elif hi - lo == SCAN_BLOCK:
            block = 0.0
            for z in range(SCAN_BLOCK):
                block += p[lo + z]
        else:
            block = 0.0
            for z in range(lo, hi):
                block += p[z]
        sums[j] = block
        total += block
    return total


@_jit
def _residual_draw_blocked(p, sorted_ids, slot_of_sorted, residual_on_support, uniform, sums, buffer):
    """The residual draw of one row from block sums, or -1 where it is not certified.

    Sums each block of SCAN_BLOCK residual entries and their total T' in any order
    (:func:`_residual_block_sums`), takes the target ``t' = uniform * T'``, runs the sum of
    the block sums up to the first block where it exceeds t', and walks that block token by
    token: ``P'_z`` is the running sum there. Every entry is >= 0, so ``P'_z`` and torch's
    cumsum ``S_z`` (summed in any order) both lie within ``gamma_(V + blocks + 2 SCAN_BLOCK)
    T'`` of the exact prefix sum, and a token z with ``P'_z > t' + M`` and either
    ``P'_{z-1} <= t' - M`` or ``P'_{z-1} = 0`` (``M = RESIDUAL_MARGIN (V + blocks + 2
    SCAN_BLOCK) 2^-53 T'``) is torch's first z with ``S_z > uniform * S_{V-1}`` (proof:
    maths.md section 7). Returns -1, for :func:`_residual_draw_in_order`, where the first
    token past t' does not clear the margin on both sides, no block exceeds t', or the
    residual's total is below RESIDUAL_MIN_TOTAL (0 included: p stands in there). ``sums``
    (blocks,) and ``buffer`` (SCAN_BLOCK,) are work arrays.
    """
    V = p.shape[0]
    blocks = sums.shape[0]
    total = _residual_block_sums(p, sorted_ids, slot_of_sorted, residual_on_support, sums, buffer)
    if not total >= RESIDUAL_MIN_TOTAL:  # no mass (p stands in), or a total near underflow
        return -1
    margin = RESIDUAL_MARGIN * (V + blocks + 2 * SCAN_BLOCK) * 2.0**-53 * total
    target = uniform * total
    running = 0.0
    j = 0
    while j < blocks and not running + sums[j] > target:
        running += sums[j]
        j += 1
    if j == blocks:
        return -1
    lo, hi = j * SCAN_BLOCK, min((j + 1) * SCAN_BLOCK, V)
    _residual_block(p, sorted_ids, slot_of_sorted, residual_on_support, lo, hi, np.searchsorted(sorted_ids, lo), buffer)
    for z in range(lo, hi):
        before = running
        running += buffer[z - lo]
        if running > target:
            # a running sum of 0 is exact (every entry before z is 0): no margin needed below
            certified = running > target + margin and (before == 0.0 or before <= target - margin)
            return z if certified else -1
    return -1


@_jit
def _residual_draw_in_order(p, sorted_ids, slot_of_sorted, residual_on_support, uniform, ends, buffer):
    """The residual draw of one row summed in vocabulary order, as ``torch.cumsum`` does: the
    same additions in the same order, so the same token as torch's sequential cumsum.

    One walk sums the total and records the running sum at the end of every block of
    SCAN_BLOCK tokens in ``ends`` (blocks,); the cdf is non-decreasing, so the drawn token
    lies in the first block whose end exceeds ``target = uniform * total``, and the second
    walk covers that block alone, from the recorded running sum before it. Where the
    residual's total rounds to 0, p stands in. ``buffer`` (SCAN_BLOCK,): work array.
    """
    args = (p, sorted_ids, slot_of_sorted, residual_on_support)
    plain = False
    total = _residual_prefix(*args, plain, np.inf, 0, 0.0, ends, buffer)[1]
    if not total > 0:
        plain = True
        total = _residual_prefix(*args, plain, np.inf, 0, 0.0, ends, buffer)[1]
    target = uniform * total
    j = 0
    while j < ends.shape[0] - 1 and not ends[j] > target:
        j += 1
    before = ends[j - 1] if j > 0 else 0.0
    return _residual_prefix(*args, plain, target, j * SCAN_BLOCK, before, ends[:0], buffer)[0]


@_jit
def _residual_prefix(p, sorted_ids, slot_of_sorted, residual_on_support, plain, target, lo, total, ends, buffer):
    """Walk the residual (``p`` itself if ``plain``) in vocabulary order from token ``lo``
    (a multiple of SCAN_BLOCK), ``total`` the running sum of the tokens before it: returns
    the first token whose running sum exceeds ``target`` (V - 1 if none) and the running sum
    there (the total when no token exceeds it). A non-empty ``ends`` receives the running sum
    at the end of each block of SCAN_BLOCK tokens walked (the last block may be short).
    Each block's residual comes from :func:`_residual_block` (into ``buffer``, (SCAN_BLOCK,))."""
    V = p.shape[0]
    slot = np.searchsorted(sorted_ids, lo)  # the first support token >= lo
    for block_lo in range(lo, V, SCAN_BLOCK):
        hi = min(block_lo + SCAN_BLOCK, V)
        if plain:
            values = p[block_lo:hi]
        else:
            slot = _residual_block(p, sorted_ids, slot_of_sorted, residual_on_support, block_lo, hi, slot, buffer)
            values = buffer[: hi - block_lo]
        for z in range(block_lo, hi):
            total += values[z - block_lo]
            if total > target:
                return z, total
        if ends.shape[0] > 0:
            ends[block_lo // SCAN_BLOCK] = total
    return V - 1, total


def race_rows(sorted_ids, slot_of_sorted, outer, inner_active, u, accept_ratio, ids, rows, noise):
    """Allocating wrapper of :func:`_race_rows` (numpy arrays): ``(tokens (M,) int64,
    accepted (M,) bool)``."""
    tokens = np.empty(ids.shape[0], dtype=np.int64)
    accepted = np.empty(ids.shape[0], dtype=np.bool_)
    _race_rows(sorted_ids, slot_of_sorted, outer, inner_active, u, accept_ratio, ids, rows, noise, tokens, accepted)
    return tokens, accepted


def residual_draws(P, sorted_ids, slot_of_sorted, residual_on_support, rows, uniform):
    """Allocating wrapper of :func:`_residual_draws` (numpy arrays): tokens (rows,) int64."""
    out = np.empty(rows.shape[0], dtype=np.int64)
    _residual_draws(P, sorted_ids, slot_of_sorted, residual_on_support, rows, uniform, out)
    return out


# ----------------------------------------------------------------------------- one row
#: Element moves the race's insertion sort may make, per element, before it hands over to
#: :func:`_argsort` (an order far from the slot order).
INSERTION_BUDGET = 8


@_jit
def _argsort_near_sorted(values):
    """Stable argsort of values that are usually already sorted: the race's utilities.

    In the fits the utilities are, in practice, non-decreasing in slot order (slots are
    sorted by p/q and at the optimum ``u_i`` is increasing in ``p_i / q_i``; measured: no
    inversion at any iterate of a k = 1,000 row), so an insertion sort costs O(m) (timings:
    docs/fast.md, "Design measurements"). After ``INSERTION_BUDGET * m``
    moves it gives up and calls :func:`_argsort`. Same permutation as any stable sort.
    """
    m = values.shape[0]
    order = np.arange(m)
    budget = INSERTION_BUDGET * m
    for i in range(1, m):
        value = values[i]
        j = i
        while j > 0 and values[order[j - 1]] > value:
            order[j] = order[j - 1]
            j -= 1
        budget -= i - j
        order[j] = i
        if budget < 0:
            return _argsort(values)
    return order


#: Below this many values :func:`_argsort` calls numpy's sort; above, the radix sort, whose
#: fixed cost (eight 256-bucket histograms) is about 1 us.
RADIX_MIN = 64


@_jit
def _argsort(values):
    """Stable argsort of a 1-D float64 array without NaN (``torch.sort(stable=True)`` order).

    Short arrays: numpy's quicksort, then each run of equal values put back in index order
    (ties are rare, runs short). Longer ones: :func:`_radix_argsort` (timings: docs/fast.md,
    "Design measurements").
    """
    m = values.shape[0]
    if m >= RADIX_MIN:
        return _radix_argsort(values)
    order = np.argsort(values)
    start = 0
    while start < m:
        end = start + 1
        while end < m and values[order[end]] == values[order[start]]:
            end += 1
        if end - start > 1:
            order[start:end] = np.sort(order[start:end])
        start = end
    return order


#: Bits per pass of :func:`_radix_passes`: 64-bit keys have 6 digits, each pass 2,048
#: buckets (their counts fit the L1 cache). Measured at 128,256 ratios: 1.24 ms for all six
#: passes, against 1.93 ms with 8-bit digits (8 passes) and 1.55 ms for numpy's (unstable)
#: quicksort.
RADIX_BITS = 11
#: :func:`_radix_argsort` sorts by this many top digits (31 bits: sign, exponent and 19
#: mantissa bits, a relative resolution of 2^-19) and finishes with an insertion pass on the
#: full keys, which moves only values that share those bits.
RADIX_TOP_PASSES = 3


@_jit
def _radix_passes(keys, first):
    """Stable LSD radix argsort of the unsigned ``keys`` (m,) by their digits ``first`` ..
    last (RADIX_BITS each, low digit first; a digit that all keys share is skipped). Returns
    ``(order, sorted keys)``; ``keys`` is left as it is."""
    m = keys.shape[0]
    passes = (64 + RADIX_BITS - 1) // RADIX_BITS
    buckets = 1 << RADIX_BITS
    mask = np.uint64(buckets - 1)
    counts = np.zeros((passes, buckets), dtype=np.int64)
    for i in range(m):
        key = keys[i]
        for digit in range(first, passes):
            counts[digit, (key >> np.uint64(RADIX_BITS * digit)) & mask] += 1
    order = np.arange(m)
    keys = keys.copy()
    spare_order = np.empty(m, dtype=np.int64)
    spare_keys = np.empty(m, dtype=np.uint64)
    for digit in range(first, passes):
        shift = np.uint64(RADIX_BITS * digit)
        if counts[digit, (keys[0] >> shift) & mask] == m:
            continue
        start = 0
        for j in range(buckets):  # bucket j's first position
            count = counts[digit, j]
            counts[digit, j] = start
            start += count
        for i in range(m):
            key = keys[i]
            j = (key >> shift) & mask
            pos = counts[digit, j]
            spare_order[pos] = order[i]
            spare_keys[pos] = key
            counts[digit, j] = pos + 1
        order, spare_order = spare_order, order
        keys, spare_keys = spare_keys, keys
    return order, keys


@_jit
def _insertion_pass(order, keys, budget):
    """Stable insertion sort of ``keys`` (m,) in place, ``order`` moved with them; gives up
    (returns False, both arrays scrambled) after ``budget`` moves."""
    for i in range(1, keys.shape[0]):
        key = keys[i]
        index = order[i]
        j = i
        while j > 0 and keys[j - 1] > key:
            keys[j] = keys[j - 1]
            order[j] = order[j - 1]
            j -= 1
        budget -= i - j
        keys[j] = key
        order[j] = index
        if budget < 0:
            return False
    return True


@_jit
def _radix_argsort(values):
    """Stable argsort of float64 values without NaN, by radix.

    Each value's bits are mapped to an unsigned key of the same order (flip the sign bit of a
    positive value, every bit of a negative one; -0.0 is first turned into +0.0, so the two
    zeros tie as they compare). The keys are sorted by their RADIX_TOP_PASSES top digits
    (:func:`_radix_passes`, stable), then a stable insertion pass on the full keys orders
    each run of keys that share those digits: the same permutation as a stable sort on the
    full keys, in half the passes. When the runs need more than INSERTION_BUDGET moves per
    value (values crowded within 2^-19 of each other), all six digits are sorted instead.
    """
    m = values.shape[0]
    bits = (values + 0.0).view(np.int64)
    keys = np.empty(m, dtype=np.uint64)
    for i in range(m):
        keys[i] = np.uint64(bits[i] ^ ((bits[i] >> 63) | np.int64(-0x8000000000000000)))
    passes = (64 + RADIX_BITS - 1) // RADIX_BITS
    order, top_sorted = _radix_passes(keys, passes - RADIX_TOP_PASSES)
    if _insertion_pass(order, top_sorted, INSERTION_BUDGET * m):
        return order
    return _radix_passes(keys, 0)[0]


#: The support scan counts draft tokens per block of this many vocabulary entries, so that
#: the gather visits only blocks that hold some: a top-k draft touches at most k of the
#: ~500 blocks at V = 128,256 (timings: docs/fast.md, "Design measurements").
SCAN_BLOCK = 256


@_jit
def support_sizes(Q, blocks):
    """Number of tokens with ``q > 0`` in each row of a (B, V) array, (B,) int64, and in each
    block of SCAN_BLOCK tokens, into ``blocks`` (B, ceil(V / SCAN_BLOCK)); one pass."""
    B, V = Q.shape
    full = V // SCAN_BLOCK
    out = np.zeros(B, dtype=np.int64)
    for b in range(B):
        row = Q[b]
        total = 0
        for j in range(full):
            chunk = row[j * SCAN_BLOCK : (j + 1) * SCAN_BLOCK]
            count = 0
            for z in range(SCAN_BLOCK):  # a constant trip count: the loop vectorises
                count += chunk[z] > 0
            blocks[b, j] = count
            total += count
        if full < blocks.shape[1]:
            count = 0
            for z in range(full * SCAN_BLOCK, V):
                count += row[z] > 0
            blocks[b, full] = count
            total += count
        out[b] = total
    return out


#: The gather tests runs of this many entries with one vectorised sum and skips those that
#: hold no draft token.
GATHER_RUN = 16


@nb.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def _gather(p, q, lo, hi, index, ratio, slot):
    """Append the tokens z in [lo, hi) with ``q_z > 0`` and their ``p_z / q_z`` at ``slot``;
    returns the next slot.

    q is a validated law (no entry is negative), so a run of entries holds a draft token
    exactly when its sum is > 0; that sum vectorises (reassociation), the per-entry test does
    not (timings: docs/fast.md, "Design measurements").
    """
    start = lo
    while start + GATHER_RUN <= hi:
        total = 0.0
        for z in range(start, start + GATHER_RUN):
            total += q[z]
        if total > 0:
            slot = _gather_each(p, q, start, start + GATHER_RUN, index, ratio, slot)
        start += GATHER_RUN
    return _gather_each(p, q, start, hi, index, ratio, slot)


@_jit
def _gather_each(p, q, lo, hi, index, ratio, slot):
    """:func:`_gather` entry by entry."""
    for z in range(lo, hi):
        if q[z] > 0:
            index[slot] = z
            ratio[slot] = p[z] / q[z]
            slot += 1
    return slot


@_jit
def gather_support(p, q, k, blocks, index, ratio):
    """The k draft-support tokens (``q > 0``) of a row in vocabulary order into ``index`` and
    their ``p / q`` into ``ratio`` (k,), visiting only the blocks that hold some (``blocks``:
    :func:`support_sizes`'s per-block counts) when they are few."""
    V = q.shape[0]
    if 4 * np.count_nonzero(blocks) <= blocks.shape[0]:  # few blocks hold the support
        slot = 0
        for j in range(blocks.shape[0]):
            if blocks[j] > 0:
                slot = _gather(p, q, j * SCAN_BLOCK, min((j + 1) * SCAN_BLOCK, V), index, ratio, slot)
    else:
        slot = _gather(p, q, 0, V, index, ratio, 0)
    if slot != k:  # the slots index p and q, unchecked: never leave one unset
        raise ValueError("draft support scan: the count and the gather disagree")


@_jit
def _support(p, q, n, k, blocks):
    """Draft support (its size k and per-block counts given, :func:`support_sizes`) sorted
    by p/q, alpha*, |H_min| and q(H_min) (support.py :func:`draft_support`), and ``order``:
    the gather visits tokens in vocabulary order, so slot i holds the ``order[i]``-th
    smallest token id."""
    index = np.empty(k, dtype=np.int64)
    ratio = np.empty(k)
    gather_support(p, q, k, blocks, index, ratio)
    order = _argsort(ratio)
    # p and q of the support read in vocabulary order (ascending addresses, as the scan
    # left them in cache), then permuted within the support's own arrays
    pv, qv = p[index], q[index]
    index, ratio, pk, qk = index[order], ratio[order], pv[order], qv[order]
    best = -np.inf
    values = np.empty(k + 1)
    Q = 0.0
    P = 0.0
    for j in range(k + 1):
        if j > 0:
            Q += qk[j - 1]
            P += pk[j - 1]
        boundary = j == 0 or j == k or ratio[j] != ratio[j - 1]
        values[j] = min(Q, 1.0) ** n - P if boundary else -np.inf
        best = max(best, values[j])
    k_min = 0
    q_inner = 0.0
    while values[k_min] < best - TIE_TOL:
        q_inner += qk[k_min]
        k_min += 1
    return index, pk, qk, k_min, 1.0 - max(best, 0.0), min(q_inner, 1.0), order


@_jit
def _inner_start(reject_mass, q_mass, n):
    """Common starting utility of the inner race (support.py :func:`inner_start`)."""
    if q_mass <= 0:
        return 0.0
    ratio = min(max((n + 1) * reject_mass / q_mass**n, 0.0), 1.0)
    return 1.0 - ratio ** (1.0 / (n + 1))


@_jit
def _in_system(i, inner, k_min, pk):
    """Whether support slot i takes part in the inner (H_min, p > 0) or the outer system."""
    return (i < k_min and pk[i] > 0) if inner else i >= k_min


#: Systems of at least this many tokens start from the lifted fit of their grouped system
#: (:func:`_fit_system`); smaller ones from a common utility.
LEVEL_MIN = 64
#: Tokens per group, on average, from one level to the next coarser one.
LEVEL_FACTOR = 8
#: Loss at which the fit of a grouped system stops (it is only a starting point) ...
COARSE_TOL = 1e-9
#: ... and below a system of at least LARGE_SYSTEM tokens: the lifted start's loss is about
#: the grouped fit's plus the grouping's own error, and where the full system's evaluation
#: costs milliseconds, a start within its tol (no Newton step, one evaluation) is worth a
#: few more iterations on the grouped one. Measured at (V, 2), 6 rows: 0.91 -> 0.81 of the
#: previous kernel's time; at (1000, 16), where the start rarely reaches tol either way,
#: 1e-10 everywhere cost 1.05 against 0.94.
COARSE_TOL_LARGE = 1e-10
LARGE_SYSTEM = 16384


#: A group also ends before a token whose ratio p/q exceeds the group's first ratio by this
#: relative amount: groups narrow in ratio are narrow in utility, and the grouped race's key
#: CDF is closer to the full one's (the lift's error, :func:`_lift`), where the ratios spread
#: (the tail of large p/q).
GROUP_RATIO_SPREAD = 0.01
#: If the cuts would give more than m / GROUPS_AT_MOST groups, the ratio and heavy cuts are
#: dropped (mass and count cuts only), so that each level is at most a third of the one
#: above and the recursion's cost stays a fraction of the full system's. Measured against 2
#: (kernel solve, summed over LLM-like rows, as a fraction of the kernel before issue 20's
#: sixth session, same process): (10000, 2) 0.85 -> 0.80, (10000, 16) 0.90 -> 0.81, (V, 2)
#: 0.71 -> 0.70, (V, 16) 0.96 -> 0.89, (1000, 2) 0.91 -> 0.90, but (1000, 16) 0.88 -> 1.06
#: (its start is then worse; that row is at half its target either way).
GROUPS_AT_MOST = 3
#: A token whose draft mass is at least this share of a group's (total / groups) is a group
#: of its own: within a group the grouped race's key CDF differs from the full one's by the
#: group's mass times the spread of its utilities squared, so a heavy token grouped with
#: lighter ones of other ratios gives every token whose window meets it a worse start.
HEAVY_SHARE = 0.1


@_jit
def _group_edges(qs, ratio, groups, spread, heavy_share):
    """Cut the m slots (sorted by ``ratio``, their t / qs) into consecutive groups: before slot i
    whenever the draft mass before it crosses another 1/groups of the total, the current
    group already holds m // groups slots, slot i's ratio exceeds the group's first by the
    relative ``spread``, or slot i or slot i - 1 is heavy (draft mass at least ``heavy_share``
    of total / groups: a heavy token is a group of its own). Returns the edges (G + 1,) int64,
    ``edges[0] = 0``, ``edges[G] = m``."""
    m = qs.shape[0]
    total = qs.sum()
    edges = np.empty(m + 1, dtype=np.int64)
    edges[0] = 0
    count = 1
    step = max(m // groups, 1)
    mass = 0.0
    level = total / groups
    heavy = heavy_share * total / groups
    first = ratio[0]
    for i in range(1, m):
        mass += qs[i - 1]
        if (
            mass >= level
            or i - edges[count - 1] >= step
            or ratio[i] > first * (1.0 + spread)
            or qs[i] >= heavy
            or qs[i - 1] >= heavy
        ):
            edges[count] = i
            count += 1
            first = ratio[i]
            while mass >= level:
                level += total / groups
    edges[count] = m
    return edges[: count + 1]


@_jit
def _fit_system(qs, base, n, reject, t, u0, cap, tol, max_iter):
    """Fit one race (:func:`_fit_from`'s arguments and result) from a multilevel start.

    A system of m >= LEVEL_MIN tokens is first solved on a grouped system: consecutive slots
    in p/q order (:func:`_group_edges`: about m / LEVEL_FACTOR groups, more where the ratios
    spread, heavy tokens alone, never more than m / GROUPS_AT_MOST), each group one token of
    the group's q and target mass, fitted the same way (recursively, to COARSE_TOL, or
    COARSE_TOL_LARGE below a system of LARGE_SYSTEM tokens or more). Each token then starts
    where the grouped race would give it its own ratio ``t_i / q_i`` of law per draft mass,
    below the cap (:func:`_lift`; at the optimum u_i is that function of the ratio under the
    full race, maths.md section 6). Smaller systems start from the common utility ``u0``. Any
    start is valid: the fit that follows, with its own stopping rule at ``tol``, decides
    exactness and the gap; the levels only save Newton iterations on the full system.
    """
    m = qs.shape[0]
    if m < LEVEL_MIN:
        return _fit_from(qs, base, n, reject, t, np.full(m, min(u0, cap)), cap, tol, max_iter)
    ratio = t / qs  # the grouping's and the lift's
    edges = _group_edges(qs, ratio, m // LEVEL_FACTOR, GROUP_RATIO_SPREAD, HEAVY_SHARE)
    if edges.shape[0] - 1 > m // GROUPS_AT_MOST:  # the ratios spread everywhere: plain cuts only
        edges = _group_edges(qs, ratio, m // LEVEL_FACTOR, np.inf, np.inf)
    groups = edges.shape[0] - 1
    gq = np.zeros(groups)
    gt = np.zeros(groups)
    for g in range(groups):
        for i in range(edges[g], edges[g + 1]):
            gq[g] += qs[i]
            gt[g] += t[i]
    coarse_tol = COARSE_TOL_LARGE if m >= LARGE_SYSTEM else COARSE_TOL
    coarse = _fit_system(gq, base, n, reject, gt, u0, cap, coarse_tol, max_iter)
    start = _lift(ratio, coarse[0], coarse[5], coarse[6], n, reject, cap)
    return _fit_from(qs, base, n, reject, t, start, cap, tol, max_iter)


@_jit
def _law_at(y, grid, law, n, reject):
    """``F(y) = int_(bp_0)^y G^(n-1) R`` and ``g(y) = G(y)^(n-1) R(y)`` of a race at
    non-decreasing points ``y`` (s,) (``grid`` and ``law`` of :func:`_evaluate`; points are
    clamped into ``[bp_0, bp_P]``). One forward walk finds each point's piece; G and R are
    linear on the part of the piece before the point, so :func:`_piece_integrals` integrates
    it exactly. Returns ``(F, g)``, (s,) each."""
    bp, G, R = grid[0], grid[1], grid[2]
    P = bp.shape[0] - 1
    s = y.shape[0]
    piece = np.empty(s, dtype=np.int64)
    width = np.empty(s)
    G0 = np.empty(s)  # G and R at the piece's start and at the point
    G1 = np.empty(s)
    R0 = np.empty(s)
    R1 = np.empty(s)
    g = np.empty(s)
    j = 0
    for i in range(s):
        yi = min(max(y[i], bp[0]), bp[P])
        while j < P - 1 and bp[j + 1] <= yi:
            j += 1
        span = bp[j + 1] - bp[j]
        w = min(max((yi - bp[j]) / span, 0.0), 1.0) if span > 0 else 0.0
        piece[i] = j
        width[i] = yi - bp[j]
        G0[i] = G[j]
        G1[i] = G[j] + (G[j + 1] - G[j]) * w
        R0[i] = R[j]
        R1[i] = R[j] + (R[j + 1] - R[j]) * w
        g[i] = G1[i] ** (n - 1) * R1[i]
    F = np.empty(s)
    work = np.empty((5, PIECE_BLOCK))
    out = np.empty((3, PIECE_BLOCK))
    for lo in range(0, s, PIECE_BLOCK):
        hi = min(lo + PIECE_BLOCK, s)
        _piece_integrals(G0[lo:hi], G1[lo:hi], R0[lo:hi], R1[lo:hi], n, not reject, work, out)
        for i in range(lo, hi):
            F[i] = law[piece[i]] + out[1, i - lo] * width[i]
    return F, g


@_jit
def _law_at_breakpoints(y, at, grid, law, n, reject):
    """F and g of :func:`_law_at` at non-decreasing points ``y`` (s,), of which those with
    ``at[k] >= 0`` are the breakpoint ``bp[at[k]]``: F is ``law`` there and g comes from G and
    R at it; the others are walked. Returns ``(F, g)``, (s,) each."""
    G, R = grid[1], grid[2]
    s = y.shape[0]
    walk = np.empty(s)
    count = 0
    for k in range(s):
        if at[k] < 0:
            walk[count] = y[k]
            count += 1
    walked, walked_g = _law_at(walk[:count], grid, law, n, reject)
    F = np.empty(s)
    g = np.empty(s)
    count = 0
    for k in range(s):
        if at[k] >= 0:
            F[k] = law[at[k]]
            g[k] = G[at[k]] ** (n - 1) * R[at[k]]
        else:
            F[k] = walked[count]
            g[k] = walked_g[count]
            count += 1
    return F, g


#: The lift's inverse slopes are limited to this many secants of their piece (Fritsch and
#: Carlson's bound: with both end slopes in [0, 3] secants a cubic Hermite piece is monotone).
LIFT_SLOPE_LIMIT = 3.0


@_jit
def _lift(x, gu, grid, law, n, reject, cap):
    """Starting utilities (m,) of tokens with ratios ``x = t / q`` (m,, non-decreasing) from
    a fitted grouped race: utilities ``gu`` (G,), ``grid`` and ``law`` (:func:`_evaluate`).

    With the key CDF G of a race fixed, a token of draft mass q and utility v receives
    ``a = q f(v)``, ``f(v) = n (F(v + 1) - F(v))``, ``F(y) = int^y G^(n-1) R`` (maths.md
    section 5), and f is non-decreasing; at the optimum ``f(u_i) = t_i / q_i`` for every free
    token (maths.md section 6). So each token starts where the grouped race's f meets its
    ratio: ``u_i = f^-1(x_i)``, held in ``[min gu, max gu]`` and below ``cap``. What remains
    of the loss is the grouped race's key CDF against the full one's (second order in the
    spread of utilities within a group) and the coarse fit's own loss.

    f is C^1 (g = G^(n-1) R is continuous) and a polynomial between the points X where v or
    v + 1 is a breakpoint of the grid; on each piece between two points of X the inverse is
    a cubic Hermite interpolant through the values ``f(X)`` and slopes ``1 / f'(X)``, ``f' =
    n (g(v + 1) - g(v))``, each limited to LIFT_SLOPE_LIMIT secants so that it is monotone,
    and clamped into the piece. One forward walk over the sorted ratios, O(m + G n). Any
    start is valid: the fit that follows decides exactness and the gap."""
    m = x.shape[0]
    lo = gu.min()
    hi = gu.max()
    bp = grid[0]
    start, end = grid[3], grid[4]
    B = bp.shape[0]
    # X: lo, the breakpoints inside (lo, hi) and the breakpoints less 1 inside it but for the
    # windows' ends (an end less 1 is its window's start again, up to rounding), hi. F and g
    # are known at a breakpoint (law, G, R at its index) and at a window start plus 1 (its
    # end); elsewhere _law_at finds them.
    partner = np.full(B, -1, dtype=np.int64)  # a start's end; -2 at an end
    for j in range(start.shape[0]):
        partner[start[j]] = end[j]
        partner[end[j]] = -2
    X = np.empty(2 * B + 2)
    at0 = np.full(2 * B + 2, -1, dtype=np.int64)  # index into bp of X, -1: not a breakpoint
    at1 = np.full(2 * B + 2, -1, dtype=np.int64)  # index into bp of X + 1
    c = 1
    X[0] = lo
    i = 0
    j = 0
    while i < B or j < B:
        if j < B and partner[j] == -2:
            j += 1
            continue
        if j >= B or (i < B and bp[i] <= bp[j] - 1.0):
            v, index0, index1 = bp[i], i, partner[i]
            i += 1
        else:
            v, index0, index1 = bp[j] - 1.0, -1, j
            j += 1
        if lo < v < hi and v != X[c - 1]:
            X[c] = v
            at0[c] = index0
            at1[c] = max(index1, -1)
            c += 1
    X[c] = hi
    c += 1
    F0, g0 = _law_at_breakpoints(X[:c], at0[:c], grid, law, n, reject)
    F1, g1 = _law_at_breakpoints(X[:c] + 1.0, at1[:c], grid, law, n, reject)
    f = np.empty(c)
    top = -np.inf
    for k in range(c):
        top = max(top, n * (F1[k] - F0[k]))  # non-decreasing also where rounding is not
        f[k] = top
    # per piece k (X[k], X[k + 1]): 1 / (f[k + 1] - f[k]) and the end slopes h / f' of u(f)
    inverse = np.zeros(c)
    d0 = np.zeros(c)
    d1 = np.zeros(c)
    for k in range(c - 1):
        h = f[k + 1] - f[k]
        limit = LIFT_SLOPE_LIMIT * (X[k + 1] - X[k])
        slope0 = n * (g1[k] - g0[k])
        slope1 = n * (g1[k + 1] - g0[k + 1])
        if h > TINY:
            inverse[k] = 1.0 / h
            d0[k] = min(h / slope0, limit) if slope0 > 0 else limit
            d1[k] = min(h / slope1, limit) if slope1 > 0 else limit
    out = np.empty(m)
    k = 0  # f[k] <= x[i] < f[k + 1], or the last piece
    for i in range(m):
        xi = x[i]
        while k < c - 2 and f[k + 1] <= xi:
            k += 1
        if xi <= f[0]:
            value = X[0]
        elif xi >= f[c - 1]:
            value = X[c - 1]
        else:
            s = min(max((xi - f[k]) * inverse[k], 0.0), 1.0)
            s2 = s * s
            s3 = s2 * s
            value = (
                (2.0 * s3 - 3.0 * s2 + 1.0) * X[k]
                + (s3 - 2.0 * s2 + s) * d0[k]
                + (3.0 * s2 - 2.0 * s3) * X[k + 1]
                + (s3 - s2) * d1[k]
            )
            value = min(max(value, X[k]), X[k + 1])
        out[i] = min(value, cap)
    return out


@_jit
def _solve_row(p, q, n, k, blocks, tol, max_iter, index, pk, qk, u, a, slot_of_sorted):
    """Support, cut and both fitted systems of one row, written into the row's output slots.

    ``k`` and ``blocks`` are the row's support size and block counts (:func:`support_sizes`);
    ``index``, ``pk``, ``qk``, ``u``, ``a`` are the row's (k_max,) zero-filled outputs; the k
    support slots come first, sorted by p/q, the first ``k_min`` forming H_min;
    ``slot_of_sorted[:k]`` receives the slot of each support token in token-id order. Returns
    ``(k_min, alpha, q_inner, iterations, loss)``.
    """
    index_k, pk_k, qk_k, k_min, alpha, q_inner, order = _support(p, q, n, k, blocks)
    for i in range(k):
        slot_of_sorted[order[i]] = i
    index[:k] = index_k
    pk[:k] = pk_k
    qk[:k] = qk_k
    iterations = 0
    loss = 0.0
    buffer = np.empty(k, dtype=np.int64)
    # inner system: the slots of H_min with p > 0, a reject competitor, no cap;
    # outer system: the slots outside H_min, no reject, cap OUTER_CAP
    for inner in (True, False):
        m = 0
        mass = 0.0
        for i in range(k):
            if _in_system(i, inner, k_min, pk):
                buffer[m] = i
                m += 1
                mass += qk[i]
        if m == 0:
            continue
        slots = buffer[:m]
        if inner:
            base, cap, u0 = q_inner - mass, np.inf, _inner_start(1.0 - alpha, mass, n)
        else:
            base, cap, u0 = q_inner, OUTER_CAP, 0.0
        su, sa, sloss, sit = _fit_system(qk[slots], base, n, inner, pk[slots], u0, cap, tol, max_iter)[:4]
        for j in range(m):
            u[slots[j]] = su[j]
            a[slots[j]] = sa[j]
        iterations = max(iterations, sit)
        loss += sloss
    return k_min, alpha, q_inner, iterations, loss


@_jit
def _solve_rows(
    P,
    Q,
    counts,
    blocks,
    index,
    pk,
    qk,
    u,
    a,
    slot_of_sorted,
    k_min,
    alpha,
    q_inner,
    iterations,
    loss,
    n,
    tol,
    max_iter,
):
    """:func:`_solve_row` for each row of (B, V) arrays (support sizes and block counts given),
    into (B, k_max) and (B,) outputs. Arrays first: :func:`_in_threads` hands it row blocks."""
    for b in range(P.shape[0]):
        k_min[b], alpha[b], q_inner[b], iterations[b], loss[b] = _solve_row(
            P[b],
            Q[b],
            n,
            counts[b],
            blocks[b],
            tol,
            max_iter,
            index[b],
            pk[b],
            qk[b],
            u[b],
            a[b],
            slot_of_sorted[b],
        )


@_jit
def _plan_parts(
    index,
    pk,
    a,
    counts,
    k_min,
    vocab_size,
    valid,
    inner,
    outer,
    inner_active,
    acceptance,
    accept_ratio,
    residual_on_support,
    sorted_ids,
    slot_of_sorted,
):
    """The plan's parts of each row (solver.py :func:`~multidraft.fast.solver.plan_parts`),
    into the given (B, k) and (B,) outputs; ``slot_of_sorted`` comes in holding each row's
    first ``counts[b]`` entries (from :func:`_solve_row`)."""
    B, k = index.shape
    for b in range(B):
        total = 0.0
        for i in range(k):
            valid[b, i] = i < counts[b]
            inner[b, i] = i < k_min[b]
            outer[b, i] = valid[b, i] and not inner[b, i]
            inner_active[b, i] = inner[b, i] and pk[b, i] > 0
            kept = min(a[b, i], pk[b, i])
            total += kept
            accept_ratio[b, i] = kept / a[b, i] if a[b, i] > 0 else 0.0
            residual_on_support[b, i] = max(pk[b, i] - kept, 0.0)
        acceptance[b] = total
        c = counts[b]
        for j in range(c):
            sorted_ids[b, j] = index[b, slot_of_sorted[b, j]]
        for j in range(c, k):  # padding slots last, in slot order, as torch.sort(stable=True)
            sorted_ids[b, j] = vocab_size
            slot_of_sorted[b, j] = j


#: Rows per thread below which a batch is solved on one thread (a thread hand-off costs tens
#: of microseconds; one row at k = 10 about 0.05 ms).
ROWS_PER_THREAD_MIN = 2
_POOL: dict = {}  # threads -> ThreadPoolExecutor, created on first use


def _in_threads(function, B: int, threads: int, arrays: tuple, scalars: tuple) -> None:
    """Run ``function(*row_slices_of_arrays, *scalars)`` on contiguous row blocks of a batch,
    on up to ``threads`` threads (the kernel releases the GIL: ``nogil``); every array's
    first axis has B rows and each block writes only its own rows."""
    threads = max(1, min(threads, B // ROWS_PER_THREAD_MIN))
    if threads == 1:
        function(*arrays, *scalars)
        return
    from concurrent.futures import ThreadPoolExecutor

    if threads not in _POOL:
        _POOL[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="multidraft-kernel")
    bounds = np.linspace(0, B, threads + 1).astype(np.int64)
    jobs = [
        _POOL[threads].submit(function, *(x[lo:hi] for x in arrays), *scalars)
        for lo, hi in zip(bounds[:-1], bounds[1:])
    ]
    for job in jobs:
        job.result()


def solve_rows(
    P: np.ndarray, Q: np.ndarray, n: int, tol: float, max_iter: int, threads: int = 1, blocks: np.ndarray | None = None
) -> dict:
    """Solve B problems on the CPU.

    Parameters
    ----------
    P, Q : (B, V) float64 C-contiguous numpy arrays (validated laws).
    n : int, tol : float, max_iter : int -- as in :func:`~multidraft.fast.solver.global_resolution`
        (``tol`` is the fit's per-system loss target).
    threads : int
        Threads that solve blocks of rows in parallel (one row is always solved by one thread,
        so the result does not depend on it).
    blocks : (B, ceil(V / SCAN_BLOCK)) int64, optional
        Q's entries > 0 per block of SCAN_BLOCK tokens, when the caller has them already
        (the validation pass over q counts them: ``multidraft.law_checks``); otherwise
        :func:`support_sizes` counts them in a pass of its own.

    Returns
    -------
    dict of numpy arrays, k = the largest support size: ``index``, ``p``, ``q``, ``u``, ``a``
    (B, k) (padding slots zero), ``counts``, ``k_min``, ``iterations`` (B,) int64 and
    ``alpha``, ``q_inner``, ``loss`` (B,) float64; and the plan's parts
    (:func:`~multidraft.fast.solver.plan_parts`): ``valid``, ``inner``, ``outer``,
    ``inner_active`` (B, k) bool, ``accept_ratio``, ``residual_on_support`` (B, k),
    ``sorted_ids``, ``slot_of_sorted`` (B, k) int64 and ``acceptance`` (B,).
    """
    keep_freed_memory()
    B = P.shape[0]
    shape = (B, -(-P.shape[1] // SCAN_BLOCK))
    if blocks is None:
        blocks = np.empty(shape, dtype=np.int64)
        counts = support_sizes(Q, blocks)
    elif blocks.shape != shape or blocks.dtype != np.int64:  # they index Q unchecked: refuse, never guess
        raise ValueError(f"solve_rows: blocks must be int64 of shape {shape}, got {blocks.dtype} {blocks.shape}")
    else:
        counts = blocks.sum(axis=1)
    k_max = max(int(counts.max()), 1)
    out = {
        name: np.zeros((B, k_max), dtype=np.int64 if name == "index" else np.float64)
        for name in ("index", "p", "q", "u", "a")
    }
    out["slot_of_sorted"] = np.empty((B, k_max), dtype=np.int64)
    out["counts"] = counts
    out.update({name: np.zeros(B, dtype=np.int64) for name in ("k_min", "iterations")})
    out.update({name: np.zeros(B) for name in ("alpha", "q_inner", "loss")})
    _in_threads(
        _solve_rows,
        B,
        threads,
        (P, Q, counts, blocks)
        + tuple(
            out[name]
            for name in (
                "index",
                "p",
                "q",
                "u",
                "a",
                "slot_of_sorted",
                "k_min",
                "alpha",
                "q_inner",
                "iterations",
                "loss",
            )
        ),
        (n, tol, max_iter),
    )
    out.update({name: np.empty((B, k_max), dtype=np.bool_) for name in ("valid", "inner", "outer", "inner_active")})
    out.update({name: np.empty((B, k_max)) for name in ("accept_ratio", "residual_on_support")})
    out["sorted_ids"] = np.empty((B, k_max), dtype=np.int64)
    out["acceptance"] = np.empty(B)
    _plan_parts(
        out["index"],
        out["p"],
        out["a"],
        counts,
        out["k_min"],
        P.shape[1],
        *(
            out[name]
            for name in (
                "valid",
                "inner",
                "outer",
                "inner_active",
                "acceptance",
                "accept_ratio",
                "residual_on_support",
                "sorted_ids",
                "slot_of_sorted",
            )
        ),
    )
    return out

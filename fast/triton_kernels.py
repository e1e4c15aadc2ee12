"""Triton kernels of global resolution: one program per row (or row system), float64.

The same algorithm as the torch path (:mod:`multidraft.fast.support`, :mod:`~multidraft.fast.race`,
:mod:`~multidraft.fast.fit`) and the compiled CPU kernel (:mod:`multidraft.fast.kernel`), as
five kernels that never synchronise with the host (docs/fast.md, "The Triton backend"):

* :func:`support_kernel` -- one pass over p and q per row: compacts the draft support
  ``{z : q_z > 0}`` in vocabulary order into a padded ``(B, KP)`` buffer, ``KP`` a
  compile-time bucket (a power of two > k), counts it, and sums p off the stored support;
* :func:`cut_kernel` -- the stable rank of the ratios ``p/q`` (counting comparisons in
  ``(KP, TILE)`` tiles), the sorted support, alpha* and ``H_min`` (maths.md section 2);
* :func:`fit_kernel` -- one program per (row, system): the damped projected Newton fit of
  the race utilities (maths.md section 6) with capped while loops (Newton ``max_iter``,
  line search ``LINE_SEARCH_STEPS``, CG ``CG_MAX_ITER``), the exact induced law at every
  iterate (maths.md section 5) and the matrix-free Hessian product for conjugate gradients;
* :func:`plan_kernel` -- the plan's parts (``sum min(a, p)``, ``min(a, p)/a``, the residual
  on the support) and the per-row status;
* :func:`sample_kernel` -- one program per draft tuple: draft lookup, the race, the accept
  test and, for a rejected draft only, the residual draw by inverse CDF in vocabulary order
  (one pass up to the drawn token); uniforms given, or 53-bit Philox uniforms from a seed
  held in a device tensor (so a CUDA graph replays with fresh numbers).

Exactness never depends on the caps: the law ``a`` handed to the plan is the exact law of
the final utilities (the last accepted evaluation), and the correction step (maths.md
section 4) makes every row exactly lossless; a row cut short by a cap shows a larger
``status.gap``.

Evaluation of the race without a sort. The breakpoints are the window starts ``u_i`` and
ends ``e_i = u_i + 1`` of the KP slots; padding slots (q = 0, u = 0: at least one, since
``KP > k``) supply the reject window's ends 0 and 1. The position of each breakpoint in the
sorted order is its rank under the total order (value, start before end, slot), counted in
tiles; the values and slope changes are scattered to those positions in a scratch buffer,
and cumulative sums over the sorted order give G, the per-piece integrals (Gauss-Legendre,
exact) and their prefix sums, read back at each window's two positions. Cost
O(KP^2 / threads) comparisons per evaluation.

Hessian product without a sort: with C the cumulative curvature, C is non-decreasing, so
the overlap integral of windows i and j is ``max(min(Ce_i, Ce_j) - max(Cs_i, Cs_j), 0)`` and
``(H x)_i = b_i x_i - q_i sum_j q_j x_j overlap_ij`` (race.py :class:`HessianOperator`, in
O(KP^2) flops instead of O(KP) after sorting). With ``MIXED=True`` that product runs in
float32 (for GPUs with slow float64); the evaluation, the loss and the final law stay float64.

Shapes: B rows, V vocabulary, KP slots; every buffer is C-contiguous. The kernels run under
``TRITON_INTERPRET=1`` on CPU tensors (how the tests run them without a GPU).
"""

from __future__ import annotations

import triton
import triton.language as tl

from .fit import (
    ARMIJO,
    BARRIER_EXPONENT_MAX,
    BARRIER_FLOOR,
    BARRIER_MIN_MOVE,
    CAP_TOL,
    CG_FINAL_SAFETY,
    CG_FORCING_MAX,
    CG_MAX_ITER,
    CG_RTOL,
    DAMPING_FLOOR,
    DAMPING_RELATIVE,
    LINE_SEARCH_STEPS,
    TINY,
)
from .support import OUTER_CAP, TIE_TOL

_ARMIJO = tl.constexpr(ARMIJO)
_BARRIER_EXPONENT_MAX = tl.constexpr(BARRIER_EXPONENT_MAX)
_BARRIER_FLOOR = tl.constexpr(BARRIER_FLOOR)
_BARRIER_MIN_MOVE = tl.constexpr(BARRIER_MIN_MOVE)
_CAP_TOL = tl.constexpr(CAP_TOL)
_CG_FINAL_SAFETY = tl.constexpr(CG_FINAL_SAFETY)
_CG_FORCING_MAX = tl.constexpr(CG_FORCING_MAX)
_CG_MAX_ITER = tl.constexpr(CG_MAX_ITER)
_CG_RTOL = tl.constexpr(CG_RTOL)
_DAMPING_FLOOR = tl.constexpr(DAMPING_FLOOR)
_DAMPING_RELATIVE = tl.constexpr(DAMPING_RELATIVE)
_LINE_SEARCH_STEPS = tl.constexpr(LINE_SEARCH_STEPS)
_TINY = tl.constexpr(TINY)
_OUTER_CAP = tl.constexpr(OUTER_CAP)
_TIE_TOL = tl.constexpr(TIE_TOL)

#: Scratch float64 entries per fit program, in units of KP (see :func:`fit_kernel`).
SCRATCH_PER_SLOT = 16
_SCRATCH = tl.constexpr(SCRATCH_PER_SLOT)
# offsets of the scratch regions, in units of KP
_U = tl.constexpr(0)  # utilities (KP), read back in tiles by the rank count
_SV = tl.constexpr(1)  # sorted breakpoint values (2 KP)
_SD = tl.constexpr(3)  # sorted slope changes (2 KP)
_LC = tl.constexpr(5)  # cumulative law integral at the breakpoints (2 KP)
_CC = tl.constexpr(7)  # cumulative curvature at the breakpoints (2 KP)
_ED = tl.constexpr(9)  # G level, then G^(n-1) R, at the breakpoints (2 KP)
_HCS = tl.constexpr(11)  # Hessian product: C at window starts (KP)
_HCE = tl.constexpr(12)  # C at window ends (KP)
_HY = tl.constexpr(13)  # q * x (KP)


@triton.jit
def _powi(x, e):
    """``x ** e`` for an integer ``e`` (runtime, <= 0 gives 1) by repeated multiplication."""
    out = tl.full(x.shape, 1.0, x.dtype)
    for _ in range(0, e):
        out = out * x
    return out


@triton.jit
def _uniform53(seed, offset):
    """A float64 uniform on [0, 1) with 53 random bits, from two Philox words at ``offset``."""
    w0, w1, _w2, _w3 = tl.randint4x(seed, offset)
    hi = (w0 >> 5).to(tl.int64)  # 27 bits
    lo = (w1 >> 6).to(tl.int64)  # 26 bits
    return (hi * 67108864 + lo).to(tl.float64) * 1.1102230246251565e-16  # 2^-53


# ----------------------------------------------------------------------------- K1 support
@triton.jit
def support_kernel(
    p_ptr,
    q_ptr,
    index_ptr,
    pk_ptr,
    qk_ptr,
    count_ptr,
    p_off_ptr,
    V,
    p_stride,
    q_stride,
    KP: tl.constexpr,
    BLOCK_V: tl.constexpr,
):
    """One pass over row ``b`` of p and q (rows ``p_stride``, ``q_stride`` apart, entries contiguous).

    Writes the first ``KP - 1`` tokens with ``q > 0`` in vocabulary order to ``index``, ``pk``,
    ``qk`` (B, KP) (slots past them are left as they were), the support size to ``count`` (B,)
    int32 (it may exceed ``KP - 1``: the caller flags the row), and to ``p_off`` (B,) the mass
    of p on tokens not stored (q = 0, or past the bucket).
    """
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK_V)
    count = tl.sum(tl.zeros([BLOCK_V], tl.int32), axis=0)
    p_off = tl.sum(tl.zeros([BLOCK_V], tl.float64), axis=0)
    for start in range(0, V, BLOCK_V):
        z = start + offs
        inside = z < V
        qv = tl.load(q_ptr + row * q_stride + z, mask=inside, other=0.0)
        pv = tl.load(p_ptr + row * p_stride + z, mask=inside, other=0.0)
        drafted = qv > 0
        pos = count + tl.cumsum(drafted.to(tl.int32), axis=0) - 1
        keep = drafted & (pos < KP - 1)
        tl.store(index_ptr + row * KP + pos, z.to(tl.int64), mask=keep)
        tl.store(pk_ptr + row * KP + pos, pv, mask=keep)
        tl.store(qk_ptr + row * KP + pos, qv, mask=keep)
        p_off += tl.sum(tl.where(keep, 0.0, pv), axis=0)
        count += tl.sum(drafted.to(tl.int32), axis=0)
    tl.store(count_ptr + row, count)
    tl.store(p_off_ptr + row, p_off)


# ----------------------------------------------------------------------------- K2 cut
@triton.jit
def cut_kernel(
    index_ptr,
    pk_ptr,
    qk_ptr,
    count_ptr,
    sidx_ptr,
    sp_ptr,
    sq_ptr,
    sorted_ids_ptr,
    slot_ptr,
    k_min_ptr,
    alpha_ptr,
    q_inner_ptr,
    n,
    V,
    KP: tl.constexpr,
    TILE: tl.constexpr,
):
    """Sort row ``b``'s support by p/q (stable) and find alpha* and ``H_min`` (support.py
    :func:`~multidraft.fast.support.draft_support`).

    Writes the sorted support ``sidx``, ``sp``, ``sq`` (B, KP) (padding: index 0, p = q = 0),
    the plan's lookup tables ``sorted_ids`` (the support in id order, padding V) and
    ``slot_of_sorted`` (their slots; padding slot j for entry j), ``k_min`` (B,) int32
    (``|H_min|``; 0 for a row whose support overflows the bucket), ``alpha`` (B,) (alpha*;
    1.0, an upper bound, for an overflowing row) and ``q_inner`` (B,) (``q(H_min)``).
    """
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, KP)
    count = tl.load(count_ptr + row)
    overflow = count > KP - 1
    k = tl.minimum(count, KP - 1)
    valid = offs < k
    pk = tl.load(pk_ptr + row * KP + offs, mask=valid, other=0.0)
    qk = tl.load(qk_ptr + row * KP + offs, mask=valid, other=1.0)
    ids = tl.load(index_ptr + row * KP + offs, mask=valid, other=0)
    ratio = tl.where(valid, pk / qk, float("inf"))
    qk = tl.where(valid, qk, 0.0)
    rank = tl.zeros([KP], tl.int32)
    for t0 in range(0, KP, TILE):
        j = t0 + tl.arange(0, TILE)
        vj = j < k
        rj = tl.where(
            vj,
            tl.load(pk_ptr + row * KP + j, mask=vj, other=0.0) / tl.load(qk_ptr + row * KP + j, mask=vj, other=1.0),
            float("inf"),
        )
        before = (rj[None, :] < ratio[:, None]) | ((rj[None, :] == ratio[:, None]) & (j[None, :] < offs[:, None]))
        rank += tl.sum(before.to(tl.int32), axis=1)
    tl.store(sidx_ptr + row * KP + rank, ids)
    tl.store(sp_ptr + row * KP + rank, pk)
    tl.store(sq_ptr + row * KP + rank, qk)
    tl.store(sorted_ids_ptr + row * KP + offs, tl.where(valid, ids, V))
    tl.store(slot_ptr + row * KP + offs, rank.to(tl.int64))
    tl.debug_barrier()
    sp = tl.load(sp_ptr + row * KP + offs)
    sq = tl.load(sq_ptr + row * KP + offs)
    nxt = offs + 1 < k
    sp1 = tl.load(sp_ptr + row * KP + offs + 1, mask=nxt, other=0.0)
    sq1 = tl.load(sq_ptr + row * KP + offs + 1, mask=nxt, other=1.0)
    sr = tl.where(valid, sp / tl.where(valid, sq, 1.0), float("inf"))
    sr1 = tl.where(nxt, sp1 / sq1, float("inf"))
    Q = tl.cumsum(sq, axis=0)  # q mass of slots [0, j]
    P = tl.cumsum(sp, axis=0)
    # boundary after slot j (slots [0, j] form a prefix of whole tie groups), j + 1 = prefix size
    boundary = valid & ((offs == k - 1) | (sr1 != sr))
    f = tl.where(boundary, _powi(tl.minimum(Q, 1.0), n) - P, float("-inf"))
    best = tl.maximum(tl.max(f, axis=0), 0.0)  # the empty prefix has f = 0
    hit = boundary & (f >= best - _TIE_TOL)
    k_min = tl.where(0.0 >= best - _TIE_TOL, 0, tl.min(tl.where(hit, offs + 1, KP), axis=0))
    k_min = tl.where(overflow, 0, k_min)
    q_inner = tl.minimum(tl.sum(tl.where(offs < k_min, sq, 0.0), axis=0), 1.0)
    tl.store(k_min_ptr + row, k_min)
    tl.store(alpha_ptr + row, tl.where(overflow, 1.0, 1.0 - best))
    tl.store(q_inner_ptr + row, q_inner)


# ----------------------------------------------------------------------------- the race
@triton.jit
def _evaluate(u, qs, base, total, n, reject, ws, x_ptr, w_ptr, nodes, KP: tl.constexpr, TILE: tl.constexpr):
    """Exact induced law ``a`` (KP,), potential ``Psi`` and the Hessian's parts at utilities u.

    Returns ``(a, psi, Cs, Ce, boundary)``: C the cumulative curvature ``n (n-1) int G^(n-2) R``
    at each window's start and end, ``boundary = n q [G^(n-1) R]_start^end`` (race.py
    :func:`~multidraft.fast.race.evaluate` and :class:`~multidraft.fast.race.HessianOperator`).
    ``ws`` points to this program's scratch (module docstring); padding slots have q = 0.
    """
    offs = tl.arange(0, KP)
    offs2 = tl.arange(0, 2 * KP)
    e = u + 1.0
    tl.debug_barrier()
    tl.store(ws + _U * KP + offs, u)
    tl.debug_barrier()
    rs = tl.zeros([KP], tl.int32)
    re = tl.zeros([KP], tl.int32)
    for t0 in range(0, KP, TILE):
        j = t0 + tl.arange(0, TILE)
        uj = tl.load(ws + _U * KP + j)
        ej = uj + 1.0
        before = j[None, :] < offs[:, None]
        ui = u[:, None]
        ei = e[:, None]
        rs += tl.sum(
            ((uj[None, :] < ui) | ((uj[None, :] == ui) & before)).to(tl.int32) + (ej[None, :] < ui).to(tl.int32), axis=1
        )
        re += tl.sum(
            (uj[None, :] <= ei).to(tl.int32) + ((ej[None, :] < ei) | ((ej[None, :] == ei) & before)).to(tl.int32),
            axis=1,
        )
    tl.store(ws + _SV * KP + rs, u)
    tl.store(ws + _SV * KP + re, e)
    tl.store(ws + _SD * KP + rs, qs)
    tl.store(ws + _SD * KP + re, -qs)
    tl.debug_barrier()
    last = offs2 + 1 < 2 * KP
    val = tl.load(ws + _SV * KP + offs2)
    val1 = tl.load(ws + _SV * KP + offs2 + 1, mask=last, other=0.0)
    width = tl.where(last, val1 - val, 0.0)
    slope = tl.cumsum(tl.load(ws + _SD * KP + offs2), axis=0)  # slope of G on the piece after each point
    level1 = base + tl.cumsum(slope * width, axis=0)  # G's level at the next point
    tl.store(ws + _ED * KP + offs2 + 1, level1, mask=last)
    tl.store(ws + _ED * KP + offs2, base + 0.0 * val, mask=offs2 == 0)
    tl.debug_barrier()
    G = tl.minimum(tl.maximum(tl.load(ws + _ED * KP + offs2), 0.0), total)
    G1 = tl.minimum(tl.maximum(level1, 0.0), total)
    R = tl.where(reject, tl.minimum(tl.maximum(val, 0.0), 1.0), 1.0)
    R1 = tl.where(reject, tl.minimum(tl.maximum(val1, 0.0), 1.0), 1.0)
    law = tl.zeros([2 * KP], tl.float64)
    curv = tl.zeros([2 * KP], tl.float64)
    top = tl.zeros([2 * KP], tl.float64)
    for node in range(0, nodes):
        xn = tl.load(x_ptr + node)
        wn = tl.load(w_ptr + node)
        g = G + (G1 - G) * xn
        r = (R + (R1 - R) * xn) * wn
        g_curv = _powi(g, n - 2)
        g_law = tl.where(n >= 2, g_curv * g, 1.0)
        curv += tl.where(n >= 2, g_curv, 0.0) * r
        law += g_law * r
        top += g_law * g * r
    piece = width > 0.0
    law_c = tl.cumsum(tl.where(piece, law * width, 0.0), axis=0)
    curv_c = tl.cumsum(tl.where(piece, curv * width, 0.0), axis=0) * (n * (n - 1))
    psi_top = tl.sum(tl.where(piece, top * width, 0.0), axis=0)
    edge = _powi(G, n - 1) * R
    F = edge * G
    psi = (
        tl.sum(tl.where(offs2 == 2 * KP - 1, val * F, 0.0), axis=0)
        - tl.sum(tl.where(offs2 == 0, val * F, 0.0), axis=0)
        - psi_top
    )
    tl.debug_barrier()
    tl.store(ws + _LC * KP + offs2 + 1, law_c, mask=last)
    tl.store(ws + _LC * KP + offs2, 0.0 * val, mask=offs2 == 0)
    tl.store(ws + _CC * KP + offs2 + 1, curv_c, mask=last)
    tl.store(ws + _CC * KP + offs2, 0.0 * val, mask=offs2 == 0)
    tl.store(ws + _ED * KP + offs2, edge)
    tl.debug_barrier()
    a = n * qs * (tl.load(ws + _LC * KP + re) - tl.load(ws + _LC * KP + rs))
    Cs = tl.load(ws + _CC * KP + rs)
    Ce = tl.load(ws + _CC * KP + re)
    boundary = n * qs * (tl.load(ws + _ED * KP + re) - tl.load(ws + _ED * KP + rs))
    return a, psi, Cs, Ce, boundary


@triton.jit
def _hessian_product(x, qs, Cs, Ce, boundary, ws, KP: tl.constexpr, TILE: tl.constexpr, MIXED: tl.constexpr):
    """``H x`` (KP,) with ``(H x)_i = b_i x_i - q_i sum_j q_j x_j max(min(Ce_i, Ce_j) - max(Cs_i, Cs_j), 0)``;
    Cs and Ce must be in the scratch (:func:`_cg`). ``MIXED``: the sum in float32."""
    offs = tl.arange(0, KP)
    tl.debug_barrier()
    tl.store(ws + _HY * KP + offs, qs * x)
    tl.debug_barrier()
    if MIXED:
        acc32 = tl.zeros([KP], tl.float32)
        Cs32 = Cs.to(tl.float32)
        Ce32 = Ce.to(tl.float32)
        for t0 in range(0, KP, TILE):
            j = t0 + tl.arange(0, TILE)
            yj = tl.load(ws + _HY * KP + j).to(tl.float32)
            csj = tl.load(ws + _HCS * KP + j).to(tl.float32)
            cej = tl.load(ws + _HCE * KP + j).to(tl.float32)
            overlap = tl.maximum(tl.minimum(Ce32[:, None], cej[None, :]) - tl.maximum(Cs32[:, None], csj[None, :]), 0.0)
            acc32 += tl.sum(yj[None, :] * overlap, axis=1)
        acc = acc32.to(tl.float64)
    else:
        acc = tl.zeros([KP], tl.float64)
        for t0 in range(0, KP, TILE):
            j = t0 + tl.arange(0, TILE)
            yj = tl.load(ws + _HY * KP + j)
            csj = tl.load(ws + _HCS * KP + j)
            cej = tl.load(ws + _HCE * KP + j)
            overlap = tl.maximum(tl.minimum(Ce[:, None], cej[None, :]) - tl.maximum(Cs[:, None], csj[None, :]), 0.0)
            acc += tl.sum(yj[None, :] * overlap, axis=1)
    return boundary * x - qs * acc


@triton.jit
def _cg(
    grad, free, qs, Cs, Ce, boundary, diag, loss, tol, ws, KP: tl.constexpr, TILE: tl.constexpr, MIXED: tl.constexpr
):
    """Jacobi-preconditioned CG on ``(H_ff + Lambda) d = -g`` (fit.py :func:`_newton_step`), stopped
    at the relative residual ``max(CG_RTOL, min(CG_FORCING_MAX, loss), CG_FINAL_SAFETY tol / loss)``
    or after ``CG_MAX_ITER`` iterations. ``diag`` = ``|H_ii|``. Returns d (0 off the free slots)."""
    offs = tl.arange(0, KP)
    damping = diag * _DAMPING_RELATIVE + tl.max(diag, axis=0) * _DAMPING_FLOOR + _TINY
    precond = tl.where(free, 1.0 / (diag + damping), 1.0)
    tl.debug_barrier()
    tl.store(ws + _HCS * KP + offs, Cs)
    tl.store(ws + _HCE * KP + offs, Ce)
    b = -grad
    x = tl.zeros([KP], tl.float64)
    r = b
    z = precond * r
    d = z
    rz = tl.sum(r * z, axis=0)
    rr = tl.sum(r * r, axis=0)
    rtol = tl.maximum(
        tl.maximum(tl.minimum(loss, _CG_FORCING_MAX), _CG_RTOL), tol * _CG_FINAL_SAFETY / tl.maximum(loss, _TINY)
    )
    stop = rtol * tl.sqrt(rr)
    it = 0
    while (it < _CG_MAX_ITER) & (tl.sqrt(rr) > stop):
        Ad = _hessian_product(d, qs, Cs, Ce, boundary, ws, KP, TILE, MIXED)
        Ad = tl.where(free, Ad + damping * d, 0.0)
        dAd = tl.sum(d * Ad, axis=0)
        alpha = tl.where(dAd > 0, rz / tl.where(dAd > 0, dAd, 1.0), 0.0)
        x += alpha * d
        r -= alpha * Ad
        z = precond * r
        rz_new = tl.sum(r * z, axis=0)
        rr = tl.sum(r * r, axis=0)
        beta = tl.where(rz > 0, rz_new / tl.where(rz > 0, rz, 1.0), 0.0)
        d = z + beta * d
        rz = rz_new
        it += 1
    return x


@triton.jit
def _loss(a, t, at_cap, live):
    """``sum |a - t|`` over free live slots plus ``sum (a - t)+`` over capped ones (fit.py :func:`_loss`)."""
    diff = a - t
    return tl.sum(tl.where(live, tl.where(at_cap, tl.maximum(diff, 0.0), tl.abs(diff)), 0.0), axis=0)


# ----------------------------------------------------------------------------- K2 fit
@triton.jit
def fit_kernel(
    sp_ptr,
    sq_ptr,
    count_ptr,
    k_min_ptr,
    alpha_ptr,
    q_inner_ptr,
    u_ptr,
    a_ptr,
    iter_ptr,
    loss_ptr,
    ws_ptr,
    x_ptr,
    w_ptr,
    nodes,
    n,
    tol_ptr,
    max_iter,
    KP: tl.constexpr,
    TILE: tl.constexpr,
    MIXED: tl.constexpr,
):
    """Fit one system of row ``b``: program (b, 0) the inner system (slots of ``H_min`` with
    p > 0, a reject competitor, no cap), program (b, 1) the outer one (slots past ``H_min``, no
    reject, cap ``OUTER_CAP``) -- fit.py :func:`~multidraft.fast.fit.fit_race` for one race.

    Writes u and a on the system's slots of ``u``/``a`` (B, KP) (inner: slots < k_min; outer:
    the others, padding included, as 0), and ``iterations`` and ``loss`` at ``(b, system)`` of
    (B, 2) buffers. ``tol`` (the per-system loss target) is read from a float64 tensor: a
    Python float argument would arrive as float32. ``ws`` holds ``SCRATCH_PER_SLOT * KP`` float64 per program.
    """
    row = tl.program_id(0).to(tl.int64)
    system = tl.program_id(1)
    tol = tl.load(tol_ptr)
    inner = system == 0
    offs = tl.arange(0, KP)
    ws = ws_ptr + (row * 2 + system) * (_SCRATCH * KP)
    count = tl.load(count_ptr + row)
    k = tl.minimum(count, KP - 1)
    k_min = tl.load(k_min_ptr + row)
    alpha = tl.load(alpha_ptr + row)
    q_inner = tl.load(q_inner_ptr + row)
    p = tl.load(sp_ptr + row * KP + offs)
    q = tl.load(sq_ptr + row * KP + offs)
    valid = offs < k
    in_system = tl.where(inner, (offs < k_min) & (p > 0), valid & (offs >= k_min))
    live = in_system & (q > 0) & (count <= KP - 1)
    qs = tl.where(live, q, 0.0)
    t = tl.where(live, p, 0.0)
    mass = tl.sum(qs, axis=0)
    base = tl.where(inner, q_inner - mass, q_inner)
    total = base + mass
    reject = inner
    cap = tl.where(inner, tl.full([], float("inf"), tl.float64), tl.full([], _OUTER_CAP, tl.float64))
    ratio = tl.minimum(tl.maximum((n + 1) * (1.0 - alpha) / tl.where(mass > 0, _powi(mass, n), 1.0), 0.0), 1.0)
    root = tl.where(ratio > 0, tl.exp(tl.log(tl.where(ratio > 0, ratio, 1.0)) / (n + 1)), 0.0)
    u0 = tl.where(inner, tl.where(mass > 0, 1.0 - root, 0.0), 0.0)
    u = tl.where(live, tl.minimum(u0, cap), 0.0)
    a, psi, Cs, Ce, bnd = _evaluate(u, qs, base, total, n, reject, ws, x_ptr, w_ptr, nodes, KP, TILE)
    value = psi - tl.sum(t * u, axis=0)
    at_cap = live & (u >= cap - _CAP_TOL) & (a < t)
    loss = _loss(a, t, at_cap, live)
    iterations = 0
    going = loss > tol
    while going & (iterations < max_iter):
        iterations += 1
        free = live & ~at_cap
        grad = tl.where(free, a - t, 0.0)
        diag = tl.abs(bnd - qs * qs * (Ce - Cs))
        step = _cg(grad, free, qs, Cs, Ce, bnd, diag, loss, tol, ws, KP, TILE, MIXED)
        # the line search's path, bent near the reject barrier (fit.py barrier_exponent, along_path)
        v = u + 1.0
        bent = reject & (v > 0) & (a > 0) & (diag > 0) & (tl.abs(step) > v * _BARRIER_MIN_MOVE)
        expo = tl.where(
            bent, tl.minimum(tl.maximum(v * diag / tl.where(bent, a, 1.0), 1.0), _BARRIER_EXPONENT_MAX), 1.0
        )
        vb = tl.where(bent, v, 1.0)
        scale = tl.full([], 1.0, tl.float64)
        tries = 0
        accepted = loss < 0.0  # False, as a tensor
        while (~accepted) & (tries < _LINE_SEARCH_STEPS):
            grow = tl.maximum(1.0 + expo * scale * step / vb, _BARRIER_FLOOR)
            curved = vb * tl.exp(tl.log(grow) / expo) - 1.0
            trial = tl.minimum(tl.where(bent, curved, u + scale * step), cap)
            trial = tl.where(live, trial, u)
            decrease = tl.sum(grad * (trial - u), axis=0)
            ta, tpsi, tCs, tCe, tbnd = _evaluate(trial, qs, base, total, n, reject, ws, x_ptr, w_ptr, nodes, KP, TILE)
            t_value = tpsi - tl.sum(t * trial, axis=0)
            ok = (t_value <= value + decrease * _ARMIJO) | (_loss(ta, t, at_cap, live) < 0.5 * loss)
            u = tl.where(ok, trial, u)
            a = tl.where(ok, ta, a)
            Cs = tl.where(ok, tCs, Cs)
            Ce = tl.where(ok, tCe, Ce)
            bnd = tl.where(ok, tbnd, bnd)
            value = tl.where(ok, t_value, value)
            accepted = ok
            scale = tl.where(ok, scale, scale * 0.5)
            tries += 1
        at_cap = live & (u >= cap - _CAP_TOL) & (a < t)
        loss = _loss(a, t, at_cap, live)
        going = (loss > tol) & accepted  # no step decreases D any more: numerical floor
    mine = tl.where(inner, offs < k_min, offs >= k_min)
    tl.store(u_ptr + row * KP + offs, tl.where(live, u, 0.0), mask=mine)
    tl.store(a_ptr + row * KP + offs, tl.where(live, a, 0.0), mask=mine)
    tl.store(iter_ptr + row * 2 + system, iterations)
    tl.store(loss_ptr + row * 2 + system, loss)


# ----------------------------------------------------------------------------- plan
@triton.jit
def plan_kernel(
    sp_ptr,
    a_ptr,
    count_ptr,
    sys_iter_ptr,
    sys_loss_ptr,
    accept_ratio_ptr,
    residual_ptr,
    acceptance_ptr,
    iter_ptr,
    loss_ptr,
    KP: tl.constexpr,
):
    """The plan's parts of row ``b`` (solver.py :func:`~multidraft.fast.solver.plan_parts`):
    ``accept_ratio = min(a, p)/a`` (0 where a = 0), ``residual_on_support = (p - min(a, p))+``
    (B, KP), ``acceptance = sum min(a, p)``, and the status: iterations (the larger system's),
    loss (the sum; +inf for a row whose support overflows the bucket)."""
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, KP)
    p = tl.load(sp_ptr + row * KP + offs)
    a = tl.load(a_ptr + row * KP + offs)
    kept = tl.minimum(a, p)
    tl.store(accept_ratio_ptr + row * KP + offs, tl.where(a > 0, kept / tl.where(a > 0, a, 1.0), 0.0))
    tl.store(residual_ptr + row * KP + offs, tl.maximum(p - kept, 0.0))
    tl.store(acceptance_ptr + row, tl.sum(kept, axis=0))
    overflow = tl.load(count_ptr + row) > KP - 1
    tl.store(iter_ptr + row, tl.maximum(tl.load(sys_iter_ptr + row * 2), tl.load(sys_iter_ptr + row * 2 + 1)))
    loss = tl.load(sys_loss_ptr + row * 2) + tl.load(sys_loss_ptr + row * 2 + 1)
    tl.store(loss_ptr + row, tl.where(overflow, float("inf"), loss))


# ----------------------------------------------------------------------------- K3 sample
@triton.jit
def _lookup(ids_ptr, sorted_ids, slots, m, j, n):
    """Draft j of tuple m: ``(token, found, slot)`` by one comparison against the row's support ids."""
    token = tl.load(ids_ptr + m * n + j)
    match = sorted_ids == token
    found = tl.max(match.to(tl.int32), axis=0) > 0
    slot = tl.sum(tl.where(match, slots, 0), axis=0)
    return token, found, slot


@triton.jit
def sample_kernel(
    ids_ptr,
    rows_ptr,
    sorted_ids_ptr,
    slot_ptr,
    k_min_ptr,
    count_ptr,
    sp_ptr,
    u_ptr,
    accept_ratio_ptr,
    residual_ptr,
    p_off_ptr,
    p_ptr,
    q_ptr,
    p_stride,
    q_stride,
    V,
    n,
    noise_ptr,
    seed_ptr,
    tokens_ptr,
    accepted_ptr,
    KP: tl.constexpr,
    BLOCK_V: tl.constexpr,
    GIVEN: tl.constexpr,
):
    """One verification step for draft tuple m (solver.py :meth:`~multidraft.fast.solver.Plan.sample`).

    ``ids`` (M, n) int64 drafts, ``rows`` (M,) int64 the plan row of each tuple. Uniforms: with
    ``GIVEN``, ``noise`` (M, n + 3) float64 (n draft keys, the reject key, the accept test, the
    residual draw); else 53-bit Philox uniforms from the int64 seed at ``seed_ptr`` at offsets
    ``m (n + 3) + j``. The race: draft j of token z takes part (outer drafts if any, else
    inner drafts with p > 0) with key ``u_z + U_j``, the reject competitor (no outer draft) with
    ``U_n``; the winner c is kept if ``U_(n+1) < min(a_c, p_c)/a_c``; otherwise the output is the
    first token, in vocabulary order, whose running residual sum exceeds ``U_(n+2)`` times the
    residual's total (``p_off + sum residual_on_support``; p itself where that total is 0).
    Writes ``tokens`` (M,) int64 and ``accepted`` (M,) int8.
    """
    m = tl.program_id(0).to(tl.int64)
    row = tl.load(rows_ptr + m)
    offs = tl.arange(0, KP)
    sorted_ids = tl.load(sorted_ids_ptr + row * KP + offs)
    slots = tl.load(slot_ptr + row * KP + offs)
    k_min = tl.load(k_min_ptr + row)
    k = tl.minimum(tl.load(count_ptr + row), KP - 1)
    any_outer = k_min < 0  # False, as a tensor
    for j in range(0, n):
        token, found, slot = _lookup(ids_ptr, sorted_ids, slots, m, j, n)
        any_outer = any_outer | (found & (slot >= k_min))
    best = tl.full([], float("-inf"), tl.float64)
    winner = 0
    for j in range(0, n):
        token, found, slot = _lookup(ids_ptr, sorted_ids, slots, m, j, n)
        p_slot = tl.load(sp_ptr + row * KP + slot)
        takes_part = found & tl.where(any_outer, slot >= k_min, (slot < k_min) & (p_slot > 0))
        if GIVEN:
            noise = tl.load(noise_ptr + m * (n + 3) + j)
        else:
            noise = _uniform53(tl.load(seed_ptr), m * (n + 3) + j)
        key = tl.where(takes_part, tl.load(u_ptr + row * KP + slot) + noise, float("-inf"))
        better = key > best
        winner = tl.where(better, j, winner)
        best = tl.where(better, key, best)
    if GIVEN:
        reject_key = tl.load(noise_ptr + m * (n + 3) + n)
        accept_u = tl.load(noise_ptr + m * (n + 3) + n + 1)
        residual_u = tl.load(noise_ptr + m * (n + 3) + n + 2)
    else:
        seed = tl.load(seed_ptr)
        reject_key = _uniform53(seed, m * (n + 3) + n)
        accept_u = _uniform53(seed, m * (n + 3) + n + 1)
        residual_u = _uniform53(seed, m * (n + 3) + n + 2)
    winner = tl.where((~any_outer) & (reject_key > best), n, winner)
    w = tl.minimum(winner, n - 1)
    token, found, slot = _lookup(ids_ptr, sorted_ids, slots, m, w, n)
    keep = tl.where(found, tl.load(accept_ratio_ptr + row * KP + slot), 0.0)
    accepted = (winner < n) & (accept_u < keep)
    out = token
    if ~accepted:
        valid = offs < k
        on_support = tl.sum(tl.where(valid, tl.load(residual_ptr + row * KP + offs), 0.0), axis=0)
        total = tl.load(p_off_ptr + row) + on_support
        use_residual = total > 0
        total = tl.where(
            total <= 0,
            tl.load(p_off_ptr + row) + tl.sum(tl.where(valid, tl.load(sp_ptr + row * KP + offs), 0.0), axis=0),
            total,
        )
        target = residual_u * total
        zs = tl.arange(0, BLOCK_V)
        running = total * 0.0
        count = k * 0
        start = 0
        drawn = -1
        last = -1
        while (drawn < 0) & (start < V):
            z = start + zs
            inside = z < V
            pv = tl.load(p_ptr + row * p_stride + z, mask=inside, other=0.0)
            qv = tl.load(q_ptr + row * q_stride + z, mask=inside, other=0.0)
            drafted = qv > 0
            rank = count + tl.cumsum(drafted.to(tl.int32), axis=0) - 1  # the entry's place in id order
            stored = drafted & (rank < k)
            slot_z = tl.load(slot_ptr + row * KP + rank, mask=stored, other=0)
            res = tl.load(residual_ptr + row * KP + slot_z, mask=stored, other=0.0)
            value = tl.where(stored, tl.where(use_residual, res, pv), pv)
            cum = running + tl.cumsum(value, axis=0)
            hit = inside & (cum > target)
            drawn = tl.min(tl.where(hit, z, V + BLOCK_V), axis=0)
            drawn = tl.where(drawn < V, drawn, -1)
            last = tl.maximum(last, tl.max(tl.where(inside & (value > 0), z, -1), axis=0))
            running = running + tl.sum(value, axis=0)
            count += tl.sum(drafted.to(tl.int32), axis=0)
            start += BLOCK_V
        out = tl.where(drawn >= 0, drawn, tl.where(last >= 0, last, V - 1)).to(tl.int64)
    tl.store(tokens_ptr + m, out)
    tl.store(accepted_ptr + m, accepted.to(tl.int8))


# ----------------------------------------------------------------------------- probes (tests)
@triton.jit
def evaluate_kernel(
    u_ptr,
    q_ptr,
    base_ptr,
    reject_ptr,
    a_ptr,
    psi_ptr,
    cs_ptr,
    ce_ptr,
    bnd_ptr,
    hx_ptr,
    x_ptr,
    ws_ptr,
    nodes_x_ptr,
    nodes_w_ptr,
    nodes,
    n,
    KP: tl.constexpr,
    TILE: tl.constexpr,
    MIXED: tl.constexpr,
):
    """:func:`_evaluate` and :func:`_hessian_product` of race ``b`` (u, q, x (B, KP); base (B,);
    reject (B,) int8), for testing them against race.py: writes a, Cs, Ce, boundary, H x (B, KP)
    and psi (B,)."""
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, KP)
    ws = ws_ptr + row * (_SCRATCH * KP)
    u = tl.load(u_ptr + row * KP + offs)
    qs = tl.load(q_ptr + row * KP + offs)
    base = tl.load(base_ptr + row)
    reject = tl.load(reject_ptr + row) != 0
    a, psi, Cs, Ce, bnd = _evaluate(
        u, qs, base, base + tl.sum(qs, axis=0), n, reject, ws, nodes_x_ptr, nodes_w_ptr, nodes, KP, TILE
    )
    tl.debug_barrier()
    tl.store(ws + _HCS * KP + offs, Cs)
    tl.store(ws + _HCE * KP + offs, Ce)
    hx = _hessian_product(tl.load(x_ptr + row * KP + offs), qs, Cs, Ce, bnd, ws, KP, TILE, MIXED)
    tl.store(a_ptr + row * KP + offs, a)
    tl.store(cs_ptr + row * KP + offs, Cs)
    tl.store(ce_ptr + row * KP + offs, Ce)
    tl.store(bnd_ptr + row * KP + offs, bnd)
    tl.store(hx_ptr + row * KP + offs, hx)
    tl.store(psi_ptr + row, psi)

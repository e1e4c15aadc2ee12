"""Fitting race utilities to target amounts: a damped, projected Newton method (batched).

For a race (see :mod:`multidraft.fast.race`) with draft masses q, baseline mass and
optional reject competitor, we look for utilities u such that the induced law a(u) meets
the targets t:

    minimise  D(u) = Psi(u) - t . u      subject to  u_i <= cap_i                  (2)

D is convex with gradient ``a(u) - t``. At a minimiser, ``a_i = t_i`` for every token
below its cap and ``a_i <= t_i`` for tokens at the cap (KKT). The inner system of global
resolution uses ``t = p`` and no cap (every inner token must receive exactly p_i); the
outer system uses ``t = p`` with a common cap, so tokens with slack sit at the cap and
receive less than p_i.

Each iteration solves ``(H_ff + Lambda) d = -g_f`` (Lambda a small diagonal damping) on the
free tokens (not at the cap with a gradient pushing upwards), moves along a path from u with
tangent d, projected on the box, and halves the step s until D decreases (Armijo).
Convergence is declared per row on the acceptance loss ``sum_i |a_i - t_i|`` over free
tokens plus ``sum_i (a_i - t_i)+`` over capped ones.

The path is the straight line ``u + s d`` except near the reject barrier. In a race with a
reject competitor, a token whose window ends at ``u_i + 1 = v_i`` just above 0 wins with
probability ``a_i ~ c v_i^k`` (k = 2 where G > 0: ``n q_i int_0^v G^(n-1) s ds``), and Newton
on a power law only shrinks v by the factor ``1 - 1/k`` per step: tokens of tiny p, whose
utilities must fall from the common start to near -1, took one Newton iteration per halving
of v. The path instead bends such tokens along ``v_i(s) = v_i (1 + k_i s d_i / v_i)^(1/k_i)``,
with ``k_i = v_i H_ii / a_i`` (the local log-log slope, clamped to [1, 2]): it solves a pure
power law in one step, its tangent at s = 0 is d (so the Armijo test and the descent
property are those of Newton's method), and it is the straight line when k_i = 1 (what it
saves, measured: docs/fast.md, "Design measurements").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .race import HessianOperator, Race, RaceEvaluation, evaluate, hessian

ARMIJO = 1e-4
LINE_SEARCH_STEPS = 40
#: Above this many token slots the Newton system is solved by conjugate gradients.
DENSE_MAX = 96
CG_MAX_ITER = 200
#: CG stops at a relative residual ``max(CG_RTOL, min(CG_FORCING_MAX, loss))`` (an inexact
#: Newton method with forcing term ``eta = loss``, Eisenstat-Walker style): far from the
#: solution a rough Newton system suffices, near it the system is solved to ``CG_RTOL``.
#: Nor does CG solve the system more accurately than the fit's target needs: the relative
#: residual is at least ``CG_FINAL_SAFETY * tol / loss`` (a step from ``loss`` to about
#: ``tol`` ends the fit, and Newton's linear residual is what remains of the loss after it).
#: What both rules save, measured: docs/fast.md, "Design measurements".
CG_RTOL = 1e-9
CG_FORCING_MAX = 0.1
CG_FINAL_SAFETY = 0.1
#: Newton damping: relative to each Hessian diagonal entry, a floor relative to the largest
#: one, and an absolute floor (all curvature zero).
DAMPING_RELATIVE = 1e-9
DAMPING_FLOOR = 1e-15
TINY = 1e-200
#: A token counts as at its cap when ``u >= cap - CAP_TOL``.
CAP_TOL = 1e-12
#: The line search's path near the reject barrier (:func:`barrier_exponent`): local power
#: laws are fitted with exponents in [1, BARRIER_EXPONENT_MAX], and one step shrinks the
#: distance ``v = u + 1`` to the barrier by at most the factor ``BARRIER_FLOOR ** (1/k)``.
BARRIER_EXPONENT_MAX = 2.0
BARRIER_FLOOR = 1e-12
#: Only tokens whose full Newton step changes ``v`` by more than this fraction take the bent
#: path (for smaller moves the two paths differ by less than Newton's own second-order
#: error, and the power costs ~20 ns a token).
BARRIER_MIN_MOVE = 0.05


def _damping(diag: Tensor) -> Tensor:
    """Levenberg damping of the Newton system, (B, k): ``DAMPING_RELATIVE |H_ii|`` plus a tiny floor.

    Relative to each diagonal entry (not to the largest), so that modes of small curvature
    (tokens of tiny q) keep their Newton step: a damping of the largest entry's size would
    dominate them and slow Newton to linear convergence on large supports.
    """
    return DAMPING_RELATIVE * diag + DAMPING_FLOOR * diag.amax(dim=1, keepdim=True) + TINY


def cg_tolerance(loss: Tensor, tol: float) -> Tensor:
    """Relative residual at which CG stops, per row (B,) from the row's loss (B,) and the fit's
    target ``tol``: ``max(CG_RTOL, min(CG_FORCING_MAX, loss), CG_FINAL_SAFETY * tol / loss)``."""
    final = CG_FINAL_SAFETY * tol / loss.clamp_min(TINY)
    return torch.maximum(loss.clamp(CG_RTOL, CG_FORCING_MAX), final)


def barrier_exponent(u: Tensor, a: Tensor, diag: Tensor, step: Tensor, reject: Tensor) -> Tensor:
    """Local power-law exponent ``k_i = v_i |H_ii| / a_i`` of each token near the reject
    barrier (``v = u + 1``), clamped to [1, BARRIER_EXPONENT_MAX]; 0 marks tokens that keep
    the straight path (no reject competitor, ``v <= 0``, ``a = 0``, no curvature, or a step
    ``|d_i| <= BARRIER_MIN_MOVE v_i``). (B, k).
    """
    v = u + 1.0
    bent = reject[:, None] & (v > 0) & (a > 0) & (diag > 0) & (step.abs() > BARRIER_MIN_MOVE * v)
    slope = v * diag / torch.where(bent, a, torch.ones_like(a))
    return torch.where(bent, slope.clamp(1.0, BARRIER_EXPONENT_MAX), torch.zeros_like(a))


def along_path(u: Tensor, step: Tensor, scale: Tensor, exponent: Tensor) -> Tensor:
    """The point at step length ``scale`` (broadcast against u) of the line search's path:
    ``u + s d``, bent near the reject barrier where ``exponent > 0`` (module docstring)."""
    bent = exponent > 0
    k = torch.where(bent, exponent, torch.ones_like(exponent))
    v = torch.where(bent, u + 1.0, torch.ones_like(u))
    curved = v * (1.0 + k * scale * step / v).clamp_min(BARRIER_FLOOR) ** (1.0 / k) - 1.0
    return torch.where(bent, curved, u + scale * step)


def _newton_step(
    race: Race, ev: RaceEvaluation, grad: Tensor, free: Tensor, loss: Tensor, tol: float
) -> tuple[Tensor, Tensor]:
    """Solve ``(H_ff + Lambda) d = -g`` on the free tokens (d = 0 elsewhere; Lambda: :func:`_damping`).

    Dense factorisation for small k; for large k, Jacobi-preconditioned conjugate gradients
    with the O(k log k) Hessian-vector product (H is positive semi-definite), stopped at the
    relative residual :func:`cg_tolerance` of the row's current ``loss`` (B,) and the fit's
    ``tol``. Returns ``(d, |diag H|)``, both (B, k).
    """
    B, k = grad.shape
    if k <= DENSE_MAX:
        H = hessian(race, ev)
        diag = torch.diagonal(H, dim1=1, dim2=2).abs()
        damping = _damping(diag)
        mask = free[:, :, None] & free[:, None, :]
        system = torch.where(mask, H, torch.zeros_like(H)) + torch.diag_embed(
            torch.where(free, damping, torch.ones_like(damping))
        )
        # solve_ex: no error check, hence no host synchronisation (the damped system is regular)
        return -torch.linalg.solve_ex(system, grad.unsqueeze(-1))[0].squeeze(-1), diag
    H = HessianOperator(race, ev)
    diag = H.diagonal.abs()
    damping = _damping(diag)
    precond = torch.where(free, 1.0 / (diag + damping), torch.ones_like(diag))

    def apply(x: Tensor) -> Tensor:
        x = torch.where(free, x, torch.zeros_like(x))
        return torch.where(free, H @ x + damping * x, torch.zeros_like(x))

    b = -grad
    x = torch.zeros_like(b)
    r = b.clone()
    z = precond * r
    d = z.clone()
    rz = (r * z).sum(dim=1)
    stop = cg_tolerance(loss, tol) * b.norm(dim=1)
    for _ in range(CG_MAX_ITER):
        if bool((r.norm(dim=1) <= stop).all()):
            break
        Ad = apply(d)
        dAd = (d * Ad).sum(dim=1)
        alpha = torch.where(dAd > 0, rz / torch.where(dAd > 0, dAd, torch.ones_like(dAd)), torch.zeros_like(dAd))
        x = x + alpha[:, None] * d
        r = r - alpha[:, None] * Ad
        z = precond * r
        rz_new = (r * z).sum(dim=1)
        beta = torch.where(rz > 0, rz_new / torch.where(rz > 0, rz, torch.ones_like(rz)), torch.zeros_like(rz))
        d = z + beta[:, None] * d
        rz = rz_new
    return x, diag


@dataclass
class FitResult:
    """u (B, k) fitted utilities; a (B, k) exact induced law; loss (B,); iterations (B,) long."""

    u: Tensor
    a: Tensor
    loss: Tensor
    iterations: Tensor


def _loss(a: Tensor, t: Tensor, at_cap: Tensor, live: Tensor) -> Tensor:
    over = (a - t).clamp_min(0.0)
    per_token = torch.where(at_cap, over, (a - t).abs())
    return torch.where(live, per_token, torch.zeros_like(a)).sum(dim=1)


def fit_race(
    q: Tensor,
    base: Tensor,
    n: int,
    reject: Tensor,
    target: Tensor,
    u0: Tensor,
    cap: Tensor,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> FitResult:
    """Solve (2) for B races at once.

    Parameters
    ----------
    q : (B, k) float       draft masses of participating tokens (0 = not participating)
    base : (B,) float      baseline (never winning) draft mass
    n : int                number of drafts
    reject : (B,) bool     reject competitor present
    target : (B, k) float  target amounts t
    u0 : (B, k) float      starting utilities
    cap : (B,) float       upper bound on u per race (+inf: unconstrained)
    tol : float            stop a row when its loss is <= tol
    max_iter : int         Newton iterations at most
    """
    live = q > 0
    cap = cap[:, None]
    u = torch.where(live, u0, torch.zeros_like(u0)).minimum(cap)
    B, k = q.shape
    iterations = torch.zeros(B, dtype=torch.long, device=q.device)
    done = torch.zeros(B, dtype=torch.bool, device=q.device)

    def at_cap_of(u_: Tensor, a_: Tensor) -> Tensor:
        return live & (u_ >= cap - CAP_TOL) & (a_ < target)

    race = Race(u, q, base, n, reject)
    ev = evaluate(race)
    value = ev.potential - (target * u).sum(dim=1)
    for _ in range(max_iter):
        at_cap = at_cap_of(u, ev.a)
        loss = _loss(ev.a, target, at_cap, live)
        active = (loss > tol) & ~done
        if not bool(active.any()):
            break
        iterations += active.long()
        free = live & ~at_cap & active[:, None]
        grad = torch.where(free, ev.a - target, torch.zeros_like(ev.a))
        step, diag = _newton_step(race, ev, grad, free, loss, tol)
        exponent = barrier_exponent(u, ev.a, diag, step, reject)
        scale = torch.ones(B, dtype=q.dtype, device=q.device)
        accepted = ~active
        for tries in range(LINE_SEARCH_STEPS):  # noqa: B007 (read after the loop); backtracking, per row
            trial = torch.where(accepted[:, None], u, along_path(u, step, scale[:, None], exponent).minimum(cap))
            t_race = Race(trial, q, base, n, reject)
            t_ev = evaluate(t_race)
            t_value = t_ev.potential - (target * trial).sum(dim=1)
            decrease = (grad * (trial - u)).sum(dim=1)
            # Armijo on D, or (once D's decrease is below its rounding noise) a halved loss
            t_loss = _loss(t_ev.a, target, at_cap, live)
            ok = ((t_value <= value + ARMIJO * decrease) | (t_loss < 0.5 * loss)) & ~accepted
            u = torch.where(ok[:, None], trial, u)
            value = torch.where(ok, t_value, value)
            accepted |= ok
            if bool(accepted.all()):
                break
            scale = torch.where(accepted, scale, scale / 2)
        done |= ~accepted  # rows where no step decreases D any more: numerical floor
        race = Race(u, q, base, n, reject)
        # the last trial is the new point of every row only if all took the first step
        ev = t_ev if tries == 0 else evaluate(race)
    a = ev.a
    return FitResult(u=u, a=a, loss=_loss(a, target, at_cap_of(u, a), live), iterations=iterations)

"""The uniform-key race: a draft-selection rule whose induced law is exactly computable.

Rule. Each of the n drafts independently gets a key. A draft of token z that takes part
gets ``key = u_z + E`` with ``E ~ Uniform[0, 1]`` (``u_z`` is the token's *utility*); a draft
that does not take part (its token is in the "baseline") gets key ``-inf``. Optionally a
*reject* competitor takes part with key ``E_0 ~ Uniform[0, 1]``. The largest key wins: a
draft's token is selected, or the step is rejected. This is a random-utility (race) model
like the softmax (Luce) rule of Global Resolution, whose Gumbel keys are replaced by
uniform ones. The point of the swap: every quantity below is a piecewise-polynomial
integral, computed *exactly* (Gauss-Legendre on each piece), with no truncation.

Exact induced law. Let ``G(s) = base + sum_z q_z clamp(s - u_z, 0, 1)`` be the CDF of one
draft's key (``base`` = mass of non-participating drafts) and ``R(s) = clamp(s, 0, 1)`` the
reject key's CDF (``R = 1`` without reject). For i.i.d. drafts, the n keys are i.i.d. with
CDF G, so

    a_i = P(token i wins) = n q_i * int_{u_i}^{u_i + 1} G(s)^(n-1) R(s) ds          (1)

G and R are linear between consecutive breakpoints ``{u_z, u_z + 1, 0, 1}``, so the
integrand is a polynomial of degree n on each piece and ``m = floor(n/2) + 1``
Gauss-Legendre nodes integrate it exactly. Cost O(k log k + k n).

Convex potential. ``Psi(u) = E[max key ; some key > -inf]`` is convex in u (an expected
maximum of affine functions of u) and ``dPsi/du_i = a_i`` (shifting token i's keys moves the
maximum one for one exactly when i wins). With ``F = G^n R``,
``Psi = hi F(hi) - lo F(lo) - int_lo^hi F(s) ds`` for lo, hi the extreme breakpoints.

Hessian. ``d a_i / d u_j = -n (n-1) q_i q_j int_{w_i cap w_j} G^(n-2) R ds`` for j != i
(``w_i = [u_i, u_i + 1]``), and ``d a_i / d u_i = n q_i [G^(n-1) R]_{u_i}^{u_i+1} +
(the j = i term of the same formula)``; it is symmetric positive semi-definite.

All functions are batched: tensors of shape (B, k) hold B independent races over k token
slots (padding slots have ``q = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor


@lru_cache(maxsize=64)
def legendre_nodes(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] as float64 numpy arrays (m,) (exact to degree 2m - 1)."""
    x, w = np.polynomial.legendre.leggauss(m)
    return (x + 1.0) / 2.0, w / 2.0  # nodes and weights on [0, 1]


def node_count(power: int) -> int:
    """Gauss-Legendre nodes that integrate ``G^power R`` exactly on a piece (degree ``power + 1``)."""
    return (max(power, 0) + 1) // 2 + 1


_NODE_TENSORS: dict[tuple, tuple[Tensor, Tensor]] = {}


def legendre(m: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Gauss-Legendre nodes and weights on [0, 1] (exact for degree <= 2m - 1), as tensors like ``like``."""
    key = (m, like.dtype, like.device)
    if key not in _NODE_TENSORS:
        x, w = legendre_nodes(m)
        _NODE_TENSORS[key] = (
            torch.as_tensor(x, dtype=like.dtype, device=like.device),
            torch.as_tensor(w, dtype=like.dtype, device=like.device),
        )
    return _NODE_TENSORS[key]


@dataclass
class Race:
    """B independent uniform-key races over k token slots.

    Attributes
    ----------
    u : (B, k) float
        Utilities of the participating tokens.
    q : (B, k) float
        Draft probability of each participating token (0 for padding slots).
    base : (B,) float
        Probability that one draft does not take part (its key is -inf).
    n : int
        Number of i.i.d. drafts.
    reject : (B,) bool
        Whether a reject competitor with key ~ U[0, 1] takes part in each race.
    """

    u: Tensor
    q: Tensor
    base: Tensor
    n: int
    reject: Tensor

    def grid(self) -> Grid:
        return Grid.build(self)


@dataclass
class Grid:
    """Breakpoints of a race and the key CDFs there.

    ``bp`` (B, P+1) sorted breakpoints; ``G``/``R`` (B, P+1) the draft-key and reject-key
    CDFs at them; ``start``/``end`` (B, k) the index in ``bp`` of ``u_i`` and ``u_i + 1``.
    """

    bp: Tensor
    G: Tensor
    R: Tensor
    start: Tensor
    end: Tensor

    @staticmethod
    def build(race: Race) -> Grid:
        u, q = race.u, race.q
        B, k = u.shape
        # breakpoints 0 and 1 (the reject window) are included in every race
        pos_all = torch.cat([u, u + 1.0, u.new_tensor([0.0, 1.0]).expand(B, 2)], dim=1)
        delta_all = torch.cat([q, -q, u.new_zeros(B, 2)], dim=1)
        bp, order = torch.sort(pos_all, dim=1, stable=True)
        slope = torch.cumsum(torch.gather(delta_all, 1, order), dim=1)[:, :-1]  # slope on piece j
        width = bp[:, 1:] - bp[:, :-1]
        G = torch.cat([race.base[:, None], race.base[:, None] + torch.cumsum(slope * width, dim=1)], dim=1)
        total = race.base + q.sum(dim=1)
        G = torch.minimum(G.clamp_min(0.0), total[:, None])
        R = torch.where(race.reject[:, None], bp.clamp(0.0, 1.0), torch.ones_like(bp))
        # sorted position of each window's ends (the first of equal breakpoints: the pieces
        # between equal breakpoints have zero width, so any of them would do)
        start = torch.searchsorted(bp, u.contiguous())
        end = torch.searchsorted(bp, (u + 1.0).contiguous())
        return Grid(bp=bp, G=G, R=R, start=start, end=end)

    def piece_integrals(self, *powers: int) -> list[Tensor]:
        """``int G(s)^power R(s) ds`` over each piece, (B, P) per power, exact (G, R linear on a piece).

        One pass of Gauss-Legendre nodes serves every power asked for (negative powers give 0).
        """
        x, w = legendre(node_count(max(powers)), self.bp)
        Ga, Gb = self.G[:, :-1, None], self.G[:, 1:, None]
        Ra, Rb = self.R[:, :-1, None], self.R[:, 1:, None]
        Gs = Ga + (Gb - Ga) * x
        weighted = (Ra + (Rb - Ra) * x) * w * (self.bp[:, 1:] - self.bp[:, :-1])[:, :, None]
        out = []
        for power in powers:
            out.append(torch.zeros_like(self.G[:, 1:]) if power < 0 else ((Gs**power) * weighted).sum(dim=-1))
        return out

    def window_sums(self, per_piece: Tensor) -> Tensor:
        """Sum of ``per_piece`` (B, P) over each token's window [u_i, u_i + 1]; returns (B, k)."""
        C = torch.cat([per_piece.new_zeros(per_piece.shape[0], 1), torch.cumsum(per_piece, dim=1)], dim=1)
        return torch.gather(C, 1, self.end) - torch.gather(C, 1, self.start)


def induced_law(race: Race, grid: Grid | None = None) -> Tensor:
    """``a_i = P(token i wins)`` by (1); (B, k). The reject probability is ``total^n - sum_i a_i``."""
    grid = grid or race.grid()
    (per_piece,) = grid.piece_integrals(race.n - 1)
    return race.n * race.q * grid.window_sums(per_piece)


@dataclass
class RaceEvaluation:
    """Everything Newton needs at one point u: law a (B, k), potential (B,), Hessian (B, k, k)."""

    a: Tensor
    potential: Tensor
    grid: Grid
    curvature: Tensor  # per-piece n(n-1) int G^(n-2) R, (B, P)


def evaluate(race: Race) -> RaceEvaluation:
    """Induced law and potential ``Psi(u) = E[max key ; some key > -inf]`` in one pass.

    ``Psi = hi F(hi) - lo F(lo) - int_lo^hi F(s) ds`` with ``F = G^n R``; its gradient is a.
    """
    grid = race.grid()
    n = race.n
    curv, law, top = grid.piece_integrals(n - 2, n - 1, n)
    F = grid.G**n * grid.R
    psi = grid.bp[:, -1] * F[:, -1] - grid.bp[:, 0] * F[:, 0] - top.sum(dim=1)
    a = n * race.q * grid.window_sums(law)
    return RaceEvaluation(a=a, potential=psi, grid=grid, curvature=curv * (n * (n - 1)))


def potential(race: Race) -> Tensor:
    """``Psi(u)``, (B,), the convex potential whose gradient is :func:`induced_law`."""
    return evaluate(race).potential


def hessian(race: Race, ev: RaceEvaluation | None = None) -> Tensor:
    """Dense Hessian ``d a / d u`` of :func:`potential`, (B, k, k), in O(k^2) from prefix sums.

    The overlap of windows i and j covers the pieces ``[max(start), min(end))``, so the
    off-diagonal integral is a difference of the cumulative curvature C at those indices.
    """
    ev = ev or evaluate(race)
    grid, q, n = ev.grid, race.q, race.n
    C = torch.cat([ev.curvature.new_zeros(q.shape[0], 1), torch.cumsum(ev.curvature, dim=1)], dim=1)
    lo = torch.maximum(grid.start[:, :, None], grid.start[:, None, :])
    hi = torch.minimum(grid.end[:, :, None], grid.end[:, None, :])
    B, k = q.shape
    flat = C.gather(1, hi.reshape(B, -1)) - C.gather(1, torch.minimum(lo, hi).reshape(B, -1))
    H = -(q[:, :, None] * q[:, None, :]) * flat.reshape(B, k, k)
    edge = grid.G ** (n - 1) * grid.R
    boundary = n * q * (torch.gather(edge, 1, grid.end) - torch.gather(edge, 1, grid.start))
    return H + torch.diag_embed(boundary)


def win_probabilities(u_drafts: Tensor, active: Tensor, reject: Tensor, n_nodes: int | None = None) -> Tensor:
    """Exact probability that each draft wins, given the drafts.

    Parameters
    ----------
    u_drafts : (B, n) float
        Utility of each draft's token (ignored where not ``active``).
    active : (B, n) bool
        Whether the draft takes part (non-participants never win).
    reject : (B,) bool
        Whether the reject competitor (key ~ U[0, 1]) takes part.

    Returns
    -------
    (B, n + 1) float: column j < n is ``P(draft j wins)``, the last column ``P(reject wins)``.
    Rows with no participant at all have every entry 0.
    """
    B, n = u_drafts.shape
    lo = torch.where(active, u_drafts, torch.zeros_like(u_drafts))
    starts = torch.cat([lo, torch.zeros_like(lo[:, :1])], dim=1)  # (B, n+1), reject window [0, 1]
    act = torch.cat([active, reject[:, None]], dim=1)
    pos = torch.cat([starts, starts + 1.0], dim=1)
    bp, _ = torch.sort(pos, dim=1)
    a, b = bp[:, :-1], bp[:, 1:]
    m = n_nodes or (n // 2 + 1)  # integrand: product of n linear factors
    x, w = legendre(m, u_drafts)
    s = a[:, :, None] + (b - a)[:, :, None] * x  # (B, P, m)
    F = (s[..., None] - starts[:, None, None, :]).clamp(0.0, 1.0)  # (B, P, m, n+1) CDFs
    F = torch.where(act[:, None, None, :], F, torch.ones_like(F))
    density = ((s[..., None] >= starts[:, None, None, :]) & (s[..., None] <= starts[:, None, None, :] + 1.0)).to(
        F.dtype
    )
    # product of the other competitors' CDFs: exclusive prefix/suffix products along the last axis
    ones = torch.ones_like(F[..., :1])
    prefix = torch.cumprod(torch.cat([ones, F[..., :-1]], dim=-1), dim=-1)
    suffix = torch.flip(torch.cumprod(torch.cat([ones, torch.flip(F[..., 1:], dims=[-1])], dim=-1), dim=-1), dims=[-1])
    integrand = density * prefix * suffix * act[:, None, None, :]
    return ((integrand * w[:, None]).sum(dim=2) * (b - a)[:, :, None]).sum(dim=1)


class HessianOperator:
    """Matrix-free Hessian of :func:`potential` at one point: ``H x`` in O(k) after O(k log k) set-up.

    With tokens sorted by u, window starts s and ends e are both non-decreasing. For a
    token i, the tokens j >= i (in that order) overlapping its window are those with
    ``s_j < e_i`` and contribute ``y_j (C(e_i) - C(s_j))``; those j < i with ``e_j > s_i``
    contribute ``y_j (C(e_j) - C(s_i))`` (``y = q x``, C the cumulative curvature). Both
    sums are differences of prefix sums over the sorted order; the ranges are located once
    by binary search, so each product is a few prefix sums and gathers.
    """

    def __init__(self, race: Race, ev: RaceEvaluation):
        grid, q, n = ev.grid, race.q, race.n
        B, k = q.shape
        C = torch.cat([ev.curvature.new_zeros(B, 1), torch.cumsum(ev.curvature, dim=1)], dim=1)
        self.order = torch.argsort(race.u, dim=1, stable=True)
        s = torch.gather(grid.start, 1, self.order)
        e = torch.gather(grid.end, 1, self.order)
        self.Cs, self.Ce = torch.gather(C, 1, s), torch.gather(C, 1, e)
        i = torch.arange(k, device=q.device).expand(B, k)
        self.i = i
        self.upper = torch.maximum(torch.searchsorted(s.contiguous(), e.contiguous(), side="left"), i + 1)
        self.lower = torch.minimum(torch.searchsorted(e.contiguous(), s.contiguous(), side="right"), i)
        self.q_sorted = torch.gather(q, 1, self.order)
        edge = grid.G ** (n - 1) * grid.R
        boundary = n * q * (torch.gather(edge, 1, grid.end) - torch.gather(edge, 1, grid.start))
        self.diagonal = boundary - q * q * (torch.gather(C, 1, grid.end) - torch.gather(C, 1, grid.start))
        self.boundary_sorted = torch.gather(boundary, 1, self.order)

    def __matmul__(self, x: Tensor) -> Tensor:
        """``H x`` for x of shape (B, k)."""
        xs = torch.gather(x, 1, self.order)
        y = self.q_sorted * xs
        zero = y.new_zeros(y.shape[0], 1)
        Y = torch.cat([zero, torch.cumsum(y, dim=1)], dim=1)
        YCs = torch.cat([zero, torch.cumsum(y * self.Cs, dim=1)], dim=1)
        YCe = torch.cat([zero, torch.cumsum(y * self.Ce, dim=1)], dim=1)
        Y_i, Y_up, Y_lo = torch.gather(Y, 1, self.i), torch.gather(Y, 1, self.upper), torch.gather(Y, 1, self.lower)
        above = self.Ce * (Y_up - Y_i) - (torch.gather(YCs, 1, self.upper) - torch.gather(YCs, 1, self.i))
        below = (torch.gather(YCe, 1, self.i) - torch.gather(YCe, 1, self.lower)) - self.Cs * (Y_i - Y_lo)
        hx_sorted = self.boundary_sorted * xs - self.q_sorted * (above + below)
        return torch.empty_like(hx_sorted).scatter_(1, self.order, hx_sorted)


def hessian_matvec(race: Race, ev: RaceEvaluation, x: Tensor) -> Tensor:
    """``H x``, (B, k), without forming H (see :class:`HessianOperator`)."""
    return HessianOperator(race, ev) @ x


def hessian_diagonal(race: Race, ev: RaceEvaluation) -> Tensor:
    """Diagonal of the Hessian, (B, k), in O(k)."""
    return HessianOperator(race, ev).diagonal

"""Batched torch preparation for global resolution: draft support, alpha*, and the min cut.

Only tokens with ``q > 0`` can be drafted. Restricted to that support K (k = |K| tokens),
the closed form of :mod:`multidraft.reference.closed_form` needs no special cases: every
ratio ``p/q`` is finite. With tokens of K sorted by ``p/q`` ascending and prefix sums
``Q_j``, ``P_j``,

    alpha* = 1 - max_j ( Q_j^n - P_j )     over group boundaries j (j = 0 included),

and the smallest maximising prefix is ``H_min`` (proof in docs/maths.md, section 2).
Tokens outside K never enter H (their ratio is +inf).

Shapes: problems are padded to a common k (``k_max`` of the batch); padding slots have
``q = p = 0`` and ``index = 0`` and are excluded by ``valid``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

#: Absolute tolerance deciding ties between maximising prefixes.
TIE_TOL = 1e-12

#: Upper bound of the outer system's utilities. The outer race has no reject competitor, so
#: only utility differences matter; the cap fixes the free shift and holds the tokens with slack.
OUTER_CAP = 0.0


@dataclass
class DraftSupport:
    """Draft support of each row, padded to a common size k, sorted by p/q ascending.

    Attributes
    ----------
    index : (B, k) long      token ids (0 in padding slots)
    p, q : (B, k) float      target and draft probabilities of those tokens
    valid : (B, k) bool      real (non-padding) slots
    inner : (B, k) bool      slot is in H_min (the smallest minimising cut)
    alpha_star : (B,) float  optimal acceptance alpha*
    q_inner : (B,) float     q(H_min)
    """

    index: Tensor
    p: Tensor
    q: Tensor
    valid: Tensor
    inner: Tensor
    alpha_star: Tensor
    q_inner: Tensor


def draft_support(p: Tensor, q: Tensor, n: int) -> DraftSupport:
    """Restrict each row to its draft support, sort it by p/q and find alpha* and H_min.

    Parameters
    ----------
    p, q : (B, V) float tensors (validated laws).
    n : int, number of i.i.d. drafts.
    """
    B, V = q.shape
    rows, cols = (q > 0).nonzero(as_tuple=True)  # row-major: grouped by row
    counts = torch.bincount(rows, minlength=B)
    k = max(int(counts.max().item()), 1)
    offsets = torch.cumsum(counts, dim=0) - counts
    slot = torch.arange(rows.shape[0], device=q.device) - offsets[rows]
    index = torch.zeros(B, k, dtype=torch.long, device=q.device)
    index[rows, slot] = cols
    valid = torch.arange(k, device=q.device)[None, :] < counts[:, None]
    pk = torch.where(valid, torch.gather(p, 1, index), torch.zeros_like(index, dtype=p.dtype))
    qk = torch.where(valid, torch.gather(q, 1, index), torch.zeros_like(pk))
    ratio = torch.where(valid, pk / torch.where(valid, qk, torch.ones_like(qk)), torch.full_like(pk, float("inf")))
    ratio_k, order = torch.sort(ratio, dim=1, stable=True)
    index, pk, qk = (torch.gather(t, 1, order) for t in (index, pk, qk))

    zeros = pk.new_zeros(B, 1)
    Q = torch.cat([zeros, torch.cumsum(qk, dim=1)], dim=1).clamp_max(1.0)
    P = torch.cat([zeros, torch.cumsum(pk, dim=1)], dim=1)
    f = Q**n - P
    boundary = torch.ones_like(f, dtype=torch.bool)
    boundary[:, 1:k] = (ratio_k[:, 1:] != ratio_k[:, :-1]) | ~valid[:, 1:]
    boundary[:, 1:] &= valid
    f = torch.where(boundary, f, torch.full_like(f, -float("inf")))
    best = f.max(dim=1).values
    k_min = torch.argmax((f >= best[:, None] - TIE_TOL).to(torch.int8), dim=1)
    inner = torch.arange(k, device=q.device)[None, :] < k_min[:, None]
    best = best.clamp_min(0.0)
    return DraftSupport(
        index=index,
        p=pk,
        q=qk,
        valid=valid,
        inner=inner,
        alpha_star=1.0 - best,
        q_inner=torch.gather(Q, 1, k_min[:, None])[:, 0],
    )


def inner_start(reject_mass: Tensor, q_mass: Tensor, n: int) -> Tensor:
    """Common starting utility of the inner race, (B,): the shift s that gives the reject
    competitor about its target probability ``reject_mass = q(H)^n - p(H) = 1 - alpha*``.

    With every utility at s in [0, 1] and drafts of total mass ``q_mass``, the reject key
    U[0, 1] beats all n draft keys with probability ``q_mass^n (1 - s)^(n+1) / (n + 1)``
    (the baseline mass ignored), so ``s = 1 - ((n + 1) r / q_mass^n)^(1/(n+1))``, clamped
    to [0, 1]. Any start is valid (the fit is globally convergent); this one saves Newton
    iterations on near-degenerate rows (reject mass 1e-6: 15 -> 9 at k = 1,000), where
    the utilities otherwise creep towards 1 from 0. The kernel (fast/kernel.py) uses the
    same formula.
    """
    ratio = (n + 1) * reject_mass / torch.where(q_mass > 0, q_mass, torch.ones_like(q_mass)) ** n
    return torch.where(q_mass > 0, 1.0 - ratio.clamp(0.0, 1.0) ** (1.0 / (n + 1)), torch.zeros_like(q_mass))

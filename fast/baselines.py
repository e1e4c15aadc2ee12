"""The classic multi-draft verifiers, batched in PyTorch, each exactly lossless.

Every method is a chain of *speculative steps*. A step proposes a token x drawn from a
proposal law s, against a target law r; it keeps x with probability

    a(x) = min(1, r(x) / s(x))                                   (:func:`accept_probability`)

and otherwise continues with the residual ``norm((r - s)+)`` (:func:`residual`). One step
outputs ``min(r, s) + (1 - sum min(r, s)) norm((r - s)+) = r`` exactly, which is what makes
every method below lossless. The methods (maths, exact output law given the drafts and
acceptance in docs/baselines.md):

=========================  ===================  =============================================
``nss``                    iid                  ignore the drafts, sample p
``single_draft``           iid                  one step on the first draft (r = p, s = q)
``rrs``                    iid                  SpecInfer: a step per draft, r <- residual
``rrs_without_replacement``  without_replacement  as rrs, and s <- s without the rejected token
``kseq``                   iid                  SpecTr K-SEQ: steps against p / rho*, fixed residual
``canonical``              iid                  select one draft by weights, one step against
                                                 the selection's exact induced law
``greedy``                 greedy               Hu et al.: n-1 fixed top tokens, one step on the
                                                 sampled last draft against q without them
=========================  ===================  =============================================

Conventions for zero-probability events (so that every conditional is a law, also for
drafts the drafting law cannot produce): ``a(x) = 1`` if ``s(x) = 0 < r(x)``, ``a(x) = 0`` if
``r(x) = s(x) = 0``; a residual with no mass falls back to r.

The acceptance table of docs/baselines.md is made by ``python -m multidraft.bench.baseline_table``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from multidraft.drafting import DraftingLaw, GreedyDrafting, capped_comb, check_greedy_support, refuse_if_too_many
from multidraft.validation import InvalidInputError

from .base import Verifier, in_drafts

__all__ = [
    "NSS",
    "SingleDraft",
    "RecursiveRejection",
    "KSeq",
    "Canonical",
    "Greedy",
    "make_rrs",
    "make_rrs_without_replacement",
    "accept_probability",
    "residual",
    "remove_tokens",
    "kseq_rho",
]


# ============================================================================ shared helpers
def _pick(law: Tensor, tokens: Tensor) -> Tensor:
    """``law[b, tokens[b, ...]]``: (B, V), (B,) or (B, k) long -> same shape as tokens."""
    if tokens.ndim == 1:
        return torch.gather(law, 1, tokens[:, None])[:, 0]
    return torch.gather(law, 1, tokens)


def accept_probability(target: Tensor, proposal: Tensor, tokens: Tensor) -> Tensor:
    """``min(1, r(x) / s(x))`` at the proposed tokens: (B, V), (B, V), (B,) or (B, k) -> same as tokens.

    ``s(x) = 0``: 1 if ``r(x) > 0`` else 0 (an event of probability zero under s).
    """
    r, s = _pick(target, tokens), _pick(proposal, tokens)
    ratio = r / torch.where(s > 0, s, torch.ones_like(s))
    return torch.where(s > 0, ratio.clamp(max=1.0), (r > 0).to(r.dtype))


def residual(target: Tensor, proposal: Tensor) -> Tensor:
    """Normalised positive part ``(r - s)+ / sum (r - s)+``, rows (B, V); r where it has no mass."""
    part = (target - proposal).clamp(min=0.0)
    mass = part.sum(dim=1, keepdim=True)
    return torch.where(mass > 0, part / torch.where(mass > 0, mass, torch.ones_like(mass)), target)


def remove_tokens(law: Tensor, tokens: Tensor) -> Tensor:
    """``law`` with ``tokens`` (B,) or (B, k) set to 0 and renormalised; zeros if nothing is left."""
    out = law.scatter(1, tokens[:, None] if tokens.ndim == 1 else tokens, 0.0)
    mass = out.sum(dim=1, keepdim=True)
    return out / torch.where(mass > 0, mass, torch.ones_like(mass))


def _categorical(probs: Tensor, generator: torch.Generator | None) -> Tensor:
    """One draw per row of (B, V) non-negative weights: (B,) long."""
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def _greedy_top(q: Tensor, n: int) -> Tensor:
    """The n-1 fixed greedy drafts: top n-1 tokens of q, ties to the lower id; (B, n-1) long."""
    return torch.sort(-q, dim=1, stable=True).indices[:, : n - 1]


# ============================================================================ the step chain
class _Chain(Verifier):
    """Speculative steps on chosen draft positions, then a draw from the final law.

    Subclasses define ``_positions(n)`` (which drafts are tried, in order), ``_start``
    (the carried ``(r, s)`` laws), ``_reject`` (the update after a rejection) and ``_final``.
    Exact law and sampler share one walk (:meth:`_walk`); given the drafts,

        f(. | x) = sum_j [prod_{l<j} (1 - a_l)] a_j delta_{x_{i_j}} + [prod_l (1 - a_l)] final.
    """

    def _positions(self, n: int) -> range:
        return range(n)

    def _start(self, p: Tensor, q: Tensor, drafts: Tensor, state: dict) -> tuple[Tensor, Tensor]:
        return p, q

    def _reject(self, r: Tensor, s: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        return residual(r, s), s

    def _final(self, r: Tensor, s: Tensor, state: dict) -> Tensor:
        return r

    def _walk(
        self,
        p: Tensor,
        q: Tensor,
        drafts: Tensor,
        state: dict,
        *,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The exact law (B, V), or with ``sample=True`` one output token per row (B,)."""
        B = p.shape[0]
        positions = self._positions(drafts.shape[1])
        r, s = self._start(p, q, drafts, state)
        if sample:
            u = torch.rand(B, len(positions), generator=generator, dtype=p.dtype, device=p.device)
            tokens = torch.zeros(B, dtype=torch.long, device=p.device)
            done = torch.zeros(B, dtype=torch.bool, device=p.device)
        else:
            out = torch.zeros_like(p)
            alive = torch.ones(B, 1, dtype=p.dtype, device=p.device)
        for j, i in enumerate(positions):
            x = drafts[:, i]
            a = accept_probability(r, s, x)
            if sample:
                hit = ~done & (u[:, j] < a)
                tokens, done = torch.where(hit, x, tokens), done | hit
            else:
                out.scatter_add_(1, x[:, None], alive * a[:, None])
                alive = alive * (1.0 - a[:, None])
            r, s = self._reject(r, s, x)
        final = self._final(r, s, state)
        if sample:
            return torch.where(done, tokens, _categorical(final, generator))
        return out + alive * final

    def _conditional(self, p, q, drafts, state):
        return self._walk(p, q, drafts, state)

    def _sample(self, p, q, drafts, state, generator):
        tokens = self._walk(p, q, drafts, state, sample=True, generator=generator)
        return tokens, in_drafts(tokens, drafts)

    #: The compiled sampler's chain kind (:data:`multidraft.fast.chain_kernel.MODES`), None for none.
    _kernel_mode: str | None = None

    def _kernel_mode_now(self) -> str | None:
        return self._kernel_mode

    def _sample_direct(self, p, q, drafts, expand, generator):
        """CPU float64: the compiled sampler (:func:`multidraft.fast.chain_kernel.chain_rows`),
        the same law on the draft support only, with no per-problem preparation. Any other
        source of randomness than a ``torch.Generator`` (e.g. the checker's controlled-uniform
        harness) takes the torch code, which draws through ``torch.rand`` only."""
        mode = self._kernel_mode_now()
        if mode is None or p.device.type != "cpu" or p.dtype != torch.float64:
            return None
        if generator is not None and not isinstance(generator, torch.Generator):
            return None
        from .chain_kernel import MODES, chain_rows

        positions = np.asarray(self._positions(drafts.shape[1]), dtype=np.int64)
        M = drafts.shape[0]
        noise = torch.rand(M, len(positions) + 1, generator=generator, dtype=torch.float64).numpy()
        P, Q = p.contiguous().numpy(), q.contiguous().numpy()  # one problem if expand: not copied M times
        rows = np.zeros(M, dtype=np.int64) if expand else np.arange(M)
        ids = drafts.numpy()
        tokens = torch.from_numpy(
            chain_rows(P, Q, rows, ids, positions, MODES[mode], noise, *self._kernel_args(drafts.shape[1]))
        )
        return tokens, in_drafts(tokens, drafts)

    def _kernel_args(self, n: int) -> tuple:
        """Extra arguments of the compiled sampler (K-SEQ: its bisection's steps and slack)."""
        return ()


def _hit_probability(law: Tensor, n: int) -> Tensor:
    """``1 - (1 - law)^n`` per entry: probability that n i.i.d. draws from ``law`` include the token."""
    return -torch.expm1(n * torch.log1p(-law.clamp(max=1.0))) if n > 0 else torch.zeros_like(law)


class NSS(_Chain):
    """p-sampling: ignore the drafts, output y ~ p.

    Output law given the drafts: p. Acceptance ``sum_t p(t) (1 - (1 - q(t))^n)``. Cost O(V).
    """

    name = "nss"
    order_invariant = True

    def _positions(self, n):
        return range(0)

    _kernel_mode = "replacement"  # no position tried: a draw from p

    def _acceptance(self, p, q, n, state):
        return (p * _hit_probability(q, n)).sum(dim=1)


class RecursiveRejection(_Chain):
    """Recursive rejection sampling (SpecInfer) with or without replacement.

    Try the drafts in order: keep x_i with ``min(1, r_i(x_i) / s_i(x_i))``; on rejection
    ``r_{i+1} = norm((r_i - s_i)+)`` and, without replacement, ``s_{i+1} = s_i`` without
    x_i, renormalised (with replacement ``s_i = q``). ``r_1 = p``, ``s_1 = q``; if all
    fail, output y ~ r_{n+1}. A duplicate draft goes through the same step and update
    (it is rejected with certainty since ``r(x) = 0`` after x was rejected, but the residual
    still moves on; skipping it biases the output).

    Acceptance (with replacement) ``1 - prod_i (1 - sum min(r_i, q))``; without
    replacement r_i depends on the drafts so it is computed by exact enumeration.
    Cost O(n V) per row.

    Parameters
    ----------
    replacement : bool
        True: drafts i.i.d. from q (``rrs``); False: drafts without replacement
        (``rrs_without_replacement``, ``drafting = "without_replacement"``).
    """

    def __init__(self, replacement: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.replacement = bool(replacement)
        self.name = "rrs" if replacement else "rrs_without_replacement"
        self.drafting = "iid" if replacement else "without_replacement"

    def __repr__(self) -> str:
        return f"RecursiveRejection(replacement={self.replacement})"

    def _reject(self, r, s, x):
        return residual(r, s), (s if self.replacement else remove_tokens(s, x))

    def _kernel_mode_now(self):
        return "replacement" if self.replacement else "without_replacement"

    def _acceptance(self, p, q, n, state):
        if not self.replacement:
            return None
        miss, r = torch.ones_like(p[:, 0]), p
        for step in range(n):
            keep = (1.0 - torch.minimum(r, q).sum(dim=1)).clamp(min=0.0)
            following = residual(r, q)
            if torch.equal(following, r):  # a fixed point: the remaining n - step factors are equal
                return 1.0 - miss * keep ** (n - step)
            miss, r = miss * keep, following
        return 1.0 - miss


def make_rrs(**kwargs: Any) -> RecursiveRejection:
    """The ``rrs`` baseline: :class:`RecursiveRejection` over i.i.d. drafts."""
    return RecursiveRejection(replacement=True, **kwargs)


def make_rrs_without_replacement(**kwargs: Any) -> RecursiveRejection:
    """The ``rrs_without_replacement`` baseline: :class:`RecursiveRejection` over drafts without replacement."""
    return RecursiveRejection(replacement=False, **kwargs)


class SingleDraft(RecursiveRejection):
    """Single-draft speculative sampling on the first draft only (x_2..x_n are ignored).

    Keep x_1 with ``min(1, p(x_1)/q(x_1))``, else y ~ norm((p - q)+). Output law given the
    drafts: ``a delta_{x_1} + (1 - a) norm((p - q)+)``. Acceptance ``1 - TV(p, q)`` for n = 1;
    for n > 1 the residual draw can still land on one of x_2..x_n (independent of it), so
    ``P(y in drafts) = sum min(p, q) + sum (p - q)+ (1 - (1 - q)^(n-1))``. Cost O(V).
    """

    name = "single_draft"

    def __init__(self, **kwargs: Any):
        super().__init__(replacement=True, **kwargs)
        self.name = "single_draft"

    def __repr__(self) -> str:
        return "SingleDraft()"

    def _positions(self, n):
        return range(1)

    def _acceptance(self, p, q, n, state):
        extra = ((p - q).clamp(min=0.0) * _hit_probability(q, n - 1)).sum(dim=1)
        return torch.minimum(p, q).sum(dim=1) + extra


# ============================================================================ K-SEQ
def _kseq_beta(p: Tensor, q: Tensor, rho: Tensor) -> tuple[Tensor, Tensor]:
    """``beta(rho) = sum min(q, p/rho)`` and ``1 - beta = sum (q - p/rho)+`` (accurate near 1), (B,) each."""
    scaled = p / rho[:, None]
    return torch.minimum(q, scaled).sum(dim=1), (q - scaled).clamp(min=0.0).sum(dim=1)


#: rho counts as valid when ``g(rho) >= -KSEQ_SLACK`` (rounding in g is ~1e-15).
KSEQ_SLACK = 1e-13


def kseq_steps(n: int, tol: float = 1e-12) -> int:
    """Bisection steps of :func:`kseq_rho`: the bracket [1, n] halved to width ``<= tol``."""
    return max(0, math.ceil(math.log2(max(n - 1, 1) / tol)))


def kseq_rho(p: Tensor, q: Tensor, n: int, tol: float = 1e-12) -> Tensor:
    """rho* of K-SEQ: the root on [1, n] of ``1 - (1 - beta(rho))^n = rho beta(rho)``, (B,).

    ``g(rho) = sum min(rho q, p) - 1 + (1 - beta(rho))^n`` is non-decreasing (both terms
    are), ``g(1) = (1-beta)^n - (1-beta) <= 0`` and ``g(n) >= 0`` (union bound), so the
    root is found by bisection; the returned value is the upper end of the final bracket
    (width <= ``tol``), on the valid side where the residual is a law. Since the
    acceptance ``1 - (1 - beta)^n`` decreases in rho, the smallest valid rho is optimal.

    "Valid" is ``g >= -KSEQ_SLACK`` rather than ``g >= 0``: where g is flat near its root
    (p = q: ``g = (1 - 1/rho)^n`` plus rounding) the sign of g is rounding noise and rho
    would depend on the summation order (so on a relabelling of the tokens). The slack
    can make the residual negative by at most ``KSEQ_SLACK`` in total mass; it is clamped,
    so the output law is off p by at most that (1e-13).
    """
    lo = torch.ones_like(p[:, 0])
    hi = torch.full_like(lo, float(n))
    for _ in range(kseq_steps(n, tol)):
        mid = 0.5 * (lo + hi)
        beta, miss = _kseq_beta(p, q, mid)
        valid = mid * beta - 1.0 + miss**n >= -KSEQ_SLACK
        hi, lo = torch.where(valid, mid, hi), torch.where(valid, lo, mid)
    return hi


class KSeq(_Chain):
    """K-SEQ (SpecTr, NeurIPS 2023) for n i.i.d. drafts.

    With ``beta = sum min(q, p/rho*)`` and ``A = 1 - (1 - beta)^n``: try the drafts in
    order, keeping x_i with ``min(1, p(x_i) / (rho* q(x_i)))`` (a step against the
    unnormalised target p/rho*, which never changes); if all fail output
    y ~ ``R / sum R``, ``R = p - (A/beta) min(q, p/rho*)`` (= ``(1-beta)^n`` times the
    SpecTr residual). Output law given the drafts, with ``a_i = min(1, p(x_i)/(rho* q(x_i)))``:

        f(. | x) = sum_i [prod_{j<i} (1 - a_j)] a_i delta_{x_i} + [prod_i (1 - a_i)] R / sum R.

    Acceptance ``P(y in drafts) = A + sum_t R(t) (1 - (1 - s(t))^n)`` with
    ``s = (q - p/rho*)+ / (1 - beta)`` the law of a rejected draft (the residual draw can
    hit a rejected draft). rho* by bisection (:func:`kseq_rho`), O(V log(n/1e-12)).
    """

    name = "kseq"

    def _prepare(self, p, q, n):
        rho = kseq_rho(p, q, n)
        beta, miss = _kseq_beta(p, q, rho)
        A = 1.0 - miss**n
        accepted = (
            torch.minimum(q, p / rho[:, None]) * (A / torch.where(beta > 0, beta, torch.ones_like(beta)))[:, None]
        )
        return {"rho": rho, "miss": miss, "accepted": accepted, "final": residual(p, accepted)}

    def _start(self, p, q, drafts, state):
        return p / state["rho"][:, None], q

    def _reject(self, r, s, x):
        return r, s

    def _final(self, r, s, state):
        return state["final"]

    _kernel_mode = "kseq"

    def _kernel_args(self, n):
        return kseq_steps(n), KSEQ_SLACK

    def _acceptance(self, p, q, n, state):
        R = (p - state["accepted"]).clamp(min=0.0)
        miss = state["miss"]
        rejected = (q - p / state["rho"][:, None]).clamp(min=0.0) / torch.where(miss > 0, miss, torch.ones_like(miss))[
            :, None
        ]
        return 1.0 - miss**n + (R * _hit_probability(rejected, n)).sum(dim=1)


class Greedy(_Chain):
    """The verifier for greedy drafting: one speculative step on the sampled last draft.

    Given drafts ``(T, x_n)`` (T = the first n-1 drafts, the fixed top tokens), keep x_n
    with ``min(1, p(x_n) / q'(x_n))``, ``q' = q without T, renormalised``; else y ~
    ``norm((p - q')+)``, which contains all of p on T. Output law given the drafts:
    ``a delta_{x_n} + (1 - a) norm((p - q')+)``. Acceptance
    ``p(T) + sum_{i not in T} min(p(i), q'(i))``, which is also alpha* of the greedy
    drafting law (the min cut must contain T). Cost O(V) (O(V log V) for the acceptance).
    """

    name = "greedy"
    drafting = "greedy"
    optimal = True  # for its own drafting law

    def law(self, draft: Any, n: int) -> DraftingLaw:
        return GreedyDrafting(draft, n)

    def _positions(self, n):
        return range(n - 1, n)

    def _start(self, p, q, drafts, state):
        return p, remove_tokens(q, drafts[:, :-1])

    _kernel_mode = "greedy"

    def _acceptance(self, p, q, n, state):
        check_greedy_support(int((q > 0).sum(dim=1).min()), n)  # as law() refuses
        top = _greedy_top(q, n)
        return _pick(p, top).sum(dim=1) + torch.minimum(p, remove_tokens(q, top)).scatter(1, top, 0.0).sum(dim=1)


# ============================================================================ canonical
#: Exponents gamma tried for the canonical weights ``w = (p/q)^gamma``.
#: Objective values within this of the best count as ties (the smallest gamma wins).
GAMMA_TIE = 1e-12
#: Default cap on the draft multisets the canonical preparation enumerates (``C(k + n - 1, n)``).
CANONICAL_MAX_MULTISETS = 200_000
CANONICAL_GAMMAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0)


def _distinct(drafts: Tensor) -> Tensor:
    """(B, n) bool: slot t holds the first occurrence of its token among the drafts."""
    same = drafts[:, :, None] == drafts[:, None, :]
    earlier = torch.ones_like(same[0], dtype=torch.bool).tril(-1)
    return ~(same & earlier).any(dim=2)


def _selection(weights: Tensor, slots: Tensor, distinct: Tensor) -> Tensor:
    """Luce selection over the distinct drafts: ``beta(t | x) = w(x_t) / sum_{distinct} w``.

    ``weights`` (..., V') per-token weights, ``slots`` (..., n) indices into it, ``distinct``
    (..., n) bool. Uniform over the distinct drafts when all their weights are 0. (..., n).
    """
    w = torch.gather(weights, -1, slots) * distinct
    total = w.sum(dim=-1, keepdim=True)
    uniform = distinct.to(w.dtype) / distinct.sum(dim=-1, keepdim=True).to(w.dtype)
    return torch.where(total > 0, w / torch.where(total > 0, total, torch.ones_like(total)), uniform)


def _canonical_weights(p: Tensor, q: Tensor, gamma: Tensor) -> Tensor:
    """``w = (p/q)^gamma`` scaled by a per-row constant (the Luce rule ignores it), 0 where q = 0.

    Computed as ``exp(gamma (log(p/q) - max log(p/q)))`` so no weight overflows; p = 0 gives
    weight 0 (1 for gamma = 0). ``gamma`` (G, 1, 1) against p, q (B, V) gives (G, B, V).
    """
    drafted = q > 0
    log_ratio = torch.where(
        drafted & (p > 0),
        torch.log(p) - torch.log(torch.where(drafted, q, torch.ones_like(q))),
        torch.full_like(p, -math.inf),
    )
    top = log_ratio.amax(dim=-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    scaled = torch.where(p > 0, log_ratio - top, torch.zeros_like(p))
    w = torch.where(p > 0, torch.exp(gamma * scaled), (gamma == 0).to(p.dtype).expand_as(gamma * scaled))
    return torch.where(drafted, w, torch.zeros_like(w))


class Canonical(Verifier):
    """Canonical decomposition (Khisti et al., ICLR 2025): select one draft, then one step.

    Selection: among the distinct draft tokens S, pick c with the Luce rule
    ``beta(c | S) = w(c) / sum_{z in S} w(z)``, ``w = (p/q)^gamma`` (0 where q = 0; uniform
    on S if all weights vanish). Its induced law ``r(c) = E_x[beta(c | S)]`` is computed
    exactly from the draft support (k = tokens with q > 0; refused above ``max_count``
    multisets ``C(k + n - 1, n)``). Then one speculative step against
    r: keep c with ``min(1, p(c)/r(c))``, else y ~ ``norm((p - r)+)``. Output law given x:

        f(. | x) = sum_{c in S} beta(c|S) a(c) delta_c + (1 - sum_c beta(c|S) a(c)) norm((p - r)+),

    lossless whatever the weights. gamma is chosen per problem from :data:`CANONICAL_GAMMAS`
    (gamma = 0: uniform over S; large gamma: the draft of largest p/q) to maximise
    ``sum min(p, r_gamma)`` (the smallest gamma within 1e-12 of the best).

    Cost per problem, G = 16 exponents: on the CPU in float64 (n <= 512) compiled
    (:mod:`multidraft.fast.canonical_kernel`), O(G sum_{s <= n} C(k, s)) over the sets of
    the support, and ``.sample`` prepares and samples in one call on the support only
    (one pass over V for the support, a walk of V only for a residual draw); elsewhere the
    torch enumeration of the multisets (:meth:`_prepare_torch`), O(G n C(k + n - 1, n)),
    then O(n V) per draft tuple. The acceptance (which also counts residual draws landing
    on a draft) is computed by exact enumeration.

    Parameters
    ----------
    gammas : sequence of float, optional
        Exponents to try (default :data:`CANONICAL_GAMMAS`); one value fixes the rule.
    max_count : int
        Refuse (``TooLargeError``) when more multisets would be enumerated.
    """

    name = "canonical"
    order_invariant = True
    cache_state = True

    def __init__(self, gammas: Any = CANONICAL_GAMMAS, max_count: int = CANONICAL_MAX_MULTISETS, **kwargs: Any):
        super().__init__(**kwargs)
        self.gammas = tuple(float(g) for g in gammas)
        if not self.gammas or any(not math.isfinite(g) or g < 0 for g in self.gammas):
            raise InvalidInputError(f"gammas: expected non-negative finite exponents, got {gammas!r}")
        self.max_count = int(max_count)

    def _refuse_if_too_many(self, k: int, n: int) -> int:
        """The size guard: ``TooLargeError`` when ``C(k + n - 1, n) > max_count`` (k: the
        largest draft support of the batch); returns ``max(k, 1)``."""
        k = max(k, 1)
        refuse_if_too_many(capped_comb(k + n - 1, n), self.max_count, "draft multisets (canonical)")
        return k

    def _compiled(self, p: Tensor, n: int) -> bool:
        """Whether the compiled code (:mod:`multidraft.fast.canonical_kernel`) serves these inputs."""
        from .canonical_kernel import MAX_DRAFTS

        return p.device.type == "cpu" and p.dtype == torch.float64 and n <= MAX_DRAFTS

    def _prepare(self, p, q, n):
        """gamma (B,), the induced law r, its residual ``norm((p - r)+)`` and the chosen
        weights (B, V) each: compiled on the CPU in float64 (the sets of the draft support,
        :func:`~multidraft.fast.canonical_kernel.canonical_state`), else :meth:`_prepare_torch`."""
        if not self._compiled(p, n):
            return self._prepare_torch(p, q, n)
        from .canonical_kernel import canonical_state, support_counts

        P, Q = p.contiguous().numpy(), q.contiguous().numpy()
        counts = support_counts(Q)
        self._refuse_if_too_many(int(counts[0].max()), n)
        best, induced, weights = canonical_state(P, Q, n, np.asarray(self.gammas), GAMMA_TIE, counts)
        r = torch.from_numpy(induced)
        gamma = torch.tensor(self.gammas, dtype=p.dtype)[torch.from_numpy(best)]
        return {"gamma": gamma, "induced": r, "residual": residual(p, r), "weights": torch.from_numpy(weights)}

    def _prepare_torch(self, p, q, n):
        """The preparation in torch, on any device and dtype: the multisets of the draft
        support enumerated as (G, B, M, n) tensors."""
        k = self._refuse_if_too_many(int((q > 0).sum(dim=1).max()), n)
        order = torch.sort(-q, dim=1, stable=True).indices[:, :k]  # the draft support first
        pk, qk = _pick(p, order), _pick(q, order)
        combos = torch.tensor(
            list(itertools.combinations_with_replacement(range(k), n)), dtype=torch.long, device=p.device
        ).reshape(-1, n)  # (M, n) sorted positions
        distinct = _distinct(combos)
        runs = (combos[:, :, None] == combos[:, None, :]).sum(dim=2)  # multiplicity of each slot's token
        log_coef = math.lgamma(n + 1) - torch.lgamma(runs.to(p.dtype) + 1).mul(distinct).sum(dim=1)
        prob = log_coef.exp() * qk[:, combos].prod(dim=2)  # (B, M) multinomial probabilities
        gammas = torch.tensor(self.gammas, dtype=p.dtype, device=p.device)[:, None, None]  # (G, 1, 1)
        # the weights vanish off the draft support: computed on it only (G x k, not G x V, exps)
        weights = _canonical_weights(pk, qk, gammas)  # (G, B, k)
        G, B, M = len(self.gammas), p.shape[0], combos.shape[0]
        sel = _selection(
            weights[:, :, None, :].expand(G, B, M, k), combos.expand(G, B, M, n), distinct.expand(G, B, M, n)
        )
        induced = torch.zeros(G, B, k, dtype=p.dtype, device=p.device)
        induced.scatter_add_(
            2, combos.reshape(1, 1, -1).expand(G, B, M * n), (sel * prob[None, :, :, None]).reshape(G, B, M * n)
        )
        kept = torch.minimum(induced, pk).sum(dim=2)  # (G, B): sum min(p, r_gamma)
        # the smallest gamma within GAMMA_TIE of the best (so near-ties do not depend on rounding)
        best = (kept >= kept.amax(dim=0) - GAMMA_TIE).to(torch.int8).argmax(dim=0)  # (B,)
        rows = torch.arange(B, device=p.device)
        r = torch.zeros_like(p).scatter(1, order, induced[best, rows])
        gamma = gammas.reshape(-1)[best]
        chosen = torch.zeros_like(p).scatter(1, order, weights[best, rows])
        return {"gamma": gamma, "induced": r, "residual": residual(p, r), "weights": chosen}

    def _choice(self, p, drafts, state):
        """Selection law over the draft slots (B, n) and the keep probability of each slot (B, n)."""
        sel = _selection(state["weights"], drafts, _distinct(drafts))
        return sel, accept_probability(p, state["induced"], drafts)

    def _conditional(self, p, q, drafts, state):
        sel, keep = self._choice(p, drafts, state)
        out = torch.zeros_like(p).scatter_add_(1, drafts, sel * keep)
        return out + (1.0 - (sel * keep).sum(dim=1, keepdim=True)) * state["residual"]

    def _sample_direct(self, p, q, drafts, expand, generator):
        """CPU float64 with a ``torch.Generator`` (or none): preparation and sampling in one
        compiled call (:func:`~multidraft.fast.canonical_kernel.canonical_rows`), on the draft
        support only, the cached state unused; the same law as :meth:`_sample`. Any other
        source of randomness takes the torch code."""
        if not self._compiled(p, drafts.shape[1]):
            return None
        if generator is not None and not isinstance(generator, torch.Generator):
            return None
        from .canonical_kernel import canonical_rows, support_counts

        P, Q = p.contiguous().numpy(), q.contiguous().numpy()  # one problem if expand: not copied M times
        counts = support_counts(Q)
        self._refuse_if_too_many(int(counts[0].max()), drafts.shape[1])
        M = drafts.shape[0]
        noise = torch.rand(M, 3, generator=generator, dtype=torch.float64).numpy()
        rows = np.zeros(M, dtype=np.int64) if expand else np.arange(M)
        tokens = torch.from_numpy(
            canonical_rows(P, Q, rows, drafts.numpy(), np.asarray(self.gammas), GAMMA_TIE, noise, counts)
        )
        return tokens, in_drafts(tokens, drafts)

    def _sample(self, p, q, drafts, state, generator):
        sel, keep = self._choice(p, drafts, state)
        slot = _categorical(sel, generator)
        u = torch.rand(p.shape[0], generator=generator, dtype=p.dtype, device=p.device)
        kept = u < _pick(keep, slot)
        tokens = torch.where(kept, _pick(drafts, slot), _categorical(state["residual"], generator))
        return tokens, in_drafts(tokens, drafts)

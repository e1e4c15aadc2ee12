"""A gallery of verifiers for the checker's tests: correct ones and subtly wrong ones.

Conditional verifiers ``f(target, draft, drafts) -> probs`` (numpy, one draft tuple per
call) and sampling verifiers ``g(target[B, V], draft[B, V], drafts[B, n], generator)``
(torch). Each wrong verifier carries, in ``CAUGHT_BY``, the property expected to catch it.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy import optimize


def _normalise_or(x: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    s = x.sum()
    return x / s if s > 0 else fallback


# ----------------------------------------------------------------------------- correct


def p_sampling(target, draft, drafts):
    """Ignore the drafts: y ~ p."""
    return np.asarray(target, dtype=float)


def _sps(p, q, x, residual_fn=None, normalise=True):
    out = np.zeros_like(p)
    a = min(1.0, p[x] / q[x]) if q[x] > 0 else 0.0
    out[x] += a
    res = np.maximum(p - q, 0.0)
    if residual_fn is not None:
        res = residual_fn(res)
    out += (1 - a) * (_normalise_or(res, p) if normalise else res)
    return out


def single_draft(target, draft, drafts):
    """Speculative sampling on the first draft only (lossless for any n of i.i.d. drafts)."""
    return _sps(np.asarray(target, float), np.asarray(draft, float), int(drafts[0]))


def _rrs(p, q, drafts, skip_duplicates=False):
    out, m, r, seen = np.zeros_like(p), 1.0, p.copy(), set()
    for x in map(int, drafts):
        if skip_duplicates and x in seen:
            continue
        seen.add(x)
        a = min(1.0, r[x] / q[x]) if q[x] > 0 else 0.0
        out[x] += m * a
        m *= 1 - a
        r = _normalise_or(np.maximum(r - q, 0.0), r)
    return out + m * r


def rrs(target, draft, drafts):
    """Recursive rejection sampling with replacement (SpecInfer)."""
    return _rrs(np.asarray(target, float), np.asarray(draft, float), drafts)


def kseq_rho(p, q, n):
    """rho* solving ``1 - (1 - beta(rho))^n = rho beta(rho)`` on [1, n]."""

    def gap(rho):
        beta = np.minimum(q, p / rho).sum()
        return 1 - (1 - beta) ** n - rho * beta

    if n == 1 or gap(1.0) <= 0:
        return 1.0
    if gap(float(n)) >= 0:  # only by rounding (beta ~ 1e-12: 1 - (1 - beta)^n loses its digits); rho = n is valid
        return float(n)
    return optimize.brentq(gap, 1.0, float(n), xtol=1e-15, rtol=1e-15) * (1 + 1e-12)


def _kseq(p, q, drafts, rho):
    n = len(drafts)
    accept_mass = np.minimum(q, p / rho)
    beta = accept_mass.sum()
    A = 1 - (1 - beta) ** n
    ratio = A / beta if beta > 0 else float(n)
    residual = _normalise_or(np.maximum(p - ratio * accept_mass, 0.0), p)
    out, m = np.zeros_like(p), 1.0
    for x in map(int, drafts):
        a = min(1.0, p[x] / (rho * q[x])) if q[x] > 0 else 0.0
        out[x] += m * a
        m *= 1 - a
    return out + m * residual


def kseq(target, draft, drafts):
    """K-SEQ (SpecTr) at the valid rho*."""
    p, q = np.asarray(target, float), np.asarray(draft, float)
    return _kseq(p, q, drafts, kseq_rho(p, q, len(drafts)))


def _truncate(q, top):
    """q restricted to its ``top`` largest entries and renormalised (q itself when top is None)."""
    if top is None:
        return q
    keep = np.argsort(-q, kind="stable")[:top]
    out = np.zeros_like(q)
    out[keep] = q[keep]
    return out / out.sum()


class SoftmaxThenSpeculative:
    """A selection rule (pick distinct draft c with weight sqrt(p/q)) followed by speculative
    sampling against the rule's induced law r: exactly lossless whatever the rule.

    ``truncate = T`` computes r from tuples over the top-T draft tokens only (the paper's
    truncation) -- wrong when q has mass outside them.
    """

    def __init__(self, truncate: int | None = None):
        self.truncate = truncate
        self._cache: dict = {}

    @staticmethod
    def _select(p, q, drafts):
        S = np.unique(np.asarray(drafts, dtype=np.int64))
        w = np.sqrt(np.divide(p[S], q[S], out=np.zeros(len(S)), where=q[S] > 0))
        w = w / w.sum() if w.sum() > 0 else np.full(len(S), 1 / len(S))
        return S, w

    def _induced(self, p, q, n):
        key = (p.tobytes(), q.tobytes(), n)
        if key not in self._cache:
            qt = _truncate(q, self.truncate)
            support = np.flatnonzero(qt > 0)
            r = np.zeros_like(p)
            for x in itertools.product(support, repeat=n):
                S, w = self._select(p, q, x)
                r[S] += np.prod(qt[list(x)]) * w
            self._cache = {key: r}
        return self._cache[key]

    def conditional(self, target, draft, drafts):
        p, q = np.asarray(target, float), np.asarray(draft, float)
        r = self._induced(p, q, len(drafts))
        S, w = self._select(p, q, drafts)
        out = np.zeros_like(p)
        keep = np.minimum(1.0, np.divide(p[S], r[S], out=np.ones(len(S)), where=r[S] > 0))
        out[S] += w * keep
        out += (1 - (w * keep).sum()) * _normalise_or(np.maximum(p - r, 0.0), p)
        return out


# ----------------------------------------------------------------------------- wrong


def rrs_skip_duplicates(target, draft, drafts):
    """BUG: a repeated draft is skipped without applying its residual update."""
    return _rrs(np.asarray(target, float), np.asarray(draft, float), drafts, skip_duplicates=True)


def residual_unnormalised(target, draft, drafts):
    """BUG: the residual (p - q)+ is used without normalising it."""
    return _sps(np.asarray(target, float), np.asarray(draft, float), int(drafts[0]), normalise=False)


def independent_accept(target, draft, drafts):
    """BUG: each draft accepted with min(1, p/q) in turn, residual never updated."""
    p, q = np.asarray(target, float), np.asarray(draft, float)
    out, m = np.zeros_like(p), 1.0
    for x in map(int, drafts):
        a = min(1.0, p[x] / q[x]) if q[x] > 0 else 0.0
        out[x] += m * a
        m *= 1 - a
    return out + m * _normalise_or(np.maximum(p - q, 0.0), p)


def kseq_wrong_rho(target, draft, drafts):
    """BUG: K-SEQ with rho 10% below rho* (its residual goes negative; clipped and renormalised)."""
    p, q = np.asarray(target, float), np.asarray(draft, float)
    return _kseq(p, q, drafts, 0.9 * kseq_rho(p, q, len(drafts)))


def residual_off_by_one(target, draft, drafts):
    """BUG: the residual is shifted by one token (np.roll)."""
    return _sps(
        np.asarray(target, float), np.asarray(draft, float), int(drafts[0]), residual_fn=lambda res: np.roll(res, 1)
    )


def target_draft_swapped(target, draft, drafts):
    """BUG: p and q swapped in the acceptance test and the residual."""
    return _sps(np.asarray(draft, float), np.asarray(target, float), int(drafts[0]))


softmax_speculative = SoftmaxThenSpeculative()
softmax_truncated = SoftmaxThenSpeculative(truncate=3)  # BUG: truncated induced law, no correction


class GlobalResolutionVariant:
    """The project's global resolution (:func:`multidraft.fast.global_resolution`), altered.

    ``truncate = T`` fits the plan on the top-T draft tokens only (q truncated and
    renormalised, as the paper enumerates tuples over a truncated token set); drafts outside
    them never win. ``correction = False`` drops the final step: the race's winner is always
    output (no ``min(1, p_c / a_c)`` test), a reject draws from the residual. Without the
    correction the output law is p only if the fitted induced law a is the rule's true one
    and ``a <= p``: true for the untruncated fit, false once q is truncated.
    """

    def __init__(self, truncate: int | None = 3, correction: bool = False):
        self.truncate, self.correction = truncate, correction
        self._key, self._plan = None, None

    def _fit(self, p, q, n):
        from multidraft.fast import global_resolution

        key = (p.tobytes(), q.tobytes(), n)
        if key != self._key:
            plan = global_resolution(p, _truncate(q, self.truncate), n)
            if not self.correction:  # keep every race winner
                plan.accept_ratio = (plan.a > 0).to(plan.a.dtype)
            self._key, self._plan = key, plan
        return self._plan

    def conditional(self, target, draft, drafts):
        p, q = np.asarray(target, float), np.asarray(draft, float)
        drafts = np.asarray(drafts, dtype=np.int64)
        return self._fit(p, q, len(drafts)).conditional(drafts[None, :])[0].numpy()


gr_truncated = GlobalResolutionVariant(truncate=3, correction=False)  # BUG: the paper's truncation, no correction
#: Not in CORRECT: without truncation the uncorrected output law is off only by the fit's loss
#: (~1e-10, below the default tol, above rounding): lossless to within tol, not exactly.
gr_no_correction = GlobalResolutionVariant(truncate=None, correction=False)


def mixed(epsilon: float, verifier=rrs):
    """A correct verifier with a fraction ``epsilon`` of 'output the first draft' mixed in."""

    def f(target, draft, drafts):
        out = (1 - epsilon) * np.asarray(verifier(target, draft, drafts), float)
        out[int(drafts[0])] += epsilon
        return out

    return f


CORRECT = {
    "p_sampling": p_sampling,
    "single_draft": single_draft,
    "rrs": rrs,
    "kseq": kseq,
    "softmax_speculative": softmax_speculative,
}
WRONG = {
    "rrs_skip_duplicates": rrs_skip_duplicates,
    "residual_unnormalised": residual_unnormalised,
    "independent_accept": independent_accept,
    "kseq_wrong_rho": kseq_wrong_rho,
    "softmax_truncated": softmax_truncated,
    "gr_truncated": gr_truncated,
    "residual_off_by_one": residual_off_by_one,
    "target_draft_swapped": target_draft_swapped,
}
#: The property expected to fail for each wrong verifier.
CAUGHT_BY = {
    "rrs_skip_duplicates": "lossless",
    "residual_unnormalised": "law",
    "independent_accept": "lossless",
    "kseq_wrong_rho": "lossless",
    "softmax_truncated": "lossless",
    "gr_truncated": "lossless",
    "residual_off_by_one": "lossless",
    "target_draft_swapped": "lossless",
}


# ----------------------------------------------------------------------------- sampling (torch)


def p_sampler(target, draft, drafts, generator):
    """y ~ p, batched: target (B, V)."""
    return torch.multinomial(target, 1, generator=generator)[:, 0]


def speculative_sampler(target, draft, drafts, generator):
    """Single-draft speculative sampling on the first draft, batched."""
    x = drafts[:, 0]
    rows = torch.arange(len(x))
    px, qx = target[rows, x], draft[rows, x]
    accept = torch.rand(len(x), generator=generator, dtype=torch.float64) * qx < px
    residual = (target - draft).clamp_min(0)
    residual = torch.where(residual.sum(1, keepdim=True) > 0, residual, target)
    resampled = torch.multinomial(residual, 1, generator=generator)[:, 0]
    return torch.where(accept, x, resampled)


def first_draft_sampler(target, draft, drafts, generator):
    """BUG (gross): always output the first draft (output law q)."""
    return drafts[:, 0]


def unseeded_sampler(target, draft, drafts, generator):
    """BUG: lossless, but ignores the generator (torch's global RNG): not reproducible."""
    return speculative_sampler(target, draft, drafts, None)


def swapped_sampler(target, draft, drafts, generator):
    """BUG: speculative sampling with p and q swapped."""
    return speculative_sampler(draft, target, drafts, generator)


def numpy_p_sampler(target, draft, drafts, generator):
    """y ~ p with a numpy Generator (backend="numpy")."""
    u = generator.random(len(drafts))[:, None]
    return (np.cumsum(target, axis=1) < u).sum(axis=1).clip(max=target.shape[1] - 1)


class SpeculativeBoth:
    """Single-draft speculative sampling with both interfaces (conditional and sample)."""

    def conditional(self, target, draft, drafts):
        return single_draft(target, draft, drafts)

    def sample(self, target, draft, drafts, generator=None):
        return speculative_sampler(target, draft, drafts, generator)


# ----------------------------------------------------------------------------- serving-engine form (uniforms in)


def _chain_with_uniforms(target, draft, drafts, uniforms, accept, right):
    """Recursive rejection sampling with given uniforms (B, n + 1): coin ``uniforms[:, i]`` for
    draft i (``accept(u * q(x), p(x))``), ``uniforms[:, n]`` for the residual draw by inverse CDF
    (``searchsorted(cdf, u * total, right=right)``), as SGLang's and FlashInfer's chain kernels do."""
    r, q = target, draft
    B, n = drafts.shape
    rows = torch.arange(B)
    tokens = torch.zeros(B, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    for i in range(n):
        x = drafts[:, i]
        hit = ~done & accept(uniforms[:, i] * q[rows, x], r[rows, x])
        tokens, done = torch.where(hit, x, tokens), done | hit
        part = (r - q).clamp_min(0.0)
        mass = part.sum(1, keepdim=True)
        r = torch.where(mass > 0, part / torch.where(mass > 0, mass, torch.ones_like(mass)), r)
    cdf = torch.cumsum(r, 1)
    y = torch.searchsorted(cdf, (uniforms[:, n] * cdf[:, -1])[:, None], right=right)[:, 0]
    return torch.where(done, tokens, y.clamp_max(r.shape[1] - 1))


def uniforms_rrs(target, draft, drafts, uniforms):
    """Correct: recursive rejection sampling, uniforms given (B, n + 1)."""
    return _chain_with_uniforms(target, draft, drafts, uniforms, lambda uq, p: uq < p, right=True)


def uniforms_accept_at_zero(target, draft, drafts, uniforms):
    """BUG (rare): accepts when ``u q(x) <= p(x)``: at u = 0 (probability 2^-24 for float32
    uniforms) a draft of target probability 0 is accepted. Exact law: correct."""
    return _chain_with_uniforms(target, draft, drafts, uniforms, lambda uq, p: uq <= p, right=True)


def uniforms_inverse_cdf_left(target, draft, drafts, uniforms):
    """BUG (rare): residual draw by ``searchsorted(..., right=False)``: at u = 0 it outputs token 0
    even where the residual puts no mass on it. Exact law: correct."""
    return _chain_with_uniforms(target, draft, drafts, uniforms, lambda uq, p: uq < p, right=False)


def uniforms_rrs_skip_duplicates(target, draft, drafts, uniforms):
    """BUG: uniforms-form recursive rejection that skips a repeated draft's residual update."""
    keep = torch.ones_like(drafts, dtype=torch.bool)
    keep[:, 1:] = drafts[:, 1:] != drafts[:, :-1]
    out = _chain_with_uniforms(target, draft, drafts[:, :1], uniforms[:, [0, -1]], lambda uq, p: uq < p, True)
    if drafts.shape[1] > 1 and bool(keep[:, 1:].all()):
        return uniforms_rrs(target, draft, drafts, uniforms)
    return out

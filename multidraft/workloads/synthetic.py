"""Synthetic LLM-like (p, q) pairs, batched, with a calibrated draft quality.

Model (row b of a batch, vocabulary of V tokens)
------------------------------------------------
Draw ``E_b, E'_b ~ Exp(1)^V`` i.i.d. and a per-row sharpness ``s_b = tail * exp(spread * N(0,1))``.

    target logits   z_p = s_b * E_b
    draft logits    z_q = s_b * (c * E_b + sqrt(1 - c^2) * E'_b)           c in [0, 1]
    p = softmax(z_p / T),   q = restrict(softmax(z_q / T))  (top-k and/or top-p on q only)

``E = -log U`` with U uniform, so ``p_v ~ U_v^(-s_b / T)``: the token of rank r gets weight
about ``(r / V)^(-s_b / T)``, a Zipf law with exponent ``s_b / T`` over a random ordering of the
vocabulary (no sort needed). The spread of ``s_b`` varies the entropy from row to row, as
next-token laws of real models do (near-deterministic positions next to flat ones). With the
defaults ``tail = 2.0, spread = 0.3`` at T = 1, p has mean entropy ~2.2 nats (10%-90%:
0.1-4 nats), mean top-1 mass ~0.52 and mean top-10 mass ~0.86, at V = 32,000 and 128,256. The draft
shares the target's noise through the correlation c: ``c = 1`` gives q = p (before top-k),
``c = 0`` an independent law of the same shape (acceptance near 0).

Calibration
-----------
Single-draft acceptance ``a(c) = mean_b sum_v min(p_bv, q_bv) = mean_b (1 - TV(p_b, q_b))``
rises with c. :func:`calibrate_correlation` solves ``a(c) = a_requested`` on a *fixed*
batch (the noise is drawn once) with a bracketing root finder on [0, 1] (regula falsi with
the Illinois modification: bisection-safe, a handful of evaluations), to an absolute
tolerance ``tol`` on the mean acceptance (default 1e-3). ``llm_like_batch(acceptance=a)``
runs it on the very batch it returns, so the returned pairs hit ``a`` within ``tol``.
A request outside ``[a(0), a(1)]`` (e.g. above the mass top-k leaves) is an error naming
the reachable range.

Determinism: row b is drawn from ``numpy.random.default_rng([seed, b])``, so it depends on
``(seed, b, V, tail, spread)`` only, not on the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from multidraft.validation import InvalidInputError, check_float, check_int, check_positive_float

from .base import Workload
from .progress import progress_bar
from .transforms import check_temperature, check_top_k, check_top_p, restrict, softmax_

#: Vocabulary sizes of common tokenizers (Llama-2 / Mistral, Llama-3).
VOCAB_SIZES = (32000, 128256)

#: Default Zipf exponent and its per-row log-normal spread.
TAIL = 2.0
TAIL_SPREAD = 0.3

#: Rows processed together (small temporaries stay in the allocator's reusable heap).
ROWS_PER_CHUNK = 8


def llm_like(
    vocab_size: int,
    *,
    temperature: float = 1.0,
    correlation: float = 0.8,
    top_k: int | None = None,
    seed: int = 0,
    tail: float = 1.1,
) -> tuple[np.ndarray, np.ndarray]:
    """An LLM-like (p, q) pair: heavy-tailed target logits, draft logits correlated with them.

    Target logits are ``-tail * log(rank)`` (a Zipf law) plus Gaussian noise, divided by
    ``temperature``; draft logits are ``correlation * target + (1 - correlation) * noise``.
    If ``top_k`` is given, q is restricted to its k most likely tokens and renormalised.
    Returns two float64 arrays of shape (V,). (The single-pair generator behind the built-in
    examples; for batches and calibrated acceptance use :func:`llm_like_batch`.)
    """
    rng = np.random.default_rng(seed)
    ranks = rng.permutation(vocab_size) + 1.0
    logits = -tail * np.log(ranks) + 0.5 * rng.standard_normal(vocab_size)
    noise = rng.standard_normal(vocab_size) * logits.std()
    draft_logits = correlation * logits + (1.0 - correlation) * noise

    def softmax(z: np.ndarray) -> np.ndarray:
        z = z / temperature
        e = np.exp(z - z.max())
        return e / e.sum()

    p, q = softmax(logits), softmax(draft_logits)
    if top_k is not None and top_k < vocab_size:
        keep = np.argsort(-q, kind="stable")[:top_k]
        mask = np.zeros(vocab_size, dtype=bool)
        mask[keep] = True
        q = np.where(mask, q, 0.0)
        q = q / q.sum()
    return p, q


@dataclass(frozen=True)
class _Noise:
    """The random part of a batch: ``E``, ``E'`` (B, V) and the row sharpness ``s`` (B,)."""

    e_target: np.ndarray
    e_other: np.ndarray
    sharpness: np.ndarray


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate_correlation`.

    Attributes
    ----------
    correlation : float
        The c found.
    acceptance : float
        Mean single-draft acceptance ``mean(1 - TV)`` achieved at c on the calibration batch.
    requested : float
        The requested acceptance; ``|acceptance - requested| <= tol`` unless c hit 0 or 1.
    evaluations : int
        Number of batch evaluations used.
    """

    correlation: float
    acceptance: float
    requested: float
    evaluations: int


def _check_unit(value: Any, name: str, *, open_low: bool = False) -> float:
    return check_float(value, name, min_value=0.0, max_value=1.0, include_min=not open_low)


def _draw_noise(batch: int, vocab_size: int, seed: int, tail: float, spread: float, progress: bool) -> _Noise:
    e_target = np.empty((batch, vocab_size))
    e_other = np.empty((batch, vocab_size))
    sharpness = np.empty(batch)
    for b in progress_bar(range(batch), enabled=progress, desc="drawing rows"):
        rng = np.random.default_rng([seed, b])
        sharpness[b] = tail * np.exp(spread * rng.standard_normal())
        rng.standard_exponential(out=e_target[b])
        rng.standard_exponential(out=e_other[b])
    return _Noise(e_target, e_other, sharpness)


def _chunks(batch: int) -> list[slice]:
    return [slice(i, min(i + ROWS_PER_CHUNK, batch)) for i in range(0, batch, ROWS_PER_CHUNK)]


def _target(noise: _Noise, temperature: float) -> np.ndarray:
    """p = softmax(s E / T), shape (B, V), built chunk by chunk."""
    p = np.empty_like(noise.e_target)
    scale = noise.sharpness / temperature
    for rows in _chunks(len(p)):
        softmax_(np.multiply(noise.e_target[rows], scale[rows, None], out=p[rows]))
    return p


def _draft_rows(
    noise: _Noise,
    rows: slice,
    correlation: float,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    out: np.ndarray,
) -> np.ndarray:
    """q for the given rows, written into ``out`` (r, V) and returned."""
    np.multiply(noise.e_target[rows], correlation, out=out)
    out += np.sqrt(max(0.0, 1.0 - correlation**2)) * noise.e_other[rows]
    out *= (noise.sharpness[rows] / temperature)[:, None]
    return restrict(softmax_(out), top_k, top_p, inplace=True)


def _draft(
    noise: _Noise,
    correlation: float,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    progress: bool = False,
) -> np.ndarray:
    """q for the whole batch, shape (B, V)."""
    q = np.empty_like(noise.e_target)
    chunks = _chunks(len(q))
    for rows in progress_bar(chunks, enabled=progress, desc="draft laws"):
        _draft_rows(noise, rows, correlation, temperature, top_k, top_p, q[rows])
    return q


def _mean_acceptance_at(
    noise: _Noise, p: np.ndarray, correlation: float, temperature: float, top_k: int | None, top_p: float | None
) -> float:
    """mean_b sum_v min(p, q(c)) without materialising the whole of q."""
    buffer = np.empty((min(ROWS_PER_CHUNK, len(p)), p.shape[1]))
    total = 0.0
    for rows in _chunks(len(p)):
        q = _draft_rows(noise, rows, correlation, temperature, top_k, top_p, buffer[: rows.stop - rows.start])
        total += float(np.minimum(p[rows], q).sum())
    return total / len(p)


def _solve_correlation(
    noise: _Noise,
    p: np.ndarray,
    requested: float,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    tol: float,
    progress: bool,
    max_evaluations: int = 60,
) -> Calibration:
    """Illinois regula falsi for ``a(c) = requested`` on [0, 1] (see the module doc)."""
    evaluations = 0

    def gap(c: float) -> float:
        nonlocal evaluations
        evaluations += 1
        return _mean_acceptance_at(noise, p, c, temperature, top_k, top_p) - requested

    lo, hi = 0.0, 1.0
    g_lo, g_hi = gap(lo), gap(hi)
    if g_lo > tol or g_hi < -tol:
        raise InvalidInputError(
            f"acceptance: requested mean 1 - TV = {requested:g} is outside the reachable range "
            f"[{g_lo + requested:.4f}, {g_hi + requested:.4f}] for these settings "
            "(top-k / top-p cap the maximum; temperature and vocabulary move both ends)"
        )
    if abs(g_lo) <= tol:
        return Calibration(0.0, g_lo + requested, requested, evaluations)
    if abs(g_hi) <= tol:
        return Calibration(1.0, g_hi + requested, requested, evaluations)
    side = 0
    for _ in progress_bar(range(max_evaluations), enabled=progress, desc="calibrating"):
        c = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
        if not lo < c < hi:
            c = 0.5 * (lo + hi)
        g = gap(c)
        if abs(g) <= tol or hi - lo < 1e-12:
            return Calibration(c, g + requested, requested, evaluations)
        if g < 0:
            lo, g_lo = c, g
            if side == -1:
                g_hi *= 0.5
            side = -1
        else:
            hi, g_hi = c, g
            if side == 1:
                g_lo *= 0.5
            side = 1
    raise InvalidInputError(  # pragma: no cover - a(c) is continuous, the bracket always closes
        f"acceptance: calibration did not reach tol={tol:g} in {max_evaluations} evaluations"
    )


def _common_args(
    batch: Any, vocab_size: Any, temperature: Any, top_k: Any, top_p: Any, tail: Any, tail_spread: Any, seed: Any
) -> tuple:
    batch = check_int(batch, "batch", min_value=1)
    vocab_size = check_int(vocab_size, "vocab_size", min_value=2)
    temperature = check_temperature(temperature)
    top_k = check_top_k(top_k, vocab_size)
    top_p = check_top_p(top_p)
    tail = check_temperature(tail, "tail")
    tail_spread = check_float(tail_spread, "tail_spread", min_value=0.0)
    seed = check_int(seed, "seed", min_value=0)
    return batch, vocab_size, temperature, top_k, top_p, tail, tail_spread, seed


def calibrate_correlation(
    acceptance: float,
    *,
    batch: int = 64,
    vocab_size: int = 32000,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    tail: float = TAIL,
    tail_spread: float = TAIL_SPREAD,
    seed: int = 0,
    tol: float = 1e-3,
    progress: bool = False,
) -> Calibration:
    """The correlation c at which the batch ``llm_like_batch(batch, ..., correlation=c)`` has
    mean single-draft acceptance ``mean(1 - TV) = acceptance`` within ``tol``.

    The c found transfers to other seeds and batch sizes up to the sampling spread of the
    mean (about ``0.2 / sqrt(batch)``); pass ``acceptance=`` to :func:`llm_like_batch` to hit
    it exactly on the batch returned.

    Examples
    --------
    >>> cal = calibrate_correlation(0.7, batch=8, vocab_size=1000, seed=0)
    >>> abs(cal.acceptance - 0.7) <= 1e-3
    True
    """
    batch, vocab_size, temperature, top_k, top_p, tail, tail_spread, seed = _common_args(
        batch, vocab_size, temperature, top_k, top_p, tail, tail_spread, seed
    )
    requested = _check_unit(acceptance, "acceptance", open_low=True)
    tol = check_positive_float(tol, "tol")
    noise = _draw_noise(batch, vocab_size, seed, tail, tail_spread, progress)
    p = _target(noise, temperature)
    return _solve_correlation(noise, p, requested, temperature, top_k, top_p, tol, progress)


def llm_like_batch(
    batch: int = 256,
    vocab_size: int = 32000,
    *,
    temperature: float = 1.0,
    correlation: float | None = None,
    acceptance: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    tail: float = TAIL,
    tail_spread: float = TAIL_SPREAD,
    seed: int = 0,
    tol: float = 1e-3,
    progress: bool = False,
) -> Workload:
    """A batch of B synthetic LLM-like (p, q) pairs (model in the module doc).

    Parameters
    ----------
    batch : int
        Number of rows B.
    vocab_size : int
        V (e.g. 32000 or 128256).
    temperature : float > 0
        Sampling temperature T, applied to both models.
    correlation : float in [0, 1], optional
        Draft/target correlation c. Give this or ``acceptance``; default 0.9 if neither.
    acceptance : float in (0, 1], optional
        Requested mean single-draft acceptance ``mean(1 - TV)``; c is calibrated on this
        very batch to within ``tol``.
    top_k : int, optional
        Restrict q to its k most likely tokens (exactly k nonzeros per row); ``None`` or V: none.
    top_p : float in (0, 1], optional
        Restrict q to its nucleus of mass ``top_p`` (after top-k).
    tail, tail_spread : float
        Zipf exponent of the logits and the log-normal spread of the per-row sharpness.
    seed : int >= 0
        Seed; row b uses ``numpy.random.default_rng([seed, b])``.
    tol : float
        Tolerance on the mean acceptance when ``acceptance`` is given.
    progress : bool
        Show a tqdm bar on stderr for work lasting over ~2 s.

    Returns
    -------
    Workload with ``target``, ``draft`` float64 (B, V) and ``meta`` (source ``"synthetic"``,
    seed, temperature, top_k (0 = none), top_p (1 = none), correlation, tail, tail_spread and,
    if calibrated, requested_acceptance).

    Examples
    --------
    >>> w = llm_like_batch(4, 1000, correlation=0.9, top_k=10, seed=1)
    >>> w.target.shape, int((w.draft[0] > 0).sum())
    ((4, 1000), 10)
    """
    batch, vocab_size, temperature, top_k, top_p, tail, tail_spread, seed = _common_args(
        batch, vocab_size, temperature, top_k, top_p, tail, tail_spread, seed
    )
    if correlation is not None and acceptance is not None:
        raise InvalidInputError("acceptance: give either correlation or acceptance, not both")
    if acceptance is not None:
        requested = _check_unit(acceptance, "acceptance", open_low=True)
        tol = check_positive_float(tol, "tol")
    else:
        requested = None
        correlation = _check_unit(0.9 if correlation is None else correlation, "correlation")
    noise = _draw_noise(batch, vocab_size, seed, tail, tail_spread, progress)
    p = _target(noise, temperature)
    if acceptance is not None:
        correlation = _solve_correlation(noise, p, requested, temperature, top_k, top_p, tol, progress).correlation
    q = _draft(noise, correlation, temperature, top_k, top_p, progress)
    meta = {
        "source": "synthetic",
        "seed": seed,
        "temperature": temperature,
        "top_k": top_k or 0,
        "top_p": top_p or 1.0,
        "correlation": float(correlation),
        "tail": tail,
        "tail_spread": tail_spread,
    }
    if requested is not None:
        meta["requested_acceptance"] = requested
    return Workload(p, q, meta)

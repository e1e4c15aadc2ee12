"""The sampling-parameter step serving engines apply to logits: temperature, top-k, top-p.

One function, :func:`process_logits`, applied identically to the target and the draft model's
logits (:func:`process_pair`), so a verifier is checked on the laws it would really see:

1. temperature T: ``z / T``; ``T = 0`` is greedy decoding, the one-hot law on the largest logit
   (the lowest token id among ties);
2. top-k (k >= 1): keep the tokens whose scaled logit is >= the k-th largest (ties at the
   boundary are kept, so more than k may survive), the others get probability 0;
3. top-p (0 < top_p <= 1): sort the surviving tokens by probability (descending, ties by
   token id) and keep the shortest prefix whose mass reaches ``top_p`` (the token that
   crosses it is kept; a relative slack of 1e-15 absorbs the rounding of the running sum);
4. softmax of what is kept, in float64.

This is the order of Hugging Face's and vLLM's samplers (temperature, then top-k, then top-p,
each on the previous step's output). Probability vectors are accepted too
(:func:`process_probs`: logits ``log p``, zeros stay zeros).

>>> process_logits([2.0, 1.0, 0.0], temperature=0.5).round(4).tolist()
[0.8668, 0.1173, 0.0159]
>>> process_logits([2.0, 1.0, 0.0], top_k=2).round(4).tolist()
[0.7311, 0.2689, 0.0]
>>> process_probs([0.5, 0.3, 0.2], top_p=0.7).round(12).tolist()
[0.625, 0.375, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .validation import InvalidInputError, to_numpy

__all__ = ["SamplingParams", "process_logits", "process_probs", "process_pair"]


@dataclass(frozen=True)
class SamplingParams:
    """Temperature (>= 0, default 1), top-k (None or 0: off) and top-p (None or 1: off)."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        t = self.temperature
        if not isinstance(t, (int, float, np.floating)) or not math.isfinite(t) or t < 0:
            raise InvalidInputError(f"temperature: expected a finite number >= 0, got {t!r}")
        k = self.top_k
        if k is not None and (not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 0):
            raise InvalidInputError(f"top_k: expected an integer >= 1 (0 or None: off), got {k!r}")
        p = self.top_p
        if p is not None and (not isinstance(p, (int, float, np.floating)) or not (0 < p <= 1)):
            raise InvalidInputError(f"top_p: expected a number in (0, 1] (1 or None: off), got {p!r}")

    @property
    def identity(self) -> bool:
        """True when the step leaves a law unchanged (T = 1, no top-k, no top-p)."""
        return self.temperature == 1 and not self.top_k and (self.top_p is None or self.top_p == 1)


def _process_row(z: np.ndarray, params: SamplingParams) -> np.ndarray:
    V = len(z)
    finite = np.isfinite(z)
    if not finite.any():
        raise InvalidInputError("logits: every entry is -inf (no token can be sampled)")
    if params.temperature == 0:
        out = np.zeros(V)
        out[int(np.argmax(np.where(finite, z, -np.inf)))] = 1.0
        return out
    z = np.where(finite, z / params.temperature, -np.inf)
    if params.top_k and params.top_k < V:
        kth = np.sort(z)[::-1][params.top_k - 1]
        z = np.where(z >= kth, z, -np.inf)
    w = np.exp(z - z.max())
    probs = w / w.sum()
    if params.top_p is not None and params.top_p < 1:
        order = np.argsort(-probs, kind="stable")
        mass = np.cumsum(probs[order])
        keep = int(np.searchsorted(mass, params.top_p * (1 - 1e-15), side="left")) + 1  # first prefix reaching top_p
        cut = np.zeros(V, dtype=bool)
        cut[order[:keep]] = True
        probs = np.where(cut, probs, 0.0)
        probs = probs / probs.sum()
    return probs


def process_logits(
    logits: Any,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    *,
    params: SamplingParams | None = None,
) -> np.ndarray:
    """The law a serving engine samples from: (V,) or (B, V) logits -> float64 probabilities, same shape.

    ``-inf`` logits are allowed (probability 0); NaN and ``+inf`` are refused.
    """
    params = params or SamplingParams(temperature, top_k, top_p)
    z = to_numpy(logits, "logits").astype(np.float64)
    if z.ndim not in (1, 2) or z.shape[-1] == 0:
        raise InvalidInputError(f"logits: expected shape (V,) or (B, V) with V >= 1, got {z.shape}")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise InvalidInputError("logits: expected finite values or -inf, got NaN or +inf")
    rows = np.atleast_2d(z)
    out = np.stack([_process_row(r, params) for r in rows])
    return out if z.ndim == 2 else out[0]


def process_probs(
    probs: Any,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    *,
    params: SamplingParams | None = None,
) -> np.ndarray:
    """:func:`process_logits` of ``log probs`` (a zero stays zero): (V,) or (B, V) float64."""
    p = to_numpy(probs, "probs").astype(np.float64)
    if np.isnan(p).any() or (p < 0).any():
        raise InvalidInputError("probs: expected non-negative values")
    with np.errstate(divide="ignore"):
        return process_logits(np.log(p), temperature, top_k, top_p, params=params)


def process_pair(
    target: Any, draft: Any, params: SamplingParams, *, logits: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The same step on the target and on the draft (laws, or logits with ``logits=True``)."""
    step = process_logits if logits else process_probs
    return step(target, params=params), step(draft, params=params)

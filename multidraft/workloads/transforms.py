"""Sampling transforms shared by every workload: tempered softmax, top-k and top-p.

All functions work on float64 numpy arrays of shape ``(B, V)`` (one law per row) and
return arrays of the same shape: new ones, unless ``inplace=True`` is passed (the workload
generators do so on their own buffers, which saves a 1 GB page-faulting allocation per call
at B = 256, V = 128,256). The largest-k selections use ``torch.topk`` (O(V) per row).

* :func:`tempered_softmax` -- ``softmax(z / T)`` row by row, max-subtracted.
* :func:`temper_law` -- the same for a law given as probabilities: ``p^(1/T)`` normalised.
* :func:`restrict_top_k` -- keep the k largest entries of each row, renormalise.
* :func:`restrict_top_p` -- keep the smallest prefix (largest entries first) whose mass
  reaches ``top_p``, renormalise (nucleus sampling).

The argument checks here raise :class:`~multidraft.validation.InvalidInputError` naming the
argument (``temperature``, ``top_k``, ``top_p``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from multidraft.validation import InvalidInputError, check_positive_float


def check_temperature(temperature: Any, name: str = "temperature") -> float:
    """A sampling temperature: a finite float > 0."""
    return check_positive_float(temperature, name)


def check_top_k(top_k: Any, vocab_size: int, name: str = "top_k") -> int | None:
    """``None`` (no restriction) or an integer in ``[1, V]``; ``k = V`` is returned as ``None``."""
    if top_k is None:
        return None
    is_number = isinstance(top_k, (int, float, np.integer, np.floating)) and not isinstance(top_k, bool)
    if not is_number or not np.isfinite(top_k) or not float(top_k).is_integer():
        raise InvalidInputError(f"{name}: expected an integer number of tokens, got {top_k!r}")
    k = int(top_k)
    if k < 1 or k > vocab_size:
        raise InvalidInputError(f"{name}: expected 1 <= top_k <= V = {vocab_size}, got {k}")
    return None if k == vocab_size else k


def check_top_p(top_p: Any, name: str = "top_p") -> float | None:
    """``None`` (no restriction) or a float in ``(0, 1]``; ``1`` is returned as ``None``."""
    if top_p is None:
        return None
    try:
        value = float(top_p)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}: expected a number in (0, 1], got {top_p!r}") from None
    if not (0.0 < value <= 1.0):
        raise InvalidInputError(f"{name}: expected a number in (0, 1], got {top_p!r}")
    return None if value == 1.0 else value


def softmax_(z: np.ndarray) -> np.ndarray:
    """In place: replace each row of the float64 array ``z`` (B, V) by ``softmax(z)``; returns ``z``."""
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def tempered_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise ``softmax(logits / T)`` in a new array.

    Parameters
    ----------
    logits : np.ndarray, float64, shape (B, V)
        Finite logits, or ``-inf`` for tokens excluded on purpose (at least one finite per row).
    temperature : float > 0

    Returns
    -------
    np.ndarray, float64, shape (B, V); rows sum to 1 up to rounding (~1e-16 V).
    """
    z = np.multiply(np.asarray(logits, dtype=np.float64), 1.0 / temperature)
    return softmax_(z)


def temper_law(law: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """A law raised to the power ``1/T`` and renormalised: ``softmax(log p / T)``.

    Zeros stay zeros. ``T = 1`` returns an unchanged copy.
    """
    law = np.asarray(law, dtype=np.float64)
    if temperature == 1.0:
        return law.copy()
    with np.errstate(divide="ignore"):
        return tempered_softmax(np.log(law), temperature)


def _top(law: np.ndarray, m: int, sorted_: bool) -> tuple[np.ndarray, np.ndarray]:
    """The m largest entries of each row and their token ids: two (B, m) arrays."""
    import torch  # deferred: importing torch takes a second or two

    values, index = torch.topk(torch.from_numpy(np.ascontiguousarray(law)), m, dim=-1, sorted=sorted_)
    return values.numpy(), index.numpy()


def _scatter(law: np.ndarray, index: np.ndarray, values: np.ndarray, inplace: bool) -> np.ndarray:
    """A law that is ``values`` renormalised at ``index`` (per row) and 0 elsewhere."""
    out = law if inplace else np.empty_like(law)
    out[...] = 0.0
    np.put_along_axis(out, index, values / values.sum(axis=-1, keepdims=True), axis=-1)
    return out


def restrict_top_k(law: np.ndarray, k: int | None, *, inplace: bool = False) -> np.ndarray:
    """Keep exactly the k most likely tokens of each row of ``law`` (B, V), renormalised.

    Ties at the k-th value are broken arbitrarily but deterministically (``torch.topk``),
    so every row keeps exactly k entries (fewer nonzeros only if the row had fewer than k).
    ``k = None`` returns ``law`` unchanged (a copy unless ``inplace``).
    """
    law = np.asarray(law, dtype=np.float64)
    if k is None or k >= law.shape[-1]:
        return law if inplace else law.copy()
    values, index = _top(law, k, sorted_=False)
    return _scatter(law, index, values, inplace)


def restrict_top_p(law: np.ndarray, top_p: float | None, *, inplace: bool = False) -> np.ndarray:
    """Nucleus restriction of each row of ``law`` (B, V), renormalised.

    Keeps the smallest set of most likely tokens whose mass is ``>= top_p``: token j (in
    decreasing order) is kept iff the mass before it is ``< top_p``. Only the top
    candidates are sorted (256, then 8x more while some row has not reached ``top_p``).
    ``top_p = None`` returns ``law`` unchanged (a copy unless ``inplace``).
    """
    law = np.asarray(law, dtype=np.float64)
    if top_p is None:
        return law if inplace else law.copy()
    V = law.shape[-1]
    m = min(V, 256)
    while True:
        values, index = _top(law, m, sorted_=True)
        mass = np.cumsum(values, axis=-1)
        if m == V or (mass[:, -1] >= top_p).all():
            break
        m = min(V, 8 * m)
    kept = (mass - values) < top_p
    return _scatter(law, index, np.where(kept, values, 0.0), inplace)


def restrict(
    law: np.ndarray, top_k: int | None = None, top_p: float | None = None, *, inplace: bool = False
) -> np.ndarray:
    """Apply top-k then top-p (either may be ``None``) to each row of ``law`` (B, V)."""
    law = restrict_top_k(law, top_k, inplace=inplace)  # a copy unless inplace
    return restrict_top_p(law, top_p, inplace=True)

"""Input validation: the one place where user input is checked.

Every public entry point of the toolkit passes its arguments through these functions. A bad
input raises :class:`InvalidInputError` (a ``ValueError``) whose message names the argument,
what was wrong with it and what was expected. Nothing is renormalised silently: a law whose
entries do not sum to 1 within the tolerance below is refused unless the caller asks for
``normalize=True``.

Tolerance on sums
-----------------
A probability vector must sum to 1 within ``SUM_TOL[dtype]``:

* float64 input: ``1e-9`` (absolute). Exactness claims in this toolkit are stated relative
  to the law *as given*, so a law off by more than this could not be checked to ~1e-12.
* float32 / float16 / bfloat16 input: ``1e-5`` (a float32 softmax over 128k tokens is
  typically off by ~1e-6).

Laws are returned as float64 numpy arrays (for the exact oracles) unless stated otherwise.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

SUM_TOL_FLOAT64 = 1e-9
SUM_TOL_LOW_PRECISION = 1e-5


class InvalidInputError(ValueError):
    """A user-supplied argument is malformed; the message names it and the expectation."""


class TooLargeError(InvalidInputError):
    """An exact method was asked for a size it cannot finish; the message names the limit."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_torch_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _input_dtype_is_low_precision(x: Any) -> bool:
    if _is_torch_tensor(x):
        return str(x.dtype) in ("torch.float32", "torch.float16", "torch.bfloat16")
    if isinstance(x, np.ndarray):
        return x.dtype in (np.float32, np.float16)
    return False


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested sequence to a float64 numpy array."""
    if _is_torch_tensor(x):
        if x.is_complex():
            raise InvalidInputError(f"{name}: entries must be real, got a complex tensor of dtype {x.dtype}")
        x = x.detach().to("cpu").double().numpy()
    try:
        arr = np.asarray(x)
        if arr.dtype.kind == "c":
            raise InvalidInputError(f"{name}: entries must be real, got complex values {_describe(x)}")
        arr = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(
            f"{name}: could not read {_describe(x)} as an array of floats ({exc})"
        ) from None
    return arr


def sum_tolerance(x: Any) -> float:
    """The documented tolerance on ``|sum - 1|`` for an input of ``x``'s dtype."""
    return SUM_TOL_LOW_PRECISION if _input_dtype_is_low_precision(x) else SUM_TOL_FLOAT64


def check_distribution(
    x: Any,
    name: str,
    *,
    batched: bool = True,
    normalize: bool = False,
    atol: float | None = None,
) -> np.ndarray:
    """Validate a probability law (or a batch of them) over the last axis.

    Parameters
    ----------
    x : array-like or torch.Tensor, shape (V,) or (..., V) if ``batched``
        Non-negative finite entries summing to 1 along the last axis.
    name : str
        Argument name used in error messages (``"target"``, ``"draft"``...).
    batched : bool
        Allow leading batch dimensions. If False, ``x`` must be 1-D.
    normalize : bool
        Divide by the sum instead of refusing a sum off from 1 (an explicit opt-in).
    atol : float, optional
        Tolerance on ``|sum - 1|``; default :func:`sum_tolerance` of the input dtype.

    Returns
    -------
    np.ndarray, float64, same shape as ``x``.
    """
    tol = sum_tolerance(x) if atol is None else atol
    arr = to_numpy(x, name)
    if arr.ndim == 0:
        raise InvalidInputError(f"{name}: expected a 1-D probability vector, got a scalar {_describe(x)}")
    if not batched and arr.ndim != 1:
        raise InvalidInputError(f"{name}: expected a 1-D probability vector of shape (V,), got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise InvalidInputError(f"{name}: expected at least one token (V >= 1), got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"{name}: entries must be finite, got {float(arr[idx])} at index {idx if arr.ndim > 1 else idx[0]}"
        )
    if (arr < 0).any():
        idx = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise InvalidInputError(
            f"{name}: entries must be non-negative, got {float(arr[idx])!r} at index "
            f"{idx if arr.ndim > 1 else idx[0]}"
        )
    sums = arr.sum(axis=-1)
    if (sums <= 0).any():
        raise InvalidInputError(f"{name}: has no support (all entries are zero); a law must sum to 1")
    if normalize:
        return arr / sums[..., None]
    off = np.abs(sums - 1.0)
    if (off > tol).any():
        worst = np.unravel_index(int(np.argmax(off)), off.shape) if off.ndim else ()
        where = f" in row {tuple(int(i) for i in worst)}" if off.ndim else ""
        raise InvalidInputError(
            f"{name}: entries must sum to 1 within {tol:g}, got sum {float(sums[worst]):.17g}{where}; "
            "pass normalize=True to renormalise explicitly"
        )
    return arr


def check_pair(target: Any, draft: Any, *, normalize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a target law p and a draft law q over the same vocabulary.

    Returns float64 arrays of shapes (..., V); the batch shapes must match (or one must be
    unbatched, in which case it is broadcast).
    """
    p = check_distribution(target, "target", normalize=normalize)
    q = check_distribution(draft, "draft", normalize=normalize)
    if p.shape[-1] != q.shape[-1]:
        raise InvalidInputError(
            f"draft: vocabulary size {q.shape[-1]} does not match target's {p.shape[-1]} "
            "(both laws must be over the same V tokens)"
        )
    try:
        shape = np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise InvalidInputError(
            f"draft: batch shape {q.shape[:-1]} does not match target's {p.shape[:-1]}"
        ) from None
    return np.broadcast_to(p, shape), np.broadcast_to(q, shape)


def check_n(n: Any, name: str = "n", *, maximum: int | None = None) -> int:
    """Validate a number of drafts: an integer >= 1 (and <= ``maximum`` if given)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        if not isinstance(n, bool) and isinstance(n, numbers.Real) and float(n).is_integer():
            n = int(n)
        else:
            raise InvalidInputError(f"{name}: expected an integer number of drafts >= 1, got {_describe(n)}")
    n = int(n)
    if n < 1:
        raise InvalidInputError(f"{name}: expected an integer number of drafts >= 1, got {n}")
    if maximum is not None and n > maximum:
        raise InvalidInputError(f"{name}: at most {maximum} drafts are supported here, got {n}")
    return n


def check_drafts(drafts: Any, vocab_size: int, name: str = "drafts", *, n: int | None = None) -> np.ndarray:
    """Validate draft token ids: integers in [0, V), shape (n,) or (..., n).

    Returns an int64 numpy array.
    """
    if _is_torch_tensor(drafts):
        drafts = drafts.detach().to("cpu").numpy()
    arr = np.asarray(drafts)
    if arr.ndim == 0:
        raise InvalidInputError(f"{name}: expected an array of token ids of shape (n,), got a scalar {_describe(drafts)}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise InvalidInputError(f"{name}: token ids must be integers, got {_describe(drafts)}")
    elif arr.dtype.kind not in "iu":
        raise InvalidInputError(f"{name}: token ids must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        bad = arr[(arr < 0) | (arr >= vocab_size)].ravel()[0]
        raise InvalidInputError(f"{name}: token ids must lie in [0, {vocab_size}), got {int(bad)}")
    if n is not None and arr.shape[-1] != n:
        raise InvalidInputError(f"{name}: expected {n} drafts along the last axis, got shape {arr.shape}")
    return arr


def check_positive_float(x: Any, name: str) -> float:
    """Validate a strictly positive finite float (a tolerance, a scale, a time limit)."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}: expected a positive number, got {_describe(x)}") from None
    if not np.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{name}: expected a positive finite number, got {_describe(x)}")
    return value


def _on(tensor: Any, device: Any, dtype: Any) -> Any:
    """``tensor.to(device, dtype)``, without the call when it is already there (on a row just
    read from memory, even a no-op torch call costs several microseconds of cold dispatch)."""
    import torch

    if tensor.dtype == dtype and tensor.device == torch.device(device):
        return tensor
    return tensor.to(device=device, dtype=dtype)


def _broadcast_rows(p: Any, q: Any) -> tuple[Any, Any, bool] | None:
    """Validated (V,) or (B, V) tensors as ``(p, q, batched)`` of shape (B, V), or None when
    their batch sizes do not broadcast (the detailed path then reports it)."""
    import torch

    p2, q2 = (p if p.ndim == 2 else p[None]), (q if q.ndim == 2 else q[None])
    if p2.shape[0] != q2.shape[0] and 1 not in (p2.shape[0], q2.shape[0]):
        return None
    if p2.shape != q2.shape:
        p2, q2 = torch.broadcast_tensors(p2, q2)
    return p2, q2, p.ndim == 2 or q.ndim == 2


def _numpy_float64_pair(target: Any, draft: Any, device: Any, dtype: Any, normalize: bool) -> bool:
    """Whether p and q can take the compiled numpy fast path of :func:`check_pair_tensors`:
    writeable C-contiguous float64 numpy arrays of shape (V,) or (B, V) over the same V, wanted
    as CPU float64 tensors, without ``normalize``."""
    import torch

    if normalize or dtype != torch.float64 or (device is not None and torch.device(device).type != "cpu"):
        return False
    return all(
        isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim in (1, 2) and x.shape[-1] > 0
        and x.flags.c_contiguous and x.flags.writeable for x in (target, draft)
    ) and target.shape[-1] == draft.shape[-1]


def check_pair_tensors(target: Any, draft: Any, *, device: Any = None, dtype: Any = None, normalize: bool = False):
    """Validate p and q and return them as torch tensors of shape (B, V) (B = 1 if unbatched).

    Torch inputs are checked on their own device with a handful of reductions (one host
    synchronisation; on the CPU in float64 one compiled pass per law); writeable C-contiguous
    float64 numpy arrays wanted on the CPU in float64 get the same compiled pass and are
    returned as tensors sharing their memory (no copy). Only if a check fails is the detailed
    error produced by :func:`check_pair` on a host copy. Other inputs go through
    :func:`check_pair`.

    Returns ``(p, q, batched)`` with ``batched`` False when both inputs were 1-D.
    """
    import torch

    dtype = dtype or torch.float64
    if _numpy_float64_pair(target, draft, device, dtype, normalize):
        # CPU float64 numpy: one compiled pass per law, then tensors sharing the arrays'
        # memory (no copy, the same cost as a torch input; the detailed path below copies)
        from .law_checks import rows_are_laws

        if rows_are_laws(target, sum_tolerance(target)) and rows_are_laws(draft, sum_tolerance(draft)):
            rows = _broadcast_rows(torch.from_numpy(target), torch.from_numpy(draft))
            if rows is not None:
                return rows
    if _is_torch_tensor(target) and _is_torch_tensor(draft) and not normalize:
        device = device if device is not None else target.device
        p, q = _on(target.detach(), device, dtype), _on(draft.detach(), device, dtype)
        ok = p.ndim in (1, 2) and q.ndim in (1, 2) and p.shape[-1] == q.shape[-1] and p.shape[-1] > 0
        if ok:
            # min >= 0 and a finite sum within tolerance imply every entry is finite (a NaN
            # or an infinity makes the sum NaN or infinite, and comparisons with NaN fail)
            tol_p, tol_q = sum_tolerance(target), sum_tolerance(draft)
            if p.device.type == "cpu" and dtype == torch.float64:  # one compiled pass per law
                from .law_checks import rows_are_laws

                ok = rows_are_laws(p.numpy(), tol_p) and rows_are_laws(q.numpy(), tol_q)
            else:
                checks = torch.stack([
                    (p.amin() >= 0) & ((p.sum(-1) - 1).abs() <= tol_p).all(),
                    (q.amin() >= 0) & ((q.sum(-1) - 1).abs() <= tol_q).all(),
                ])
                ok = bool(checks.all())
        if ok:
            rows = _broadcast_rows(p, q)
            if rows is not None:
                return rows
    # slow path: the numpy checks produce the detailed error (or accept the input)
    p_np, q_np = check_pair(target, draft, normalize=normalize)
    if p_np.ndim > 2:
        raise InvalidInputError(f"target: expected shape (V,) or (B, V), got {p_np.shape}")
    batched = p_np.ndim == 2
    p_t = torch.tensor(np.atleast_2d(p_np), dtype=dtype, device=device)
    q_t = torch.tensor(np.atleast_2d(q_np), dtype=dtype, device=device)
    return p_t, q_t, batched

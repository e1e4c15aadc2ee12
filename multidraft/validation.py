"""Input validation: the one place where user input is checked.

Every public entry point of the toolkit passes its arguments through these functions. A bad
input raises :class:`InvalidInputError` (a ``ValueError``) whose message names the argument,
what was wrong with it and what was expected. Nothing is renormalised silently: a law whose
entries do not sum to 1 within the tolerance below is refused (the message says to divide it
by its sum first).

Tolerance on sums
-----------------
A probability vector must sum to 1 within ``SUM_TOL[dtype]``:

* float64 input: ``1e-9`` (absolute). Exactness claims in this toolkit are stated relative
  to the law *as given*, so a law off by more than this could not be checked to ~1e-12.
* float32 / float16 / bfloat16 input: ``1e-5`` (a float32 softmax over 128k tokens is
  typically off by ~1e-6). Such a law, once accepted, is converted to float64 and divided by
  its sum, so every later step (and every exactness claim) works on a float64 law summing to 1
  within rounding: one rule whichever entry point receives it (oracles, evaluator, fast solver).

Laws are returned as float64 numpy arrays (for the exact oracles) unless stated otherwise.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "InvalidInputError",
    "TooLargeError",
    "check_choice",
    "check_int",
    "check_float",
    "check_positive_float",
    "check_probability",
    "check_range",
    "check_same_vocab",
    "is_torch_tensor",
    "check_dtype",
    "check_device",
    "check_generator",
    "check_output_path",
    "cli_type",
    "cli_int",
    "cli_float",
    "check_distribution",
    "check_pair",
    "check_n",
    "check_drafts",
    "sum_tolerance",
    "to_numpy",
]

SUM_TOL_FLOAT64 = 1e-9
SUM_TOL_LOW_PRECISION = 1e-5


class InvalidInputError(ValueError):
    """A user-supplied argument is malformed; the message names it and the expectation."""


class TooLargeError(InvalidInputError):
    """An exact method was asked for a size it cannot finish; the message names the limit."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ----------------------------------------------------------------------------- parameters
#
# The parameter vocabulary (in the spirit of scikit-learn's ``check_scalar``): every option of
# every entry point -- a name from a fixed set, an integer or float in a range, a range spec
# ``lo-hi``, two sizes that must agree -- is checked by one of these, so the messages read the
# same everywhere: ``"<name>: expected <what>, got <value>"``.


def is_torch_tensor(x: Any) -> bool:
    """True if ``x`` is a ``torch.Tensor`` (or subclass), without importing torch.

    The toolkit's one test for a tensor: a module outside torch cannot fake it, and numpy
    arrays, lists and scalars answer False even when torch is not installed.
    """
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def check_choice(value: Any, name: str, choices: Iterable[Any], *, hint: str = "") -> Any:
    """Validate that ``value`` is one of ``choices``; returns it.

    Parameters
    ----------
    value : any
    name : str
        Argument name used in the message.
    choices : iterable
        The accepted values (compared with ``==``; unhashable values are refused).
    hint : str
        Appended to the message after the list (e.g. ``"or a DraftingLaw object"``).

    Raises
    ------
    InvalidInputError
        ``"<name>: expected one of 'a', 'b' <hint>, got <value>"``.
    """
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable or uncomparable
        ok = False
    if not ok:
        listed = ", ".join(repr(c) for c in choices)
        raise InvalidInputError(f"{name}: expected one of {listed}{' ' + hint if hint else ''}, got {_describe(value)}")
    return value


def _bound_text(lo: Any, hi: Any, include_lo: bool, include_hi: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'[' if include_lo else '('}{lo:g}, {hi:g}{']' if include_hi else ')'}"
    if lo is not None:
        return f"{'>=' if include_lo else '>'} {lo:g}"
    if hi is not None:
        return f"{'<=' if include_hi else '<'} {hi:g}"
    return ""


def check_int(
    value: Any, name: str, *, min_value: int | None = None, max_value: int | None = None, what: str = "an integer"
) -> int:
    """Validate an integer in ``[min_value, max_value]`` (either bound optional); returns an ``int``.

    Accepts Python and numpy integers and integral floats (``3.0``); refuses strings, booleans,
    NaN and fractions (the command line converts its text first: :func:`cli_type`).

    Raises
    ------
    InvalidInputError
        ``"<name>: expected <what> >= <min_value>, got <value>"`` (or ``in [lo, hi]``, ``<= hi``).
    """
    expected = f"{what} {_bound_text(min_value, max_value, True, True)}".rstrip()
    number: int | None = None
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        number = int(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        number = int(value) if math.isfinite(value) and float(value).is_integer() else None
    if number is None:
        raise InvalidInputError(f"{name}: expected {expected}, got {_describe(value)}")
    if (min_value is not None and number < min_value) or (max_value is not None and number > max_value):
        raise InvalidInputError(f"{name}: expected {expected}, got {number}")
    return number


def check_float(
    value: Any,
    name: str,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
) -> float:
    """Validate a finite real number in a range (bounds optional, each open or closed); returns a ``float``.

    Accepts Python and numpy reals and decimal strings (``"1e-3"``); refuses booleans, NaN
    and infinities.

    Raises
    ------
    InvalidInputError
        ``"<name>: expected a finite number in (0, 1), got nan"`` and the like.
    """
    expected = f"a finite number {_bound_text(min_value, max_value, include_min, include_max)}".rstrip()
    number: float | None = None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        number = float(value)
    if number is None or not math.isfinite(number):
        raise InvalidInputError(f"{name}: expected {expected}, got {_describe(value)}")
    low_bad = min_value is not None and (number < min_value if include_min else number <= min_value)
    high_bad = max_value is not None and (number > max_value if include_max else number >= max_value)
    if low_bad or high_bad:
        raise InvalidInputError(f"{name}: expected {expected}, got {number:g}")
    return number


def check_positive_float(x: Any, name: str) -> float:
    """Validate a strictly positive finite float (a tolerance, a scale, a time limit).

    Raises
    ------
    InvalidInputError
        If ``x`` is not a finite number > 0.
    """
    return check_float(x, name, min_value=0.0, include_min=False)


def check_probability(x: Any, name: str) -> float:
    """Validate a level strictly between 0 and 1 (a false-alarm rate, a quantile).

    Raises
    ------
    InvalidInputError
        If ``x`` is not a finite number in (0, 1).
    """
    return check_float(x, name, min_value=0.0, max_value=1.0, include_min=False, include_max=False)


def check_range(value: Any, name: str, *, min_value: int = 1, max_value: int | None = None) -> tuple[int, int]:
    """Validate an integer range: ``N``, ``(lo, hi)`` or a spec ``"N"`` / ``"lo-hi"``; returns ``(lo, hi)``.

    Both ends must satisfy ``min_value <= lo <= hi`` (and ``hi <= max_value`` if given).

    Raises
    ------
    InvalidInputError
        ``"<name>: expected an integer N or a range LO-HI (like 2-6), got '2-x'"``, or the bounds
        message (``"vocab: expected an integer >= 2, got 1"``).
    """
    spec = value
    if isinstance(value, str):
        parts = value.strip().split("-")
        if len(parts) not in (1, 2) or not all(part.strip().isdigit() for part in parts):
            raise InvalidInputError(f"{name}: expected an integer N or a range LO-HI (like 2-6), got {value!r}")
        value = (int(parts[0]), int(parts[-1]))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        value = tuple(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value, value)
    else:
        raise InvalidInputError(
            f"{name}: expected an integer N, a pair (lo, hi) or a range LO-HI, got {_describe(spec)}"
        )
    lo = check_int(value[0], name, min_value=min_value, max_value=max_value)
    hi = check_int(value[1], name, min_value=min_value, max_value=max_value)
    if hi < lo:
        raise InvalidInputError(f"{name}: expected a range LO-HI with LO <= HI, got {lo}-{hi}")
    return lo, hi


def check_same_vocab(size: int, name: str, other_size: int, other: str) -> None:
    """Validate that two laws are over the same number of tokens.

    Raises
    ------
    InvalidInputError
        ``"<name>: vocabulary size 4 does not match <other>'s 5 (both laws must be over the
        same V tokens)"``.
    """
    if int(size) != int(other_size):
        raise InvalidInputError(
            f"{name}: vocabulary size {int(size)} does not match {other}'s {int(other_size)} "
            "(both laws must be over the same V tokens)"
        )


def _input_dtype_is_low_precision(x: Any) -> bool:
    if is_torch_tensor(x):
        torch = sys.modules["torch"]
        return x.dtype in (torch.float32, torch.float16, torch.bfloat16)
    if isinstance(x, np.ndarray):
        return x.dtype in (np.float32, np.float16)
    return False


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested sequence to a float64 numpy array."""
    if is_torch_tensor(x):
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
        raise InvalidInputError(f"{name}: could not read {_describe(x)} as an array of floats ({exc})") from None
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
    np.ndarray, float64, same shape as ``x`` (divided by its sum when ``normalize`` or when
    ``x`` is low precision: see the module doc).

    Raises
    ------
    InvalidInputError
        Naming ``name``: not real numbers, a scalar, no token, a NaN/infinite or negative
        entry, no support, or a sum off from 1 by more than the tolerance.
    """
    low_precision = _input_dtype_is_low_precision(x)
    tol = sum_tolerance(x) if atol is None else atol
    arr = to_numpy(x, name)
    if arr.ndim == 0:
        raise InvalidInputError(f"{name}: expected a 1-D probability vector, got a scalar {_describe(x)}")
    if not batched and arr.ndim != 1:
        raise InvalidInputError(f"{name}: expected a 1-D probability vector of shape (V,), got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise InvalidInputError(f"{name}: expected at least one token (V >= 1), got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidInputError(f"{name}: expected at least one law, got an empty batch of shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"{name}: entries must be finite, got {float(arr[idx])} at index {idx if arr.ndim > 1 else idx[0]}"
        )
    if (arr < 0).any():
        idx = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise InvalidInputError(
            f"{name}: entries must be non-negative, got {float(arr[idx])!r} at index {idx if arr.ndim > 1 else idx[0]}"
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
            "divide it by its sum first if that is the law you mean"
        )
    return arr / sums[..., None] if low_precision else arr


def check_pair(target: Any, draft: Any, *, normalize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a target law p and a draft law q over the same vocabulary.

    Returns float64 arrays of shapes (..., V); the batch shapes must match (or one must be
    unbatched, in which case it is broadcast).
    """
    p = check_distribution(target, "target", normalize=normalize)
    q = check_distribution(draft, "draft", normalize=normalize)
    check_same_vocab(q.shape[-1], "draft", p.shape[-1], "target")
    try:
        shape = np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise InvalidInputError(f"draft: batch shape {q.shape[:-1]} does not match target's {p.shape[:-1]}") from None
    return np.broadcast_to(p, shape), np.broadcast_to(q, shape)


def check_n(n: Any, name: str = "n", *, maximum: int | None = None) -> int:
    """Validate a number of drafts: an integer >= 1 (and <= ``maximum`` if given).

    Raises
    ------
    InvalidInputError
        ``"n: expected an integer number of drafts >= 1, got 0"``; ``"n: at most 8 drafts are
        supported here, got 9"``.
    """
    n = check_int(n, name, min_value=1, what="an integer number of drafts")
    if maximum is not None and n > maximum:
        raise InvalidInputError(f"{name}: at most {maximum} drafts are supported here, got {n}")
    return n


def check_drafts(drafts: Any, vocab_size: int, name: str = "drafts", *, n: int | None = None) -> np.ndarray:
    """Validate draft token ids: integers in [0, V), shape (n,) or (..., n).

    Returns an int64 numpy array.
    """
    if is_torch_tensor(drafts):
        drafts = drafts.detach().to("cpu").numpy()
    arr = np.asarray(drafts)
    if arr.ndim == 0:
        raise InvalidInputError(
            f"{name}: expected an array of token ids of shape (n,), got a scalar {_describe(drafts)}"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise InvalidInputError(f"{name}: token ids must be integers, got {_describe(drafts)}")
    elif arr.dtype.kind not in "iu":
        raise InvalidInputError(f"{name}: token ids must be integers, got dtype {arr.dtype}")
    if arr.size == 0:
        raise InvalidInputError(f"{name}: expected at least one draft tuple, got an empty array of shape {arr.shape}")
    arr = arr.astype(np.int64)
    # a few ids (one tuple per call when serving): Python's min and max of the list are
    # cheaper than two numpy reductions (~1.5 us each on a tiny array)
    ids = arr.ravel().tolist() if arr.size <= 256 else None
    lo, hi = (min(ids), max(ids)) if ids is not None else (arr.min(), arr.max())
    if lo < 0 or hi >= vocab_size:
        bad = arr[(arr < 0) | (arr >= vocab_size)].ravel()[0]
        raise InvalidInputError(f"{name}: token ids must lie in [0, {vocab_size}), got {int(bad)}")
    if n is not None and arr.shape[-1] != n:
        raise InvalidInputError(f"{name}: expected {n} drafts along the last axis, got shape {arr.shape}")
    return arr


#: dtypes the torch paths compute in (float64 by default; float32 an explicit opt-in).
TORCH_DTYPES = ("float64", "float32")


def check_dtype(dtype: Any, name: str = "dtype") -> Any:
    """Validate a torch dtype for the solvers: ``torch.float64`` (or ``"float64"``), ``torch.float32``.

    Returns the ``torch.dtype``; None gives ``torch.float64``.

    Raises
    ------
    InvalidInputError
        Any other dtype (integers cannot hold laws; float16/bfloat16 lack the linear algebra).
    """
    import torch

    if dtype is None:
        return torch.float64
    if dtype is torch.float64 or dtype is torch.float32:  # the usual case, without the text
        return dtype
    text = str(dtype).removeprefix("torch.")
    if text not in TORCH_DTYPES or not isinstance(dtype, (str, torch.dtype)):
        raise InvalidInputError(f"{name}: expected torch.float64 or torch.float32, got {_describe(dtype)}")
    return getattr(torch, text)


def check_device(device: Any, name: str = "device") -> Any:
    """Validate a torch device (None, a string like ``"cpu"``/``"cuda:0"`` or a ``torch.device``).

    Returns it as a ``torch.device`` (None stays None).

    Raises
    ------
    InvalidInputError
        An unparsable device, or a CUDA device when this torch build or machine has none.
    """
    import torch

    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidInputError(
            f"{name}: expected a torch device such as 'cpu' or 'cuda', got {_describe(device)}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"{name}: {dev} requested but CUDA is not available (torch {torch.__version__})")
    if dev.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"{name}: expected a cpu or cuda device, got {_describe(device)}")
    return dev


def check_generator(generator: Any, name: str = "generator") -> Any:
    """Validate a random generator for torch sampling: None, a ``torch.Generator``, or an
    object that declares itself a stand-in for one (class attribute
    ``stands_in_for_torch_generator = True``, as the checker's controlled-uniform harness does).

    Raises
    ------
    InvalidInputError
        Anything else (a seed, a numpy Generator), with the call that makes one.
    """
    import torch

    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if getattr(type(generator), "stands_in_for_torch_generator", False):
        return generator
    raise InvalidInputError(
        f"{name}: expected a torch.Generator (e.g. torch.Generator().manual_seed(42)) or None, "
        f"got {type(generator).__name__} {_describe(generator)}"
    )


def _on(tensor: Any, device: Any, dtype: Any) -> Any:
    """``tensor.to(device, dtype)``, without the call when it is already there (on a row just
    read from memory, even a no-op torch call costs several microseconds of cold dispatch)."""
    import torch

    if tensor.dtype == dtype and tensor.device == (
        device if isinstance(device, torch.device) else torch.device(device)
    ):
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
    writeable C-contiguous float64 numpy arrays of shape (V,) or (B, V), B >= 1, over the same V,
    wanted as CPU float64 tensors, without ``normalize`` (an empty batch takes the detailed path,
    which refuses it)."""
    import torch

    if normalize or dtype != torch.float64 or (device is not None and torch.device(device).type != "cpu"):
        return False
    return (
        all(
            isinstance(x, np.ndarray)
            and x.dtype == np.float64
            and x.ndim in (1, 2)
            and x.size > 0
            and x.flags.c_contiguous
            and x.flags.writeable
            for x in (target, draft)
        )
        and target.shape[-1] == draft.shape[-1]
    )


def _compiled_check(p: Any, q: Any, tol_p: float, tol_q: float, count: bool) -> tuple[bool, Any]:
    """The compiled check (:mod:`multidraft.law_checks`) of CPU float64 tensors p and q
    (V,) or (B, V): ``(ok, counts)``, with ``counts`` q's entries > 0 per block of
    ``law_checks.BLOCK`` tokens ((B_q, ceil(V / BLOCK)) int64) when ``count``, else None."""
    from .law_checks import rows_are_laws, rows_are_laws_counting

    if not rows_are_laws(p.numpy(), tol_p):
        return False, None
    if not count:
        return rows_are_laws(q.numpy(), tol_q), None
    counts = rows_are_laws_counting(q.numpy(), tol_q)
    return counts is not None, counts


def check_pair_tensors(
    target: Any,
    draft: Any,
    *,
    device: Any = None,
    dtype: Any = None,
    normalize: bool = False,
    draft_counts: bool = False,
):
    """Validate p and q and return them as torch tensors of shape (B, V) (B = 1 if unbatched).

    Torch inputs are checked on their own device with a handful of reductions (one host
    synchronisation; on the CPU in float64 one compiled pass per law); writeable C-contiguous
    float64 numpy arrays wanted on the CPU in float64 get the same compiled pass and are
    returned as tensors sharing their memory (no copy). Only if a check fails is the detailed
    error produced by :func:`check_pair` on a host copy. Other inputs go through
    :func:`check_pair`.

    Returns ``(p, q, batched)`` with ``batched`` False when both inputs were 1-D; with
    ``draft_counts``, ``(p, q, batched, counts)``: ``counts[b, j]`` the number of entries
    > 0 of ``q[b, j BLOCK : (j + 1) BLOCK]`` ((B, ceil(V / BLOCK)) int64, ``BLOCK =
    multidraft.law_checks.BLOCK``), counted in the compiled pass over q that validates it
    (the compiled solver's support scan needs them), or None where that pass did not run
    (other devices and dtypes, low-precision inputs, the detailed path).

    Raises
    ------
    InvalidInputError
        Bad laws (:func:`check_pair`), or a bad ``dtype`` / ``device`` (:func:`check_dtype`,
        :func:`check_device`).
    """
    import torch

    dtype = check_dtype(dtype)
    device = check_device(device)
    counted = None

    def done(p: Any, q: Any, batched: bool) -> tuple:
        if not draft_counts:
            return p, q, batched
        counts = counted
        if counts is not None and counts.shape[0] != p.shape[0]:  # one q row broadcast over B rows
            counts = np.repeat(counts, p.shape[0], axis=0)
        return p, q, batched, counts

    if _numpy_float64_pair(target, draft, device, dtype, normalize):
        # CPU float64 numpy: one compiled pass per law, then tensors sharing the arrays'
        # memory (no copy, the same cost as a torch input; the detailed path below copies)
        p, q = torch.from_numpy(target), torch.from_numpy(draft)
        ok, counted = _compiled_check(p, q, sum_tolerance(target), sum_tolerance(draft), draft_counts)
        rows = _broadcast_rows(p, q) if ok else None
        if rows is not None:
            return done(*rows)
    if is_torch_tensor(target) and is_torch_tensor(draft) and not normalize:
        device = device if device is not None else target.device
        p, q = _on(target.detach(), device, dtype), _on(draft.detach(), device, dtype)
        ok = p.ndim in (1, 2) and q.ndim in (1, 2) and p.shape[-1] == q.shape[-1] and p.numel() > 0 and q.numel() > 0
        if ok:
            # min >= 0 and a finite sum within tolerance imply every entry is finite (a NaN
            # or an infinity makes the sum NaN or infinite, and comparisons with NaN fail)
            tol_p, tol_q = sum_tolerance(target), sum_tolerance(draft)
            if p.device.type == "cpu" and dtype == torch.float64:  # one compiled pass per law
                ok, counted = _compiled_check(p, q, tol_p, tol_q, draft_counts and tol_q == SUM_TOL_FLOAT64)
            else:
                checks = torch.stack(
                    [
                        (p.amin() >= 0) & ((p.sum(-1) - 1).abs() <= tol_p).all(),
                        (q.amin() >= 0) & ((q.sum(-1) - 1).abs() <= tol_q).all(),
                    ]
                )
                ok = bool(checks.all())
        if ok:
            if tol_p > SUM_TOL_FLOAT64:  # low-precision input: the float64 law divided by its sum
                p = p / p.sum(-1, keepdim=True)
            if tol_q > SUM_TOL_FLOAT64:
                q = q / q.sum(-1, keepdim=True)
            rows = _broadcast_rows(p, q)
            if rows is not None:
                return done(*rows)
    # slow path: the numpy checks produce the detailed error (or accept the input)
    counted = None
    p_np, q_np = check_pair(target, draft, normalize=normalize)
    if p_np.ndim > 2:
        raise InvalidInputError(f"target: expected shape (V,) or (B, V), got {p_np.shape}")
    batched = p_np.ndim == 2
    p_t = torch.tensor(np.atleast_2d(p_np), dtype=dtype, device=device)
    q_t = torch.tensor(np.atleast_2d(q_np), dtype=dtype, device=device)
    return done(p_t, q_t, batched)


# ----------------------------------------------------------------------------- command line


def cli_type(
    check: Callable[..., Any],
    *args: Any,
    convert: Callable[[str], Any] | None = None,
    keep_text: bool = False,
    **kwargs: Any,
) -> Callable[[str], Any]:
    """An argparse ``type=`` built from a check of this module: options are validated as parsed.

    ``cli_type(check_int, min_value=1, convert=int)`` converts the option's text with
    ``convert`` (on failure the raw text goes to the check, whose message then says what was
    expected), runs ``check(value, name, *args, **kwargs)`` and returns its result -- or the
    text itself with ``keep_text=True`` (options parsed later, such as ``1,2,4`` lists). A
    refusal becomes ``argparse.ArgumentTypeError``, so the parser reports
    ``argument --OPTION: expected ..., got ...`` and exits with status 2 before any work.

    Raises
    ------
    argparse.ArgumentTypeError
        When the check refuses the value (while the command line is parsed).
    """
    import argparse

    def parse(text: str) -> Any:
        value: Any = text
        if convert is not None:
            try:
                value = convert(text)
            except (TypeError, ValueError):
                value = text
        try:
            result = check(value, "value", *args, **kwargs)
        except InvalidInputError as exc:
            message = str(exc)
            raise argparse.ArgumentTypeError(
                message[len("value: ") :] if message.startswith("value: ") else message
            ) from None
        return text if keep_text else result

    parse.__name__ = getattr(check, "__name__", "value")
    return parse


def cli_int(*, min_value: int | None = None, max_value: int | None = None) -> Callable[[str], int]:
    """``type=`` for an integer option in ``[min_value, max_value]`` (see :func:`cli_type`)."""
    return cli_type(check_int, min_value=min_value, max_value=max_value, convert=int)


def cli_float(
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
) -> Callable[[str], float]:
    """``type=`` for a real option in a range, each bound open or closed (see :func:`cli_type`)."""
    return cli_type(
        check_float, min_value=min_value, max_value=max_value, include_min=include_min, include_max=include_max
    )


def check_output_path(path: Any, name: str, *, suffix: str | None = None, directory: bool = False) -> Path:
    """Validate a path to be written: its folder exists (or, for ``directory``, can be made) and,
    for a file, it is not a folder and ends with ``suffix`` when given.

    Raises
    ------
    InvalidInputError
        ``"plot: expected a path ending in .png, got 'out.txt'"``, ``"plot: folder /x does not
        exist"``, ``"out: /x/y is an existing file, expected a folder"``.
    """
    target = Path(str(path)).expanduser()
    if directory:
        if target.exists() and not target.is_dir():
            raise InvalidInputError(f"{name}: {target} is an existing file, expected a folder")
        parent = next((p for p in (target, *target.parents) if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise InvalidInputError(f"{name}: cannot make folder {target}: {parent} is a file")
        return target
    if suffix is not None and target.suffix.lower() != suffix:
        raise InvalidInputError(f"{name}: expected a path ending in {suffix}, got {str(path)!r}")
    if target.is_dir():
        raise InvalidInputError(f"{name}: {target} is a folder, expected a file name")
    if not target.parent.is_dir():
        raise InvalidInputError(f"{name}: folder {target.parent} does not exist")
    return target

"""Workload files and users' own logits.

File format (.npz)
------------------
``save_workload(path, target, draft, **meta)`` writes a NumPy ``.npz`` archive with

* ``target``, ``draft``: float64 arrays of shape (B, V), rows summing to 1;
* one 0-d array per metadata item (``seed``, ``temperature``, ``top_k``, ``source``, ...):
  an int, float, bool or str each (``None`` values are left out).

:func:`load_workload` reads it back into a :class:`~multidraft.workloads.base.Workload`
(laws re-validated, metadata as Python scalars). The same files are read by
:func:`multidraft.examples.load_laws`, which takes the ``target``/``draft`` keys.

From logits
-----------
:func:`from_logits` turns logits (numpy or torch, shape (V,) or (B, V), any float dtype)
into a workload the way a serving engine samples: ``softmax(z / T)`` for both models, then
top-k and/or top-p applied to the draft (and to the target too with ``restrict_target``).
"""

from __future__ import annotations

import numbers
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from multidraft.validation import InvalidInputError, check_distribution, check_pair, to_numpy

from .base import Workload
from .transforms import check_temperature, check_top_k, check_top_p, restrict, temper_law, tempered_softmax

_RESERVED = ("target", "draft")
_META_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _as_batch(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.ndim == 1:
        return arr[None, :]
    if arr.ndim != 2:
        raise InvalidInputError(f"{name}: expected shape (V,) or (B, V), got {arr.shape}")
    return arr


def _meta_value(name: str, value: Any) -> np.ndarray:
    if not _META_NAME.match(name) or name in _RESERVED:
        raise InvalidInputError(f"meta: {name!r} is not a usable metadata name (an identifier other than target/draft)")
    if isinstance(value, (str, bool, numbers.Integral, numbers.Real)):
        return np.asarray(value)
    raise InvalidInputError(f"{name}: metadata values must be str, bool, int or float, got {type(value).__name__}")


def save_workload(path: str | Path, target: Any, draft: Any, **meta: Any) -> Path:
    """Write a workload to ``path`` (.npz; the suffix is added if missing).

    Parameters
    ----------
    path : str or Path
        Destination file.
    target, draft : array-like or torch.Tensor, shape (B, V) or (V,)
        Laws (validated; stored as float64 (B, V)).
    **meta : str, bool, int or float
        Metadata (``None`` values are skipped).

    Returns
    -------
    Path of the file written.
    """
    p, q = check_pair(target, draft)
    p, q = _as_batch(np.ascontiguousarray(p), "target"), _as_batch(np.ascontiguousarray(q), "draft")
    items = {name: _meta_value(name, value) for name, value in meta.items() if value is not None}
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    if not path.parent.exists():
        raise InvalidInputError(f"path: directory {path.parent} does not exist")
    np.savez(path, target=p, draft=q, **items)
    return path


def load_workload(path: str | Path) -> Workload:
    """Read a workload written by :func:`save_workload`: laws (B, V) float64 plus metadata."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"path: no such file {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(
            f"path: {path} is not a readable .npz archive ({type(exc).__name__}: {exc or 'empty file'})"
        ) from None
    missing = [k for k in _RESERVED if k not in arrays]
    if missing:
        raise InvalidInputError(f"path: {path} lacks the array(s) {missing}; found {sorted(arrays)}")
    p, q = check_pair(arrays.pop("target"), arrays.pop("draft"))
    meta = {k: v.item() for k, v in arrays.items() if v.ndim == 0}
    return Workload(_as_batch(np.ascontiguousarray(p), "target"), _as_batch(np.ascontiguousarray(q), "draft"), meta)


def _check_logits(x: Any, name: str) -> np.ndarray:
    arr = _as_batch(to_numpy(x, name), name)
    if np.isnan(arr).any() or np.isposinf(arr).any():
        raise InvalidInputError(f"{name}: logits must be finite or -inf, found NaN or +inf")
    if not np.isfinite(arr).any(axis=-1).all():
        raise InvalidInputError(f"{name}: every row needs at least one finite logit")
    return arr


def from_logits(
    target_logits: Any,
    draft_logits: Any,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    restrict_target: bool = False,
    probs: bool = False,
    **meta: Any,
) -> Workload:
    """A workload from users' own logits (or probabilities), numpy or torch.

    Parameters
    ----------
    target_logits, draft_logits : array-like or torch.Tensor, shape (V,) or (B, V)
        Logits (``-inf`` allowed for masked tokens), or laws if ``probs=True``.
    temperature : float > 0
        ``p = softmax(z_p / T)``, ``q = softmax(z_q / T)`` (for laws: ``p^(1/T)`` renormalised).
    top_k : int, optional
        Keep the k most likely draft tokens (exactly k per row), renormalised.
    top_p : float in (0, 1], optional
        Keep the draft's nucleus of mass ``top_p`` (after top-k), renormalised.
    restrict_target : bool
        Apply the same top-k/top-p to the target (as engines that truncate both do).
    probs : bool
        The inputs are probabilities (validated: non-negative, rows sum to 1).
    **meta
        Extra metadata stored with the workload.

    Returns
    -------
    Workload with float64 (B, V) laws and ``meta`` (source, temperature, top_k, top_p, ...).

    Examples
    --------
    >>> w = from_logits([[2.0, 1.0, 0.0]], [[1.0, 2.0, 0.0]], top_k=2)
    >>> w.draft.shape, int((w.draft > 0).sum())
    ((1, 3), 2)
    """
    temperature = check_temperature(temperature)
    if probs:
        p = temper_law(_as_batch(check_distribution(target_logits, "target_logits"), "target_logits"), temperature)
        q = temper_law(_as_batch(check_distribution(draft_logits, "draft_logits"), "draft_logits"), temperature)
    else:
        p = tempered_softmax(_check_logits(target_logits, "target_logits"), temperature)
        q = tempered_softmax(_check_logits(draft_logits, "draft_logits"), temperature)
    if p.shape != q.shape:
        raise InvalidInputError(f"draft_logits: shape {q.shape} does not match target_logits' {p.shape}")
    top_k = check_top_k(top_k, p.shape[-1])
    top_p = check_top_p(top_p)
    q = restrict(q, top_k, top_p, inplace=True)
    if restrict_target:
        p = restrict(p, top_k, top_p, inplace=True)
    info = {
        "source": "logits" if not probs else "probs",
        "temperature": temperature,
        "top_k": top_k or 0,
        "top_p": top_p or 1.0,
        "restrict_target": bool(restrict_target),
    }
    info.update(meta)
    return Workload(p, q, info)

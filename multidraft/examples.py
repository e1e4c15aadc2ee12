"""Built-in example problems and loading (p, q) from files.

Examples are deterministic (fixed seeds) so every command that uses them is reproducible.

``load_laws(path)`` reads a target and a draft law from

* ``.npz``: arrays named ``target`` and ``draft`` (or ``p`` and ``q``);
* ``.npy``: one array of shape (2, V): row 0 the target, row 1 the draft;
* ``.json``: ``{"target": [...], "draft": [...]}`` (or ``p``/``q``), optionally ``"n"``;
* ``.pt``: a dict of tensors with the same keys (loaded with ``weights_only=True``).

A file holding a batch of laws, shape (B, V) each -- a workload written by
``multidraft workload`` / :func:`multidraft.workloads.save_workload` -- is returned whole
with ``row=None`` (the default), or as its row ``row`` (what ``solve --row`` passes).

Logits are not accepted here: pass laws (apply a softmax first).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .validation import InvalidInputError, check_int, check_n, check_pair
from .workloads.synthetic import llm_like  # noqa: F401  (re-exported; moved there)


def _toy() -> tuple[np.ndarray, np.ndarray, int]:
    p = np.array([0.35, 0.25, 0.15, 0.1, 0.1, 0.05])
    q = np.array([0.1, 0.3, 0.3, 0.05, 0.2, 0.05])
    return p, q, 2


EXAMPLES: dict[str, tuple[str, Callable[[], tuple[np.ndarray, np.ndarray, int]]]] = {
    "toy": ("six tokens, hand-written p and q, n = 2", _toy),
    "llm-small": ("V = 64 LLM-like pair (temperature 1, seed 0), n = 3", lambda: (*llm_like(64, seed=0), 3)),
    "llm-topk": (
        "V = 1000 LLM-like pair, q restricted to its top 10, n = 4",
        lambda: (*llm_like(1000, seed=1, top_k=10), 4),
    ),
    "equal": ("p = q over 5 tokens (alpha* = 1), n = 2", lambda: (np.full(5, 0.2), np.full(5, 0.2), 2)),
    "disjoint": (
        "disjoint supports (alpha* = 0), n = 3",
        lambda: (np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.5, 0.5]), 3),
    ),
}


def example(name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The built-in example ``name``: ``(target, draft, n)``."""
    if name not in EXAMPLES:
        raise InvalidInputError(f"example: unknown example {name!r}; known: {', '.join(EXAMPLES)}")
    return EXAMPLES[name][1]()


def _pick(mapping: Any, path: Path) -> tuple[Any, Any, Any]:
    keys = set(mapping.keys())
    for t, d in (("target", "draft"), ("p", "q")):
        if t in keys and d in keys:
            return mapping[t], mapping[d], mapping["n"] if "n" in keys else None
    raise InvalidInputError(f"{path}: expected arrays named target and draft (or p and q), found {sorted(keys)}")


def load_laws(path: str | Path, row: int | None = None) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Read ``(target, draft, n or None)`` from a .npz, .npy, .json or .pt file (see module doc).

    Laws of shape (V,) each, or a batch (B, V): whole, or its row ``row`` when given.

    Raises
    ------
    InvalidInputError
        A file it cannot parse (corrupt or foreign: json, pickle, zip or numpy errors), laws
        that are not laws, or ``row`` outside ``[0, B)``; the message names the file.
    """
    row = None if row is None else check_int(row, "row", min_value=0)
    try:
        return _read_laws(Path(path), row)
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"file: could not read {path} as target and draft laws ({type(exc).__name__}: {exc})"
        ) from None


def _read_laws(path: Path, row: int | None) -> tuple[np.ndarray, np.ndarray, int | None]:
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path) as data:
            t, d, n = _pick({k: data[k] for k in data.files}, path)
    elif suffix == ".npy":
        arr = np.load(path)
        if arr.ndim != 2 or arr.shape[0] != 2:
            raise InvalidInputError(
                f"{path}: a .npy file must hold shape (2, V) (target row, draft row), got {arr.shape}"
            )
        t, d, n = arr[0], arr[1], None
    elif suffix == ".json":
        t, d, n = _pick(json.loads(path.read_text()), path)
    elif suffix == ".pt":
        import torch

        t, d, n = _pick(torch.load(path, weights_only=True), path)
    else:
        raise InvalidInputError(f"{path}: unsupported file type {suffix!r}; use .npz, .npy, .json or .pt")
    p, q = check_pair(t, d)
    if p.ndim == 2 and row is not None:
        if row >= p.shape[0]:
            raise InvalidInputError(f"row: {path} holds {p.shape[0]} rows (0 to {p.shape[0] - 1}), got row {row}")
        p, q = p[row], q[row]
    elif p.ndim > 2:
        raise InvalidInputError(f"{path}: expected laws of shape (V,) or a batch (B, V), got shape {p.shape}")
    return p, q, (check_n(np.asarray(n).item(), f"{path}: n") if n is not None else None)

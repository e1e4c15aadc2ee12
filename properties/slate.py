"""The deterministic slate of extreme regimes every exact check starts with.

Random search rarely lands where floating-point shortcuts live: a verifier that outputs the
top draft token whenever the target puts more than ``1 - 1e-3`` on it deviates by about
``1 - p_top``, and among random problems the worst it showed was 7.9e-11. So before the
hypothesis search, every property is measured on a fixed list of problems (the *slate*),
simplest first (V = 2 before larger V, smaller n before larger):

``near_one_hot``  p, q or both with top probability ``t`` in :data:`TOPS` (0.99 ..
                  1 - 1e-12), the rest spread over the other tokens; both on the same top
                  token, and on different ones;
``equal_ulp``     q = p exactly, and q = p moved by one ulp on two tokens;
``tiny``          one entry of p, of q, or of both at a value of :data:`TINIES`
                  (1e-300 .. 1e-12);
``zeros``         p = 0 where q > 0, and q = 0 where p > 0;
``ties``          p = q uniform, and q uniform with p two-valued (tied ratios p/q).

Sizes: V = 2 (or the smallest allowed V) at the smallest and the largest feasible n, and,
for the ``thorough`` profile, a larger V (up to 5) at a middle n too. The ``quick`` profile
uses the :data:`QUICK_TOPS` and :data:`QUICK_TINIES` subsets; ``thorough`` all of them.
Every problem is valid for the drafting law (without replacement, and a verifier's own law,
get q repaired to at least n positive tokens, as the strategies do; independent drafting
stacks q). :func:`slate` returns the problems; the checker measures them before it searches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .problem import Problem
from .strategies import finish_problem, largest_vocab, profile_settings, sizes_for, tuple_count

#: Top probabilities of the ``near_one_hot`` regime.
TOPS = (0.99, 1 - 1e-3, 1 - 1e-4, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12)
QUICK_TOPS = (0.99, 1 - 1e-4, 1 - 1e-8, 1 - 1e-12)
#: Values of the ``tiny`` regime.
TINIES = (1e-300, 1e-200, 1e-100, 1e-30, 1e-12)
QUICK_TINIES = (1e-300, 1e-100, 1e-30, 1e-12)
#: Largest V of the slate's middle size (thorough profile).
SLATE_MAX_VOCAB = 5


def _spread(V: int, top: float, at: int) -> np.ndarray:
    """A law with ``top`` on token ``at`` and ``1 - top`` over the others, decreasing."""
    law = np.zeros(V)
    rest = np.arange(V - 1, 0, -1, dtype=float)
    rest = (1.0 - top) * rest / rest.sum()
    law[np.arange(V) != at] = rest
    law[at] = top
    return law


def _base(V: int) -> np.ndarray:
    """A plain law with distinct entries (weights V, V-1, ..., 1)."""
    w = np.arange(V, 0, -1, dtype=float)
    return w / w.sum()


def _uniform(V: int) -> np.ndarray:
    return np.full(V, 1.0 / V)


def _with_tiny(law: np.ndarray, value: float) -> np.ndarray:
    out = law.copy()
    out[-1] = value
    out[0] -= value - law[-1]  # keep the sum at 1 exactly where it can be
    return out


def _ulp_apart(p: np.ndarray) -> np.ndarray:
    q = p.copy()
    q[0] = np.nextafter(q[0], 0.0)
    q[1] = np.nextafter(q[1], 1.0)
    return q


def regimes(V: int, tops: tuple[float, ...], tinies: tuple[float, ...]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, p, q)`` of every regime for vocabulary size V (module doc), float64 (V,)."""
    out = []
    for t in tops:
        label = f"top=1-{1 - t:.0e}"
        out += [
            (f"near_one_hot p {label}", _spread(V, t, 0), _uniform(V)),
            (f"near_one_hot q {label}", _base(V), _spread(V, t, 0)),
            (f"near_one_hot both {label}", _spread(V, t, 0), _spread(V, t, 0)),
            (f"near_one_hot apart {label}", _spread(V, t, 0), _spread(V, t, V - 1)),
        ]
    p = _base(V)
    out += [("equal_ulp q=p", p, p.copy()), ("equal_ulp q=p+-ulp", p, _ulp_apart(p))]
    for value in tinies:
        out += [
            (f"tiny p={value:g}", _with_tiny(_base(V), value), _uniform(V)),
            (f"tiny q={value:g}", _uniform(V), _with_tiny(_base(V), value)),
            (f"tiny both={value:g}", _with_tiny(_base(V), value), _with_tiny(_base(V), value)),
        ]
    zero_last = _base(V)
    zero_last[0] += zero_last[-1]
    zero_last[-1] = 0.0
    out += [("zeros p=0<q", zero_last, _uniform(V)), ("zeros q=0<p", _uniform(V), zero_last)]
    two_valued = np.where(np.arange(V) < (V + 1) // 2, 2.0, 1.0)
    out += [
        ("ties p=q uniform", _uniform(V), _uniform(V)),
        ("ties tied ratios", two_valued / two_valued.sum(), _uniform(V)),
    ]
    return out


def slate(
    drafting: str = "iid",
    n: tuple[int, int] = (1, 4),
    vocab: tuple[int, int] = (2, 6),
    max_tuples: int = 5000,
    law_factory: Callable[..., Any] | None = None,
    profile: str = "quick",
) -> list[Problem]:
    """The slate's problems for these sizes and drafting law (module doc), simplest first."""
    profile_settings(profile)  # validates the name
    thorough = profile == "thorough"
    tops, tinies = (TOPS, TINIES) if thorough else (QUICK_TOPS, QUICK_TINIES)
    ns = sizes_for(n, vocab, max_tuples, drafting, law_factory)
    needs_n_tokens = drafting == "without_replacement" or law_factory is not None
    picks = sorted({ns[0], ns[-1]})
    sizes = []
    for k in picks:
        v = max(vocab[0], 2, k if needs_n_tokens else 1)
        if v <= vocab[1] and tuple_count(v, k, drafting) <= max_tuples:
            sizes.append((v, k))
    if thorough:
        k = ns[len(ns) // 2]
        v_lo = max(vocab[0], 2, k if needs_n_tokens else 1)
        v = min(SLATE_MAX_VOCAB, largest_vocab(k, (v_lo, vocab[1]), max_tuples, drafting))
        if v >= v_lo and (v, k) not in sizes:
            sizes.append((v, k))
    out = []
    for V, k in sizes:
        for name, p, q in regimes(V, tops, tinies):
            out.append(finish_problem(p, q, k, drafting, f"slate {name}", law_factory))
    return out
